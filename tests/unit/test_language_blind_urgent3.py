"""Inline urgent recall on blind set 3 (issue #17): 240 messages, 15 languages, written by an engineer
who had not read the lexicons, the training data or the classifier, while another engineer improved
the safety lexicon without seeing the set; committed before that work was merged, measured once on
2026-12-04 (session 4): 99/105 urgent (94.3 %; the session-3 code: 66/105, 62.9 %), 9/135 false
alarms (6.7 %), high-risk complaints 29/30 (0/30 before). Since the urgent3 session it is a DEVELOPMENT
set: its misses and false alarms were read and the gaps they showed were closed in all 15 languages
(105/105, 0/135 after that session); its figures are no longer blind. The honest figure is blind set 4,
measured once. The guards below stay as they were."""

from __future__ import annotations

import json
from pathlib import Path

from services.bootstrap import inline_classifier

classify_message = inline_classifier()

DATA = Path(__file__).resolve().parents[2] / "services" / "language" / "data" / "blind_urgent3.jsonl"


def test_urgent_recall_and_false_alarms_on_blind_set_3():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    urgent = [r for r in rows if r["urgent"]]
    calm = [r for r in rows if not r["urgent"]]
    assert (len(urgent), len(calm)) == (105, 135)
    caught = sum(classify_message(r["text"], None).urgent for r in urgent)
    false_alarms = sum(classify_message(r["text"], None).urgent for r in calm)
    high_risk = sum(classify_message(r["text"], None).urgent for r in urgent if r["kind"] == "high_risk")
    print(f"blind set 3 (dev set): urgent recall {caught}/{len(urgent)}, false alarms {false_alarms}/{len(calm)}")
    assert caught >= 99  # measured 99 once, blind: a regression guard from now on, not a measurement
    assert false_alarms <= 9
    assert high_risk >= 29
