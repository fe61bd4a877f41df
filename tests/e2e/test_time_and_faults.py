"""Wall-clock timers, surveys through the exchanges, and outages of the broker and the database."""

from __future__ import annotations

import os
import subprocess
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from .harness import Pipeline, event, tapped

pytestmark = pytest.mark.e2e
DOUYIN = {
    "merchant_id": "m-t-dy",
    "policy": "douyin",
    "merchant_locale": "zh-CN",
    "customer": {"id": "c", "locale": "zh-CN", "timezone": "Asia/Shanghai"},
}


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture
def full(amqp_url, database_url, namespace):
    with tapped(amqp_url, database_url, namespace, components="ingest,workers,scheduler,relay,exporter") as p:
        yield p


def test_the_scheduler_fires_a_deadline_on_the_wall_clock(full: Pipeline):
    full.start()
    # Given a wish ticket whose 48 h deadline falls due three seconds from now
    opened_at = datetime.now(timezone.utc) - timedelta(hours=48) + timedelta(seconds=3)
    full.publish(
        event(
            "ticket.opened",
            "T-WALL",
            iso(opened_at),
            {
                "merchant_id": "m-t",
                "policy": "wish",
                "category": "refund_request",
                "message": {"message_id": "w1", "text": "Refund please"},
            },
        )
    )
    # When nobody ticks, I expect the scheduler to breach it and hand it to the platform by itself
    assert full.wait_for(lambda: full.of("T-WALL", "ticket.escalated"), max_s=20)
    assert full.statuses("T-WALL") == ["awaiting_merchant", "awaiting_platform"]
    breach = full.of("T-WALL", "sla.breached")[0]
    due = datetime.fromisoformat(breach["data"]["due_at"].replace("Z", "+00:00"))
    assert due == opened_at + timedelta(hours=48)
    status = full.of("T-WALL", "ticket.status_changed")[-1]
    assert status["data"]["caused_by"] == "timer:merchant_response"
    body = urllib.request.urlopen(f"http://127.0.0.1:{full.metrics_port}/metrics", timeout=10).read().decode()
    # the readiness probes (dated in January) are long overdue and were breached too; only T-WALL
    # was fired within the hour it fell due, so only it shows in the lag histogram
    assert "ticketflow_timer_lag_seconds_count 1.0" in body
    assert 'ticketflow_sla_breaches_total{clock="merchant_response",policy="wish"}' in body


def test_surveys_reminders_and_answers_through_the_exchanges(pipeline: Pipeline):
    pipeline.start()
    P = pipeline.publish
    # resolved 23:00 Shanghai: the survey waits for 08:00
    P(
        event(
            "ticket.opened",
            "T-SV",
            "2026-03-02T06:00:00Z",
            {**DOUYIN, "message": {"message_id": "s1", "text": "什么时候发货？"}},
        )
    )
    P(event("ticket.resolved", "T-SV", "2026-03-02T15:00:00Z", {}))
    P(event("survey.reminder_requested", "T-SV", "2026-03-02T15:30:00Z", {}))  # 23:30: quiet hours
    pipeline.drain(quiet_s=2)
    assert pipeline.of("T-SV", "survey.dispatched") == []
    pipeline.tick("2026-03-03T00:00:00Z")  # 08:00 Shanghai
    P(event("survey.reminder_requested", "T-SV", "2026-03-03T00:30:00Z", {}))  # 30 min after: too soon
    P(event("survey.reminder_requested", "T-SV", "2026-03-03T01:00:01Z", {}))  # > 1 h: sent
    P(event("survey.reminder_requested", "T-SV", "2026-03-03T02:30:00Z", {}))  # sent (2nd)
    P(event("survey.reminder_requested", "T-SV", "2026-03-03T04:00:00Z", {}))  # limit reached
    P(event("survey.answered", "T-SV", "2026-03-03T05:00:00Z", {"rating": 2}))
    P(event("survey.reminder_requested", "T-SV", "2026-03-03T06:00:00Z", {}))  # not confirming any more
    assert pipeline.wait_for(lambda: pipeline.of("T-SV", "ticket.escalated"))
    pipeline.drain(quiet_s=1.5)
    sends = [(e["data"]["attempt"], e["data"]["sent_at"]) for e in pipeline.of("T-SV", "survey.dispatched")]
    assert sends == [(0, "2026-03-03T00:00:00Z"), (1, "2026-03-03T01:00:01Z"), (2, "2026-03-03T02:30:00Z")]
    assert [e["data"]["reason"] for e in pipeline.of("T-SV", "survey.reminder_rejected")] == [
        "quiet_hours",
        "too_soon",
        "limit_reached",
        "not_confirming",
    ]
    assert [e["data"]["reason"] for e in pipeline.of("T-SV", "ticket.escalated")] == ["unsatisfied"]
    assert pipeline.statuses("T-SV") == ["awaiting_merchant", "user_confirming", "awaiting_platform"]


def _process_tree(root: int) -> set[int]:
    """`root` and its descendants (the router runs in a child process of ingest)."""
    parents: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def _close_broker_connections_of(pids: set[int], amqp_url: str) -> int:
    """Has the broker close the AMQP connections these processes hold, found by their sockets (the
    broker names a connection "client:port -> server:port"). Returns how many."""
    port = urllib.parse.urlsplit(amqp_url).port or 5672
    out = subprocess.run(["ss", "-tnpH", f"dport = :{port}"], capture_output=True, text=True, check=True).stdout
    names = {
        f"{line.split()[3]} -> {line.split()[4]}" for line in out.splitlines() if any(f"pid={p}," in line for p in pids)
    }
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "name"], capture_output=True, text=True)
    erlang_pid = dict(line.split("\t", 1)[::-1] for line in listed.stdout.splitlines()[1:] if "\t" in line)
    closed = 0
    for name in names & set(erlang_pid):
        r = subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", erlang_pid[name], "test outage"], capture_output=True, text=True
        )
        if r.returncode != 0:
            pytest.fail(f"rabbitmqctl could not close {name}: {r.stderr.strip()[:200]}")
        closed += 1
    return closed


def test_a_broker_outage_pauses_and_resumes_without_loss(pipeline: Pipeline):
    pipeline.start()
    pipeline.publish(
        event(
            "ticket.opened",
            "T-BO1",
            "2026-03-02T09:00:00Z",
            {"merchant_id": "m", "policy": "wish", "message": {"message_id": "b1", "text": "hello"}},
        )
    )
    assert pipeline.wait_for(lambda: pipeline.statuses("T-BO1"))
    # every broker connection of the pipeline (its router child's too) is cut by the broker: it must
    # reconnect by itself. Only ours: the broker is shared with whatever else runs on the machine.
    cut = _close_broker_connections_of(_process_tree(pipeline.proc.pid), pipeline.amqp_url)
    assert cut >= 2, f"only {cut} broker connections of the pipeline found to close"
    import pika

    pipeline.conn = pika.BlockingConnection(pika.URLParameters(pipeline.amqp_url))
    pipeline.ch = pipeline.conn.channel()
    pipeline.ch.confirm_delivery()
    for i in range(20):
        pipeline.publish(
            event(
                "ticket.opened",
                f"T-BO2-{i}",
                "2026-03-02T09:00:00Z",
                {"merchant_id": "m", "policy": "wish", "message": {"message_id": f"b2{i}", "text": "hello"}},
            )
        )
    assert pipeline.wait_for(lambda: all(pipeline.statuses(f"T-BO2-{i}") for i in range(20)), max_s=60)
    assert pipeline.proc.poll() is None  # still running, never crashed


def test_a_database_outage_pauses_and_resumes_without_loss(pipeline: Pipeline, database_url):
    pipeline.start()
    for i in range(10):
        pipeline.publish(
            event(
                "ticket.opened",
                f"T-DO-{i}",
                "2026-03-02T09:00:00Z",
                {"merchant_id": "m", "policy": "wish", "message": {"message_id": f"d{i}", "text": "hello"}},
            )
        )
    # every session of the pipeline's database is terminated while events are in flight
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
    for i in range(10, 20):
        pipeline.publish(
            event(
                "ticket.opened",
                f"T-DO-{i}",
                "2026-03-02T09:00:00Z",
                {"merchant_id": "m", "policy": "wish", "message": {"message_id": f"d{i}", "text": "hello"}},
            )
        )
    assert pipeline.wait_for(lambda: all(pipeline.statuses(f"T-DO-{i}") for i in range(20)), max_s=60)
    assert all(pipeline.statuses(f"T-DO-{i}") == ["awaiting_merchant"] for i in range(20))
    assert pipeline.proc.poll() is None
