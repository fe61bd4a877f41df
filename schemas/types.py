"""Field types shared by every event: instants, identifiers, locales, time zones.

Strict on purpose: an upstream app that sends a naive time or a number where text belongs
gets a clear rejection instead of a silently coerced value that skews a deadline.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))\Z")


def parse_rfc3339(value: object) -> datetime:
    """RFC 3339 text with an offset, returned as aware UTC: the one way instants enter the system.
    The offset is mandatory (a deadline counts from a moment, which a local reading alone does not
    fix); fractions beyond microseconds are truncated; leap seconds (":60") are refused."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("instant must carry a UTC offset")
        return _utc(value)
    if not isinstance(value, str):
        raise ValueError("instant must be an RFC 3339 string")
    m = _RFC3339.match(value)
    if not m:
        raise ValueError(f"not an RFC 3339 instant with offset: {value[:40]!r}")
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    try:
        if z:
            tz = timezone.utc
        else:
            if int(om) >= 60 or int(oh) >= 24:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(oh), minutes=int(om))
            tz = timezone(-offset if sign == "-" else offset)
        us = int(frac[:6].ljust(6, "0")) if frac else 0
        return _utc(datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), us, tzinfo=tz))
    except (ValueError, OverflowError) as e:
        raise ValueError(f"invalid RFC 3339 instant {value[:40]!r}: {e}") from None


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00; pydantic only turns ValueError into a validation error
        raise ValueError(f"instant out of range: {value.isoformat()[:40]!r}") from None


@lru_cache(maxsize=4096)
def format_rfc3339(value: datetime) -> str:
    """UTC with a trailing Z; seconds precision unless the instant has a fraction. Cached: the
    events of one cause share its instant, and this runs for every outbound event and field."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()!r} has no offset to format")
    value = value.astimezone(timezone.utc)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.isoformat(timespec=spec).replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    BeforeValidator(parse_rfc3339),
    PlainSerializer(format_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339 with offset"}),
]

Id = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]
ShortText = Annotated[str, StringConstraints(strict=True, max_length=1000)]
MessageText = Annotated[str, StringConstraints(strict=True, max_length=32_000)]
Label = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def _locale(value: object) -> str:
    if not isinstance(value, str) or not _BCP47.fullmatch(value):  # fullmatch: `$` would let "en\n" through
        raise ValueError(f"not a BCP 47 language tag: {str(value)[:40]!r}")
    return value


Locale = Annotated[str, BeforeValidator(_locale), WithJsonSchema({"type": "string", "description": "BCP 47 tag"})]

_ZONES: frozenset[str] | None = None


def _timezone(value: object) -> str:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    if not isinstance(value, str):
        raise ValueError(f"not an IANA time zone: {str(value)[:40]!r}")
    if value not in _ZONES:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone: {str(value)[:40]!r}") from None
    return value


TimeZoneName = Annotated[
    str, BeforeValidator(_timezone), WithJsonSchema({"type": "string", "description": "IANA time zone"})
]

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
