"""The pure core's lifecycle, rule by rule against CONTRACT.md and DOMAIN.md.

Given a ticket in some status under some policy / When an inbound event or a timer comes /
I expect this status, these outbound events (type + data), these timers and these facts.

Instants are written with the offset the rule speaks in (Shanghai for Douyin's calendar,
the customer's zone for quiet hours) and compared as aware datetimes.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import schemas
from schemas.builders import cloudevent_bytes
from services.core.lifecycle import Lifecycle, pending_timers
from services.core.policies import load_policies
from services.core.ticket import (
    AWAITING_CUSTOMER,
    AWAITING_MERCHANT,
    AWAITING_PLATFORM,
    CLOSED,
    T_BREACH,
    T_CONFIRMATION,
    T_INACTIVITY,
    T_SURVEY,
    T_WARNING,
    USER_CONFIRMING,
    Outcome,
    Ticket,
)
from tests.fakes import ClassifyingLifecycle

UTC = timezone.utc
H = timedelta(hours=1)
DAY = timedelta(days=1)
MERCHANT = "m-1"
TID = "T-1"
MR, UC, CI = "merchant_response", "user_confirmation", "chat_inactivity"
POLICIES = ("wish", "douyin", "chat")

LC = ClassifyingLifecycle(Lifecycle(load_policies()))
_seq = itertools.count(1)


# ---------------------------------------------------------------------------- builders


def at(text: str) -> datetime:
    """'2026-03-02T20:00+08:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def event(
    type_: str, time: datetime | str, data: dict | None = None, *, subject: str = TID, id: str | None = None
) -> schemas.Inbound:
    """A CloudEvent dict through the real decoder, as the engine would see it."""
    if isinstance(time, str):
        time = at(time)
    return schemas.decode(cloudevent_bytes(type_, subject, time, data or {}, id=id or f"ev-{next(_seq)}"))


def opened_data(policy: str, text: str = "Is the blue one in stock?", *, tz: str | None = None, **extra: Any) -> dict:
    d: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "policy": policy,
        "message": {"message_id": f"msg-{next(_seq)}", "text": text},
    }
    if tz:
        d["customer"] = {"id": "c-1", "locale": "en-GB", "timezone": tz}
    d.update(extra)
    return d


def msg(author: str, text: str = "hello") -> dict:
    return {"message": {"message_id": f"msg-{next(_seq)}", "author": author, "text": text}}


def E(type_: str, **data: Any) -> tuple[str, dict]:
    """An expected outbound event: every one carries the merchant id."""
    return type_, {"merchant_id": MERCHANT, **data}


def SC(
    frm: str | None, to: str, reason: str, caused_by: str, permanently: bool = False, note: str | None = None
) -> tuple[str, dict]:
    extra = {"note": note} if note is not None else {}
    return E(
        "ticket.status_changed",
        **{"from": frm},
        to=to,
        reason=reason,
        caused_by=caused_by,
        permanently=permanently,
        **extra,
    )


def N(kind: str, status: str) -> tuple[str, dict]:
    return E("notification.requested", kind=kind, status=status)


def SLA(type_: str, clock: str, due: datetime, policy: str, **extra: Any) -> tuple[str, dict]:
    return E(f"sla.{type_}", clock=clock, due_at=due, policy=policy, **extra)


def emits(o: Outcome) -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in o.emits]


def of(o: Outcome, type_: str) -> list[dict]:
    return [e.data for e in o.emits if e.type == type_]


def statuses(o: Outcome) -> list[tuple[str | None, str]]:
    return [(d["from"], d["to"]) for d in of(o, "ticket.status_changed")]


class Flow:
    """One ticket driven through the core the way the engine drives it: outcomes applied,
    timers kept per kind (set or dropped), `tick` fires what is due in due order."""

    def __init__(self, lc: Lifecycle = LC):
        self.lc = lc
        self.ticket: Ticket | None = None
        self.timers: dict[str, datetime] = {}
        self.outcomes: list[Outcome] = []

    def _take(self, o: Outcome) -> Outcome:
        self.outcomes.append(o)
        check_shapes(o)
        if o.rejection is None:
            self.ticket = o.ticket
            for kind, due in o.timers.items():
                if due is None:
                    self.timers.pop(kind, None)
                else:
                    self.timers[kind] = due
        return o

    def apply(self, type_: str, time: datetime | str, data: dict | None = None, **kw: Any) -> Outcome:
        return self._take(self.lc.apply(self.ticket, event(type_, time, data, **kw)))

    def open(self, policy: str, time: datetime | str, text: str = "Is the blue one in stock?", **kw: Any) -> Outcome:
        return self.apply("ticket.opened", time, opened_data(policy, text, **kw))

    def fire(self, kind: str, due: datetime | None = None) -> Outcome:
        assert self.ticket is not None
        due = due if due is not None else self.timers[kind]
        if self.timers.get(kind) == due:
            del self.timers[kind]
        return self._take(self.lc.fire(self.ticket, kind, due))

    def tick(self, until: datetime | str) -> list[Outcome]:
        until = at(until) if isinstance(until, str) else until
        fired = []
        while True:
            due = sorted((d, k) for k, d in self.timers.items() if d <= until)
            if not due:
                return fired
            d, k = due[0]
            fired.append(self.fire(k, d))

    @property
    def status(self) -> str:
        assert self.ticket is not None
        return self.ticket.status


def check_shapes(o: Outcome) -> None:
    """Every outbound event the core emits must pass the contract's model (what encode_outbound checks)."""
    for e in o.emits:
        schemas.OUTBOUND[e.type].model_validate(e.data)


def all_emits(outcomes: list[Outcome]) -> list[tuple[str, dict]]:
    return [x for o in outcomes for x in emits(o)]


# Monday 2026-03-02. Shanghai is UTC+8 all year; 10:00 there is 02:00Z.
T0 = at("2026-03-02T10:00+08:00")


# ------------------------------------------------------------------------ ticket.opened


def test_wish_opened_starts_a_48h_clock_with_a_warning_12h_before():
    # Given nothing / When a wish ticket opens
    f = Flow()
    o = f.open("wish", "2026-03-02T09:00:00Z", "The kettle arrived cracked category:item_problem")
    due = at("2026-03-04T09:00:00Z")
    # Then it awaits the merchant, with a 48 h clock and its warning 12 h before
    assert f.status == AWAITING_MERCHANT and o.rejection is None
    ev_id = of(o, "ticket.status_changed")[0]["caused_by"]
    assert emits(o)[:2] == [
        E("ticket.status_changed", **{"from": None}, to=AWAITING_MERCHANT, reason="opened", caused_by=ev_id),
        N("new_request", AWAITING_MERCHANT),
    ]
    cl = of(o, "ticket.classified")[0]
    assert (cl["group"], cl["category"], cl["urgent"], cl["classifier"], cl["source"]) == (
        "post_purchase",
        "item_problem",
        False,
        "fake",
        "model",
    )
    assert emits(o)[3:] == [SLA("activated", MR, due, "wish")]
    assert o.timers == {T_BREACH: due, T_WARNING: at("2026-03-03T21:00:00Z")}
    assert [(x.kind, x.at) for x in o.facts] == [("opened", at("2026-03-02T09:00:00Z"))]
    assert [t.actor for t in o.tasks] == ["translate"]
    assert o.messages[0]["author"] == "customer"
    assert f.ticket.clock.due_at == due and f.ticket.group == "post_purchase"


def test_douyin_worked_example_agreed_12h_from_20h_is_due_20h_next_day_and_warns_at_once():
    # Given Douyin's 09:00-21:00 Shanghai calendar / When a request arrives at 20:00 with a 12 h agreed limit
    f = Flow()
    o = f.open("douyin", "2026-03-02T20:00+08:00", response_hours=12)
    due = at("2026-03-03T20:00+08:00")  # 1 h today, 11 h from 09:00
    # Then due 20:00 next day, and (12 h or shorter) the warning fires at activation
    assert of(o, "sla.activated") == [SLA("activated", MR, due, "douyin")[1]]
    assert emits(o)[-3:] == [
        SLA("activated", MR, due, "douyin"),
        SLA("warning", MR, due, "douyin"),
        N("deadline_soon", AWAITING_MERCHANT),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: None}


def test_douyin_default_is_24_business_hours_with_the_warning_12_business_hours_before():
    f = Flow()
    o = f.open("douyin", "2026-03-02T20:00+08:00")
    due = at("2026-03-04T20:00+08:00")  # 1 h + 12 h + 11 h
    assert o.timers == {T_BREACH: due, T_WARNING: at("2026-03-03T20:00+08:00")}
    assert of(o, "sla.warning") == []
    # When the warning timer fires, Then sla.warning + deadline_soon, still awaiting the merchant
    w = f.fire(T_WARNING)
    assert emits(w) == [SLA("warning", MR, due, "douyin"), N("deadline_soon", AWAITING_MERCHANT)]
    assert w.timers == {T_WARNING: None} and f.status == AWAITING_MERCHANT


def test_douyin_opened_at_night_starts_counting_at_0900():
    f = Flow()
    o = f.open("douyin", "2026-03-02T23:30+08:00")
    # 24 business hours from 09:00 on the 3rd: 12 h that day, 12 h on the 4th, used up at the window's end
    assert o.timers[T_BREACH] == at("2026-03-04T21:00+08:00")


def test_douyin_urgent_has_2h_and_an_immediate_warning():
    f = Flow()
    o = f.open("douyin", "2026-03-02T10:00+08:00", "The charger smokes URGENT")
    due = at("2026-03-02T12:00+08:00")
    assert f.ticket.urgent
    assert emits(o)[-3:] == [
        SLA("activated", MR, due, "douyin"),
        SLA("warning", MR, due, "douyin"),
        N("deadline_soon", AWAITING_MERCHANT),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: None}


def test_douyin_urgent_late_evening_continues_next_morning():
    f = Flow()
    o = f.open("douyin", "2026-03-02T20:30+08:00", urgent=True)
    assert o.timers[T_BREACH] == at("2026-03-03T10:30+08:00")


def test_upstream_urgent_false_overrides_the_model():
    f = Flow()
    f.open("douyin", T0, "URGENT please", urgent=False)
    assert not f.ticket.urgent and f.timers[T_BREACH] == at("2026-03-04T10:00+08:00")


def test_an_agreed_limit_wins_over_urgency():
    f = Flow()
    o = f.open("douyin", "2026-03-02T10:00+08:00", "URGENT", response_hours=5)
    assert o.timers[T_BREACH] == at("2026-03-02T15:00+08:00")


def test_wish_ignores_urgency():
    f = Flow()
    o = f.open("wish", "2026-03-02T09:00:00Z", "URGENT")
    assert o.timers[T_BREACH] == at("2026-03-04T09:00:00Z")


def test_chat_opened_runs_24h_without_warning_and_a_7_day_inactivity_clock():
    f = Flow()
    t = at("2026-03-02T09:00:00Z")
    o = f.open("chat", t)
    assert emits(o)[3:] == [SLA("activated", MR, t + 24 * H, "chat"), SLA("activated", CI, t + 7 * DAY, "chat")]
    assert o.timers == {T_BREACH: t + 24 * H, T_WARNING: None, T_INACTIVITY: t + 7 * DAY}


def test_upstream_category_wins_over_the_model_and_sets_the_group():
    f = Flow()
    o = f.open("wish", T0, "category:product_question where is it", category="refund_request", labels=["vip"])
    cl = of(o, "ticket.classified")[0]
    assert (cl["category"], cl["group"], cl["source"], cl["confidence"], cl["model_category"]) == (
        "refund_request",
        "post_purchase",
        "upstream",
        1.0,
        "product_question",
    )
    assert f.ticket.labels == ["vip"]


def test_a_classifier_answer_outside_the_taxonomy_is_other_not_a_crash():
    # BUG (fixed): GROUP_OF[category] raised KeyError on a category the taxonomy does not know.
    f = Flow()
    o = f.open("wish", T0, "category:teleportation")
    assert o.rejection is None
    assert (f.ticket.category, f.ticket.group) == ("other", "other")
    assert of(o, "ticket.classified")[0]["category"] == "other"
    assert of(o, "ticket.classified")[0]["model_category"] == "other"


def test_ticket_opened_twice_is_an_invalid_transition():
    f = Flow()
    f.open("wish", T0)
    before = f.ticket.model_dump()
    o = LC.apply(f.ticket, event("ticket.opened", T0 + H, opened_data("wish")))
    assert o.rejection is not None and o.rejection[0] == "invalid_transition"
    assert o.ticket.model_dump() == before and o.emits == [] and o.timers == {}


def test_an_event_for_an_unknown_ticket_is_unknown_ticket():
    o = LC.apply(None, event("message.posted", T0, msg("customer")))
    assert o.rejection is not None and o.rejection[0] == "unknown_ticket" and o.ticket is None and o.emits == []


def test_an_unknown_policy_is_invalid_data():
    o = LC.apply(None, event("ticket.opened", T0, opened_data("amazon")))
    assert o.rejection is not None and o.rejection[0] == "invalid_data" and "amazon" in o.rejection[1]
    assert o.ticket is None and o.emits == []


# --------------------------------------------- "Where each inbound type applies", per policy

REJECT = "REJECT"
SAME = "SAME"
RESOLVED_TO = {"wish": CLOSED, "douyin": USER_CONFIRMING, "chat": CLOSED}
OPEN = (AWAITING_MERCHANT, AWAITING_CUSTOMER, USER_CONFIRMING, AWAITING_PLATFORM)
STARTS = (*OPEN, "closed", "closed_permanently")


def _reach(f: Flow, policy: str, start: str, **opened: Any) -> None:
    f.open(policy, T0, **opened)
    t = T0 + 5 * 60 * timedelta(seconds=1)
    if start == AWAITING_CUSTOMER:
        f.apply("message.posted", t, msg("merchant"))
    elif start == USER_CONFIRMING:
        f.apply("ticket.resolved", t)
    elif start == AWAITING_PLATFORM:
        f.apply("ticket.appealed", t, {"reason": "customer is abusive"})
    elif start == "closed":  # a Douyin request is closed only by the platform (002)
        f.apply("ticket.closed", t, {"by": "platform" if policy == "douyin" else "merchant"})
    elif start == "closed_permanently":
        f.apply("ticket.closed", t, {"by": "platform", "permanently": True})
    expect = CLOSED if start.startswith("closed") else start
    assert f.status == expect


ACTIONS: dict[str, tuple[str, Any]] = {
    "customer message": ("message.posted", lambda: msg("customer")),
    "merchant message": ("message.posted", lambda: msg("merchant")),
    "platform message": ("message.posted", lambda: msg("platform")),
    "resolved": ("ticket.resolved", lambda: {}),
    "unresolved": ("ticket.unresolved", lambda: {"reason": "out of stock"}),
    "appealed": ("ticket.appealed", lambda: {"reason": "fraud"}),
    "refunded": ("ticket.refunded", lambda: {"items": ["kettle"], "amount": "12.5", "currency": "EUR"}),
    "refunded post-purchase": ("ticket.refunded", lambda: {"items": ["kettle"], "amount": "12.5", "currency": "EUR"}),
    "withdrawn": ("ticket.withdrawn", lambda: {"reason": "solved it myself"}),
    "urged": ("ticket.urged", lambda: {}),
    "platform approved": ("ticket.platform_decided", lambda: {"decision": "approved"}),
    "platform rejected": ("ticket.platform_decided", lambda: {"decision": "rejected", "note": "answer it"}),
    "reopened": ("ticket.reopened", lambda: {"reason": "again"}),
    "closed": ("ticket.closed", lambda: {"by": "merchant"}),
    "closed by platform": ("ticket.closed", lambda: {"by": "platform"}),
    # never refused: an answer counts in any status, a reminder is answered by survey.reminder_rejected
    "answered satisfied": ("survey.answered", lambda: {"rating": 5}),
    "answered unsatisfied": ("survey.answered", lambda: {"rating": 2}),
    "reminder": ("survey.reminder_requested", lambda: {}),
}


def _expected(action: str, policy: str, start: str) -> str:
    is_open = start in OPEN
    merchant_acts = start in (AWAITING_MERCHANT, AWAITING_CUSTOMER)
    if action == "customer message":
        return AWAITING_MERCHANT if start == AWAITING_CUSTOMER else SAME if is_open else REJECT
    if action == "merchant message":
        return AWAITING_CUSTOMER if start == AWAITING_MERCHANT else SAME if is_open else REJECT
    if action == "platform message":
        return SAME if is_open else REJECT
    if action == "resolved":
        return RESOLVED_TO[policy] if merchant_acts else REJECT
    if action in ("unresolved", "appealed"):
        return AWAITING_PLATFORM if merchant_acts else REJECT
    # The "Per policy" table (seeds 000, 002) on top of the generic one:
    if not is_open and action != "reopened" and not action.startswith("answered") and action != "reminder":
        return REJECT
    if action == "refunded":  # the table opens pre-purchase tickets: Wish refunds post-purchase only (000)
        return REJECT if policy == "wish" else SAME if policy == "douyin" else CLOSED
    if action == "refunded post-purchase":  # a Douyin refund is recorded without closing (002)
        return SAME if policy == "douyin" else CLOSED
    if action == "withdrawn":  # a Douyin service request cannot be revoked (002)
        return REJECT if policy == "douyin" else CLOSED
    if action == "closed":  # ... and is closed only by the platform
        return REJECT if policy == "douyin" else CLOSED
    if action == "closed by platform":
        return CLOSED
    if action == "urged":
        return SAME if is_open else REJECT
    if action == "platform approved":
        return CLOSED if start == AWAITING_PLATFORM else REJECT
    if action == "platform rejected":
        return AWAITING_MERCHANT if start == AWAITING_PLATFORM else REJECT
    if action == "reopened":
        return AWAITING_MERCHANT if start == "closed" else REJECT
    if action == "answered satisfied":
        return CLOSED if start == USER_CONFIRMING else SAME
    if action == "answered unsatisfied":
        return AWAITING_PLATFORM if start == USER_CONFIRMING else SAME
    if action == "reminder":
        return SAME
    raise AssertionError(action)


CASES = [
    (p, s, a) for p in POLICIES for s in STARTS for a in ACTIONS if not (s == USER_CONFIRMING and p != "douyin")
]  # only Douyin has user confirmation


@pytest.mark.parametrize("policy,start,action", CASES, ids=[f"{p}-{s}-{a}" for p, s, a in CASES])
def test_where_each_inbound_type_applies(policy, start, action):
    # Given a ticket of `policy` in `start` (a pre-purchase one, unless the action says post-purchase)
    f = Flow()
    _reach(f, policy, start, **({"category": "item_problem"} if action.endswith("post-purchase") else {}))
    before = f.ticket.model_dump()
    status_before = f.status
    type_, make = ACTIONS[action]
    data = make()
    # When the event comes an hour later
    o = f.apply(type_, T0 + H, data, id="act")
    want = _expected(action, policy, start)
    if want == REJECT:
        # Then it is refused, and nothing about the ticket changes
        assert o.rejection is not None and o.rejection[0] == "invalid_transition", o.rejection
        assert o.ticket.model_dump() == before
        assert o.emits == [] and o.timers == {} and o.facts == [] and o.messages == []
        return
    assert o.rejection is None
    want = status_before if want == SAME else want
    # Then the status is as the table says, with one status_changed per change, from the previous status
    assert f.status == want
    if want == status_before:
        assert of(o, "ticket.status_changed") == []
    else:
        assert statuses(o) == [(status_before, want)]
        assert of(o, "ticket.status_changed")[0]["caused_by"] == "act"
        assert of(o, "notification.requested")[-1]["status"] == want
    if type_ == "survey.answered":
        assert [(x.kind, x.value) for x in o.facts] == [("rating", float(data["rating"]))]
    if type_ == "survey.reminder_requested":
        # one hour after a 10:00 Shanghai survey is exactly 1 h: too soon; elsewhere not confirming
        reason = "too_soon" if start == USER_CONFIRMING else "not_confirming"
        assert emits(o) == [E("survey.reminder_rejected", reason=reason)]
    if type_ == "message.posted":
        assert [(m["author"], m["message_id"]) for m in o.messages] == [
            (data["message"]["author"], data["message"]["message_id"])
        ]
        # customer messages for the merchant, merchant messages for the customer (000); the worker decides
        # whether the languages differ when the core has no detector (this Lifecycle has none)
        want_tasks = ["translate"] if data["message"]["author"] in ("customer", "merchant") else []
        assert [t.actor for t in o.tasks] == want_tasks


def test_status_change_is_caused_by_the_inbound_event_id():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("message.posted", T0 + H, msg("merchant"), id="reply-1")
    assert of(o, "ticket.status_changed")[0]["caused_by"] == "reply-1"


# ---------------------------------------------------------------- messages, merchant clock


def test_merchant_reply_on_time_fulfils_the_clock_and_is_the_first_response():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("message.posted", T0 + 2 * H, msg("merchant"), id="r1")
    due = T0 + 48 * H
    assert emits(o) == [
        SLA("fulfilled", MR, due, "wish", late=False),
        SC(AWAITING_MERCHANT, AWAITING_CUSTOMER, "merchant_replied", "r1"),
        N("status_changed", AWAITING_CUSTOMER),
    ]
    assert o.timers == {T_BREACH: None, T_WARNING: None}
    assert [(x.kind, x.value, x.late) for x in o.facts] == [("first_response", 7200.0, None), ("response", None, False)]
    assert f.ticket.clock is None and (f.ticket.responses, f.ticket.late_responses) == (1, 0)


def test_merchant_reply_exactly_at_the_deadline_is_on_time():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("message.posted", T0 + 48 * H, msg("merchant"))
    assert of(o, "sla.fulfilled")[0]["late"] is False and of(o, "sla.breached") == []


def test_first_response_counts_once():
    f = Flow()
    f.open("wish", T0)
    f.apply("message.posted", T0 + H, msg("merchant"))
    f.apply("message.posted", T0 + 2 * H, msg("customer"))
    o = f.apply("message.posted", T0 + 3 * H, msg("merchant"))
    assert [x.kind for x in o.facts] == ["response"]


def test_customer_reply_restarts_a_full_deadline_from_its_own_time():
    f = Flow()
    f.open("douyin", "2026-03-02T10:00+08:00")
    f.apply("message.posted", "2026-03-02T11:00+08:00", msg("merchant"))
    o = f.apply("message.posted", "2026-03-02T20:00+08:00", msg("customer"), id="c2")
    due = at("2026-03-04T20:00+08:00")
    assert emits(o) == [
        SC(AWAITING_CUSTOMER, AWAITING_MERCHANT, "customer_replied", "c2"),
        N("status_changed", AWAITING_MERCHANT),
        SLA("activated", MR, due, "douyin"),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: at("2026-03-03T20:00+08:00")}
    assert [t.actor for t in o.tasks] == ["translate"]


def test_customer_message_while_awaiting_merchant_is_recorded_and_translated_only():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("message.posted", T0 + H, msg("customer", "any news?"))
    assert o.emits == [] and o.timers == {} and [m["text"] for m in o.messages] == ["any news?"]
    assert [t.actor for t in o.tasks] == ["translate"]


def test_merchant_message_outside_awaiting_merchant_is_recorded_only():
    f = Flow()
    f.open("wish", T0)
    f.apply("ticket.appealed", T0 + H, {"reason": "fraud"})
    o = f.apply("message.posted", T0 + 2 * H, msg("merchant"))
    assert o.emits == [] and f.status == AWAITING_PLATFORM and len(o.messages) == 1
    assert [t.actor for t in o.tasks] == ["translate"]  # for the customer (000); the worker compares languages


@pytest.mark.parametrize(
    "type_,data,reason,escalation",
    [
        ("ticket.unresolved", {"reason": "cannot reach the customer"}, "unresolved", "unresolved"),
        ("ticket.appealed", {"reason": "abuse"}, "appeal", "appeal"),
    ],
)
def test_unresolved_and_appeal_fulfil_the_clock_and_escalate(type_, data, reason, escalation):
    f = Flow()
    f.open("douyin", T0)
    o = f.apply(type_, T0 + H, data, id="x1")
    due = at("2026-03-04T10:00+08:00")  # 10:00 + 24 business hours of 09:00-21:00
    assert f.outcomes[0].timers[T_BREACH] == due
    assert emits(o) == [
        E("ticket.escalated", reason=escalation, detail=data["reason"]),
        SLA("fulfilled", MR, due, "douyin", late=False),
        SC(AWAITING_MERCHANT, AWAITING_PLATFORM, reason, "x1", note=data["reason"]),
        N("status_changed", AWAITING_PLATFORM),
    ]
    assert [x.kind for x in o.facts] == ["first_response", "response"]


def test_withdraw_cancels_the_merchant_clock():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("ticket.withdrawn", T0 + H, {"reason": "found it"}, id="w1")
    assert emits(o) == [
        SLA("cancelled", MR, T0 + 48 * H, "wish"),
        SC(AWAITING_MERCHANT, CLOSED, "withdrawn", "w1", note="found it"),
        N("status_changed", CLOSED),
    ]
    assert o.timers == {T_BREACH: None, T_WARNING: None} and o.facts == []
    assert not f.ticket.permanently_closed


def test_close_permanently_then_reopen_is_refused():
    f = Flow()
    f.open("wish", T0)
    o = f.apply("ticket.closed", T0 + H, {"by": "platform", "permanently": True}, id="c1")
    assert SC(AWAITING_MERCHANT, CLOSED, "closed_by_platform", "c1", permanently=True) in emits(o)
    assert f.ticket.permanently_closed
    r = f.apply("ticket.reopened", T0 + 2 * H, {"reason": "please"})
    assert r.rejection is not None and r.rejection[0] == "invalid_transition" and f.status == CLOSED


def test_reopen_starts_a_fresh_clock_from_the_reopen_time():
    f = Flow()
    f.open("wish", T0)
    f.apply("ticket.closed", T0 + H, {})
    assert of(f.outcomes[-1], "ticket.status_changed")[0]["reason"] == "closed"
    o = f.apply("ticket.reopened", T0 + 10 * H, {"reason": "not fixed"}, id="re")
    due = T0 + 58 * H
    assert emits(o) == [
        SC(CLOSED, AWAITING_MERCHANT, "reopened", "re", note="not fixed"),
        N("status_changed", AWAITING_MERCHANT),
        SLA("activated", MR, due, "wish"),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: due - 12 * H}


def test_refund_closes_and_keeps_the_details():
    f = Flow()
    f.open("wish", T0, "category:refund_request")
    o = f.apply(
        "ticket.refunded",
        T0 + H,
        {"items": ["kettle", {"item_id": "lid", "quantity": 2}], "amount": "19.90", "currency": "EUR"},
        id="rf",
    )
    assert f.status == CLOSED and statuses(o) == [(AWAITING_MERCHANT, CLOSED)]
    assert of(o, "sla.fulfilled")[0]["late"] is False
    assert f.ticket.refund == {
        "items": [{"item_id": "kettle", "quantity": 1}, {"item_id": "lid", "quantity": 2}],
        "amount": "19.90",
        "currency": "EUR",
        "at": (T0 + H).isoformat(),
        "event_id": "rf",
    }
    # and a reopened ticket still shows the refund
    f.apply("ticket.reopened", T0 + 2 * H, {})
    assert f.ticket.refund["event_id"] == "rf"


def test_urge_raises_priority_without_a_status_change():
    f = Flow()
    f.open("douyin", T0)
    o = f.apply("ticket.urged", T0 + H)
    f.apply("ticket.urged", T0 + 2 * H)
    assert o.emits == [] and f.ticket.urges == 2 and f.status == AWAITING_MERCHANT


# ------------------------------------------------------------------ breaches and policies


def test_wish_breach_on_post_purchase_goes_to_the_platform_as_merchant_late():
    f = Flow()
    f.open("wish", T0, "category:item_problem broken")
    w = f.fire(T_WARNING)
    assert emits(w) == [SLA("warning", MR, T0 + 48 * H, "wish"), N("deadline_soon", AWAITING_MERCHANT)]
    o = f.fire(T_BREACH)
    assert emits(o) == [
        SLA("breached", MR, T0 + 48 * H, "wish"),
        E("ticket.escalated", reason="merchant_late"),
        SC(AWAITING_MERCHANT, AWAITING_PLATFORM, "merchant_late", "timer:merchant_response"),
        N("status_changed", AWAITING_PLATFORM),
    ]
    assert [(x.kind, x.late, x.at) for x in o.facts] == [("response", True, T0 + 48 * H)]
    assert f.status == AWAITING_PLATFORM and f.ticket.clock is None and f.timers == {}


def test_wish_breach_on_pre_purchase_stays_with_the_merchant_counted_late():
    f = Flow()
    f.open("wish", T0, "category:product_question what size")
    o = f.fire(T_BREACH, T0 + 48 * H)
    assert emits(o) == [SLA("breached", MR, T0 + 48 * H, "wish")]
    assert f.status == AWAITING_MERCHANT and f.ticket.clock.breached
    assert (f.ticket.responses, f.ticket.late_responses) == (1, 1)
    assert [(x.kind, x.late) for x in o.facts] == [("response", True)]
    assert o.timers == {T_BREACH: None, T_WARNING: None}
    # a later reply fulfils it late, and is not counted a second time
    r = f.apply("message.posted", T0 + 50 * H, msg("merchant"))
    assert of(r, "sla.fulfilled") == [SLA("fulfilled", MR, T0 + 48 * H, "wish", late=True)[1]]
    assert [x.kind for x in r.facts] == ["first_response"]
    assert (f.ticket.responses, f.ticket.late_responses) == (1, 1)


def test_wish_breach_on_order_support_stays_too():
    f = Flow()
    f.open("wish", T0, "category:order_status where")
    f.tick(T0 + 48 * H)
    assert f.status == AWAITING_MERCHANT


def test_douyin_breach_goes_to_the_platform():
    f = Flow()
    f.open("douyin", T0)
    due = f.timers[T_BREACH]
    fired = f.tick(due)
    assert [e[0] for e in all_emits(fired)] == [
        "sla.warning",
        "notification.requested",
        "sla.breached",
        "ticket.escalated",
        "ticket.status_changed",
        "notification.requested",
    ]
    assert f.status == AWAITING_PLATFORM


def test_chat_breach_is_counted_late_and_the_chat_stays_with_the_merchant():
    f = Flow()
    f.open("chat", T0)
    o = f.fire(T_BREACH)
    assert emits(o) == [SLA("breached", MR, T0 + 24 * H, "chat")]
    assert f.status == AWAITING_MERCHANT and f.ticket.late_responses == 1


def test_a_late_reply_before_any_tick_is_fulfilled_late_and_fires_nothing():
    # CONTRACT "Time": timers fire only by the scheduler or `tick`; "without a scheduler running, nothing
    # time-driven happens until a tick". A reply after the deadline meets a running clock: fulfilled, late.
    f = Flow()
    f.open("wish", T0, "category:product_question")
    o = f.apply("message.posted", T0 + 50 * H, msg("merchant"), id="late")
    assert [t for t, _ in emits(o)] == ["sla.fulfilled", "ticket.status_changed", "notification.requested"]
    assert of(o, "sla.fulfilled")[0]["late"] is True
    assert [(x.kind, x.late) for x in o.facts] == [("first_response", None), ("response", True)]
    assert f.ticket.late_responses == 1 and f.ticket.responses == 1
    assert o.timers[T_BREACH] is None and o.timers[T_WARNING] is None and f.timers == {}
    assert f.status == AWAITING_CUSTOMER


def test_a_late_reply_on_a_post_purchase_ticket_before_any_tick_is_late_not_a_takeover():
    f = Flow()
    f.open("wish", T0, "category:item_problem")
    o = f.apply("message.posted", T0 + 50 * H, msg("merchant"), id="late")
    assert statuses(o) == [(AWAITING_MERCHANT, AWAITING_CUSTOMER)]
    assert of(o, "sla.fulfilled")[0]["late"] is True and not of(o, "ticket.escalated")


def test_an_event_after_a_due_instant_does_not_fire_the_timer_itself():
    f = Flow()
    f.open("chat", T0)
    o = f.apply("message.posted", T0 + 8 * DAY, msg("merchant"))  # 7-day close not fired: no tick ran
    assert o.rejection is None and f.status == AWAITING_CUSTOMER
    assert not of(o, "sla.breached")
    assert o.timers[T_INACTIVITY] is None and T_INACTIVITY not in f.timers  # the reply stopped the clock


def test_platform_rejection_gives_a_new_full_deadline_from_the_event_and_says_so():
    f = Flow()
    f.open("douyin", "2026-03-02T10:00+08:00")
    f.apply("ticket.unresolved", "2026-03-02T11:00+08:00", {"reason": "no stock"})
    o = f.apply("ticket.platform_decided", "2026-03-02T20:00+08:00", {"decision": "rejected"}, id="pr")
    due = at("2026-03-04T20:00+08:00")
    assert emits(o) == [
        SC(AWAITING_PLATFORM, AWAITING_MERCHANT, "platform_rejected", "pr"),
        N("platform_rejected", AWAITING_MERCHANT),
        SLA("activated", MR, due, "douyin"),
    ]
    assert o.timers == {T_BREACH: due, T_WARNING: at("2026-03-03T20:00+08:00")}


def test_platform_rejection_honours_its_response_hours():
    f = Flow()
    f.open("douyin", "2026-03-02T10:00+08:00")
    f.apply("ticket.appealed", "2026-03-02T11:00+08:00", {})
    o = f.apply("ticket.platform_decided", "2026-03-02T20:00+08:00", {"decision": "rejected", "response_hours": 4})
    due = at("2026-03-03T12:00+08:00")  # 1 h today, 3 h from 09:00
    assert o.timers == {T_BREACH: due, T_WARNING: None}
    assert of(o, "sla.warning") == [SLA("warning", MR, due, "douyin")[1]]


def test_platform_rejection_keeps_the_tickets_agreed_limit():
    f = Flow()
    f.open("douyin", "2026-03-02T10:00+08:00", response_hours=6)
    f.apply("ticket.appealed", "2026-03-02T11:00+08:00", {})
    o = f.apply("ticket.platform_decided", "2026-03-02T12:00+08:00", {"decision": "rejected"})
    assert o.timers[T_BREACH] == at("2026-03-02T18:00+08:00")


def test_platform_approval_closes():
    f = Flow()
    f.open("wish", T0)
    f.apply("ticket.appealed", T0 + H, {})
    o = f.apply("ticket.platform_decided", T0 + 2 * H, {"decision": "approved"}, id="pa")
    assert emits(o) == [SC(AWAITING_PLATFORM, CLOSED, "platform_approved", "pa"), N("status_changed", CLOSED)]


def test_stale_timers_do_nothing():
    f = Flow()
    f.open("wish", T0)
    ticket = f.ticket
    warn, due = f.timers[T_WARNING], f.timers[T_BREACH]
    # a due that does not match the ticket's clock
    for kind, d in (
        (T_WARNING, warn + H),
        (T_BREACH, due - H),
        (T_SURVEY, due),
        (T_CONFIRMATION, due),
        (T_INACTIVITY, due),
    ):
        o = LC.fire(ticket, kind, d)
        assert o.emits == [] and o.facts == [] and o.ticket.model_dump() == ticket.model_dump(), kind
    # a clock fulfilled before its timers fired
    f.apply("message.posted", T0 + H, msg("merchant"))
    for kind, d in ((T_WARNING, warn), (T_BREACH, due)):
        o = LC.fire(f.ticket, kind, d)
        assert o.emits == [] and o.ticket.status == AWAITING_CUSTOMER


def test_a_moved_deadline_leaves_the_old_timer_stale():
    f = Flow()
    f.open("wish", T0)
    old = f.timers[T_BREACH]
    f.apply("message.posted", T0 + H, msg("merchant"))
    f.apply("message.posted", T0 + 2 * H, msg("customer"))
    assert LC.fire(f.ticket, T_BREACH, old).emits == []
    assert f.timers[T_BREACH] == T0 + 50 * H


def test_unknown_timer_kind_is_an_error():
    f = Flow()
    f.open("wish", T0)
    with pytest.raises(ValueError):
        LC.fire(f.ticket, "nope", T0)


# ---------------------------------------------------------------------------- chat inactivity


def test_chat_closes_permanently_after_7_days_without_merchant_activity():
    f = Flow()
    f.open("chat", T0)
    f.fire(T_BREACH)
    o = f.fire(T_INACTIVITY)
    assert emits(o) == [
        SLA("breached", CI, T0 + 7 * DAY, "chat"),
        SC(AWAITING_MERCHANT, CLOSED, "ignored", "timer:chat_inactivity", permanently=True),
        N("status_changed", CLOSED),
    ]
    assert f.ticket.permanently_closed and o.timers[T_INACTIVITY] is None
    r = f.apply("ticket.reopened", T0 + 8 * DAY, {})
    assert r.rejection is not None and r.rejection[0] == "invalid_transition"
    m = f.apply("message.posted", T0 + 8 * DAY, msg("merchant"))
    assert m.rejection is not None


def test_chat_inactivity_cancels_a_running_merchant_clock():
    f = Flow()
    f.open("chat", T0)
    f.apply("message.posted", T0 + H, msg("merchant"))
    f.apply("message.posted", T0 + 7 * DAY, msg("customer"))  # a new clock, due T0+8d
    o = f.fire(T_INACTIVITY)
    assert [t for t, _ in emits(o)] == [
        "sla.breached",
        "sla.cancelled",
        "ticket.status_changed",
        "notification.requested",
    ]
    assert of(o, "sla.cancelled")[0]["clock"] == MR


def test_chat_inactivity_stops_on_the_merchant_reply_and_restarts_fresh_on_the_customer_reply():
    # Given a chat opened at T0 (7 days from T0)
    f = Flow()
    f.open("chat", T0)
    # When the merchant answers on day 2, the clock stops (fulfilled): a chat waiting for the customer never closes
    o = f.apply("message.posted", T0 + 2 * DAY, msg("merchant"))
    assert SLA("fulfilled", CI, T0 + 7 * DAY, "chat", late=False)[1] in of(o, "sla.fulfilled")
    assert o.timers[T_INACTIVITY] is None and f.ticket.inactivity_due_at is None
    f.tick(T0 + 30 * DAY)
    assert f.status == AWAITING_CUSTOMER
    # When the customer replies on day 40, a fresh 7 days start from that reply
    c = f.apply("message.posted", T0 + 40 * DAY, msg("customer"))
    assert c.timers[T_INACTIVITY] == T0 + 47 * DAY
    # And a further customer message while waiting does not restart it
    d = f.apply("message.posted", T0 + 42 * DAY, msg("customer"))
    assert T_INACTIVITY not in d.timers and f.ticket.inactivity_due_at == T0 + 47 * DAY
    assert LC.fire(f.ticket, T_INACTIVITY, T0 + 7 * DAY).emits == []  # the old due is stale
    f.tick(T0 + 47 * DAY - timedelta(seconds=1))
    assert f.status == AWAITING_MERCHANT
    f.tick(T0 + 47 * DAY)
    assert f.status == CLOSED and f.ticket.permanently_closed
    assert of(f.outcomes[-1], "ticket.status_changed")[0]["reason"] == "ignored"


def test_chat_inactivity_does_not_run_outside_awaiting_merchant():
    # Given a chat appealed to the platform (out of awaiting_merchant): the clock stopped
    f = Flow()
    f.open("chat", T0)
    a = f.apply("ticket.appealed", T0 + H, {})
    assert a.timers[T_INACTIVITY] is None
    # When the merchant writes there, no clock starts, and nothing closes the chat by itself
    o = f.apply("message.posted", T0 + 3 * DAY, msg("merchant"))
    assert T_INACTIVITY not in o.timers and f.status == AWAITING_PLATFORM
    assert pending_timers(f.ticket).get(T_INACTIVITY) is None
    assert LC.fire(f.ticket, T_INACTIVITY, T0 + 7 * DAY).emits == []


def test_chat_refund_closes_and_fulfils_the_inactivity_clock_without_restarting_it():
    f = Flow()
    f.open("chat", T0)
    o = f.apply("ticket.refunded", T0 + H, {"items": ["x"]})
    assert [(d["clock"]) for d in of(o, "sla.activated")] == []
    assert SLA("fulfilled", CI, T0 + 7 * DAY, "chat", late=False)[1] in of(o, "sla.fulfilled")
    assert o.timers[T_INACTIVITY] is None


def test_chat_resolve_closes_with_a_survey_and_no_inactivity_restart():
    f = Flow()
    f.open("chat", "2026-03-02T10:00:00Z", tz="Europe/Berlin")
    o = f.apply("ticket.resolved", "2026-03-02T11:00:00Z", id="res")
    assert f.status == CLOSED and not f.ticket.permanently_closed
    assert of(o, "sla.activated") == []
    assert of(o, "survey.dispatched") == [E("survey.dispatched", attempt=0, sent_at=at("2026-03-02T11:00:00Z"))[1]]


def test_chat_reopen_restarts_inactivity():
    f = Flow()
    f.open("chat", T0)
    f.apply("ticket.closed", T0 + H, {})
    o = f.apply("ticket.reopened", T0 + 2 * H, {})
    assert o.timers[T_INACTIVITY] == T0 + 2 * H + 7 * DAY


# -------------------------------------------------------------------------------- surveys

SH_10 = at("2026-03-02T10:00+08:00")


def _douyin_resolved(resolve_at: datetime | str, tz: str | None = "Asia/Shanghai") -> tuple[Flow, Outcome]:
    f = Flow()
    f.open("douyin", "2026-03-02T09:30+08:00", tz=tz)
    o = f.apply("ticket.resolved", resolve_at, id="resolve")
    return f, o


def test_douyin_resolve_at_10_sends_the_survey_at_once_and_starts_48h_confirmation():
    f, o = _douyin_resolved(SH_10)
    due = f.outcomes[0].timers[T_BREACH]
    assert emits(o) == [
        SLA("fulfilled", MR, due, "douyin", late=False),
        SC(AWAITING_MERCHANT, USER_CONFIRMING, "resolved", "resolve"),
        N("status_changed", USER_CONFIRMING),
        E("survey.dispatched", attempt=0, sent_at=SH_10),
        SLA("activated", UC, SH_10 + 48 * H, "douyin"),
    ]
    assert o.timers == {T_BREACH: None, T_WARNING: None, T_SURVEY: None, T_CONFIRMATION: SH_10 + 48 * H}


def test_douyin_resolve_at_23_defers_the_survey_to_08_and_confirmation_runs_from_the_send():
    g = Flow()
    g.open("douyin", "2026-03-02T09:30+08:00", tz="Asia/Shanghai")
    o = g.apply("ticket.resolved", "2026-03-02T23:00+08:00")
    eight = at("2026-03-03T08:00+08:00")
    assert g.status == USER_CONFIRMING
    assert of(o, "survey.dispatched") == [] and of(o, "sla.activated") == []
    assert o.timers[T_SURVEY] == eight and T_CONFIRMATION not in o.timers
    s = g.fire(T_SURVEY)
    assert emits(s) == [
        E("survey.dispatched", attempt=0, sent_at=eight),
        SLA("activated", UC, eight + 48 * H, "douyin"),
    ]
    assert s.timers == {T_SURVEY: None, T_CONFIRMATION: eight + 48 * H}
    assert g.ticket.survey.first_sent_at == eight


def test_survey_deferral_uses_the_customers_zone():
    f = Flow()
    f.open("douyin", "2026-03-02T10:00+08:00", tz="Europe/Berlin")
    # 23:00 Shanghai is 16:00 in Berlin: no deferral
    o = f.apply("ticket.resolved", "2026-03-02T23:00+08:00")
    assert of(o, "survey.dispatched")[0]["sent_at"] == at("2026-03-02T23:00+08:00")
    g = Flow()
    g.open("douyin", "2026-03-02T10:00+08:00", tz="Europe/Berlin")
    o = g.apply("ticket.resolved", "2026-03-02T23:30+01:00")
    assert o.timers[T_SURVEY] == at("2026-03-03T08:00+01:00")


def test_survey_deferral_falls_back_to_the_policy_calendars_zone():
    f, o = _douyin_resolved("2026-03-03T07:59:59+08:00", tz=None)
    assert o.timers[T_SURVEY] == at("2026-03-03T08:00+08:00")
    w = Flow()
    w.open("wish", "2026-03-02T20:00:00Z")
    o = w.apply("ticket.resolved", "2026-03-02T22:00:00Z")  # wish calendar is UTC: 22:00:00 is quiet
    assert w.status == CLOSED and o.timers[T_SURVEY] == at("2026-03-03T08:00:00Z")
    s = w.fire(T_SURVEY)
    assert emits(s) == [E("survey.dispatched", attempt=0, sent_at=at("2026-03-03T08:00:00Z"))]


def test_survey_boundaries_0800_allowed_2200_deferred():
    _, o = _douyin_resolved("2026-03-02T21:59:59+08:00")
    assert of(o, "survey.dispatched")[0]["sent_at"] == at("2026-03-02T21:59:59+08:00") and o.timers[T_SURVEY] is None
    _, o = _douyin_resolved("2026-03-03T08:00:00+08:00")
    assert of(o, "survey.dispatched")[0]["sent_at"] == at("2026-03-03T08:00:00+08:00")
    _, o = _douyin_resolved("2026-03-02T22:00:00+08:00")
    assert of(o, "survey.dispatched") == [] and o.timers[T_SURVEY] == at("2026-03-03T08:00+08:00")


def test_wish_resolve_closes_and_surveys_without_confirmation():
    f = Flow()
    f.open("wish", "2026-03-02T09:00:00Z", tz="Europe/Berlin")
    o = f.apply("ticket.resolved", "2026-03-02T10:00:00Z", {"message": {"message_id": "m9", "text": "Done"}}, id="r")
    assert f.status == CLOSED
    assert [t for t, _ in emits(o)] == [
        "sla.fulfilled",
        "ticket.status_changed",
        "notification.requested",
        "survey.dispatched",
    ]
    assert T_CONFIRMATION not in o.timers and f.ticket.confirmation_due_at is None
    assert [m["author"] for m in o.messages] == ["merchant"]


def test_confirmation_timeout_goes_to_the_platform():
    f, _ = _douyin_resolved(SH_10)
    o = f.fire(T_CONFIRMATION)
    assert emits(o) == [
        SLA("breached", UC, SH_10 + 48 * H, "douyin"),
        E("ticket.escalated", reason="confirmation_timeout"),
        SC(USER_CONFIRMING, AWAITING_PLATFORM, "confirmation_timeout", "timer:user_confirmation"),
        N("status_changed", AWAITING_PLATFORM),
    ]
    assert o.timers == {T_CONFIRMATION: None} and f.status == AWAITING_PLATFORM


@pytest.mark.parametrize("rating", [4, 5])
def test_satisfied_answer_closes(rating):
    f, _ = _douyin_resolved(SH_10)
    o = f.apply("survey.answered", SH_10 + 5 * H, {"rating": rating}, id="ans")
    assert emits(o) == [
        SLA("fulfilled", UC, SH_10 + 48 * H, "douyin", late=False),
        SC(USER_CONFIRMING, CLOSED, "survey_satisfied", "ans"),
        N("status_changed", CLOSED),
    ]
    assert [(x.kind, x.value) for x in o.facts] == [("rating", float(rating))]
    assert o.timers == {T_CONFIRMATION: None}
    assert LC.fire(f.ticket, T_CONFIRMATION, SH_10 + 48 * H).emits == []


@pytest.mark.parametrize("rating", [1, 2, 3])
def test_unsatisfied_answer_goes_to_the_platform(rating):
    f, _ = _douyin_resolved(SH_10)
    o = f.apply("survey.answered", SH_10 + 5 * H, {"rating": rating}, id="ans")
    assert emits(o) == [
        SLA("fulfilled", UC, SH_10 + 48 * H, "douyin", late=False),
        E("ticket.escalated", reason="unsatisfied"),
        SC(USER_CONFIRMING, AWAITING_PLATFORM, "unsatisfied", "ans"),
        N("status_changed", AWAITING_PLATFORM),
    ]
    assert f.ticket.rating == rating


def test_an_answer_after_the_confirmation_timed_out_counts_and_changes_nothing():
    f, _ = _douyin_resolved(SH_10)
    fired = f.tick(SH_10 + 48 * H)  # what the scheduler does at the due instant
    assert [statuses(x) for x in fired] == [[(USER_CONFIRMING, AWAITING_PLATFORM)]]
    o = f.apply("survey.answered", SH_10 + 50 * H, {"rating": 5})
    assert o.emits == [] and [x.kind for x in o.facts] == ["rating"] and f.status == AWAITING_PLATFORM


def test_an_answer_after_the_due_instant_but_before_any_tick_still_decides():
    # CONTRACT "Time": nothing time-driven happens until the scheduler or a tick fires the timer.
    f, _ = _douyin_resolved(SH_10)
    o = f.apply("survey.answered", SH_10 + 50 * H, {"rating": 5})
    assert statuses(o) == [(USER_CONFIRMING, CLOSED)] and f.timers == {}


def test_an_answer_in_another_status_counts_and_changes_nothing():
    f = Flow()
    f.open("wish", T0)
    f.apply("ticket.resolved", T0 + H)
    o = f.apply("survey.answered", T0 + 2 * H, {"rating": 2})
    assert o.emits == [] and f.status == CLOSED and [(x.kind, x.value) for x in o.facts] == [("rating", 2.0)]
    g = Flow()
    g.open("douyin", T0)
    o = g.apply("survey.answered", T0 + H, {"rating": 1})
    assert o.emits == [] and g.status == AWAITING_MERCHANT and [x.kind for x in o.facts] == ["rating"]


def test_an_answer_counts_once_per_ticket():
    f, _ = _douyin_resolved(SH_10)
    f.apply("survey.answered", SH_10 + H, {"rating": 5})
    o = f.apply("survey.answered", SH_10 + 2 * H, {"rating": 1})
    assert o.facts == [] and o.emits == [] and f.ticket.rating == 5 and f.status == CLOSED


def test_an_answer_before_a_deferred_send_cancels_the_send():
    f, o = _douyin_resolved("2026-03-02T23:00+08:00")
    a = f.apply("survey.answered", "2026-03-02T23:30+08:00", {"rating": 5})
    assert a.timers == {T_SURVEY: None} and f.status == CLOSED
    assert LC.fire(f.ticket, T_SURVEY, at("2026-03-03T08:00+08:00")).emits == []


def test_back_to_the_merchant_drops_a_deferred_survey():
    f = Flow()
    f.open("wish", "2026-03-02T20:00:00Z")
    f.apply("ticket.resolved", "2026-03-02T23:00:00Z")
    o = f.apply("ticket.reopened", "2026-03-02T23:30:00Z")
    assert o.timers[T_SURVEY] is None and f.ticket.survey.scheduled_for is None


def test_a_deferred_survey_still_goes_out_after_a_platform_close():
    f, _ = _douyin_resolved("2026-03-02T23:00+08:00")
    f.apply("ticket.closed", "2026-03-02T23:10+08:00", {"by": "platform"})  # (a Douyin request is not withdrawn)
    assert f.status == CLOSED
    s = f.tick("2026-03-03T08:00+08:00")
    assert [e for e in all_emits(s)] == [E("survey.dispatched", attempt=0, sent_at=at("2026-03-03T08:00+08:00"))]


def test_a_second_resolve_starts_a_new_survey_cycle():
    f, _ = _douyin_resolved(SH_10)
    f.apply("survey.answered", SH_10 + H, {"rating": 5})
    f.apply("ticket.reopened", SH_10 + 2 * H)
    o = f.apply("ticket.resolved", SH_10 + 3 * H)
    assert of(o, "survey.dispatched") == [E("survey.dispatched", attempt=0, sent_at=SH_10 + 3 * H)[1]]
    assert f.ticket.survey.cycle == 2 and f.ticket.survey.reminders == 0


# ------------------------------------------------------------------------------ reminders


def _reminder(f: Flow, when: datetime | str) -> Outcome:
    return f.apply("survey.reminder_requested", when)


def test_reminders_at_most_two_more_than_an_hour_apart():
    f, _ = _douyin_resolved(SH_10)
    r1 = _reminder(f, SH_10 + H + timedelta(seconds=1))
    assert emits(r1) == [E("survey.dispatched", attempt=1, sent_at=SH_10 + H + timedelta(seconds=1))]
    r2 = _reminder(f, SH_10 + 2 * H + timedelta(seconds=1))  # exactly 1 h after the first reminder: too soon
    assert emits(r2) == [E("survey.reminder_rejected", reason="too_soon")]
    r3 = _reminder(f, SH_10 + 3 * H)
    assert emits(r3) == [E("survey.dispatched", attempt=2, sent_at=SH_10 + 3 * H)]
    r4 = _reminder(f, SH_10 + 6 * H)
    assert emits(r4) == [E("survey.reminder_rejected", reason="limit_reached")]
    assert f.ticket.survey.reminders == 2
    # reminders never move the confirmation deadline
    assert f.timers[T_CONFIRMATION] == SH_10 + 48 * H


def test_a_reminder_exactly_one_hour_after_the_survey_is_too_soon():
    f, _ = _douyin_resolved(SH_10)
    assert emits(_reminder(f, SH_10 + H)) == [E("survey.reminder_rejected", reason="too_soon")]
    assert f.ticket.survey.reminders == 0


def test_reminders_only_between_08_and_22_customer_time():
    f, _ = _douyin_resolved(SH_10)
    assert of(_reminder(f, "2026-03-02T22:00:00+08:00"), "survey.reminder_rejected") == [
        E("survey.reminder_rejected", reason="quiet_hours")[1]
    ]
    assert of(_reminder(f, "2026-03-03T07:59:59+08:00"), "survey.reminder_rejected")[0]["reason"] == "quiet_hours"
    assert of(_reminder(f, "2026-03-03T08:00:00+08:00"), "survey.dispatched")[0]["attempt"] == 1
    g, _ = _douyin_resolved(SH_10)
    assert of(_reminder(g, "2026-03-02T21:59:59+08:00"), "survey.dispatched")[0]["attempt"] == 1


def test_reminder_quiet_hours_use_the_customers_zone():
    f, _ = _douyin_resolved(SH_10, tz="Europe/Berlin")  # 10:00 Shanghai is 03:00 Berlin: deferred to 08:00 Berlin
    eight = at("2026-03-02T08:00+01:00")
    f.tick(eight)
    assert f.ticket.survey.first_sent_at == eight
    # 22:30 Shanghai is 15:30 Berlin: allowed
    assert of(_reminder(f, "2026-03-02T22:30+08:00"), "survey.dispatched")[0]["attempt"] == 1


def test_a_reminder_before_a_deferred_survey_went_out_is_too_soon():
    f, _ = _douyin_resolved("2026-03-03T07:00+08:00")
    assert of(_reminder(f, "2026-03-03T07:30+08:00"), "survey.reminder_rejected")[0]["reason"] == "quiet_hours"
    # at 08:00:00 exactly the survey (due 08:00) has not gone out yet: nothing to remind of
    assert of(_reminder(f, "2026-03-03T08:00:00+08:00"), "survey.reminder_rejected")[0]["reason"] == "too_soon"
    f.tick("2026-03-03T08:00:00+08:00")  # the scheduler sends the deferred survey at 08:00
    # at 08:30 the deferred survey went out at 08:00: 30 min is too soon
    assert of(_reminder(f, "2026-03-03T08:30+08:00"), "survey.reminder_rejected")[0]["reason"] == "too_soon"
    assert of(_reminder(f, "2026-03-03T09:00:01+08:00"), "survey.dispatched")[0]["attempt"] == 1


def test_reminder_refused_when_not_confirming_or_answered():
    f = Flow()
    f.open("douyin", T0)
    assert emits(_reminder(f, T0 + H)) == [E("survey.reminder_rejected", reason="not_confirming")]
    g, _ = _douyin_resolved(SH_10)
    g.apply("survey.answered", SH_10 + H, {"rating": 2})
    assert emits(_reminder(g, SH_10 + 3 * H)) == [E("survey.reminder_rejected", reason="not_confirming")]
    w = Flow()
    w.open("wish", T0)
    w.apply("ticket.resolved", T0 + H)
    assert emits(_reminder(w, T0 + 3 * H)) == [E("survey.reminder_rejected", reason="not_confirming")]


def test_reminder_after_the_confirmation_timed_out_is_not_confirming():
    f, _ = _douyin_resolved(SH_10)
    f.tick(SH_10 + 48 * H)
    o = _reminder(f, SH_10 + 49 * H)
    assert of(o, "survey.reminder_rejected")[0]["reason"] == "not_confirming"
    assert f.status == AWAITING_PLATFORM


def test_reminder_refusal_is_never_an_invalid_transition():
    f = Flow()
    f.open("wish", T0)
    f.apply("ticket.closed", T0 + H, {"permanently": True})
    o = _reminder(f, T0 + 2 * H)
    assert o.rejection is None and of(o, "survey.reminder_rejected")[0]["reason"] == "not_confirming"


# ---------------------------------------------------------------------------- bookkeeping


def test_pending_timers_mirror_what_the_outcomes_set():
    f, _ = _douyin_resolved("2026-03-02T23:00+08:00")
    assert pending_timers(f.ticket) == f.timers
    f.tick("2026-03-03T08:00+08:00")
    assert pending_timers(f.ticket) == f.timers == {T_CONFIRMATION: at("2026-03-05T08:00+08:00")}


def test_updated_at_follows_event_time_and_timer_due():
    f = Flow()
    f.open("chat", T0)
    f.apply("ticket.urged", T0 + H)
    assert f.ticket.updated_at == T0 + H
    f.fire(T_BREACH)
    assert f.ticket.updated_at == T0 + 24 * H
