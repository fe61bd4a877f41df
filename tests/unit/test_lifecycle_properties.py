"""Properties of the lifecycle over random event sequences, on all three built-in policies.

Each example opens one ticket, then applies random inbound events at times moving forward
by random gaps; before an event some of the pending timers (those due before it) fire in
due order, as a scheduler that is more or less behind would fire them. The invariants are
checked after every single outcome. A last stretch fires every timer left.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as wall
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core.lifecycle import Lifecycle, pending_timers
from services.core.policies import load_policies
from services.core.ticket import AWAITING_MERCHANT, CLOSED, STATUSES, T_BREACH, Outcome, Ticket
from tests.fakes import ClassifyingLifecycle
from tests.unit.test_lifecycle import ACTIONS, check_shapes, event, opened_data

UTC = timezone.utc
# The three built-ins, plus one TOML policy mixing what they keep apart: a calendar closed at
# night, on weekends and on holidays, user confirmation together with chat inactivity.
_OFFICE = """
[calendars.office]
timezone = "Europe/Budapest"
week = { mon = [["09:00", "12:00"], ["13:00", "17:00"]], tue = [["09:00", "17:00"]], wed = [["09:00", "17:00"]], thu = [["09:00", "17:00"]], fri = [["09:00", "15:00"]] }
holidays = ["2026-03-15", "2026-04-06", "2026-05-01", "2026-12-25"]

[policies.office]
calendar = "office"
response = "PT8H"
urgent_response = "PT2H"
warning_before = "PT3H"
user_confirmation = "PT24H"
chat_inactivity = "P3D"
breach_action = "escalate_post_purchase"
"""
_tmp = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
_tmp.write(_OFFICE)
_tmp.close()
POLICIES = load_policies(_tmp.name)
os.unlink(_tmp.name)
LC = ClassifyingLifecycle(Lifecycle(POLICIES))
US = timedelta(microseconds=1)

ZONES = [
    None,
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]
TEXTS = [
    "Hello",
    "URGENT the charger smokes",
    "category:item_problem broken",
    "category:product_question size?",
    "category:refund_request money back",
    "category:order_status where",
]
EXTRA = {
    "answer 1": ("survey.answered", lambda: {"rating": 1}),
    "answer 3": ("survey.answered", lambda: {"rating": 3}),
    "answer 4": ("survey.answered", lambda: {"rating": 4}),
    "answer 5": ("survey.answered", lambda: {"rating": 5}),
    "reminder": ("survey.reminder_requested", lambda: {}),
}
ALL_ACTIONS = {**ACTIONS, **EXTRA}
# resolves, replies and reminders weigh more: they are where the interesting rules live
WEIGHTED = [
    *ALL_ACTIONS,
    "resolved",
    "resolved",
    "merchant message",
    "customer message",
    "reminder",
    "reminder",
    "reminder",
    "answer 5",
    "answer 1",
]

gaps = st.one_of(
    st.integers(0, 3600),
    st.integers(3600, 3 * 86400),
    st.sampled_from([3600, 3601, 7200, 12 * 3600, 48 * 3600, 7 * 86400, 7 * 86400 + 1]),
    st.integers(3 * 86400, 9 * 86400),
)
# survey-focused sequences with gaps at the rules' boundaries (1 h spacing, 48 h, 7 days)
SURVEY_POOL = [
    "resolved",
    "resolved",
    "reminder",
    "reminder",
    "reminder",
    "reminder",
    "answer 5",
    "answer 1",
    "customer message",
    "merchant message",
    "reopened",
    "closed",
]
fine_gaps = st.sampled_from(
    [0, 1, 1799, 3599, 3600, 3601, 7200, 7201, 10 * 3600, 14 * 3600, 48 * 3600, 48 * 3600 + 1, 7 * 86400, 7 * 86400 + 1]
)
broad = st.tuples(gaps, st.sampled_from(WEIGHTED), st.integers(0, 4))
focused = st.tuples(fine_gaps, st.sampled_from(SURVEY_POOL), st.integers(0, 4))
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def scenarios(draw):
    return {
        "policy": draw(st.sampled_from(sorted(POLICIES))),
        "tz": draw(st.sampled_from(ZONES)),
        "start": draw(starts),
        "text": draw(st.sampled_from(TEXTS)),
        "response_hours": draw(st.one_of(st.none(), st.sampled_from([2, 5, 12, 13, 30]))),
        "steps": draw(st.lists(draw(st.sampled_from([broad, focused])), min_size=1, max_size=30)),
    }


@dataclass
class Run:
    """Drives one ticket and checks every invariant after every outcome."""

    tz_name: str | None
    ticket: Ticket | None = None
    timers: dict[str, datetime] = field(default_factory=dict)
    owed_first_send: set[int] = field(default_factory=set)  # survey cycles still owed an attempt-0 send
    sends: dict[int, list[tuple[int, datetime]]] = field(default_factory=dict)  # cycle -> (attempt, sent_at)
    ratings: int = 0
    response_facts: int = 0
    all_emits: list[tuple[str, dict]] = field(default_factory=list)
    entered_merchant: datetime | None = None  # when the chat last entered awaiting_merchant
    last_author: str | None = None

    policy_name: str = ""

    @property
    def policy(self):
        return POLICIES[self.policy_name]

    def zone(self) -> str:
        return self.tz_name or self.policy.calendar.timezone

    # -- driving --------------------------------------------------------------------------
    def apply(self, type_: str, time: datetime, data: dict, id: str) -> Outcome:
        before = self.ticket
        snapshot = before.model_dump() if before else None
        self.last_author = (data.get("message") or {}).get("author")
        o = LC.apply(before, event(type_, time, data, id=id))
        assert (before.model_dump() if before else None) == snapshot, "apply mutated its input"
        self.check(before, o, time, type_=type_)
        return o

    def fire_next(self, before_time: datetime, *, inclusive: bool = False) -> bool:
        due = sorted((d, k) for k, d in self.timers.items() if d < before_time or (inclusive and d == before_time))
        if not due:
            return False
        d, k = due[0]
        del self.timers[k]
        before = self.ticket
        snapshot = before.model_dump()
        o = LC.fire(before, k, d)
        assert before.model_dump() == snapshot, "fire mutated its input"
        self.check(before, o, d, type_=f"timer:{k}")
        return True

    # -- the invariants ---------------------------------------------------------------------
    def check(self, before: Ticket | None, o: Outcome, time: datetime, *, type_: str) -> None:
        if o.rejection is not None:
            # a rejected event never changes the ticket, and says nothing but the rejection
            assert o.ticket is before or (before is not None and o.ticket.model_dump() == before.model_dump())
            assert o.emits == [] and o.timers == {} and o.facts == [] and o.tasks == []
            if type_ == "ticket.opened" and before is None:
                raise AssertionError(f"opening refused: {o.rejection}")
            return
        t = o.ticket
        assert t is not None
        check_shapes(o)
        prev_status = before.status if before else None
        was_permanent = before is not None and before.status == CLOSED and before.permanently_closed

        # status always one of the five
        assert t.status in STATUSES

        # a permanent close never reopens
        if was_permanent:
            assert t.status == CLOSED and t.permanently_closed

        # every status change: exactly one status_changed, chained from the previous status
        chain = [e.data for e in o.emits if e.type == "ticket.status_changed"]
        cur = prev_status
        for d in chain:
            assert d["from"] == cur and d["to"] != cur
            cur = d["to"]
        assert cur == t.status
        for d in chain:
            if d["caused_by"].startswith("timer:"):
                assert d["caused_by"] in ("timer:merchant_response", "timer:user_confirmation", "timer:chat_inactivity")

        # timers set here are never due before what set them
        for kind, due in o.timers.items():
            if due is not None:
                assert due >= time, (kind, due, time)
            if due is None:
                self.timers.pop(kind, None)
            else:
                self.timers[kind] = due
        # the engine's timer rows are exactly what the state calls for
        assert self.timers == pending_timers(t), (self.timers, pending_timers(t))

        # the merchant_response clock runs iff awaiting the merchant with an unbreached clock
        running = t.status == AWAITING_MERCHANT and t.clock is not None and not t.clock.breached
        assert (T_BREACH in self.timers) == running
        if t.status != AWAITING_MERCHANT:
            assert t.clock is None
        else:
            assert t.clock is not None

        if type_ == "ticket.resolved":  # a new survey cycle, owed its first send
            assert before is None or t.survey.cycle == before.survey.cycle + 1
            self.owed_first_send.add(t.survey.cycle)
        cal = self.policy.calendar
        first_send = [e.data["sent_at"] for e in o.emits if e.type == "survey.dispatched" and e.data["attempt"] == 0]
        for e in o.emits:
            d = e.data
            if e.type == "sla.fulfilled" and d["clock"] == "merchant_response" and not type_.startswith("timer:"):
                assert d["late"] == (time > d["due_at"]), (d, time)  # late exactly when after the deadline
            if e.type == "sla.activated" and d["clock"] == "merchant_response" and not type_.startswith("timer:"):
                assert d["due_at"] == cal.add(time, self.policy.response_for(t.urgent, t.response_hours))
            if e.type == "sla.activated" and d["clock"] == "user_confirmation":
                assert d["due_at"] == first_send[0] + self.policy.user_confirmation  # 48 h from the first send
        if self.policy.chat_inactivity is not None:
            # CONTRACT chat_inactivity (corrected, 003 "ignored by the agent"): it runs exactly while the chat
            # is awaiting_merchant, from the moment it entered (a fresh span on every entry), and an `ignored`
            # close happens only from awaiting_merchant, exactly one span after that entry. So a chat waiting
            # for the customer never closes by itself, and one ignored by the merchant always does.
            if type_ == "ticket.opened" or any(d["to"] == AWAITING_MERCHANT for d in chain):
                self.entered_merchant = time
            for d in chain:
                if d["reason"] == "ignored":
                    assert d["from"] == AWAITING_MERCHANT and d["to"] == CLOSED and d["permanently"]
                    assert d["caused_by"] == "timer:chat_inactivity"
                    assert time == self.entered_merchant + self.policy.chat_inactivity
            if t.status == AWAITING_MERCHANT:
                assert t.inactivity_due_at == self.entered_merchant + self.policy.chat_inactivity
            else:
                assert t.inactivity_due_at is None
        for e in o.emits:
            self.all_emits.append((e.type, e.data))
            assert e.data["merchant_id"] == t.merchant_id
            if e.type.startswith("sla.") and e.data["clock"] == "merchant_response":
                # never strictly inside a closed stretch of the calendar
                due = e.data["due_at"]
                assert cal.is_open(due) or cal.is_open(due - US), due
            if e.type == "survey.dispatched":
                sent = e.data["sent_at"]
                # an oracle of its own (not surveys.in_quiet_hours): built-ins send 08:00:00 <= local < 22:00:00
                local = sent.astimezone(ZoneInfo(self.zone())).time()
                assert wall(8) <= local < wall(22), (sent, self.zone())
                cyc = self.sends.setdefault(t.survey.cycle, [])
                cyc.append((e.data["attempt"], sent))
                if e.data["attempt"] == 0:
                    assert t.survey.cycle in self.owed_first_send, "an attempt-0 send nobody owed"
                    self.owed_first_send.discard(t.survey.cycle)
                assert sum(1 for a, _ in cyc if a == 0) <= 1
                assert sum(1 for a, _ in cyc if a > 0) <= 2, cyc
                times = sorted(s for _, s in cyc)
                assert all(b - a > timedelta(hours=1) for a, b in zip(times, times[1:])), times
        if any(d["to"] == AWAITING_MERCHANT for d in chain) or t.survey.answered:
            self.owed_first_send.discard(t.survey.cycle)

        # facts: one rating per ticket; a late response never counted twice
        self.ratings += sum(1 for f in o.facts if f.kind == "rating")
        self.response_facts += sum(1 for f in o.facts if f.kind == "response")
        assert self.ratings <= 1
        assert t.responses == self.response_facts and 0 <= t.late_responses <= t.responses
        if before is not None and before.rating is not None:
            assert t.rating == before.rating

        self.ticket = t


def drive(sc: dict, *, scheduler: str) -> Run:
    """scheduler: 'random' fires a random number of due timers before each event, 'eager' all of them
    (due strictly before the event), 'lazy' none (timers fire only when something fires them)."""
    r = Run(tz_name=sc["tz"], policy_name=sc["policy"])
    now = sc["start"]
    extra = {"response_hours": sc["response_hours"]} if sc["response_hours"] is not None else {}
    o = r.apply("ticket.opened", now, opened_data(sc["policy"], sc["text"], tz=sc["tz"], **extra), "ev-open")
    assert o.rejection is None
    for i, (gap, action, fire_n) in enumerate(sc["steps"]):
        now = now + timedelta(seconds=gap)
        n = {"random": fire_n, "eager": 10_000, "lazy": 0}[scheduler]
        for _ in range(n):
            if not r.fire_next(now):
                break
        type_, make = ALL_ACTIONS[action]
        r.apply(type_, now, make(), f"ev-{i}")
    # afterwards nothing but time: every timer left fires
    horizon = now + timedelta(days=30)
    while r.fire_next(horizon, inclusive=True):
        pass
    assert r.timers == {} or all(d > horizon for d in r.timers.values())
    # every resolve got its first survey send, unless back to the merchant or answered first
    assert r.owed_first_send == set(), r.owed_first_send
    return r


PROFILE = settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(scenarios())
def test_invariants_hold_over_random_sequences(sc):
    drive(sc, scheduler="random")


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.sampled_from(sorted(POLICIES)))
def test_every_policy_and_zone_combination_opens(sc, policy):
    sc = {**sc, "policy": policy, "steps": sc["steps"][:5]}
    drive(sc, scheduler="random")


reminder_steps = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 1800, 3599, 3600, 3601, 5400, 7200, 9 * 3600, 36000]),
        st.sampled_from(["reminder"] * 6 + ["answer 4", "customer message"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=600, deadline=None)
@given(scenarios(), reminder_steps, st.sampled_from([0, 3600, 3 * 3600, 10 * 3600]))
def test_survey_sends_of_a_douyin_cycle_respect_spacing_limit_and_quiet_hours(sc, steps, resolve_after):
    # Given a Douyin ticket resolved at a random local time / When the merchant asks for reminders
    # Then: at most 2, each more than 1 h after the previous send, none in quiet hours (checked in Run)
    sc = {**sc, "policy": "douyin", "steps": [(resolve_after, "resolved", 0), *steps]}
    r = drive(sc, scheduler="random")
    for cycle in r.sends.values():
        assert [a for a, _ in cycle] == list(range(len(cycle)))  # attempt 0, then reminders 1 and 2 in order
