"""Business-time arithmetic for SLA deadlines: pure functions, no I/O, no clock reads.

A business duration is the *elapsed real time* spent inside open windows. Windows are
local wall-clock times in the calendar's time zone, so an open hour that contains a
DST change still counts the hours that really passed (a 00:00-24:00 day is 23 or 25 h;
24 business hours on a 24/7 calendar are 24 elapsed hours).

Design, and why:

* Every instant is handled internally as an ``int`` of microseconds since the Unix
  epoch, so arithmetic is exact (no float drift) and cheap.
* A local date is a "day record": the UTC instants its open windows cover. Days whose
  UTC offset is the same at both midnights ("regular" days, i.e. all but one or two a
  year) are the weekday template shifted by one offset, so they cost one ``utcoffset``
  call. Records are cached per calendar.
* Long durations skip whole weeks arithmetically: nominal week total, minus holidays
  (bisect over a prefix sum), plus the exact correction of the few DST-change days in the
  span (found once per zone and year). Deadline cost therefore does not grow with the
  duration except through holidays and DST days, which are looked up, not walked.

DST boundary rule (documented choice): a window boundary ``HH:MM`` on a local date
happens at the *earliest instant at which the local clock shows HH:MM or later*:

* an ambiguous time (in a fall-back fold) is its first occurrence, for starts and ends
  alike; the repeated hour after it therefore keeps whatever state the first pass left
  (a window ending at 02:30 on a fold day closes at 02:30 summer time and the repeated
  02:00-02:30 is closed);
* a nonexistent time (in a spring-forward gap) is the transition instant itself, the
  moment the clock jumps past it (a shop opening at 02:30 on a day the clock skips from
  02:00 to 03:00 opens at 03:00). zendesk/biz shifts such times by the gap instead
  (02:30 -> 03:30); we clamp so no open time is invented after the jump.

The mapping is monotone, so windows of one day never overlap after conversion and a
window can only shrink to nothing (then it is dropped). Local midnights follow the same
rule, so ``24:00`` of one day is exactly ``00:00`` of the next and windows touching
midnight on consecutive days form one continuous open stretch. A day is "regular" when
its two midnights have the same offset; a zone changing its offset twice within one
local day and back (none does in the tz database's modern data) would be missed.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate

__all__ = [
    "CalendarError",
    "Calendar",
    "parse_duration",
    "local_instant",
    "zone",
]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)
_US = 1_000_000
_MIN_US = 60 * _US
_DAY_US = 86_400 * _US
_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TOP_KEYS = ("timezone", "week", "holidays")
_DAY_CACHE_LIMIT = 8192

Window = tuple[int, int]
DayRecord = tuple[int, int, tuple[Window, ...], int]  # begin_us, end_us, windows_us, open_us


class CalendarError(ValueError):
    """A calendar definition (or use) that can never give a meaningful deadline."""


# --------------------------------------------------------------------------- zones


@cache
def zone(key: str) -> ZoneInfo:
    """One ZoneInfo per key for the process: construction is the expensive part."""
    return ZoneInfo(key)


def _td_us(td: timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * _US + td.microseconds


def _offset_at_local(zi: ZoneInfo, naive: datetime) -> int:
    off = zi.utcoffset(naive)
    assert off is not None  # a ZoneInfo always has an offset
    return (off.days * 86_400 + off.seconds) * _US + off.microseconds


def _offset_at_instant(zi: ZoneInfo, t_us: int) -> int:
    off = (_EPOCH + timedelta(microseconds=t_us)).astimezone(zi).utcoffset()
    assert off is not None  # a ZoneInfo always has an offset
    return _td_us(off)


def _midnight_offset(zi: ZoneInfo, n: int) -> int:
    """Offset (us) of local midnight of date ordinal n, fold=0 (pre-transition if odd)."""
    return _offset_at_local(zi, datetime.fromordinal(n))


def local_instant(wall: datetime, tz: str) -> datetime:
    """The earliest instant (aware UTC) whose local clock in `tz` reads `wall` (naive) or later: an
    ambiguous wall time (fall-back fold) is its first occurrence, one inside a spring-forward gap
    never happens, so the transition itself (02:30 on a day jumping 02:00 -> 03:00 gives 03:00)."""
    local_us = (wall - _EPOCH_NAIVE) // _ONE_US
    return _EPOCH + timedelta(microseconds=_resolve_local(zone(tz), local_us))


def _resolve_local(zi: ZoneInfo, local_us: int) -> int:
    """Earliest instant whose local clock reads ``local_us`` (naive, since epoch) or later.

    Folds resolve to the first occurrence, gaps to the transition instant; see the module
    docstring for why.
    """
    naive = _EPOCH_NAIVE + timedelta(microseconds=local_us)
    o0 = _offset_at_local(zi, naive)
    o1 = _offset_at_local(zi, naive.replace(fold=1))
    if o0 >= o1:  # unambiguous, or a fold whose first pass uses o0
        return local_us - o0
    # Gap: the transition T satisfies local_us - o1 < T <= local_us - o0. Offsets in the
    # tz database change on whole seconds, so bisect on seconds.
    lo = (local_us - o1) // _US
    hi = -((o0 - local_us) // _US)  # ceil((local_us - o0) / 1 s)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_at_instant(zi, mid * _US) == o1:
            hi = mid
        else:
            lo = mid
    return hi * _US


@lru_cache(maxsize=4096)
def _transition_days(key: str, year: int) -> tuple[int, ...]:
    """Ordinals of local dates in ``year`` whose two midnights have different offsets.

    Scanning every day (not every week or month) is what makes zones with transitions a
    few weeks apart (Morocco around Ramadan) come out right; it runs once per zone-year.
    """
    zi = zone(key)
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    days: list[int] = []
    prev = _midnight_offset(zi, first)
    for n in range(first, last + 1):
        nxt = _midnight_offset(zi, n + 1)
        if nxt != prev:
            days.append(n)
        prev = nxt
    return tuple(days)


# ------------------------------------------------------------------------ calendar


def _normalize_day(day: Iterable[Iterable[int]], where: str) -> tuple[Window, ...]:
    """Sorted, merged windows: lets callers list windows in any order and overlap them."""
    items: list[Window] = []
    for i, pair in enumerate(day):
        try:
            start, end = pair
        except (TypeError, ValueError):
            raise CalendarError(f"{where}[{i}]: expected a (start_minute, end_minute) pair") from None
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
            raise CalendarError(f"{where}[{i}]: minutes must be integers, got {pair!r}")
        if not 0 <= start < end <= 1440:
            raise CalendarError(f"{where}[{i}]: need 0 <= start < end <= 1440, got ({start}, {end})")
        items.append((start, end))
    items.sort()
    merged: list[list[int]] = []
    for start, end in items:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


@dataclass(frozen=True)
class Calendar:
    """Open windows per weekday in one time zone, minus holidays (local dates).

    ``week`` has 7 entries, Monday first, each a sorted tuple of merged
    ``(start_minute, end_minute)`` windows with ``0 <= start < end <= 1440``. The
    constructor normalises (sorts and merges) what it is given, so two spellings of the
    same calendar compare and hash equal.
    """

    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    # -- construction -----------------------------------------------------------------

    def __post_init__(self) -> None:
        if not isinstance(self.timezone, str) or not self.timezone:
            raise CalendarError(f"timezone: expected an IANA time zone name, got {self.timezone!r}")
        try:
            zi = zone(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise CalendarError(f"timezone: unknown time zone {self.timezone!r}") from None
        try:
            days = list(self.week)
        except TypeError:
            raise CalendarError("week: expected 7 entries, Monday first") from None
        if len(days) != 7:
            raise CalendarError(f"week: expected 7 entries, Monday first, got {len(days)}")
        week = tuple(_normalize_day(d or (), f"week.{_DAY_KEYS[i]}") for i, d in enumerate(days))
        hols: set[date] = set()
        for h in self.holidays or ():
            if isinstance(h, datetime) or not isinstance(h, date):
                raise CalendarError(f"holidays: expected dates, got {h!r}")
            hols.add(h)
        set_ = object.__setattr__
        set_(self, "week", week)
        set_(self, "holidays", frozenset(hols))

        # Derived, immutable-in-spirit state; not dataclass fields, so not in eq/hash/repr.
        nominal = [sum(e - s for s, e in d) * _MIN_US for d in week]
        prefix = [0]
        for v in nominal:
            prefix.append(prefix[-1] + v)
        hol_sorted = sorted(h.toordinal() for h in hols)
        hol_prefix = [0]
        for n in hol_sorted:
            hol_prefix.append(hol_prefix[-1] + nominal[(n - 1) % 7])
        set_(self, "_zi", zi)
        set_(self, "_wins_us", tuple(tuple((s * _MIN_US, e * _MIN_US) for s, e in d) for d in week))
        set_(self, "_nominal", tuple(nominal))
        set_(self, "_prefix", tuple(prefix))
        set_(self, "_week_us", prefix[-1])
        set_(self, "_hol_ords", frozenset(hol_sorted))
        set_(self, "_hol_sorted", tuple(hol_sorted))
        set_(self, "_hol_prefix", tuple(hol_prefix))
        set_(self, "_days", {})

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> Calendar:
        """Build from the contract's JSON shape (also what a TOML table parses to).

        Strict on purpose: a typo in a key would otherwise silently close a day.
        Overnight windows such as ``["22:00", "02:00"]`` are rejected as "end before
        start" rather than split, because that is indistinguishable from a swapped pair;
        write them as ``["22:00", "24:00"]`` and ``["00:00", "02:00"]`` on the next day,
        which behaves as one continuous stretch.
        """
        if not isinstance(d, Mapping):
            raise CalendarError(f"calendar: expected an object, got {type(d).__name__}")
        for key in d:
            if key not in _TOP_KEYS:
                raise CalendarError(f"unknown key {key!r} (allowed: {', '.join(_TOP_KEYS)})")
        if "timezone" not in d:
            raise CalendarError("timezone: missing")
        if "week" not in d:
            raise CalendarError("week: missing")
        tz = d["timezone"]
        if not isinstance(tz, str):
            raise CalendarError(f"timezone: expected an IANA time zone name, got {tz!r}")

        raw_week = d["week"]
        if not isinstance(raw_week, Mapping):
            raise CalendarError("week: expected an object keyed by mon..sun")
        week: list[list[Window]] = [[] for _ in range(7)]
        for key, windows in raw_week.items():
            if key not in _DAY_KEYS:
                raise CalendarError(f"week: unknown day key {key!r} (expected one of {', '.join(_DAY_KEYS)})")
            where = f"week.{key}"
            if windows is None:
                continue
            if isinstance(windows, (str, bytes)) or not isinstance(windows, (list, tuple)):
                raise CalendarError(f"{where}: expected a list of [start, end] pairs")
            for i, pair in enumerate(windows):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise CalendarError(f"{where}[{i}]: expected [start, end], got {pair!r}")
                start = _parse_hhmm(pair[0], f"{where}[{i}]")
                end = _parse_hhmm(pair[1], f"{where}[{i}]")
                if start == 1440:
                    raise CalendarError(
                        f"{where}[{i}]: start 24:00 is the end of the day; a window must start before it"
                    )
                if end < start:
                    raise CalendarError(
                        f"{where}[{i}]: end {pair[1]} before start {pair[0]} "
                        f"(split an overnight window into [{pair[0]!r}, '24:00'] and ['00:00', {pair[1]!r}]"
                        " on the next day)"
                    )
                if end == start:
                    raise CalendarError(f"{where}[{i}]: empty window {pair[0]}-{pair[1]}")
                week[_DAY_KEYS.index(key)].append((start, end))

        raw_hols = d.get("holidays")
        hols: set[date] = set()
        if raw_hols is not None:
            if isinstance(raw_hols, (str, bytes)) or not isinstance(raw_hols, (list, tuple)):
                raise CalendarError("holidays: expected a list of YYYY-MM-DD dates")
            for i, h in enumerate(raw_hols):
                hols.add(_parse_date(h, f"holidays[{i}]"))
        return cls(timezone=tz, week=tuple(tuple(w) for w in week), holidays=frozenset(hols))

    @classmethod
    def from_file(cls, path: str | Path) -> Calendar:
        """Load a JSON calendar file; every failure is a CalendarError naming the file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise CalendarError(f"{path}: cannot read calendar file: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise CalendarError(f"{path}: calendar file is not UTF-8 text: {e.reason}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CalendarError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
        try:
            return cls.from_mapping(data)
        except CalendarError as e:
            raise CalendarError(f"{path}: {e}") from None

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> Calendar:
        """24/7: the zone only matters for holidays, which this calendar has none of."""
        return cls(timezone=timezone, week=(((0, 1440),),) * 7)

    # -- day records -----------------------------------------------------------------

    def _day(self, n: int) -> DayRecord:
        """The UTC side of local date ordinal ``n``: [begin, end) and its open windows."""
        days: dict[int, DayRecord] = self._days  # type: ignore[attr-defined]
        rec = days.get(n)
        if rec is not None:
            return rec
        zi: ZoneInfo = self._zi  # type: ignore[attr-defined]
        local0 = (n - _EPOCH_ORD) * _DAY_US
        off = _midnight_offset(zi, n)
        holiday = n in self._hol_ords  # type: ignore[attr-defined]
        if off == _midnight_offset(zi, n + 1):
            base = local0 - off
            if holiday:
                rec = (base, base + _DAY_US, (), 0)
            else:
                wd = (n - 1) % 7
                wins = tuple((base + s, base + e) for s, e in self._wins_us[wd])  # type: ignore[attr-defined]
                rec = (base, base + _DAY_US, wins, self._nominal[wd])  # type: ignore[attr-defined]
        else:
            begin = _resolve_local(zi, local0)
            end = _resolve_local(zi, local0 + _DAY_US)
            wins_l: list[Window] = []
            if not holiday:
                for s, e in self._wins_us[(n - 1) % 7]:  # type: ignore[attr-defined]
                    a = _resolve_local(zi, local0 + s)
                    b = _resolve_local(zi, local0 + e)
                    if a < b:
                        wins_l.append((a, b))
            rec = (begin, end, tuple(wins_l), sum(b - a for a, b in wins_l))
        if len(days) >= _DAY_CACHE_LIMIT:
            days.clear()
        days[n] = rec
        return rec

    def _locate(self, t: int, local_ord: int) -> tuple[int, DayRecord]:
        """Day containing instant t, starting from its local calendar date.

        The guess is off only when a fall-back crosses midnight backwards (the repeated
        hour shows the previous date but lies after the next day's first midnight).
        """
        n = local_ord
        rec = self._day(n)
        while t < rec[0]:
            n -= 1
            rec = self._day(n)
        while t >= rec[1]:
            n += 1
            rec = self._day(n)
        return n, rec

    def _locate_dt(self, t: datetime) -> tuple[int, int, DayRecord]:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t.isoformat()!r}: business time needs a timezone-aware instant")
        t_us = (t - _EPOCH) // _ONE_US
        n, rec = self._locate(t_us, t.astimezone(self._zi).toordinal())  # type: ignore[attr-defined]
        return t_us, n, rec

    def _span(self, n0: int, n1: int) -> int:
        """Open microseconds in whole local days [n0, n1), without walking them."""
        if n1 <= n0:
            return 0
        week, prefix = self._week_us, self._prefix  # type: ignore[attr-defined]
        total = ((n1 - 1) // 7) * week + prefix[(n1 - 1) % 7] - ((n0 - 1) // 7) * week - prefix[(n0 - 1) % 7]
        hs: tuple[int, ...] = self._hol_sorted  # type: ignore[attr-defined]
        if hs:
            hp = self._hol_prefix  # type: ignore[attr-defined]
            total -= hp[bisect_left(hs, n1)] - hp[bisect_left(hs, n0)]
        y0 = date.fromordinal(n0).year
        y1 = date.fromordinal(n1 - 1).year
        hol = self._hol_ords  # type: ignore[attr-defined]
        nominal = self._nominal  # type: ignore[attr-defined]
        for y in range(y0, y1 + 1):
            for d in _transition_days(self.timezone, y):
                if n0 <= d < n1 and d not in hol:
                    total += self._day(d)[3] - nominal[(d - 1) % 7]
        return int(total)

    # -- queries -----------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The due instant (UTC) of ``duration`` business time counted from ``start``.

        Used up exactly at a window's end means due at that end; zero is due at
        ``start`` itself, even in a closed stretch; a closed start waits for the next
        opening.
        """
        t, n, rec = self._locate_dt(start)
        r = _td_us(duration)
        if r < 0:
            raise ValueError(f"negative business duration {duration!r}")
        if r == 0:
            return _EPOCH + timedelta(microseconds=t)
        week: int = self._week_us  # type: ignore[attr-defined]
        if week == 0:
            raise CalendarError(f"calendar in {self.timezone} has no open windows: a business duration never elapses")

        for a, b in rec[2]:
            if b <= t:
                continue
            if a < t:
                a = t
            if r <= b - a:
                return _EPOCH + timedelta(microseconds=a + r)
            r -= b - a
        n += 1

        # Whole weeks first (strictly less than what is left, so the due day is walked).
        while r > week:
            k = (r - 1) // week
            while k > 0:
                s = self._span(n, n + 7 * k)
                if s < r:
                    break
                k -= 1 + (s - r) // week  # DST gains can make k weeks slightly too many
            if k <= 0:
                break
            n += 7 * k
            r -= s
        # Then whole days; at most a week of them unless holidays pile up.
        while True:
            rec = self._day(n)
            if rec[3] >= r:
                break
            r -= rec[3]
            n += 1
        for a, b in rec[2]:
            if r <= b - a:
                return _EPOCH + timedelta(microseconds=a + r)
            r -= b - a
        raise AssertionError("unreachable: the day's windows hold the remaining time")  # pragma: no cover

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time elapsed in [a, b); zero when b <= a."""
        ta, na, reca = self._locate_dt(a)
        tb, nb, recb = self._locate_dt(b)
        if tb <= ta:
            return timedelta(0)
        if na == nb:
            total = _overlap(reca[2], ta, tb)
        else:
            total = _overlap(reca[2], ta, reca[1]) + self._span(na + 1, nb) + _overlap(recb[2], recb[0], tb)
        return timedelta(microseconds=total)

    def is_open(self, t: datetime) -> bool:
        """Whether t lies inside an open window; windows are half-open [start, end)."""
        t_us, _, rec = self._locate_dt(t)
        for a, b in rec[2]:
            if a <= t_us < b:
                return True
        return False

    def next_open(self, t: datetime) -> datetime | None:
        """t (as UTC) if open, else the start of the next window; None if never open."""
        t_us, n, rec = self._locate_dt(t)
        if self._week_us == 0:  # type: ignore[attr-defined]
            return None
        while True:
            for a, b in rec[2]:
                if b > t_us:
                    return _EPOCH + timedelta(microseconds=max(a, t_us))
            n += 1
            rec = self._day(n)


def _overlap(windows: tuple[Window, ...], lo: int, hi: int) -> int:
    total = 0
    for a, b in windows:
        a = max(a, lo)
        b = min(b, hi)
        if b > a:
            total += b - a
    return total


_HHMM = re.compile(r"(\d\d):(\d\d)\Z")
_DATE = re.compile(r"\d{4}-\d\d-\d\d\Z")


def _parse_hhmm(value: Any, where: str) -> int:
    m = _HHMM.match(value) if isinstance(value, str) else None
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if (h < 24 and mi < 60) or (h == 24 and mi == 0):
            return h * 60 + mi
    raise CalendarError(f"{where}: bad time {value!r} (expected HH:MM from 00:00 to 24:00)")


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # TOML parses bare dates to date objects
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"{where}: bad date {value!r} (expected YYYY-MM-DD)")


# ------------------------------------------------------------------- text formats


def parse_duration(text: str) -> timedelta:
    """ISO 8601 duration -> timedelta, for exact durations only.

    Years and months are refused because their length depends on where they start, and
    a business clock needs a fixed amount of open time.
    """
    if not isinstance(text, str):
        raise ValueError(f"ISO 8601 duration must be a string, got {text!r}")
    if text.startswith("-"):
        raise ValueError(f"negative duration {text!r} not allowed")
    if not any(c.isdigit() for c in text):  # isodate accepts a bare "PT" as zero
        raise ValueError(f"invalid ISO 8601 duration {text!r}")
    try:
        value = isodate.parse_duration(text)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise ValueError(f"invalid ISO 8601 duration {text!r}: {e}") from None
    if isinstance(value, isodate.Duration):
        if value.years or value.months:
            raise ValueError(f"duration {text!r} uses years or months, whose length is ambiguous; use days or hours")
        value = value.tdelta
    if not isinstance(value, timedelta):
        raise ValueError(f"invalid ISO 8601 duration {text!r}")
    if value < timedelta(0):
        raise ValueError(f"negative duration {text!r} not allowed")
    return value
