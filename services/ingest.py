"""The ingest consumer: `<ns>.in.ingest` -> Engine.ingest in batches -> ack after commit.

Batches close at `batch` messages or `linger` seconds, whichever first: big enough to amortise
the commit, short enough to keep latency low at moderate rates.
"""
from __future__ import annotations

import threading
import time

import pika
import psycopg

from .db import connect
from .engine import Engine
from .logs import log
from .outbox import add_counters
from .topology import Topology


class IngestConsumer:
    def __init__(self, amqp_url: str, database_url: str, topology: Topology, engine: Engine, *,
                 batch: int = 200, prefetch: int = 500, linger: float = 0.02, expire_every: float = 5.0):
        self.params = pika.URLParameters(amqp_url)
        self.database_url, self.topology, self.engine = database_url, topology, engine
        self.batch, self.prefetch, self.linger, self.expire_every = batch, prefetch, linger, expire_every

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
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
                log.warning("ingest.retry", error=str(e)[:200], backoff=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _consume(self, conn: pika.BlockingConnection, db, stop: threading.Event) -> None:
        ch = conn.channel()
        self.topology.declare(ch)
        ch.basic_qos(prefetch_count=self.prefetch)
        log.info("ingest.consuming", queue=self.topology.ingest_queue)
        pending: list[tuple[int, bytes]] = []
        opened_at = 0.0
        next_expiry = time.monotonic()
        try:
            for method, _, body in ch.consume(self.topology.ingest_queue, inactivity_timeout=0.005):
                if method is not None:
                    if not pending:
                        opened_at = time.monotonic()
                    pending.append((method.delivery_tag, body))
                now = time.monotonic()
                if pending and (len(pending) >= self.batch or now - opened_at >= self.linger or method is None):
                    self._flush(ch, db, pending)
                    pending = []
                if now >= next_expiry:
                    self.engine.expire_parked(db)
                    next_expiry = now + self.expire_every
                if stop.is_set() and not pending:
                    break
        finally:
            try:
                ch.cancel()   # unacked deliveries go back to the queue
            except Exception:  # noqa: BLE001 - the channel may already be gone
                pass

    def _flush(self, ch, db, pending: list[tuple[int, bytes]]) -> None:
        try:
            self.engine.ingest(db, [b for _, b in pending])
            ch.basic_ack(pending[-1][0], multiple=True)
            return
        except psycopg.OperationalError:
            raise   # the database is away: reconnect; the broker redelivers the batch
        except Exception:  # noqa: BLE001 - a bug, not bad input: isolate the message that triggers it
            log.exception("ingest.batch_failed", size=len(pending))
            db.rollback()
        for tag, body in pending:
            try:
                self.engine.ingest(db, [body])
                ch.basic_ack(tag)
            except psycopg.OperationalError:
                raise
            except Exception:  # noqa: BLE001
                db.rollback()
                log.exception("ingest.message_failed", delivery_tag=tag)
                ch.basic_nack(tag, requeue=False)   # dead-lettered to <ns>.in.failed, kept for an operator
                with db.transaction(), db.cursor() as cur:
                    add_counters(cur, [("dead_letters_total", {"queue": self.topology.failed_queue}, 1)])
