"""The arithmetic of merchant KPIs and health, with no I/O (CONTRACT "Merchant health", DOMAIN
"Merchant performance"). `services.store.kpis` stores what `fold` produces and classifies what it reads
back with `classify`; everything a test may want to hand-compute lives here.

Time is event time throughout. Buckets are UTC days; "the last N days" at a watermark W is the
UTC day of W and the N - 1 days before it (whole days: a bucket is in or out, never prorated).

The 24 h response rate counts a ticket in the bucket of the day it OPENED (its cohort):
answered = first response at most 24 h after opening. A ticket at most 24 h old at W that has
not been answered yet is *pending*: it is left out of the denominator until more than 24 h have
passed (then it counts as not answered) or it is answered (then it counts, in time or not).
A young ticket already answered counts at once: its outcome is final.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from schemas.vocabulary import HEALTH_STATES as HEALTH_STATES
from schemas.vocabulary import HealthState

ANSWER_WITHIN = timedelta(hours=24)
PLATFORM_WINDOW_DAYS = 7
HEALTH_WINDOW_DAYS = 30
SATISFIED_FROM = 4  # ratings 4 and 5 are satisfied (CONTRACT `survey.answered`)


class Thresholds(Protocol):
    """`services.core.policies.HealthThresholds` has this shape."""

    csat_normal: float
    late_normal: float
    csat_restricted: float
    late_restricted: float


# -- ratios and classification ------------------------------------------------------------
def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when nothing was counted (an undefined ratio is not 0)."""
    if denominator <= 0:
        return None
    return min(1.0, max(0.0, numerator / denominator))


def classify(csat: float | None, late_ratio: float | None, t: Thresholds) -> HealthState:
    """restricted: late over `late_restricted` or CSAT under `csat_restricted`; normal: CSAT over
    `csat_normal` (or nothing rated) and late under `late_normal` (or no responses); else warning.
    Boundaries are exclusive both ways: exactly 85 % CSAT or exactly 5 % late is a warning,
    exactly 60 % CSAT or exactly 45 % late is not restricted."""
    if (late_ratio is not None and late_ratio > t.late_restricted) or (csat is not None and csat < t.csat_restricted):
        return "restricted"
    if (csat is None or csat > t.csat_normal) and (late_ratio is None or late_ratio < t.late_normal):
        return "normal"
    return "warning"


def answered_in_time(first_response_seconds: float) -> bool:
    """Answered within 24 h wall-clock of opening (24 h exactly still counts)."""
    return first_response_seconds <= ANSWER_WITHIN.total_seconds()


# -- windows --------------------------------------------------------------------------------
def utc_day(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("event times must be aware")
    return at.astimezone(timezone.utc).date()


def window(watermark: datetime, days: int) -> tuple[date, date]:
    """(first, last) UTC day of the last `days` days at `watermark`, both inclusive."""
    if days < 1:
        raise ValueError("a window has at least one day")
    last = utc_day(watermark)
    return last - timedelta(days=days - 1), last


def in_window(day: date, watermark: datetime, days: int) -> bool:
    first, last = window(watermark, days)
    return first <= day <= last


def young_from(watermark: datetime) -> datetime:
    """Tickets opened at or after this instant are at most 24 h old at the watermark: still
    answerable in time (24 h exactly counts as within), so still pending when unanswered."""
    return watermark - ANSWER_WITHIN


# -- counters -------------------------------------------------------------------------------
@dataclass
class Counters:
    """What one bucket (a merchant's or the platform's UTC day) accumulates. Column names in SQL."""

    rated: int = 0
    satisfied: int = 0
    responses: int = 0
    late: int = 0
    opened: int = 0  # tickets opened this day (the 24 h rate's cohort)
    answered_24h: int = 0  # of this day's tickets, answered within 24 h
    first_responses: int = 0  # first responses made this day
    first_response_seconds: float = 0.0  # their summed delay

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


COUNTER_COLUMNS = tuple(f.name for f in fields(Counters))


@dataclass(frozen=True)
class Kpis:
    csat: float | None
    late_response_ratio: float | None
    response_24h_ratio: float | None
    first_response_mean_seconds: float | None
    rated: int
    responses: int
    tickets_counted_24h: int  # denominator of the 24 h rate
    pending_24h: int  # young unanswered tickets left out of it

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def kpis(c: Counters, pending_young: int = 0) -> Kpis:
    """Ratios of a window's summed counters; `pending_young` = unanswered tickets under 24 h old."""
    counted = max(0, c.opened - pending_young)
    return Kpis(
        csat=ratio(c.satisfied, c.rated),
        late_response_ratio=ratio(c.late, c.responses),
        response_24h_ratio=ratio(c.answered_24h, counted),
        first_response_mean_seconds=(c.first_response_seconds / c.first_responses) if c.first_responses else None,
        rated=c.rated,
        responses=c.responses,
        tickets_counted_24h=counted,
        pending_24h=pending_young,
    )


# -- folding facts ----------------------------------------------------------------------------
class FactLike(Protocol):
    kind: str
    merchant_id: str
    policy: str
    at: datetime
    value: float | None
    late: bool | None
    opened_at: datetime | None


@dataclass
class Folded:
    """The deltas a list of facts makes, keyed the way the tables are."""

    merchant_days: dict[tuple[str, date], Counters]
    platform_days: dict[date, Counters]
    pending: dict[tuple[str, datetime], int]  # (merchant, opened_at) -> + opened / - answered
    policies: dict[str, str]  # merchant -> policy of its last fact (health-counting facts only)
    newest: datetime | None
    policy_days: dict[tuple[str, str, date], Counters] = field(default_factory=dict)  # every policy


def fold(facts: Iterable[FactLike], counts_toward_health: Callable[[str], bool] = lambda _policy: True) -> Folded:
    """Fold facts into day buckets. A fact whose policy does not count toward merchant health (002:
    Douyin service requests do not affect the shop's score) goes to the platform and per-policy
    buckets only, never to the merchant's health buckets."""
    md: dict[tuple[str, date], Counters] = {}
    pd: dict[date, Counters] = {}
    pol: dict[tuple[str, str, date], Counters] = {}
    pending: dict[tuple[str, datetime], int] = {}
    policies: dict[str, str] = {}
    newest: datetime | None = None
    health = True
    policy = ""

    def bump(merchant: str, at: datetime, **delta: float) -> None:
        d = utc_day(at)
        buckets = [pd.setdefault(d, Counters()), pol.setdefault((merchant, policy, d), Counters())]
        if health:
            buckets.append(md.setdefault((merchant, d), Counters()))
        for bucket in buckets:
            for k, v in delta.items():
                setattr(bucket, k, getattr(bucket, k) + v)

    for f in facts:
        policy = f.policy
        health = counts_toward_health(f.policy)
        if health:
            policies[f.merchant_id] = f.policy
        at = f.at.astimezone(timezone.utc)
        newest = at if newest is None or at > newest else newest
        if f.kind == "opened":
            bump(f.merchant_id, at, opened=1)
            key = (f.merchant_id, at)
            if health:
                pending[key] = pending.get(key, 0) + 1
        elif f.kind == "first_response":
            seconds = float(f.value or 0.0)
            bump(f.merchant_id, at, first_responses=1, first_response_seconds=seconds)
            opened_at = (f.opened_at or at - timedelta(seconds=seconds)).astimezone(timezone.utc)
            if answered_in_time(seconds):
                bump(f.merchant_id, opened_at, answered_24h=1)
            key = (f.merchant_id, opened_at)
            if health:
                pending[key] = pending.get(key, 0) - 1
        elif f.kind == "response":
            bump(f.merchant_id, at, responses=1, late=int(bool(f.late)))
        elif f.kind == "rating":
            bump(f.merchant_id, at, rated=1, satisfied=int((f.value or 0) >= SATISFIED_FROM))
        else:
            raise ValueError(f"unknown fact kind {f.kind!r}")
    return Folded(md, pd, {k: v for k, v in pending.items() if v}, policies, newest, pol)
