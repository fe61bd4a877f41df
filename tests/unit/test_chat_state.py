"""003's chat states (overdue, reply soon, unreplied), derived from status and deadline at an instant."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.core.chat_state import REPLY_SOON, chat_flags
from services.core.ticket import AWAITING_CUSTOMER, AWAITING_MERCHANT, AWAITING_PLATFORM, CLOSED

DUE = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    "now, flags",
    [
        (DUE - timedelta(hours=5), ["unreplied"]),
        (DUE - REPLY_SOON, ["unreplied"]),  # exactly 2 h left is not "less than 2 h"
        (DUE - REPLY_SOON + S, ["reply_soon", "unreplied"]),
        (DUE - S, ["reply_soon", "unreplied"]),
        (DUE, ["overdue", "unreplied"]),  # at the deadline the 24 h are used up
        (DUE + timedelta(days=3), ["overdue", "unreplied"]),
    ],
)
def test_flags_of_a_chat_waiting_for_the_merchant(now, flags):
    assert chat_flags(AWAITING_MERCHANT, DUE, now) == flags


@pytest.mark.parametrize("status", [AWAITING_CUSTOMER, AWAITING_PLATFORM, CLOSED])
def test_a_ticket_not_waiting_for_the_merchant_has_no_flag(status):
    assert chat_flags(status, DUE, DUE + timedelta(days=1)) == []


def test_waiting_without_a_deadline_is_only_unreplied():
    assert chat_flags(AWAITING_MERCHANT, None, DUE) == ["unreplied"]


def test_the_threshold_is_two_hours():
    assert REPLY_SOON == timedelta(hours=2)
