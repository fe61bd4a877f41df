"""The command line as an operator meets it: exit codes, one-line errors, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "ticketflow"
DOUYIN = {
    "timezone": "Asia/Shanghai",
    "week": {d: [["09:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
}


def cli(*args, env=None, timeout=120):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def douyin_calendar(tmp_path):
    p = tmp_path / "douyin.json"
    p.write_text(json.dumps(DOUYIN))
    return p


@pytest.mark.parametrize(
    "start,duration,due",
    [
        ("2026-03-02T12:00:00Z", "PT12H", "2026-03-03T12:00:00Z"),  # 20:00 + 12 h -> 20:00 next day
        ("2026-03-02T01:00:00Z", "PT24H", "2026-03-03T13:00:00Z"),  # 09:00 + 24 h -> 21:00 next day
        ("2026-03-02T14:00:00+01:00", "PT0S", "2026-03-02T13:00:00Z"),  # zero: due at its start
        ("2026-03-02T13:00:00Z", "PT1H", "2026-03-03T02:00:00Z"),  # start closed (21:00): from 09:00
    ],
)
def test_sla_due(douyin_calendar, start, duration, due):
    r = cli("sla", "due", "--calendar", str(douyin_calendar), "--start", start, "--duration", duration)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == due


@pytest.mark.parametrize(
    "args,code",
    [
        (["tick"], 2),
        (["tick", "--now", "2026-03-02T09:00:00"], 2),  # no offset
        (["sla", "due", "--calendar", "x.json", "--start", "2026-03-02T09:00:00Z", "--duration", "12h"], 2),
        (["run", "--components", "ingest,teleport"], 2),
        (["frobnicate"], 2),
    ],
)
def test_usage_errors_are_one_clear_line(args, code):
    r = cli(*args)
    assert r.returncode == code
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_bad_calendar_is_a_clear_failure(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"timezone": "Mars/Olympus", "week": {"mon": [["09:00", "17:00"]]}}))
    r = cli("sla", "due", "--calendar", str(bad), "--start", "2026-03-02T09:00:00Z", "--duration", "PT1H")
    assert r.returncode == 1 and "timezone" in r.stderr and "Traceback" not in r.stderr


def test_migrate_without_a_database_fails_in_one_line():
    import os

    env = dict(os.environ, TICKETFLOW_DATABASE_URL="postgresql://127.0.0.1:1/nowhere")
    r = cli("migrate", env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_demo_replays_the_scenario_with_no_servers():
    r = cli("demo", timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    for expected in (
        "W-1001",
        "D-2001",
        "C-3001",
        "merchant_late",
        "confirmation_timeout",
        "unsatisfied",
        "quiet_hours",
        "too_soon",
        "survey.dispatched",
        "message.translated",
        "ticket.classified",
        "(refined, e5-refine-v1)",  # W-1004: the refining worker read what the inline classifier could not
        "invalid_transition",
        "malformed",
        "unknown_type",
        "invalid_data",
        "KPIs",
    ):
        assert expected in out, expected
    # issue #13: the seeds' rules, shown by the demo
    for expected in (
        "D-2004   refund 89.00 CNY for kettle-9 x1 at 2026-03-02T09:00:00: recorded, the ticket stayed open",
        "missing_evidence   ticket.resolved on a refunded douyin ticket needs an attachment",
        "awaiting_merchant -> user_confirming  [resolved; by demo-104]",  # accepted with the evidence
        "invalid_transition a douyin request cannot be withdrawn",
        "awaiting_merchant -> closed  [ignored; by timer:chat_inactivity]",  # C-3003, ignored by the agent
        "C-3001   chat on -: awaiting_customer",  # waiting for the customer: never closes by itself
        "en->hu via",  # the merchant's English reply, for the Hungarian customer
        "conversion revenue (7 d)     259000 IDR",
    ):
        assert expected in out, expected
    # a high-risk complaint (seed 002: 高危投诉) is urgent though nothing is unsafe: 2 business hours
    d2005 = out.split("\nD-2005\n", 1)[1].split("\n\n", 1)[0]
    assert " URGENT " in d2005 and "merchant_response due 2026-03-02T12:00:00Z" in d2005, d2005


def test_a_bad_policies_file_fails_in_one_line_naming_the_key(tmp_path):
    import os

    bad = tmp_path / "policies.toml"
    bad.write_text('[policies.hu_shop]\ncalendar = "24/7"\nresponse = "PT8H"\nbreach_action = "shout"\n')
    env = dict(os.environ, TICKETFLOW_POLICIES=str(bad), TICKETFLOW_DATABASE_URL="postgresql://127.0.0.1:1/x")
    r = cli("tick", "--now", "2026-03-02T09:00:00Z", env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "policies.hu_shop.breach_action" in r.stderr


def test_a_custom_policy_sets_the_deadline(tmp_path, amqp_url, database_url, namespace):

    from tests.conftest import delete_namespace

    from .harness import Pipeline, event

    pol = tmp_path / "policies.toml"
    pol.write_text(
        '[calendars.office]\ntimezone = "Europe/Budapest"\n'
        'week = { mon = [["09:00", "17:00"]], tue = [["09:00", "17:00"]] }\n\n'
        '[policies.hu_shop]\ncalendar = "office"\nresponse = "PT8H"\nbreach_action = "escalate"\n'
    )
    p = Pipeline(amqp_url, database_url, namespace, extra_env={"TICKETFLOW_POLICIES": str(pol)})
    p.migrate_and_tap()
    try:
        p.start()
        # Monday 2026-03-02 16:00 Budapest (15:00Z): 1 h today, 7 h from Tuesday 09:00 -> Tuesday 16:00 (15:00Z)
        p.publish(
            event(
                "ticket.opened",
                "T-HU",
                "2026-03-02T15:00:00Z",
                {
                    "merchant_id": "m-hu",
                    "policy": "hu_shop",
                    "message": {"message_id": "h1", "text": "Hol a csomagom?"},
                },
            )
        )
        assert p.wait_for(lambda: p.of("T-HU", "sla.activated"))
        assert p.of("T-HU", "sla.activated")[0]["data"]["due_at"] == "2026-03-03T15:00:00Z"
        assert p.of("T-HU", "sla.activated")[0]["data"]["policy"] == "hu_shop"
        p.tick("2026-03-03T15:00:00Z")
        assert p.wait_for(lambda: p.statuses("T-HU")[-1:] == ["awaiting_platform"])
    finally:
        p.close()
        delete_namespace(amqp_url, namespace)
