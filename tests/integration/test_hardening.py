"""Issue #11 part A on the real database (and broker): retention, timer isolation, per-source
parking, oversized and poison input, quorum queues."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pika
import pytest

from schemas.builders import cloudevent_bytes
from services.amqp.topology import Topology
from services.core.clock import FixedClock
from services.core.lifecycle import Lifecycle
from services.core.policies import load_policies
from services.store.db import connect
from services.store.engine import Engine
from services.store.outbox import KEPT_BYTES
from tests.fakes import fake_classify
from tests.integration.test_engine import NOW, ev, merchant_msg, opened

pytestmark = pytest.mark.integration


def _engine(policies=None, **kw) -> Engine:
    policies = load_policies() if policies is None else policies
    return Engine(Topology("tft"), Lifecycle(policies), fake_classify, policies, FixedClock(NOW), **kw)


def closed(subject, id_, time_):
    return ev("ticket.closed", subject, time_, {"by": "platform"}, id_)


def _count(conn, sql, *params) -> int:
    return conn.execute(sql, params).fetchone()[0]


def _counter(conn, name) -> float:
    row = conn.execute("select sum(value) from metric_counters where name = %s", (name,)).fetchone()
    return row[0] or 0.0


# -- retention -------------------------------------------------------------------------------------


def test_a_duplicate_has_no_effect_as_long_as_its_ticket_exists(database_url):
    # Given a ticket opened, and 300 days pass (the old 30-day dedupe window ten times over)
    engine = _engine()
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("D1", "d1")])
        engine.clock = FixedClock(NOW + timedelta(days=300))
        engine.purge_expired(conn, days=400)
        # When its ticket.opened is replayed
        result = engine.ingest(conn, [opened("D1", "d1")])
        # I expect a duplicate: no second effect
        assert result.duplicates == 1 and result.applied == 0
        assert _count(conn, "select count(*) from outbox where routing_key = 'ticket.status_changed'") == 1


def test_retention_purges_closed_tickets_with_their_texts_timeline_and_ids_and_keeps_the_rest(database_url):
    # Given a ticket closed at day 0 and one still open, each with messages, timeline, dedupe ids
    engine = _engine()
    with connect(database_url) as conn:
        engine.ingest(
            conn,
            [
                opened("R1", "r1"),
                merchant_msg("R1", "r1b", "2026-03-02T09:10:00Z"),
                closed("R1", "r1c", "2026-03-02T09:20:00Z"),
                opened("R2", "r2"),
            ],
        )
        conn.execute(
            "insert into translations (ticket_id, message_id, source_language, target_language, provider,"
            " translated, text) values ('R1', 'r1-m', 'de', 'en', 'x', true, 'customer text')"
        )
        conn.commit()
        closed_before = _count(
            conn, "select value from metric_counters where name = 'tickets' and labels like %s", "%closed%"
        )
        # When housekeeping runs 401 days later with a 400-day retention
        engine.clock = FixedClock(NOW + timedelta(days=401))
        purged = engine.purge_expired(conn, days=400)
        # I expect the closed ticket gone with every row about it, the open one untouched
        assert purged == 1
        for table, column in (
            ("tickets", "id"),
            ("messages", "ticket_id"),
            ("translations", "ticket_id"),
            ("timeline", "ticket_id"),
            ("inbound_events", "ticket_id"),
            ("timers", "ticket_id"),
        ):
            assert _count(conn, f"select count(*) from {table} where {column} = 'R1'") == 0, table
        assert _count(conn, "select count(*) from tickets where id = 'R2'") == 1
        assert _count(conn, "select count(*) from messages where ticket_id = 'R2'") == 1
        assert _count(conn, "select count(*) from inbound_events where ticket_id = 'R2'") == 1
        assert (
            _count(conn, "select value from metric_counters where name = 'tickets' and labels like %s", "%closed%")
            == closed_before - 1
        )
        assert _counter(conn, "tickets_purged_total") == 1


def test_retention_purges_the_refining_workers_answers_with_their_ticket(database_url):
    # Given a closed ticket and an open one, each with a refinement row (the refine task's idempotency key)
    engine = _engine()
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("F1", "f1"), closed("F1", "f1c", "2026-03-02T09:20:00Z"), opened("F2", "f2")])
        for ticket in ("F1", "F2"):
            conn.execute(
                "insert into refinements (ticket_id, message_id, classifier, category, urgent, confidence, outcome,"
                " at) values (%s, %s, 'e5-refine-v1', 'order_status', false, 0.9, 'applied', %s)",
                (ticket, f"{ticket.lower()}-m", NOW),
            )
        conn.commit()
        # When housekeeping runs 401 days later with a 400-day retention
        engine.clock = FixedClock(NOW + timedelta(days=401))
        assert engine.purge_expired(conn, days=400) == 1
        # I expect the closed ticket's refinement gone with it, the open ticket's kept
        rows = conn.execute("select ticket_id from refinements order by ticket_id").fetchall()
        assert rows == [("F2",)]


def test_retention_keeps_a_recently_closed_ticket_and_forgets_old_rejected_ids(database_url):
    # Given a ticket closed 10 days before housekeeping, and a rejected message 401 days before it
    engine = _engine()
    with connect(database_url) as conn:
        engine.ingest(conn, [b"not json at all"])
        engine.clock = FixedClock(NOW + timedelta(days=391))
        engine.ingest(conn, [opened("K1", "k1", "2027-03-28T09:00:00Z"), closed("K1", "k1c", "2027-03-28T10:00:00Z")])
        # When housekeeping runs at day 401
        engine.clock = FixedClock(NOW + timedelta(days=401))
        engine.purge_expired(conn, days=400)
        # I expect the recent ticket and its ids kept, the old rejected id forgotten
        assert _count(conn, "select count(*) from tickets where id = 'K1'") == 1
        assert {r[0] for r in conn.execute("select id from inbound_events")} == {"k1", "k1c"}


def test_retention_works_in_bounded_slices(database_url):
    # Given 25 closed tickets
    engine = _engine()
    with connect(database_url) as conn:
        bodies = []
        for i in range(25):
            bodies += [opened(f"S{i}", f"s{i}"), closed(f"S{i}", f"s{i}c", "2026-03-02T10:00:00Z")]
        engine.ingest(conn, bodies)
        engine.clock = FixedClock(NOW + timedelta(days=500))
        # When housekeeping may take 2 slices of 10
        purged = engine.purge_expired(conn, days=400, slices=2, limit=10)
        # I expect 20 purged now, the rest left for the next run
        assert purged == 20
        assert _count(conn, "select count(*) from tickets") == 5
        assert engine.purge_expired(conn, days=400, slices=2, limit=10) == 5


# -- timers ----------------------------------------------------------------------------------------


def test_a_timer_that_raises_is_set_aside_and_the_others_fire(database_url):
    # Given a wish and a chat ticket with breaches due, and a scheduler whose configuration lacks `chat`
    full = load_policies()
    with connect(database_url) as conn:
        _engine(full).ingest(conn, [opened("W1", "w1", policy="wish"), opened("C1", "c1", policy="chat")])
    partial = {k: v for k, v in full.items() if k != "chat"}
    until = datetime(2026, 3, 5, tzinfo=timezone.utc)  # wish 48 h and chat 24 h deadlines passed
    with connect(database_url) as conn:
        # When it fires everything due
        fired = _engine(partial).fire_all(conn, until)
        # I expect the wish timers fired, the chat one set aside with its error, counted
        assert fired >= 1
        assert _count(conn, "select count(*) from timers where ticket_id = 'W1' and due_at <= %s", until) == 0
        row = conn.execute(
            "select attempts, retry_at, last_error from timers where ticket_id = 'C1' and due_at <= %s", (until,)
        ).fetchone()
        assert row is not None
        attempts, retry_at, error = row
        assert attempts == 1 and retry_at == until + timedelta(seconds=30) and error.startswith("KeyError")
        assert _counter(conn, "timer_failures_total") == 1
        # When the same scheduler runs again before the retry is due, nothing is retried
        assert _engine(partial).fire_all(conn, until + timedelta(seconds=10)) == 0
        # When a scheduler that knows `chat` runs after the retry instant
        assert _engine(full).fire_all(conn, until + timedelta(seconds=31)) >= 1
        # I expect the set-aside timer fired and gone
        assert _count(conn, "select count(*) from timers where ticket_id = 'C1' and retry_at is not null") == 0
        assert _count(conn, "select count(*) from outbox where routing_key = 'sla.breached'") == 2


def test_a_set_aside_timer_backs_off_exponentially(database_url):
    full = load_policies()
    with connect(database_url) as conn:
        _engine(full).ingest(conn, [opened("C2", "c2", policy="chat")])
    partial = {k: v for k, v in full.items() if k != "chat"}
    until = datetime(2026, 3, 5, tzinfo=timezone.utc)
    with connect(database_url) as conn:
        e = _engine(partial)
        e.fire_all(conn, until)
        e.fire_all(conn, until + timedelta(seconds=30))
        e.fire_all(conn, until + timedelta(seconds=90))
        attempts, retry_at = conn.execute(
            "select attempts, retry_at from timers where ticket_id = 'C2' and retry_at is not null"
        ).fetchone()
    assert attempts == 3
    assert retry_at == until + timedelta(seconds=90 + 120)  # 30 s, 60 s, 120 s


# -- parking ---------------------------------------------------------------------------------------


def test_one_noisy_source_cannot_fill_the_parking_lot(database_url):
    # Given a lot of 10 with a per-source share of 3
    engine = _engine(parking_limit=10, parking_source_limit=3)
    noisy = [
        cloudevent_bytes("ticket.urged", f"N{i}", "2026-03-02T09:00:00Z", {}, id=f"n{i}", source="noisy")
        for i in range(5)
    ]
    quiet = [cloudevent_bytes("ticket.urged", "Q1", "2026-03-02T09:00:00Z", {}, id="q1", source="quiet")]
    with connect(database_url) as conn:
        # When the noisy source sends 5 events for unknown tickets, then another source sends one
        result = engine.ingest(conn, noisy + quiet)
        # I expect 3 of the noisy ones parked, 2 rejected, and the other source's parked
        assert result.parked == 4
        assert result.rejected == {"unknown_ticket": 2}
        assert _count(conn, "select count(*) from parked_events where source = 'noisy'") == 3
        assert _count(conn, "select count(*) from parked_events where ticket_id = 'Q1'") == 1


# -- oversized and poison input --------------------------------------------------------------------


def test_an_oversized_message_is_kept_as_a_bounded_prefix_with_its_digest(database_url):
    import hashlib

    engine = _engine()
    body = opened("BIG", "big", text="x" * 1000)[:-2] + b', "pad": "' + b"y" * (20 * 1024 * 1024) + b'"}}'
    with connect(database_url) as conn:
        result = engine.ingest(conn, [body])
        assert result.rejected == {"too_large": 1}
        kept, headers = conn.execute(
            "select body, headers from outbox where routing_key = 'tft.in.rejected'"
        ).fetchone()
    assert len(kept) == KEPT_BYTES and bytes(kept) == body[:KEPT_BYTES]
    assert headers["x-ticketflow-reason"] == "too_large"
    assert headers["x-ticketflow-sha256"] == hashlib.sha256(body).hexdigest()
    assert headers["x-ticketflow-size"] == str(len(body))


def test_the_recursion_error_case_of_the_issue_is_a_rejection(database_url):
    # Given the issue's message: an extension attribute ~500 arrays deep holding an escaped surrogate pair
    deep = b"[" * 500 + b'"\\ud83d\\ude00"' + b"]" * 500
    body = opened("DEEP", "deep")[:-1] + b', "ext": ' + deep + b"}"
    engine = _engine()
    with connect(database_url) as conn:
        # When it is ingested with a valid event behind it
        result = engine.ingest(conn, [body, opened("OK1", "ok1")])
    # I expect it rejected with a contract reason and the event behind it applied
    assert result.rejected == {"invalid_data": 1} and result.applied == 1


# -- quorum queues ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["nack", "consumer dies"])
def test_quorum_queues_dead_letter_a_message_after_its_delivery_limit(failure, amqp_url, namespace, broker_cleanup):
    # Given the quorum topology with a delivery limit of 2
    topology = Topology(namespace, "quorum", delivery_limit=2)
    params = pika.URLParameters(amqp_url)
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        topology.declare(ch)
        topology.declare(ch)  # idempotent: same arguments
        ch.confirm_delivery()
        ch.basic_publish(topology.inbound, "ticket.opened", opened("QQ", "qq"))
        # When a consumer keeps failing on it: returning it, or dying with it unacked (which no code can catch)
        deliveries = 0
        for _ in range(10):
            consumer = pika.BlockingConnection(params)
            cch = consumer.channel()
            method, _, _ = cch.basic_get(topology.ingest_queue)
            if method is None:
                consumer.close()
                break
            deliveries += 1
            if failure == "nack":
                cch.basic_nack(method.delivery_tag, requeue=True)
            consumer.close()  # for "consumer dies": closed with the delivery unacked
        # I expect it dead-lettered to <ns>.in.failed after the limit, not redelivered forever
        assert deliveries == 3  # the first delivery and 2 redeliveries
        method, _, body = ch.basic_get(topology.failed_queue, auto_ack=True)
        assert method is not None and json.loads(body)["id"] == "qq"
    finally:
        conn.close()


# -- what operators see ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url, amqp_url, monkeypatch):
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("TICKETFLOW_AMQP_URL", amqp_url)
    monkeypatch.delenv("TICKETFLOW_POLICIES", raising=False)
    monkeypatch.setattr("services.logs.configure", lambda *a, **k: None)


def test_an_open_tickets_policy_missing_from_the_configuration_stops_run_and_tick(
    database_url, cli_env, tmp_path, capsys
):
    from services.cli.main import main

    # Given an open ticket of a policy that only a policies file defines
    pol = tmp_path / "policies.toml"
    pol.write_text('[policies.hu_shop]\ncalendar = "24/7"\nresponse = "PT8H"\nbreach_action = "escalate"\n')
    with connect(database_url) as conn:
        _engine(load_policies(pol)).ingest(conn, [opened("HU1", "hu1", policy="hu_shop")])
    # When the scheduler or tick starts without that file
    for argv in (["run", "--components", "scheduler"], ["tick", "--now", "2026-03-05T00:00:00Z"]):
        code = main(argv)
        err = capsys.readouterr().err
        # I expect exit 1 with one line naming the policy
        assert code == 1 and len(err.strip().splitlines()) == 1 and "hu_shop" in err, err


def test_a_set_aside_timer_shows_in_show_and_metrics(database_url, amqp_url, cli_env, capsys):
    from services.cli.main import main
    from services.components.exporter import DatabaseCollector
    from services.config import Settings

    full = load_policies()
    with connect(database_url) as conn:
        _engine(full).ingest(conn, [opened("C3", "c3", policy="chat")])
        _engine({k: v for k, v in full.items() if k != "chat"}).fire_all(
            conn, datetime(2026, 3, 5, tzinfo=timezone.utc)
        )
    assert main(["show", "C3"]) == 0
    out = capsys.readouterr().out
    assert "SET ASIDE: firing failed 1 time(s)" in out and "KeyError" in out
    collector = DatabaseCollector(Settings(database_url=database_url, amqp_url=amqp_url), ["exporter"])
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in collector.collect() for s in m.samples}
    assert got[("ticketflow_timers_set_aside", ())] == 1
    assert got[("ticketflow_timer_failures_total", (("kind", "merchant_response.breach"),))] == 1


def test_retention_forgets_what_went_out_about_old_rejected_input(database_url):
    # Given unreadable input and an event for a ticket that never opened, both rejected 401 days ago
    engine = _engine(parking_seconds=1)
    with connect(database_url) as conn:
        engine.ingest(conn, [b"not json", merchant_msg("GHOST", "g1", "2026-03-02T09:10:00Z")])
        engine.clock = FixedClock(NOW + timedelta(seconds=5))
        engine.expire_parked(conn)  # the ghost's event: unknown_ticket
        assert _count(conn, "select count(*) from timeline where ticket_id in ('unknown', 'GHOST')") == 2
        # When housekeeping runs 401 days later
        engine.clock = FixedClock(NOW + timedelta(days=401))
        engine.purge_expired(conn, days=400)
        # I expect their ids and their timeline rows gone
        assert _count(conn, "select count(*) from inbound_events") == 0
        assert _count(conn, "select count(*) from timeline") == 0


def test_a_parked_event_the_current_limits_refuse_is_rejected_when_its_ticket_opens(database_url):
    # Given an event parked (under laxer limits) that today's decoder refuses: nested 40 deep
    deep = merchant_msg("P1", "p1", "2026-03-02T09:10:00Z")[:-1] + b', "ext": ' + b"[" * 40 + b"]" * 40 + b"}"
    engine = _engine()
    with connect(database_url) as conn:
        conn.execute(
            "insert into parked_events (event_id, ticket_id, time, body, parked_at, source)"
            " values ('p1', 'P1', %s, %s, %s, 't')",
            (NOW, deep, NOW),
        )
        conn.execute(
            "insert into inbound_events (id, ticket_id, type, time, received_at, outcome)"
            " values ('p1', 'P1', 'message.posted', %s, %s, 'parked')",
            (NOW, NOW),
        )
        conn.commit()
        # When its ticket.opened arrives
        result = engine.ingest(conn, [opened("P1", "p1-open")])
        # I expect the ticket opened and the parked event rejected with a reason, not a failed batch
        assert result.applied == 1 and result.rejected == {"invalid_data": 1}
        assert (
            conn.execute("select outcome from inbound_events where id = 'p1'").fetchone()[0] == "rejected:invalid_data"
        )


def test_the_scheduler_runs_retention_in_its_housekeeping(database_url):
    import threading
    import time

    from services.components.scheduler import Scheduler

    # Given a ticket closed long ago, and many open ones whose timers are all due (far in the future)
    later = NOW + timedelta(days=401)
    engine = _engine()
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("OLD", "old"), closed("OLD", "old-c", "2026-03-02T10:00:00Z")])
        engine.ingest(conn, [opened(f"BUSY{i}", f"busy{i}") for i in range(300)])
    engine.clock = FixedClock(later)
    scheduler = Scheduler(database_url, engine, FixedClock(later), batch=50, health_every=0.0, retention_days=400)
    stop = threading.Event()
    t = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    # When the scheduler runs for a moment
    t.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with connect(database_url) as conn:
                if _count(conn, "select count(*) from tickets where id = 'OLD'") == 0:
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(10)
    # I expect the old closed ticket purged by its housekeeping
    with connect(database_url) as conn:
        assert _count(conn, "select count(*) from tickets where id = 'OLD'") == 0
        assert _count(conn, "select count(*) from tickets where id like 'BUSY%%'") == 300
