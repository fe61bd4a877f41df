"""The ingest consumer: `<ns>.in.ingest` -> Engine (prepare, stage, commit) in batches -> ack after commit.

Batches close at `batch` messages or `linger` seconds, whichever first: big enough to amortise
the commit, short enough to keep latency low at moderate rates. One batch is staged and committed
on a helper thread while the next one is received and prepared (decoded, classified): PostgreSQL's
share of a batch then overlaps with Python's instead of adding to it, and while a batch waits on a
lock this thread keeps servicing the broker connection (heartbeats), bounded by the database's
lock and statement timeouts (services.store.db).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pika
import psycopg

from services.amqp.topology import Topology
from services.components.health import Probe
from services.core.sources import Sources
from services.logs import log
from services.store.db import connect
from services.store.engine import Engine
from services.store.outbox import add_counters


class IngestConsumer:
    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        topology: Topology,
        engine: Engine,
        *,
        batch: int = 200,
        prefetch: int = 500,
        linger: float = 0.02,
        expire_every: float = 5.0,
        probe: Probe | None = None,
        sources: Sources | None = None,
    ):
        self.params = pika.URLParameters(amqp_url)
        self.database_url, self.topology, self.engine = database_url, topology, engine
        self.batch, self.prefetch, self.linger, self.expire_every = batch, prefetch, linger, expire_every
        self.probe = probe or Probe("ingest")
        self.sources = sources

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            self.probe.beat()  # retrying is progress too: alive, if not ready
            try:
                with connect(self.database_url) as db:
                    conn = pika.BlockingConnection(self.params)
                    try:
                        self._consume(conn, db, stop)
                    finally:
                        if conn.is_open:
                            conn.close()
                backoff = 0.5
            except (psycopg.OperationalError, pika.exceptions.AMQPError, OSError) as e:
                self.probe.ready(False)
                log.warning("ingest.retry", error=str(e)[:200], backoff=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _consume(self, conn: pika.BlockingConnection, db, stop: threading.Event) -> None:
        ch = conn.channel()
        self.topology.declare(ch)
        ch.basic_qos(prefetch_count=self.prefetch)
        log.info("ingest.consuming", queue=self.topology.ingest_queue)
        self.probe.ready(True)
        pending: list[tuple[int, bytes, str | None]] = []
        opened_at = 0.0
        next_expiry = time.monotonic()
        committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-commit")
        inflight: _InFlight | None = None
        try:
            for method, props, body in ch.consume(self.topology.ingest_queue, inactivity_timeout=0.005):
                self.probe.beat()
                if method is not None:
                    if not pending:
                        opened_at = time.monotonic()
                    pending.append((method.delivery_tag, body, props.user_id))
                now = time.monotonic()
                if pending and (len(pending) >= self.batch or now - opened_at >= self.linger or method is None):
                    prepared = self.engine.prepare([b for _, b, _ in pending])  # overlaps the batch in flight
                    if self.sources is not None:
                        self.sources.screen(prepared.decoded, [u for _, _, u in pending])
                    self._settle(ch, db, inflight)
                    inflight = self._start(ch, db, committer, pending, prepared)
                    pending = []
                elif inflight is not None and inflight.done.done():
                    self._settle(ch, db, inflight)
                    inflight = None
                if now >= next_expiry:
                    self._settle(ch, db, inflight)
                    inflight = None
                    self.engine.expire_parked(db)
                    next_expiry = now + self.expire_every
                if stop.is_set() and not pending:
                    self._settle(ch, db, inflight)
                    inflight = None
                    break
        finally:
            committer.shutdown(wait=True)  # a commit under way finishes; its batch is acked only if settled
            try:
                ch.cancel()  # unacked deliveries go back to the queue
            except Exception:  # noqa: BLE001 - the channel may already be gone
                pass

    def _start(
        self, ch, db, committer: ThreadPoolExecutor, batch: list[tuple[int, bytes, str | None]], prepared
    ) -> _InFlight:
        """Stage and commit the batch on the committer thread: while PostgreSQL locks, writes and
        commits, this thread goes back to the broker (heartbeats, the next deliveries) and prepares
        the next batch. One batch in flight at most, so transactions stay in delivery order and the
        connection is never used by two threads. A failure surfaces in `_settle`."""
        return _InFlight(batch, committer.submit(self._stage_and_commit, db, prepared))

    def _stage_and_commit(self, db, prepared) -> None:
        self.engine.commit(db, self.engine.stage(db, prepared))

    def _settle(self, ch, db, inflight: _InFlight | None) -> None:
        """Wait for the batch in flight; ack it after its commit, or isolate what broke it."""
        if inflight is None:
            return
        while not inflight.done.done():  # a slow commit (a held lock): keep answering broker heartbeats
            ch.connection.process_data_events(time_limit=0.2)
            self.probe.beat()
        try:
            inflight.done.result()
        except psycopg.OperationalError:
            raise  # the database is away: reconnect; the broker redelivers everything unacked
        except Exception:  # noqa: BLE001
            log.exception("ingest.batch_failed", size=len(inflight.batch))
            self._one_by_one(ch, db, inflight.batch)
            return
        ch.basic_ack(inflight.batch[-1][0], multiple=True)

    def _one_by_one(self, ch, db, batch: list[tuple[int, bytes, str | None]]) -> None:
        """After a failed batch: each message in a transaction of its own, so only the one that
        triggers the bug is dead-lettered (to <ns>.in.failed, kept for an operator)."""
        for tag, body, user_id in batch:
            try:
                prepared = self.engine.prepare([body])
                if self.sources is not None:
                    self.sources.screen(prepared.decoded, [user_id])
                self.engine.commit(db, self.engine.stage(db, prepared))
                ch.basic_ack(tag)
            except psycopg.OperationalError:
                raise
            except Exception:  # noqa: BLE001
                db.rollback()
                log.exception("ingest.message_failed", delivery_tag=tag)
                ch.basic_nack(tag, requeue=False)
                with db.transaction(), db.cursor() as cur:
                    add_counters(cur, [("dead_letters_total", {"queue": self.topology.failed_queue}, 1)])


@dataclass
class _InFlight:
    batch: list[tuple[int, bytes, str | None]]
    done: Future
