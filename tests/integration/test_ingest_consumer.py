"""IngestConsumer on the real broker and database: batches in flight, and a message that trips a bug.

The engine is the real one; only its failure is injected (a subclass that raises for one event
id, once in `stage`, on the ingest thread, once in `commit`, on the committer thread), because no
known input crashes the code. What must hold either way: the good messages of the batch are
applied and acked, the bad one is dead-lettered to `<ns>.in.failed` and counted, nothing is lost.
"""

from __future__ import annotations

import json
import threading
import time

import pika
import pytest

from services.amqp.topology import Topology
from services.components.ingest import IngestConsumer
from services.core.clock import FixedClock
from services.core.lifecycle import Lifecycle
from services.core.policies import load_policies
from services.store.db import connect
from services.store.engine import Engine
from tests.fakes import fake_classify
from tests.integration.test_engine import NOW, merchant_msg, opened

pytestmark = pytest.mark.integration


class Faulty(Engine):
    """Raises a plain bug (not bad input, not a database error) for batches holding `poison`: while
    staging, or from inside Engine.commit (its writes), so the engine's own cleanup runs."""

    def __init__(self, *a, poison: str, where: str, **kw):
        super().__init__(*a, **kw)
        self.poison, self.where = poison.encode(), where

    def stage(self, conn, prepared):
        poisoned = any(self.poison in b for b, _ in prepared.decoded)
        if poisoned and self.where == "stage":
            raise RuntimeError("injected bug while staging")
        staged = super().stage(conn, prepared)
        if poisoned and self.where == "commit":

            def flush(cur):
                raise RuntimeError("injected bug on the committer thread")

            staged.writes.flush = flush
        return staged


def _queue_depth(ch, name: str) -> int:
    return ch.queue_declare(name, durable=True, passive=True).method.message_count


def _classify_failing_on_poison(text: str, locale: str | None):
    if "POISON" in text:
        raise RecursionError("injected bug while preparing (the classifier)")
    return fake_classify(text, locale)


@pytest.mark.parametrize("where", ["prepare", "stage", "commit"])
def test_a_bug_dead_letters_one_message_and_applies_the_rest(where, amqp_url, database_url, namespace, broker_cleanup):
    topology = Topology(namespace)
    policies = load_policies()
    if where == "prepare":  # a bug in decode or classification: isolated while the batch goes on
        engine = Engine(topology, Lifecycle(policies), _classify_failing_on_poison, policies, FixedClock(NOW))
    else:
        engine = Faulty(
            topology, Lifecycle(policies), fake_classify, policies, FixedClock(NOW), poison="POISON", where=where
        )
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    topology.declare(ch)
    bodies = [opened(f"G{i}", f"g{i}") for i in range(5)]
    bodies.insert(2, opened("P1", "POISON", text="POISON"))
    bodies += [merchant_msg(f"G{i}", f"r{i}", "2026-03-02T09:10:00Z") for i in range(5)]
    for body in bodies:
        ch.basic_publish(topology.inbound, json.loads(body)["type"], body)
    consumer = IngestConsumer(amqp_url, database_url, topology, engine, batch=50, linger=0.2)
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    t.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with connect(database_url) as db:
                applied = db.execute("select count(*) from inbound_events where outcome = 'applied'").fetchone()[0]
            if applied == 10 and _queue_depth(ch, topology.failed_queue) == 1:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        t.join(20)
    assert not t.is_alive()
    with connect(database_url) as db:
        ids = {r[0] for r in db.execute("select id from inbound_events where outcome = 'applied'")}
        statuses = dict(db.execute("select id, status from tickets").fetchall())
        dead = db.execute("select value from metric_counters where name = 'dead_letters_total'").fetchone()
    assert ids == {f"g{i}" for i in range(5)} | {f"r{i}" for i in range(5)}
    assert statuses == {f"G{i}": "awaiting_customer" for i in range(5)}
    assert "P1" not in statuses
    assert _queue_depth(ch, topology.failed_queue) == 1
    _, _, raw = ch.basic_get(topology.failed_queue, auto_ack=True)
    assert json.loads(raw)["id"] == "POISON"
    assert dead is not None and dead[0] == 1.0
    assert _queue_depth(ch, topology.ingest_queue) == 0  # everything else acked
    conn.close()


def test_a_finished_commit_ends_the_wait_for_it_at_once(amqp_url, database_url, namespace, broker_cleanup):
    """The ingest thread waits for the batch in flight inside the broker poll (heartbeats go on).
    Once every prefetched delivery is unacked no frame arrives, so that poll used to sit out its
    whole time limit after each commit (the pipeline ran at ~700 events/s, ingest idle ~70 %). The
    committer now wakes it: with a 60 s poll limit, 30 tickets in batches of 5 (prefetch 5: each
    batch waits for the previous one's acks) still go through in seconds."""
    topology = Topology(namespace)
    policies = load_policies()
    engine = Engine(topology, Lifecycle(policies), fake_classify, policies, FixedClock(NOW))
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    topology.declare(ch)
    for i in range(30):
        body = opened(f"W{i}", f"w{i}")
        ch.basic_publish(topology.inbound, "ticket.opened", body)
    consumer = IngestConsumer(
        amqp_url, database_url, topology, engine, batch=5, prefetch=5, linger=0.01, settle_poll=60.0
    )
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    t.start()
    try:
        deadline, applied = time.time() + 20, 0
        while time.time() < deadline and applied < 30:
            with connect(database_url) as db:
                applied = db.execute("select count(*) from inbound_events where outcome = 'applied'").fetchone()[0]
            time.sleep(0.1)
    finally:
        stop.set()
    assert applied == 30, f"{applied} of 30 applied in 20 s: the wait for a commit outlived it"
    t.join(70)
    assert not t.is_alive()
    conn.close()
