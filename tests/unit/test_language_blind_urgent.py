"""Urgent recall on a blind set: written after the safety lexicon and training data were frozen,
by someone who had not read them (2026-11-26; measured once: 38/40 urgent, 2/20 false alarms).
Do not tune the lexicon on `blind_urgent.jsonl`: it stops measuring anything the day you do."""

from __future__ import annotations

import json
from pathlib import Path

from services.bootstrap import inline_classifier

classify_message = inline_classifier()

DATA = Path(__file__).resolve().parents[2] / "services" / "language" / "data" / "blind_urgent.jsonl"


def test_urgent_recall_and_false_alarms_on_the_blind_set():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    urgent = [r for r in rows if r["urgent"]]
    calm = [r for r in rows if not r["urgent"]]
    caught = sum(classify_message(r["text"], None).urgent for r in urgent)
    false_alarms = sum(classify_message(r["text"], None).urgent for r in calm)
    print(f"blind urgent recall {caught}/{len(urgent)}, false alarms {false_alarms}/{len(calm)}")
    assert caught / len(urgent) >= 0.925  # measured 0.95 when written
    assert false_alarms / len(calm) <= 0.15  # measured 0.10
