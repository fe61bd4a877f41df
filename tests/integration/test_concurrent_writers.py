"""Several ingest processes on one database: the writers that create tickets or park events for
them are serialised per ticket (services.store.subjects), so no interleaving of two transactions
loses a parked event or opens a ticket twice. Each test holds one transaction open on purpose and
lets a second connection run into it, as a second ingest process would."""

from __future__ import annotations

import json
import threading

import pytest

from services.store.db import connect
from tests.integration.test_engine import engine, merchant_msg, opened, statuses  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def body():
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            out["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, out


def test_an_event_for_a_ticket_being_opened_waits_for_it_instead_of_parking(engine, database_url):  # noqa: F811
    # Given one ingest process inside the transaction that opens T1 (staged, not committed)
    with connect(database_url) as first, connect(database_url) as second:
        staged = engine.stage(first, engine.prepare([opened("T1", "o1")]))
        # When a second process gets the merchant's reply to T1 meanwhile
        t, out = _in_thread(lambda: engine.ingest(second, [merchant_msg("T1", "r1", "2026-03-02T09:10:00Z")]))
        t.join(0.5)
        # I expect it to wait for the first instead of parking the reply beside a ticket it cannot see
        assert t.is_alive(), "the second writer did not wait for the ticket being opened"
        engine.commit(first, staged)
        t.join(10)
        assert "error" not in out, out.get("error")
        assert out["result"].applied == 1 and out["result"].parked == 0
        assert statuses(first, "T1") == ["awaiting_merchant", "awaiting_customer"]
        assert first.execute("select count(*) from parked_events").fetchone()[0] == 0


def test_a_parked_event_is_never_missed_by_the_opening_of_its_ticket(engine, database_url):  # noqa: F811
    # Given one process parking a reply for T2 (its transaction still open)
    with connect(database_url) as first, connect(database_url) as second:
        staged = engine.stage(first, engine.prepare([merchant_msg("T2", "r2", "2026-03-02T09:10:00Z")]))
        assert staged.result.parked == 1
        # When another process opens T2 meanwhile
        t, out = _in_thread(lambda: engine.ingest(second, [opened("T2", "o2")]))
        t.join(0.5)
        assert t.is_alive()
        engine.commit(first, staged)
        t.join(10)
        assert "error" not in out, out.get("error")
        # I expect the opening to see the parked reply and apply it: nothing left to expire
        assert statuses(first, "T2") == ["awaiting_merchant", "awaiting_customer"]
        assert first.execute("select count(*) from parked_events").fetchone()[0] == 0
        assert first.execute("select outcome from inbound_events where id = 'r2'").fetchone() == ("applied",)


def test_two_openings_with_different_ids_create_the_ticket_once(engine, database_url):  # noqa: F811
    # Given two processes each holding a different ticket.opened for T3
    with connect(database_url) as first, connect(database_url) as second:
        staged = engine.stage(first, engine.prepare([opened("T3", "oa")]))
        t, out = _in_thread(lambda: engine.ingest(second, [opened("T3", "ob", time_="2026-03-02T09:05:00Z")]))
        t.join(0.5)
        engine.commit(first, staged)
        t.join(10)
        assert "error" not in out, out.get("error")
        # I expect one ticket, opened once, and the second opening refused with the contract's reason
        assert statuses(first, "T3") == ["awaiting_merchant"]
        assert out["result"].rejected == {"invalid_transition": 1}
        opened_out = [
            json.loads(bytes(b))
            for (b,) in first.execute("select body from outbox where routing_key = 'ticket.status_changed' order by id")
        ]
        assert [e["data"]["caused_by"] for e in opened_out] == ["oa"]
