"""Survey timing rules (DOMAIN "Satisfaction surveys", seeds 002/003): quiet hours and reminders.

Pure functions of instants: the caller passes the event's own time, so the same stream
always yields the same decisions however late it is processed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


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
    return _first_instant_at_or_after(datetime.combine(day, end), z)


def _first_instant_at_or_after(wall: datetime, z: ZoneInfo) -> datetime:
    """The earliest instant whose local clock in `z` reads `wall` (naive) or later, in UTC.

    An ambiguous wall time (fall-back fold) is its first occurrence; a wall time inside a
    spring-forward gap never happens, so the first instant after it is the transition itself
    (02:30 on a day jumping 02:00 -> 03:00 gives 03:00, not 03:30).
    """
    first = wall.replace(tzinfo=z).astimezone(timezone.utc)
    if first.astimezone(z).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the jump, an instant before it.
    lo, hi = int(wall.replace(tzinfo=z, fold=1).timestamp()), int(first.timestamp())
    while hi - lo > 1:  # transitions happen on whole seconds
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, z).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, timezone.utc)


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
