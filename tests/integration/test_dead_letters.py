"""A worker message that exhausts its retries is kept in PostgreSQL and counted (RabbitMQ keeps `.XQ`
messages only 7 days)."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq import Worker

from services.store.db import connect
from workers.broker import make_broker

pytestmark = pytest.mark.integration


def test_a_message_that_exhausts_its_retries_is_recorded_and_counted(database_url):
    # Given a worker whose actor always fails and may not retry
    broker = make_broker(None, database_url=database_url)

    def always_fails(ticket_id: str) -> None:
        raise RuntimeError("boom")

    actor = dramatiq.actor(broker=broker, queue_name="tft.failing", actor_name="always_fails", max_retries=0)(
        always_fails
    )
    worker = Worker(broker, worker_timeout=50)
    worker.start()
    try:
        # When it gets a message
        actor.send(ticket_id="T-1")
        broker.join("tft.failing", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    # I expect one dead letter with its arguments and the error, and the counter moved
    with connect(database_url) as conn:
        rows = conn.execute("select queue, actor, args, error from dead_letters").fetchall()
        counted = conn.execute(
            "select value from metric_counters where name = 'dead_letters_total'"
            ' and labels = \'{"queue":"tft.failing"}\''
        ).fetchone()
    assert [(q, a, args) for q, a, args, _ in rows] == [("tft.failing", "always_fails", {"ticket_id": "T-1"})]
    assert "boom" in rows[0][3]
    assert counted == (1.0,)
