"""Inline urgent recall on blind set 5 (issue #17): 240 messages, 15 languages, mixed registers (formal
e-mails, voice-to-text run-ons, one-liners), harm told indirectly ("the plastic went soft", "her lips turned
blue"), other products (pressure cookers, hair dye, gas stoves, garden tools, ladders, e-cigarettes); written
by an engineer who read neither the lexicons, the data, the classifier nor sets 3-4, while another worked on
the lexicon from sets 3-4 (development sets by then) without seeing this one; measured once on 2026-12-04
(session 4): 88/105 urgent (83.8 %; the session-3 code: 61/105, 58.1 %), 6/135 false alarms (4.4 %; before:
14/135), high-risk complaints 23/30 (0/30 before). Misses: harm described without any hazard or injury word
(a pressure-cooker lid blowing off with scalding soup, hair dye leaving the scalp raw, a pruner's spring hitting
an eye, gas smell from a closed stove), media threats through TV programmes and tabloids (Watchdog, Fantástico,
Uwaga TVN, Blikk, "bóc phốt"), a ladder collapsing with a broken arm. Do not tune on `blind_urgent5.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path

from services.bootstrap import inline_classifier

classify_message = inline_classifier()

DATA = Path(__file__).resolve().parents[2] / "services" / "language" / "data" / "blind_urgent5.jsonl"


def test_urgent_recall_and_false_alarms_on_blind_set_5():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    urgent = [r for r in rows if r["urgent"]]
    calm = [r for r in rows if not r["urgent"]]
    assert (len(urgent), len(calm)) == (105, 135)
    caught = sum(classify_message(r["text"], None).urgent for r in urgent)
    false_alarms = sum(classify_message(r["text"], None).urgent for r in calm)
    high_risk = sum(classify_message(r["text"], None).urgent for r in urgent if r["kind"] == "high_risk")
    print(f"blind set 5: urgent recall {caught}/{len(urgent)}, false alarms {false_alarms}/{len(calm)}")
    assert caught >= 88  # measured 88 once, blind: a regression guard from now on, not a measurement
    assert false_alarms <= 6
    assert high_risk >= 23
