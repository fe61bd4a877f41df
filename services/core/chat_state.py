"""The chat states of seed 003 ("lewat batas waktu, perlu segera dibalas, belum dibalas"), derived from a
ticket's status and deadline at an instant: nothing stored, so they can never go stale.

- `overdue`: waiting for the merchant past the response deadline (24 h on chat);
- `reply_soon`: waiting for the merchant with less than REPLY_SOON left;
- `unreplied`: waiting for the merchant at all (the customer's last message has no answer yet).

REPLY_SOON is 2 hours. 003 names the state without a figure; 2 h is the shortest deadline anything in the
seeds grants (002: urgent requests, and the minimum agreed limit), so "less time left than the most
urgent request gets in full" is the point where a chat becomes a priority; it is also 1/12 of the chat's
24 h, close to the "12 h left on a 24 h clock" ratio Douyin warns at, scaled for a conversation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.core.ticket import AWAITING_MERCHANT

REPLY_SOON = timedelta(hours=2)
FLAGS = ("overdue", "reply_soon", "unreplied")


def chat_flags(status: str, due_at: datetime | None, now: datetime) -> list[str]:
    """The 003 flags of a ticket at `now`, most pressing first."""
    if status != AWAITING_MERCHANT:
        return []
    flags = []
    if due_at is not None:
        if now >= due_at:
            flags.append("overdue")
        elif due_at - now < REPLY_SOON:
            flags.append("reply_soon")
    flags.append("unreplied")
    return flags
