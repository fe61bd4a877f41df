"""SLA policies: which calendar a ticket's clock counts in, how long the merchant has, and
what happens on a breach. Built-ins follow the contract; `TICKETFLOW_POLICIES` (TOML) may
override any key of a built-in or add new policies and calendars.

A policy is data, not code, so an operator can add a marketplace without a release; the
breach action is therefore a closed vocabulary rather than a hook.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from services.core.business_time import Calendar, CalendarError, parse_duration
from services.core.taxonomy import GROUPS

BreachAction = Literal["escalate", "escalate_post_purchase", "count_late"]
BREACH_ACTIONS = ("escalate", "escalate_post_purchase", "count_late")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the bad key."""


@dataclass(frozen=True)
class HealthThresholds:
    """DOMAIN.md "Merchant performance" (seed 000): normal above 85 % CSAT and under 5 % late;
    restricted above 45 % late or under 60 % CSAT."""

    csat_normal: float = 0.85
    late_normal: float = 0.05
    csat_restricted: float = 0.60
    late_restricted: float = 0.45


@dataclass(frozen=True)
class Policy:
    name: str
    calendar: Calendar
    response: timedelta
    urgent_response: timedelta | None = None
    allow_agreed: bool = True  # honour `response_hours` (>= 2 h) set upstream or by the platform
    warning_before: timedelta | None = timedelta(hours=12)
    user_confirmation: timedelta | None = None
    chat_inactivity: timedelta | None = None
    breach_action: BreachAction = "escalate"
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    max_reminders: int = 2
    reminder_spacing: timedelta = timedelta(hours=1)
    health: HealthThresholds = field(default_factory=HealthThresholds)
    # The seeds' per-policy rules (CONTRACT "Per policy"): what a requester or merchant may do here.
    withdrawable: bool = True  # 002: a Douyin service request cannot be revoked
    merchant_can_close: bool = True  # False: `ticket.closed` only with by = platform (002)
    refund_closes: bool = True  # 002: a Douyin refund is recorded, the request stays open
    refund_groups: tuple[str, ...] | None = None  # groups a refund applies to; None = all (000: post_purchase)
    evidence_after_settlement: bool = False  # 002: a resolve after a refund / agreement needs an attachment
    counts_toward_health: bool = True  # 002: service requests do not affect the shop's score

    def refundable(self, group: str) -> bool:
        return self.refund_groups is None or group in self.refund_groups

    def response_for(self, urgent: bool, agreed_hours: float | None) -> timedelta:
        """An agreed limit wins (DOMAIN 002: platform may set one of at least 2 h), then urgency."""
        if agreed_hours is not None and self.allow_agreed:
            return timedelta(hours=max(2.0, agreed_hours))
        if urgent and self.urgent_response is not None:
            return self.urgent_response
        return self.response


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DOUYIN_CALENDAR = {"timezone": "Asia/Shanghai", "week": {d: [["09:00", "21:00"]] for d in _DAYS}}

BUILTIN: dict[str, Policy] = {
    "wish": Policy(
        name="wish",
        calendar=Calendar.always_open("UTC"),
        response=timedelta(hours=48),
        breach_action="escalate_post_purchase",
        refund_groups=("post_purchase",),
    ),
    "douyin": Policy(
        name="douyin",
        calendar=Calendar.from_mapping(DOUYIN_CALENDAR),
        response=timedelta(hours=24),
        urgent_response=timedelta(hours=2),
        user_confirmation=timedelta(hours=48),
        breach_action="escalate",
        withdrawable=False,
        merchant_can_close=False,
        refund_closes=False,
        evidence_after_settlement=True,
        counts_toward_health=False,
    ),
    "chat": Policy(
        name="chat",
        calendar=Calendar.always_open("UTC"),
        response=timedelta(hours=24),
        warning_before=None,
        chat_inactivity=timedelta(days=7),
        breach_action="count_late",
    ),
}

_POLICY_KEYS = {
    "calendar",
    "response",
    "response_hours",
    "urgent_response",
    "urgent_response_hours",
    "allow_agreed",
    "warning_before",
    "user_confirmation",
    "chat_inactivity",
    "breach_action",
    "quiet_hours",
    "max_reminders",
    "reminder_spacing",
    "health",
    "withdrawable",
    "merchant_can_close",
    "refund_closes",
    "refund_groups",
    "evidence_after_settlement",
    "counts_toward_health",
}
_RULE_FLAGS = (
    "withdrawable",
    "merchant_can_close",
    "refund_closes",
    "evidence_after_settlement",
    "counts_toward_health",
)


def _duration(where: str, value: Any, *, optional: bool = True, positive: bool = False) -> timedelta | None:
    """Hours as a number or an ISO 8601 duration; `false`/"none" disables an optional one."""
    if optional and (value is False or value in ("", "none", None)):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise PolicyError(f"{where}: expected a non-negative number of hours, got {value!r}")
        try:
            d = timedelta(hours=value)
        except OverflowError:
            raise PolicyError(f"{where}: {value!r} hours is out of range") from None
    elif isinstance(value, str):
        try:
            d = parse_duration(value)
        except (ValueError, OverflowError) as e:
            raise PolicyError(f"{where}: {e}") from None
    else:
        hint = "" if optional else " (this one cannot be disabled)"
        raise PolicyError(f'{where}: expected an ISO 8601 duration such as "PT24H", got {value!r}{hint}')
    if positive and d <= timedelta(0):
        hint = ' (false or "none" disables it)' if optional else ""
        raise PolicyError(f"{where}: must be longer than zero{hint}")
    return d


def _groups(where: str, value: Any) -> tuple[str, ...] | None:
    """`"all"`, or a list of ticket groups (DOMAIN "Ticket kinds"); an empty list refunds nothing."""
    if value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise PolicyError(f'{where}: expected "all" or a list of groups ({", ".join(GROUPS)})')
    bad = [g for g in value if g not in GROUPS]
    if bad:
        raise PolicyError(f"{where}: unknown group {bad[0]!r} (known: {', '.join(GROUPS)})")
    return tuple(dict.fromkeys(value))


_SOME_INSTANT = datetime(2000, 1, 3, tzinfo=timezone.utc)


def _usable(where: str, cal: Calendar) -> Calendar:
    """A calendar without a single open window would make every business deadline unreachable."""
    if cal.next_open(_SOME_INSTANT) is None:
        raise PolicyError(f"{where}: the calendar has no open windows, so a deadline would never come")
    return cal


def _clock(where: str, value: Any) -> time:
    if isinstance(value, time):  # a TOML local time (22:00:00)
        return value
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise PolicyError(f"{where}: expected HH:MM, got {value!r}") from None


def _calendar(where: str, value: Any, calendars: dict[str, Calendar]) -> Calendar:
    if isinstance(value, str):
        if value in calendars:
            return _usable(where, calendars[value])
        if value == "24/7":
            return Calendar.always_open("UTC")
        raise PolicyError(f"{where}: unknown calendar {value!r} (define it under [calendars.{value}])")
    if isinstance(value, dict):
        try:
            return _usable(where, Calendar.from_mapping(value))
        except CalendarError as e:
            raise PolicyError(f"{where}: {e}") from None
    raise PolicyError(f"{where}: expected a calendar name or table, got {value!r}")


def _policy(name: str, spec: dict[str, Any], base: Policy | None, calendars: dict[str, Calendar]) -> Policy:
    where = f"policies.{name}"
    unknown = sorted(set(spec) - _POLICY_KEYS)
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_POLICY_KEYS))})")
    if base is None and "calendar" not in spec:
        raise PolicyError(f"{where}.calendar: required for a new policy")
    if base is None and not ({"response", "response_hours"} & set(spec)):
        raise PolicyError(f"{where}.response: required for a new policy")
    p = base or Policy(name=name, calendar=Calendar.always_open("UTC"), response=timedelta(hours=24))
    changes: dict[str, Any] = {"name": name}
    if "calendar" in spec:
        changes["calendar"] = _calendar(f"{where}.calendar", spec["calendar"], calendars)
    for key in ("response", "response_hours"):
        if key in spec:
            changes["response"] = _duration(f"{where}.{key}", spec[key], optional=False, positive=True)
    for key, attr, positive in (
        ("urgent_response", "urgent_response", True),
        ("urgent_response_hours", "urgent_response", True),
        ("warning_before", "warning_before", False),
        ("user_confirmation", "user_confirmation", True),
        ("chat_inactivity", "chat_inactivity", True),
    ):
        if key in spec:
            changes[attr] = _duration(f"{where}.{key}", spec[key], positive=positive)
    if "reminder_spacing" in spec:
        changes["reminder_spacing"] = _duration(f"{where}.reminder_spacing", spec["reminder_spacing"], optional=False)
    for key in ("allow_agreed", *_RULE_FLAGS):
        if key in spec:
            if not isinstance(spec[key], bool):
                raise PolicyError(f"{where}.{key}: expected true or false")
            changes[key] = spec[key]
    if "refund_groups" in spec:
        changes["refund_groups"] = _groups(f"{where}.refund_groups", spec["refund_groups"])
    if "breach_action" in spec:
        if spec["breach_action"] not in BREACH_ACTIONS:
            raise PolicyError(f"{where}.breach_action: expected one of {', '.join(BREACH_ACTIONS)}")
        changes["breach_action"] = spec["breach_action"]
    if "max_reminders" in spec:
        v = spec["max_reminders"]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2:
            raise PolicyError(f"{where}.max_reminders: expected 0, 1 or 2 (DOMAIN: at most 2)")
        changes["max_reminders"] = spec["max_reminders"]
    if "quiet_hours" in spec:
        q = spec["quiet_hours"]
        if not (isinstance(q, list) and len(q) == 2):
            raise PolicyError(f'{where}.quiet_hours: expected ["22:00", "08:00"]')
        changes["quiet_start"], changes["quiet_end"] = (
            _clock(f"{where}.quiet_hours[0]", q[0]),
            _clock(f"{where}.quiet_hours[1]", q[1]),
        )
    if "health" in spec:
        h = spec["health"]
        allowed = {"csat_normal", "late_normal", "csat_restricted", "late_restricted"}
        if not isinstance(h, dict):
            raise PolicyError(f"{where}.health: expected a table of {', '.join(sorted(allowed))}")
        if set(h) - allowed:
            bad = sorted(set(h) - allowed)[0]
            raise PolicyError(f"{where}.health.{bad}: unknown key (known: {', '.join(sorted(allowed))})")
        for k, v in h.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise PolicyError(f"{where}.health.{k}: expected a ratio between 0 and 1")
        health = replace(p.health, **h)
        if health.csat_restricted > health.csat_normal or health.late_normal > health.late_restricted:
            raise PolicyError(
                f"{where}.health: thresholds contradict each other (need csat_restricted <= "
                f"csat_normal and late_normal <= late_restricted, got {health})"
            )
        changes["health"] = health
    return replace(p, **changes)


def load_policies(path: str | Path | None = None) -> dict[str, Policy]:
    """The built-ins, overridden and extended by the TOML file at `path` when one is given."""
    policies = dict(BUILTIN)
    if not path:
        return policies
    try:
        doc = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise PolicyError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{path}: not valid TOML: {e}") from None
    unknown = sorted(set(doc) - {"calendars", "policies"})
    if unknown:
        raise PolicyError(f"{unknown[0]}: unknown top-level key (known: calendars, policies)")
    for key in ("calendars", "policies"):
        if not isinstance(doc.get(key, {}), dict):
            raise PolicyError(f"{key}: expected a table ([{key}.<name>] sections)")
    calendars: dict[str, Calendar] = {}
    for name, spec in doc.get("calendars", {}).items():
        try:
            calendars[name] = _usable(f"calendars.{name}", Calendar.from_mapping(spec))
        except CalendarError as e:
            raise PolicyError(f"calendars.{name}: {e}") from None
    for name, spec in doc.get("policies", {}).items():
        if not isinstance(spec, dict):
            raise PolicyError(f"policies.{name}: expected a table")
        policies[name] = _policy(name, spec, policies.get(name), calendars)
    return policies
