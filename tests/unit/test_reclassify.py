"""`Lifecycle.reclassify`: the refining worker's answer applied through the core (issue #17).

Given a ticket opened with the inline classifier's answer / When a stronger classifier's answer
comes at some instant / I expect the category, urgency, deadline, timers and events the rules say.
"""

from __future__ import annotations

from datetime import datetime

from services.core.lifecycle import REFINE_BELOW, Lifecycle
from services.core.policies import load_policies
from services.core.ticket import AWAITING_CUSTOMER, AWAITING_MERCHANT, T_BREACH, T_WARNING, Outcome
from tests.fakes import ClassifyingLifecycle, FakeClassification, fake_classify
from tests.unit.test_lifecycle import MR, SLA, Flow, H, N, at, check_shapes, emits, msg, of

REFINING = ClassifyingLifecycle(Lifecycle(load_policies(), refine_below=REFINE_BELOW))


def low_confidence(text: str, locale: str | None) -> FakeClassification:
    """The inline answer of fake_classify, but unsure (below the refinement gate)."""
    c = fake_classify(text, locale)
    return FakeClassification(category=c.category, urgent=c.urgent, confidence=REFINE_BELOW / 2)


def high_confidence(text: str, locale: str | None) -> FakeClassification:
    """The inline answer of fake_classify, sure of itself (at or above the refinement gate)."""
    c = fake_classify(text, locale)
    return FakeClassification(category=c.category, urgent=c.urgent, confidence=REFINE_BELOW)


def refined(category: str, *, urgent: bool = False, confidence: float = 0.93) -> FakeClassification:
    labels = ("safety:model",) if urgent else ()
    return FakeClassification(category, urgent, "en", confidence, "e5-refine-v1", labels)


def reclassify(f: Flow, answer: FakeClassification, when: datetime) -> Outcome:
    assert f.ticket is not None
    o = f.lc.reclassify(f.ticket, answer, when)
    check_shapes(o)
    f.ticket = o.ticket
    for kind, due in o.timers.items():
        if due is None:
            f.timers.pop(kind, None)
        else:
            f.timers[kind] = due
    f.outcomes.append(o)
    return o


def test_an_other_answer_asks_the_refining_worker_for_the_opening_message():
    f = Flow(REFINING)
    o = f.open("wish", "2026-03-02T09:00:00Z", "hmm what about this")
    assert f.ticket.category == "other"
    refine = [t for t in o.tasks if t.actor == "refine"]
    assert refine and refine[0].kwargs == {"ticket_id": "T-1", "message_id": refine[0].kwargs["message_id"]}
    assert refine[0].kwargs["message_id"].startswith("msg-")


def test_a_confident_inline_answer_is_not_sent_for_refinement():
    f = Flow(ClassifyingLifecycle(Lifecycle(load_policies(), refine_below=REFINE_BELOW), high_confidence))
    o = f.open("wish", "2026-03-02T09:00:00Z", "category:order_status where is it")
    assert [t.actor for t in o.tasks if t.actor == "refine"] == []


def test_a_low_confidence_inline_answer_is_sent_for_refinement():
    f = Flow(ClassifyingLifecycle(Lifecycle(load_policies(), refine_below=REFINE_BELOW), low_confidence))
    o = f.open("wish", "2026-03-02T09:00:00Z", "category:order_status where is it")
    assert [t.actor for t in o.tasks].count("refine") == 1


def test_an_upstream_category_is_never_sent_nor_reclassified():
    f = Flow(REFINING)
    o = f.open("wish", "2026-03-02T09:00:00Z", "hmm", category="other")
    assert [t.actor for t in o.tasks].count("refine") == 0
    again = reclassify(f, refined("refund_request"), at("2026-03-02T09:00:05Z"))
    assert again.emits == [] and f.ticket.category == "other" and f.ticket.category_source == "upstream"


def test_a_refined_category_is_published_with_the_refiner_named_and_the_doubt_labels_gone():
    f = Flow(REFINING)
    f.open("wish", "2026-03-02T09:00:00Z", "hmm", labels=["vip"])
    f.ticket.labels = ["vip", "needs_review", "guess:store_question"]
    o = reclassify(f, refined("store_question"), at("2026-03-02T09:00:03Z"))
    (c,) = of(o, "ticket.classified")
    assert c["category"] == "store_question" and c["group"] == "pre_purchase"
    assert c["classifier"] == "e5-refine-v1" and c["source"] == "refined"
    assert c["previous_category"] == "other" and c["confidence"] == 0.93
    assert c["labels"] == ["vip", "refined"]
    assert f.ticket.category_source == "refined" and f.ticket.updated_at == at("2026-03-02T09:00:03Z")
    assert o.timers == {}  # a wish ticket's deadline does not depend on its category


def test_the_same_answer_again_changes_nothing_and_emits_nothing():
    f = Flow(REFINING)
    f.open("wish", "2026-03-02T09:00:00Z", "hmm")
    reclassify(f, refined("store_question"), at("2026-03-02T09:00:03Z"))
    o = reclassify(f, refined("store_question"), at("2026-03-02T09:00:04Z"))
    assert o.emits == [] and o.timers == {}


def test_douyin_made_urgent_gets_2_business_hours_from_the_opening_with_its_warning():
    f = Flow(REFINING)
    f.open("douyin", "2026-03-02T10:00+08:00", "hmm")
    assert f.timers[T_BREACH] == at("2026-03-04T10:00+08:00")  # 24 business hours, 12 a day
    o = reclassify(f, refined("item_problem", urgent=True), at("2026-03-02T10:00:02+08:00"))
    due = at("2026-03-02T12:00+08:00")
    assert f.ticket.urgent and f.ticket.clock.due_at == due and f.ticket.group == "post_purchase"
    assert emits(o)[1:] == [
        SLA("activated", MR, due, "douyin"),
        SLA("warning", MR, due, "douyin"),
        N("deadline_soon", AWAITING_MERCHANT),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: None}
    assert "safety:model" in of(o, "ticket.classified")[0]["labels"]


def test_an_urgent_deadline_already_past_is_due_at_the_reclassification_and_breaches_at_once():
    f = Flow(REFINING)
    f.open("douyin", "2026-03-02T10:00+08:00", "hmm")
    late = at("2026-03-02T13:30+08:00")  # the worker was away: 2 h from the opening ended at 12:00
    reclassify(f, refined("item_problem", urgent=True), late)
    assert f.timers[T_BREACH] == late
    fired = f.tick(late)
    assert [e.type for o in fired for e in o.emits][:1] == ["sla.breached"]
    assert f.status == "awaiting_platform"  # Douyin's breach action, decided at the breach instant


def test_the_urgent_deadline_is_never_later_than_the_old_one():
    f = Flow(REFINING)
    f.open("douyin", "2026-03-02T20:30+08:00", "hmm", response_hours=2)  # an agreed 2 h wins over urgency
    before = f.ticket.clock.due_at
    o = reclassify(f, refined("item_problem", urgent=True), at("2026-03-02T20:31+08:00"))
    assert f.ticket.clock.due_at == before and of(o, "sla.activated") == []


def test_urgency_is_only_added_never_removed_and_an_upstream_flag_is_kept():
    f = Flow(REFINING)
    f.open("douyin", "2026-03-02T10:00+08:00", "hmm URGENT")
    reclassify(f, refined("item_problem", urgent=False), at("2026-03-02T10:01+08:00"))
    assert f.ticket.urgent
    g = Flow(REFINING)
    g.open("douyin", "2026-03-02T10:00+08:00", "hmm", urgent=False)
    o = reclassify(g, refined("item_problem", urgent=True), at("2026-03-02T10:01+08:00"))
    assert not g.ticket.urgent and of(o, "sla.activated") == [] and g.ticket.category == "item_problem"


def test_made_urgent_while_waiting_for_the_customer_the_next_clock_is_urgent():
    f = Flow(REFINING)
    f.open("douyin", "2026-03-02T10:00+08:00", "hmm")
    f.apply("message.posted", "2026-03-02T10:10+08:00", msg("merchant"))
    assert f.status == AWAITING_CUSTOMER
    o = reclassify(f, refined("item_problem", urgent=True), at("2026-03-02T10:11+08:00"))
    assert of(o, "sla.activated") == []
    f.apply("message.posted", "2026-03-02T11:00+08:00", msg("customer"))
    assert f.ticket.clock.due_at == at("2026-03-02T11:00+08:00") + 2 * H


def test_moved_into_post_purchase_a_wish_breach_hands_it_to_the_platform():
    f = Flow(REFINING)
    f.open("wish", "2026-03-02T09:00:00Z", "hmm")
    reclassify(f, refined("refund_request"), at("2026-03-02T09:00:05Z"))
    f.tick("2026-03-04T09:00:00Z")
    assert f.status == "awaiting_platform"
