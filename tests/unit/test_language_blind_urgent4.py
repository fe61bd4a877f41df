"""Inline urgent recall on blind set 4 (issue #17): 240 messages, 15 languages, chat-style (emoji, glued
messages, slang), other products than set 3; written by an engineer who read neither the lexicons, the
training data, the classifier nor set 3, while another engineer worked on the lexicon from set 3 (by
then a development set) without seeing this one; measured once on 2026-12-04 (session 4): 96/105 urgent
(91.4 %; the session-3 code: 63/105, 60.0 %), 3/135 false alarms (2.2 %; before: 11/135), high-risk
complaints 28/30 (0/30 before). Misses: baby food with glass or metal in it, falls from e-bikes and
scooters that broke, a toaster flame, a hair-dryer shock in Turkish, a Hungarian lawyer + Facebook threat,
a Cantonese consumer-council threat. Since the urgent4 session it is a DEVELOPMENT set: its misses and
false alarms were read and the gaps they showed were closed in all 15 languages (105/105, 0/135 after
that session); its figures are no longer blind. The honest figure is blind set 5, measured once. The
guards below stay as they were."""

from __future__ import annotations

import json
from pathlib import Path

from services.bootstrap import inline_classifier

classify_message = inline_classifier()

DATA = Path(__file__).resolve().parents[2] / "services" / "language" / "data" / "blind_urgent4.jsonl"


def test_urgent_recall_and_false_alarms_on_blind_set_4():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    urgent = [r for r in rows if r["urgent"]]
    calm = [r for r in rows if not r["urgent"]]
    assert (len(urgent), len(calm)) == (105, 135)
    caught = sum(classify_message(r["text"], None).urgent for r in urgent)
    false_alarms = sum(classify_message(r["text"], None).urgent for r in calm)
    high_risk = sum(classify_message(r["text"], None).urgent for r in urgent if r["kind"] == "high_risk")
    print(f"blind set 4 (dev set): urgent recall {caught}/{len(urgent)}, false alarms {false_alarms}/{len(calm)}")
    assert caught >= 96  # measured 96 once, blind: a regression guard from now on, not a measurement
    assert false_alarms <= 3
    assert high_risk >= 28
