"""SLA policies: the built-ins against CONTRACT "Built-in policies", and TOML overrides.

Every unusable value must be a PolicyError whose message starts with the key it is about
(`policies.x.breach_action: ...`, `calendars.y: ...`), so an operator fixes it in one look.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from services.core.business_time import Calendar
from services.core.policies import BUILTIN, HealthThresholds, PolicyError, load_policies

UTC = timezone.utc
H = timedelta(hours=1)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def toml(tmp_path):
    def write(text: str):
        p = tmp_path / "policies.toml"
        p.write_text(text)
        return p

    return write


# ----------------------------------------------------------------------------- built-ins


def test_builtins_are_wish_douyin_chat():
    assert set(load_policies()) == {"wish", "douyin", "chat"} == set(BUILTIN)
    assert load_policies(None) == load_policies("") == BUILTIN
    assert all(p.name == n for n, p in BUILTIN.items())


def test_wish_matches_the_contract():
    p = load_policies()["wish"]
    assert p.calendar == Calendar.always_open("UTC") and p.calendar.timezone == "UTC"
    assert (p.response, p.urgent_response, p.warning_before) == (48 * H, None, 12 * H)
    assert p.user_confirmation is None and p.chat_inactivity is None
    assert p.breach_action == "escalate_post_purchase"
    assert (p.quiet_start, p.quiet_end, p.max_reminders, p.reminder_spacing) == (time(22), time(8), 2, H)


def test_douyin_matches_the_contract():
    p = load_policies()["douyin"]
    assert p.calendar == Calendar.from_mapping(
        {"timezone": "Asia/Shanghai", "week": {d: [["09:00", "21:00"]] for d in DAYS}}
    )
    assert p.calendar.is_open(datetime(2026, 3, 1, 1, 0, tzinfo=UTC))  # Sunday 09:00 Shanghai
    assert not p.calendar.is_open(datetime(2026, 3, 1, 13, 0, tzinfo=UTC))  # Sunday 21:00 Shanghai
    assert (p.response, p.urgent_response, p.warning_before) == (24 * H, 2 * H, 12 * H)
    assert p.allow_agreed and p.user_confirmation == 48 * H and p.chat_inactivity is None
    assert p.breach_action == "escalate"
    assert (p.quiet_start, p.quiet_end, p.max_reminders, p.reminder_spacing) == (time(22), time(8), 2, H)


def test_chat_matches_the_contract():
    p = load_policies()["chat"]
    assert p.calendar == Calendar.always_open("UTC")
    assert (p.response, p.warning_before, p.user_confirmation) == (24 * H, None, None)
    assert p.chat_inactivity == timedelta(days=7)
    assert p.breach_action == "count_late"
    assert (p.quiet_start, p.quiet_end) == (time(22), time(8))


def test_health_thresholds_default_to_the_domain():
    assert BUILTIN["wish"].health == HealthThresholds(0.85, 0.05, 0.60, 0.45)


@pytest.mark.parametrize(
    "urgent,agreed,want",
    [
        (False, None, 24 * H),
        (True, None, 2 * H),
        (False, 12, 12 * H),
        (True, 5, 5 * H),
        (False, 2.5, 2.5 * H),
    ],
)
def test_douyin_response_for(urgent, agreed, want):
    assert BUILTIN["douyin"].response_for(urgent, agreed) == want


def test_wish_has_no_urgent_deadline():
    assert BUILTIN["wish"].response_for(True, None) == 48 * H


# ---------------------------------------------------------------------- TOML: good files


def test_override_one_key_of_a_builtin_keeps_the_rest(toml):
    got = load_policies(toml('[policies.wish]\nresponse = "PT24H"\n'))
    assert got["wish"].response == 24 * H
    assert got["wish"].breach_action == "escalate_post_purchase" and got["wish"].warning_before == 12 * H
    assert got["douyin"] == BUILTIN["douyin"]
    assert BUILTIN["wish"].response == 48 * H  # the built-in itself is untouched


def test_hours_as_numbers_and_durations(toml):
    got = load_policies(
        toml(
            "[policies.douyin]\nresponse_hours = 36\nurgent_response_hours = 1.5\n"
            'warning_before = "PT6H"\nuser_confirmation = "P3D"\n'
        )
    )
    p = got["douyin"]
    assert (p.response, p.urgent_response, p.warning_before, p.user_confirmation) == (36 * H, 1.5 * H, 6 * H, 72 * H)


def test_disable_optional_clocks(toml):
    got = load_policies(
        toml('[policies.douyin]\nwarning_before = false\nuser_confirmation = "none"\nurgent_response = ""\n')
    )
    p = got["douyin"]
    assert p.warning_before is None and p.user_confirmation is None and p.urgent_response is None


def test_a_new_policy_with_a_named_calendar(toml):
    got = load_policies(
        toml("""
[calendars.budapest_office]
timezone = "Europe/Budapest"
week = { mon = [["09:00", "17:00"]], tue = [["09:00", "17:00"]], wed = [["09:00", "17:00"]], thu = [["09:00", "17:00"]], fri = [["09:00", "17:00"]] }
holidays = [2026-12-25, "2026-12-26"]

[policies.emag]
calendar = "budapest_office"
response = "PT8H"
warning_before = "PT2H"
user_confirmation = "PT24H"
breach_action = "count_late"
quiet_hours = ["21:00", "09:00"]
max_reminders = 1
reminder_spacing = "PT2H"
allow_agreed = false
health = { csat_normal = 0.9 }
""")
    )
    p = got["emag"]
    assert p.name == "emag" and p.calendar.timezone == "Europe/Budapest"
    assert p.calendar.add(datetime(2026, 3, 6, 15, 0, tzinfo=UTC), 8 * H) == datetime(
        2026, 3, 9, 15, 0, tzinfo=UTC
    )  # 1 h Fri, 7 h Mon
    assert (p.response, p.warning_before, p.user_confirmation, p.breach_action) == (8 * H, 2 * H, 24 * H, "count_late")
    assert (p.quiet_start, p.quiet_end, p.max_reminders, p.reminder_spacing) == (time(21), time(9), 1, 2 * H)
    assert p.response_for(False, 4) == 8 * H  # agreed limits not honoured here
    assert p.health == HealthThresholds(csat_normal=0.9)
    assert set(got) == {"wish", "douyin", "chat", "emag"}


def test_a_new_policy_with_an_inline_calendar_and_the_24_7_shorthand(toml):
    got = load_policies(
        toml("""
[policies.shopee]
calendar = { timezone = "Asia/Jakarta", week = { mon = [["08:00", "20:00"]], sat = [["10:00", "14:00"]] } }
response_hours = 12

[policies.lazada]
calendar = "24/7"
response = "PT6H"
chat_inactivity = "P3D"
""")
    )
    assert got["shopee"].calendar.timezone == "Asia/Jakarta" and got["shopee"].response == 12 * H
    assert got["shopee"].breach_action == "escalate" and got["shopee"].warning_before == 12 * H
    assert got["lazada"].calendar == Calendar.always_open("UTC") and got["lazada"].chat_inactivity == 72 * H


def test_quiet_hours_accept_toml_local_times(toml):
    got = load_policies(toml("[policies.chat]\nquiet_hours = [21:30:00, 07:00:00]\n"))
    assert (got["chat"].quiet_start, got["chat"].quiet_end) == (time(21, 30), time(7))


def test_an_empty_file_is_the_builtins(toml):
    assert load_policies(toml("")) == BUILTIN


# ----------------------------------------------------------------------- TOML: bad files

BAD = [
    # (toml text, the message must start with)
    ('color = "red"\n', "color: unknown top-level key"),
    ("calendars = 5\n", "calendars: "),
    ('policies = "wish"\n', "policies: "),
    ('[calendars.y]\ntimezone = "Mars/Olympus"\nweek = {}\n', "calendars.y: "),
    ('[calendars.y]\ntimezone = "UTC"\nweek = { mon = [["09:00", "25:00"]] }\n', "calendars.y: "),
    ('[calendars.y]\ntimezone = "UTC"\nweek = { monday = [["09:00", "17:00"]] }\n', "calendars.y: "),
    ('[calendars.y]\ntimezone = "UTC"\nweek = { mon = [["17:00", "09:00"]] }\n', "calendars.y: "),
    ("[calendars.y]\nweek = {}\n", "calendars.y: "),
    ('[calendars.y]\ntimezone = "UTC"\nweek = {}\ncolour = 1\n', "calendars.y: "),
    ('[calendars.y]\ntimezone = "UTC"\nweek = {}\n', "calendars.y: "),  # never open
    (
        '[calendars.y]\ntimezone = "UTC"\nweek = { mon = [["09:00", "17:00"]] }\nholidays = ["2026-13-01"]\n',
        "calendars.y: ",
    ),
    ("calendars = { y = 3 }\n", "calendars.y: "),
    ("policies = { x = 3 }\n", "policies.x: "),
    ('[policies.x]\nresponse = "PT1H"\n', "policies.x.calendar: "),
    ('[policies.x]\ncalendar = "24/7"\n', "policies.x.response: "),
    ('[policies.x]\ncalendar = "nowhere"\nresponse = "PT1H"\n', "policies.x.calendar: "),
    ('[policies.x]\ncalendar = 7\nresponse = "PT1H"\n', "policies.x.calendar: "),
    ('[policies.x]\ncalendar = { timezone = "UTC", week = {} }\nresponse = "PT1H"\n', "policies.x.calendar: "),
    ('[policies.x]\ncalendar = { timezone = "Nope/Nope", week = {} }\nresponse = "PT1H"\n', "policies.x.calendar: "),
    ('[policies.wish]\nbreach_action = "shrug"\n', "policies.wish.breach_action: "),
    ('[policies.wish]\nbreach_action = ["escalate"]\n', "policies.wish.breach_action: "),
    ('[policies.wish]\nrespones = "PT1H"\n', "policies.wish.respones: unknown key"),
    ('[policies.wish]\nresponse = "24 hours"\n', "policies.wish.response: "),
    ('[policies.wish]\nresponse = "P1M"\n', "policies.wish.response: "),
    ('[policies.wish]\nresponse = "-PT1H"\n', "policies.wish.response: "),
    ("[policies.wish]\nresponse = false\n", "policies.wish.response: "),
    ('[policies.wish]\nresponse = "none"\n', "policies.wish.response: "),
    ('[policies.wish]\nresponse = "PT0S"\n', "policies.wish.response: "),
    ("[policies.wish]\nresponse = [48]\n", "policies.wish.response: "),
    ("[policies.wish]\nresponse_hours = -5\n", "policies.wish.response_hours: "),
    ("[policies.wish]\nresponse_hours = 0\n", "policies.wish.response_hours: "),
    ("[policies.wish]\nresponse_hours = nan\n", "policies.wish.response_hours: "),
    ("[policies.wish]\nresponse_hours = inf\n", "policies.wish.response_hours: "),
    ("[policies.wish]\nresponse_hours = 1e300\n", "policies.wish.response_hours: "),
    ("[policies.wish]\nresponse_hours = true\n", "policies.wish.response_hours: "),
    ('[policies.douyin]\nurgent_response = "PT0H"\n', "policies.douyin.urgent_response: "),
    ("[policies.douyin]\nurgent_response_hours = -1\n", "policies.douyin.urgent_response_hours: "),
    ("[policies.douyin]\nwarning_before = -1\n", "policies.douyin.warning_before: "),
    ("[policies.douyin]\nuser_confirmation = 0\n", "policies.douyin.user_confirmation: "),
    ('[policies.chat]\nchat_inactivity = "soon"\n', "policies.chat.chat_inactivity: "),
    ("[policies.wish]\nreminder_spacing = false\n", "policies.wish.reminder_spacing: "),
    ('[policies.wish]\nreminder_spacing = "-PT1H"\n', "policies.wish.reminder_spacing: "),
    ("[policies.wish]\nmax_reminders = 3\n", "policies.wish.max_reminders: "),
    ("[policies.wish]\nmax_reminders = -1\n", "policies.wish.max_reminders: "),
    ("[policies.wish]\nmax_reminders = true\n", "policies.wish.max_reminders: "),
    ('[policies.wish]\nmax_reminders = "2"\n', "policies.wish.max_reminders: "),
    ('[policies.wish]\nallow_agreed = "yes"\n', "policies.wish.allow_agreed: "),
    ('[policies.wish]\nquiet_hours = "22:00-08:00"\n', "policies.wish.quiet_hours: "),
    ('[policies.wish]\nquiet_hours = ["22:00"]\n', "policies.wish.quiet_hours: "),
    ('[policies.wish]\nquiet_hours = ["25:00", "08:00"]\n', "policies.wish.quiet_hours[0]: "),
    ('[policies.wish]\nquiet_hours = ["22:00", "8am"]\n', "policies.wish.quiet_hours[1]: "),
    ("[policies.wish]\nhealth = 3\n", "policies.wish.health: "),
    ("[policies.wish]\nhealth = { csat_great = 0.9 }\n", "policies.wish.health.csat_great: "),
    ("[policies.wish]\nhealth = { csat_normal = 1.5 }\n", "policies.wish.health.csat_normal: "),
    ('[policies.wish]\nhealth = { late_normal = "5%" }\n', "policies.wish.health.late_normal: "),
    ("[policies.wish]\nhealth = { late_normal = true }\n", "policies.wish.health.late_normal: "),
    ("[policies.wish]\nhealth = { csat_restricted = 0.9 }\n", "policies.wish.health: "),
    ("[policies.wish]\nhealth = { late_normal = 0.5 }\n", "policies.wish.health: "),
]


@pytest.mark.parametrize("text,prefix", BAD, ids=[p.rstrip(": ") + f"#{i}" for i, (_, p) in enumerate(BAD)])
def test_every_bad_key_or_value_is_a_policy_error_naming_it(toml, text, prefix):
    with pytest.raises(PolicyError) as e:
        load_policies(toml(text))
    assert str(e.value).startswith(prefix), str(e.value)
    assert "\n" not in str(e.value)


def test_invalid_toml_and_unreadable_files_name_the_file(toml, tmp_path):
    bad = toml('[policies.wish\nresponse = "PT1H"\n')
    with pytest.raises(PolicyError, match="not valid TOML") as e:
        load_policies(bad)
    assert str(bad) in str(e.value)
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match="cannot read") as e:
        load_policies(missing)
    assert str(missing) in str(e.value)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)
