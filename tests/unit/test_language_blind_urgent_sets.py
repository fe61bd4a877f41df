"""Inline urgent recall on the blind sets of issue #17 (session 4), one row each. Every set has 240
messages in 15 languages (per language: 5 product-safety reports and 2 high-risk complaints, urgent; 3
ordinary, 2 angry, 2 hazard-word look-alikes, 2 broken without harm, not urgent). Each was written by an
engineer who read neither the lexicons, the training data, the classifier nor the earlier sets, while
another engineer worked on the lexicon without seeing it; committed before that work was merged and
measured once (2026-12-04):

| set | kind of text | urgent caught | false alarms | high-risk complaints | session 3's code |
|---|---|---|---|---|---|
| 3 | short customer messages | 99/105 (94.3 %) | 9/135 (6.7 %) | 29/30 | 66/105, 9/135, 0/30 |
| 4 | chat: emoji, glued messages, slang; other products | 96/105 (91.4 %) | 3/135 (2.2 %) | 28/30 | 63/105, 11/135 |
| 5 | mixed registers, harm told indirectly, other products | 88/105 (83.8 %) | 6/135 (4.4 %) | 23/30 | 61/105, 14/135 |
| 6 | negations, reassurances, hazard words in names; harm told indirectly | 99/105 (94.3 %) | 24/135 (17.8 %) | 26/30 | urgent5's start: 89/105, 25/135 |
| 7 | the long tail: gas, exercise equipment, reporters with an ultimatum; slang, titles, jobs, costumes | 98/105 (93.3 %) | 10/135 (7.4 %) | 27/30 | after urgent5 only: 96/105, 13/135 |
| 8 | other products again (chemicals mixed, helmets and buckles failing, undeclared allergens, LPG); formal demand letters, group lawsuits, TV consumer programmes | **100/105 (95.2 %)** | **10/135 (7.4 %)** | 28/30 | after urgent6 (before urgent7): 98/105, 11/135 |
| 9 | other products again (cabin beds, bottle warmers, massage guns, salsa, slime, flea collars); formal notices, local TV and news desks, case numbers | **102/105 (97.1 %)** | **6/135 (4.4 %)** | 28/30 | — (written after urgent7, measuring the same code as set 8) |

Sets 3 and 4 then became development sets (their errors were read and the gaps closed in all 15
languages: 105/105 and 0/135 each after that), and so did set 5 in the urgent5 session (its misses: harm
told without a hazard or injury word, a pressure-cooker lid blowing off with scalding soup, hair dye leaving
the scalp raw, gas smell from a closed stove; media threats through TV programmes and tabloids; closed by
kind in 15 languages: 105/105, 0/135, 30/30 high-risk after that). Set 6 was measured once after the urgent5
session (99/105, 24/135; 89/105, 25/135 with the code before urgent5) and is a development set since the urgent6
session (its false alarms: negated hazards "nobody's hurt", "niente di pericoloso", "没啥危险", hazard words in
product names, scents, films and safety-product orders; closed by kind with a negation scope, quoted names,
exclusions and a scent veto: 105/105, 0/135, 30/30 after that). Set 7 was measured once after the urgent6 session
(98/105, 10/135; 96/105, 13/135 after urgent5 only) and is a development set since the urgent7 session (its misses:
a reporter with an ultimatum, a social "spill" with a deadline, a gas canister smelling and bubbling, a canister
spitting flame, a toothbrush head choking a child, a yoga ball bursting into a cracked tailbone; its false alarms:
praise slang, a choking-hazard question before buying, a costume and "putting out fires", sales hype, "kena racun",
a traffic policeman buying shoes, "ไฟลุกเลย", an afro wig; closed by kind in 15 languages: 105/105, 0/135, 30/30
after that). Sets 8 and 9 were measured once after the urgent7 session (100/105, 10/135, 28/30; 102/105, 6/135, 28/30)
and have not been read since: their rows guard those figures. Caveat: both writers saw the commit subjects of
the urgency rounds (not the lexicon, the data or the earlier sets) before writing. The rows of sets 3-7 are regression guards, not
measurements; the next honest figure is a blind set 10, measured once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.bootstrap import inline_classifier

classify_message = inline_classifier()

DATA = Path(__file__).resolve().parents[2] / "services" / "language" / "data"

# set -> (at least caught of 105, at most false alarms of 135, at least high-risk caught of 30): the development
# figures since each set was opened (the blind measurements are in the table above)
GUARDS = {
    3: (105, 0, 30),
    4: (105, 0, 30),
    5: (105, 0, 30),
    6: (105, 0, 30),
    7: (105, 0, 30),
    8: (100, 10, 28),
    9: (102, 6, 28),
}


@pytest.mark.parametrize("number", sorted(GUARDS))
def test_urgent_recall_and_false_alarms_on_a_blind_set(number):
    rows = [
        json.loads(line)
        for line in (DATA / f"blind_urgent{number}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    urgent = [r for r in rows if r["urgent"]]
    calm = [r for r in rows if not r["urgent"]]
    assert (len(urgent), len(calm)) == (105, 135)
    caught = sum(classify_message(r["text"], None).urgent for r in urgent)
    false_alarms = sum(classify_message(r["text"], None).urgent for r in calm)
    high_risk = sum(classify_message(r["text"], None).urgent for r in urgent if r["kind"] == "high_risk")
    print(f"blind set {number}: urgent {caught}/105, false alarms {false_alarms}/135, high-risk {high_risk}/30")
    least_caught, most_false, least_high_risk = GUARDS[number]
    assert caught >= least_caught and false_alarms <= most_false and high_risk >= least_high_risk
