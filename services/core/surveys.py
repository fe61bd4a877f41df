"""Survey timing rules (DOMAIN "Satisfaction surveys", seeds 002/003): quiet hours and reminders.

Pure functions of instants: the caller passes the event's own time, so the same stream
always yields the same decisions however late it is processed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from services.core.business_time import local_instant, zone


def in_quiet_hours(at: datetime, tz: str, start: time = time(22), end: time = time(8)) -> bool:
    """Sending is allowed from `end` (08:00:00) up to, not including, `start` (22:00:00) local time."""
    local = at.astimezone(zone(tz)).time()
    if start > end:  # the usual overnight stretch
        return local >= start or local < end
    return start <= local < end


def next_send_time(at: datetime, tz: str, start: time = time(22), end: time = time(8)) -> datetime:
    """`at` itself outside quiet hours, else the next local `end` (08:00) as an aware UTC instant."""
    if not in_quiet_hours(at, tz, start, end):
        return at
    z = zone(tz)
    local = at.astimezone(z)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return local_instant(datetime.combine(day, end), tz)


def reminder_refusal(
    *,
    at: datetime,
    tz: str,
    confirming: bool,
    answered: bool,
    first_sent_at: datetime | None,
    last_sent_at: datetime | None,
    reminders: int,
    max_reminders: int = 2,
    spacing: timedelta = timedelta(hours=1),
    quiet_start: time = time(22),
    quiet_end: time = time(8),
) -> str | None:
    """Why a merchant's reminder request at `at` is refused, or None when it may be sent.

    Order matters only for which reason the merchant reads: the ones they cannot fix by
    waiting (not confirming, answered, limit) come before the ones they can (quiet, too soon).
    A survey not sent yet (deferred to 08:00) makes any reminder too soon.
    """
    if not confirming:
        return "not_confirming"
    if answered:
        return "already_answered"
    if reminders >= max_reminders:
        return "limit_reached"
    if in_quiet_hours(at, tz, quiet_start, quiet_end):
        return "quiet_hours"
    if first_sent_at is None or last_sent_at is None or at - last_sent_at <= spacing:
        return "too_soon"
    return None
