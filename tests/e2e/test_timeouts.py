"""A slow database does not cost ingest its broker connection: while a batch waits on a lock, the
consumer keeps answering heartbeats, and the batch is applied when the lock goes."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import delete_namespace

from .harness import Pipeline, event

pytestmark = pytest.mark.e2e


def test_ingest_keeps_its_broker_connection_while_a_lock_holds_its_batch(amqp_url, database_url, namespace):
    # Given ingest on a 2 s broker heartbeat (the broker drops a connection silent for ~4 s)
    p = Pipeline(
        amqp_url,
        database_url,
        namespace,
        components="ingest,relay",
        extra_env={"TICKETFLOW_AMQP_URL": amqp_url + "?heartbeat=2", "TICKETFLOW_DB_LOCK_TIMEOUT": "30"},
    )
    p.migrate_and_tap()
    try:
        p.start()
        # When the tickets table is locked for 9 s while a ticket arrives
        with psycopg.connect(database_url) as locker:
            locker.execute("lock table tickets in access exclusive mode")
            p.publish(
                event(
                    "ticket.opened",
                    "H1",
                    "2026-03-02T09:00:00Z",
                    {"merchant_id": "m1", "policy": "wish", "message": {"message_id": "h1", "text": "hello"}},
                )
            )
            p.drain(quiet_s=9, max_s=9)
            assert p.statuses("H1") == []  # still waiting on the lock
            locker.rollback()
        # I expect the ticket applied once the lock goes, on the connection ingest had all along
        assert p.wait_for(lambda: p.statuses("H1") == ["awaiting_merchant"])
        log = p.log.read_text()
        assert log.count('"ingest.consuming"') == 1, "ingest reconnected: heartbeats were missed"
        assert '"ingest.retry"' not in log
    finally:
        p.close()
        delete_namespace(amqp_url, namespace)
