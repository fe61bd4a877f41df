"""Survey timing rules: quiet hours, the deferred first send, and why a reminder is refused.

CONTRACT "Time": quiet hours are 22:00-08:00 local; sending is allowed from 08:00:00 up to,
not including, 22:00:00. DST days are taken from Europe/Berlin in 2026 (spring forward
on 29 March at 01:00Z, 02:00 -> 03:00; fall back on 25 October at 01:00Z, 03:00 -> 02:00).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.surveys import in_quiet_hours, next_send_time, reminder_refusal

UTC = timezone.utc
BERLIN = "Europe/Berlin"
US = timedelta(microseconds=1)
H = timedelta(hours=1)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def loc(tz: str, *a: int, fold: int = 0) -> datetime:
    return datetime(*a, tzinfo=ZoneInfo(tz), fold=fold)


# --------------------------------------------------------------------------- quiet hours


@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai", BERLIN, "America/St_Johns", "Asia/Kathmandu"])
def test_quiet_hour_boundaries(tz):
    day = (2026, 3, 2)
    assert not in_quiet_hours(loc(tz, *day, 8, 0), tz)  # 08:00:00 allowed
    assert in_quiet_hours(loc(tz, *day, 8, 0) - US, tz)  # 07:59:59.999999 quiet
    assert not in_quiet_hours(loc(tz, *day, 22, 0) - US, tz)  # 21:59:59.999999 allowed
    assert in_quiet_hours(loc(tz, *day, 22, 0), tz)  # 22:00:00 quiet
    assert in_quiet_hours(loc(tz, *day, 0, 0), tz)
    assert in_quiet_hours(loc(tz, *day, 23, 59, 59), tz)
    assert not in_quiet_hours(loc(tz, *day, 12, 0), tz)


def test_quiet_hours_are_judged_in_the_given_zone_not_utc():
    t = utc(2026, 3, 2, 15, 0)  # 15:00Z: 23:00 in Shanghai, 16:00 in Berlin
    assert in_quiet_hours(t, "Asia/Shanghai")
    assert not in_quiet_hours(t, BERLIN)


@pytest.mark.parametrize(
    "day,offset_h",
    [
        ((2026, 3, 28), 1),
        ((2026, 3, 29), 2),
        ((2026, 3, 30), 2),
        ((2026, 10, 24), 2),
        ((2026, 10, 25), 1),
        ((2026, 10, 26), 1),
    ],
)
def test_berlin_boundaries_around_dst_changes(day, offset_h):
    # 08:00 and 22:00 local move in UTC with the offset of that very day
    eight = utc(*day, 8 - offset_h)
    ten = utc(*day, 22 - offset_h)
    assert not in_quiet_hours(eight, BERLIN) and in_quiet_hours(eight - US, BERLIN)
    assert in_quiet_hours(ten, BERLIN) and not in_quiet_hours(ten - US, BERLIN)


def test_the_hours_a_dst_change_skips_or_repeats_are_quiet():
    assert in_quiet_hours(utc(2026, 3, 29, 0, 59, 59), BERLIN)  # 01:59:59 CET
    assert in_quiet_hours(utc(2026, 3, 29, 1, 0), BERLIN)  # 03:00 CEST
    assert in_quiet_hours(loc(BERLIN, 2026, 10, 25, 2, 30, fold=0), BERLIN)
    assert in_quiet_hours(loc(BERLIN, 2026, 10, 25, 2, 30, fold=1), BERLIN)


def test_custom_daytime_quiet_window_and_an_empty_one():
    assert in_quiet_hours(utc(2026, 3, 2, 12, 0), "UTC", time(12), time(14))
    assert not in_quiet_hours(utc(2026, 3, 2, 14, 0), "UTC", time(12), time(14))
    assert not in_quiet_hours(utc(2026, 3, 2, 11, 59), "UTC", time(12), time(14))
    assert not any(in_quiet_hours(utc(2026, 3, 2, h), "UTC", time(8), time(8)) for h in range(24))


# ------------------------------------------------------------------------ next_send_time


def test_outside_quiet_hours_the_send_is_immediate():
    t = utc(2026, 3, 2, 9, 30, 15, 123)
    assert next_send_time(t, "UTC") == t
    assert next_send_time(utc(2026, 3, 2, 8, 0), "UTC") == utc(2026, 3, 2, 8, 0)


@pytest.mark.parametrize("local_time,expect_day", [((22, 0), 3), ((23, 59), 3), ((0, 0), 2), ((7, 59, 59), 2)])
def test_inside_quiet_hours_the_send_waits_for_0800_local(local_time, expect_day):
    t = loc("Asia/Shanghai", 2026, 3, 2, *local_time)
    got = next_send_time(t, "Asia/Shanghai")
    assert got == loc("Asia/Shanghai", 2026, 3, expect_day, 8, 0)
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_next_send_over_the_spring_forward_night_in_berlin():
    # 23:00 CET on the 28th -> 08:00 CEST on the 29th = 06:00Z (8 wall-clock hours, not 9)
    assert next_send_time(utc(2026, 3, 28, 22, 0), BERLIN) == utc(2026, 3, 29, 6, 0)
    assert next_send_time(utc(2026, 3, 29, 1, 30), BERLIN) == utc(2026, 3, 29, 6, 0)


def test_next_send_over_the_fall_back_night_in_berlin():
    assert next_send_time(utc(2026, 10, 24, 21, 30), BERLIN) == utc(2026, 10, 25, 7, 0)  # 23:30 CEST
    for fold in (0, 1):  # the repeated 02:30
        assert next_send_time(loc(BERLIN, 2026, 10, 25, 2, 30, fold=fold), BERLIN) == utc(2026, 10, 25, 7, 0)


def test_a_quiet_end_inside_a_dst_gap_sends_at_the_first_real_instant_after_it():
    # BUG (fixed): 02:30 does not exist on 29 March in Berlin; the first instant at or after it
    # is the jump to 03:00 CEST (01:00Z), not 03:30 CEST as a plain UTC round trip gave.
    assert next_send_time(utc(2026, 3, 28, 23, 0), BERLIN, time(22), time(2, 30)) == utc(2026, 3, 29, 1, 0)
    # an ambiguous end is its first occurrence
    assert next_send_time(utc(2026, 10, 24, 23, 0), BERLIN, time(22), time(2, 30)) == utc(2026, 10, 25, 0, 30)


ZONES = [
    "UTC",
    "Asia/Shanghai",
    BERLIN,
    "America/New_York",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "Pacific/Apia",
]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
)
def test_next_send_is_the_first_allowed_instant(t, tz):
    got = next_send_time(t, tz)
    assert got >= t and not in_quiet_hours(got, tz)
    if got > t:
        # everything between was quiet, and it is local 08:00 (or the first instant after it)
        assert in_quiet_hours(got - US, tz) and got - t <= timedelta(hours=11)
        assert got.astimezone(ZoneInfo(tz)).time() >= time(8)


# ------------------------------------------------------------------------ reminder_refusal

T = utc(2026, 3, 2, 10, 0)  # 10:00 UTC: outside quiet hours in UTC


def refusal(**kw):
    args = dict(
        at=T, tz="UTC", confirming=True, answered=False, first_sent_at=T - 2 * H, last_sent_at=T - 2 * H, reminders=0
    )
    args.update(kw)
    return reminder_refusal(**args)


def test_a_reminder_is_allowed_when_every_rule_holds():
    assert refusal() is None
    assert refusal(reminders=1, last_sent_at=T - H - US) is None


def test_spacing_is_strictly_more_than_one_hour_after_the_last_send():
    assert refusal(last_sent_at=T - H) == "too_soon"
    assert refusal(last_sent_at=T - H + US) == "too_soon"
    assert refusal(last_sent_at=T - H - US) is None
    assert refusal(last_sent_at=T + H) == "too_soon"  # out of order: before the last send


def test_a_survey_not_sent_yet_makes_any_reminder_too_soon():
    assert refusal(first_sent_at=None, last_sent_at=None) == "too_soon"


def test_quiet_hours_use_the_given_zone():
    assert refusal(at=utc(2026, 3, 2, 22, 0)) == "quiet_hours"
    assert refusal(at=utc(2026, 3, 2, 8, 0), last_sent_at=utc(2026, 3, 2, 6, 0)) is None
    assert refusal(at=utc(2026, 3, 2, 7, 59, 59)) == "quiet_hours"
    assert refusal(tz="Asia/Shanghai") is None  # 18:00 there
    assert refusal(tz="America/Los_Angeles") == "quiet_hours"  # 02:00 there


def test_limit_is_max_reminders():
    assert refusal(reminders=2) == "limit_reached"
    assert refusal(reminders=1, max_reminders=1) == "limit_reached"
    assert refusal(reminders=0, max_reminders=0) == "limit_reached"


def test_custom_spacing_and_quiet_hours():
    assert refusal(last_sent_at=T - 2 * H, spacing=timedelta(hours=2)) == "too_soon"
    assert refusal(quiet_start=time(9), quiet_end=time(11)) == "quiet_hours"


def test_refusal_order_what_waiting_cannot_fix_comes_first():
    # everything wrong at once: not confirming wins, then answered, then the limit, then quiet, then too soon
    worst = dict(
        at=utc(2026, 3, 2, 23, 0), confirming=False, answered=True, reminders=2, last_sent_at=utc(2026, 3, 2, 22, 59)
    )
    assert refusal(**worst) == "not_confirming"
    assert refusal(**{**worst, "confirming": True}) == "already_answered"
    assert refusal(**{**worst, "confirming": True, "answered": False}) == "limit_reached"
    assert refusal(**{**worst, "confirming": True, "answered": False, "reminders": 1}) == "quiet_hours"
    assert (
        refusal(
            **{
                **worst,
                "confirming": True,
                "answered": False,
                "reminders": 1,
                "at": utc(2026, 3, 2, 10, 0),
                "last_sent_at": utc(2026, 3, 2, 9, 30),
            }
        )
        == "too_soon"
    )
