"""The corrected chat_inactivity clock (CONTRACT "SLA clocks", seed 003: "a session ignored by the agent
for more than 7 days closes by itself"), in both directions, over random message sequences:

- a chat the merchant left unanswered (awaiting_merchant) for 7 days closes permanently, `ignored`,
  exactly 168 h after it entered awaiting_merchant, however many customer messages came meanwhile;
- a chat waiting for the customer never closes by itself, however long nobody writes.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.ticket import AWAITING_CUSTOMER, AWAITING_MERCHANT, CLOSED
from tests.unit.test_lifecycle import DAY, T0, Flow, msg, of

SPAN = timedelta(days=7)

# (gap in minutes before the message, author): gaps long enough to cross the 7 days now and then
messages = st.lists(
    st.tuples(st.integers(min_value=1, max_value=12 * 24 * 60), st.sampled_from(["customer", "merchant"])),
    max_size=12,
)


def _oracle(steps) -> tuple[str, object]:
    """Replay the sequence on paper: (status at the end, instant the chat closes or None)."""
    status, entered, at = AWAITING_MERCHANT, T0, T0
    for gap, author in steps:
        at = at + timedelta(minutes=gap)
        if status == AWAITING_MERCHANT and at >= entered + SPAN:
            return CLOSED, entered + SPAN  # ignored before this message came
        if author == "merchant" and status == AWAITING_MERCHANT:
            status = AWAITING_CUSTOMER
        elif author == "customer" and status == AWAITING_CUSTOMER:
            status, entered = AWAITING_MERCHANT, at
    if status == AWAITING_MERCHANT:
        return CLOSED, entered + SPAN
    return AWAITING_CUSTOMER, None


@settings(max_examples=200, deadline=None)
@given(messages)
def test_a_chat_closes_exactly_when_ignored_by_the_merchant_for_7_days(steps):
    # Given a chat and the scheduler firing every due timer before each message
    f = Flow()
    f.open("chat", T0)
    at = T0
    for gap, author in steps:
        at = at + timedelta(minutes=gap)
        if f.status != CLOSED:
            f.tick(at)  # the scheduler got there first: a timer due at the message's instant has fired
        if f.status == CLOSED:
            # Then later messages on an ignored chat are refused
            r = f.apply("message.posted", at, msg(author))
            assert r.rejection is not None and r.rejection[0] == "invalid_transition"
            continue
        f.apply("message.posted", at, msg(author))
    # When a year passes with nobody writing
    f.tick(at + 365 * DAY)
    want_status, closes_at = _oracle(steps)
    # Then the chat is closed permanently as ignored at exactly 168 h, or still waiting for the customer
    assert f.status == want_status
    closes = [
        (o, d)
        for o in f.outcomes
        for d in of(o, "ticket.status_changed")
        if d["to"] == CLOSED and d["caused_by"] == "timer:chat_inactivity"
    ]
    if closes_at is None:
        assert closes == []
    else:
        assert len(closes) == 1
        _, d = closes[0]
        assert d["reason"] == "ignored" and d["permanently"] and f.ticket.permanently_closed
        assert [b["due_at"] for o, _ in closes for b in of(o, "sla.breached") if b["clock"] == "chat_inactivity"] == [
            closes_at
        ]
