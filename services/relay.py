"""The outbox relay: publishes committed outbox rows in id order, deletes them only after the
broker has taken them. A crash between publish and delete resends (same ids; consumers dedupe),
never loses. One relay holds the leader lock at a time so per-ticket order survives.
"""
from __future__ import annotations

import contextlib
import json
import threading
from typing import Protocol

import pika
import psycopg

from .db import connect
from .logs import log

_LEADER_KEY = 0x72656C61  # "rela"
Row = tuple[int, str, str, bytes, str | None, str]


class Publisher(Protocol):
    def publish(self, rows: list[Row]) -> None: ...
    def close(self) -> None: ...


@contextlib.contextmanager
def coalesced(conn: pika.BlockingConnection):
    """Publishes of a batch leave as one socket write instead of three sends and a poll-loop turn
    per message (pika's BlockingChannel flushes every frame at once): that per-message cost was
    most of the relay's CPU. Inside the block, `basic_publish` only marshals; frames are queued on
    the connection and written in order when the block ends, before `tx_commit` is sent.

    Uses pika's internal frame output (`Connection._output_marshaled_frames`, pika 1.x); the relay
    tests exercise it against the real broker, so an incompatible pika fails them, not production."""
    impl = conn._impl
    frames: list[bytes] = []
    impl._output_marshaled_frames = frames.extend   # instance attribute shadows the method
    try:
        yield
    finally:
        del impl._output_marshaled_frames
        if frames:
            type(impl)._output_marshaled_frames(impl, [b"".join(frames)])


class AmqpPublisher:
    """Publishes a batch inside an AMQP transaction: tx.commit-ok means the broker has routed and
    (for durable queues) stored every message of the batch, the same guarantee as a window of
    publisher confirms, at batch cost instead of one round trip per message."""

    def __init__(self, amqp_url: str):
        self.params = pika.URLParameters(amqp_url)
        self.conn: pika.BlockingConnection | None = None
        self.ch = None

    def _channel(self):
        if self.conn is None or self.conn.is_closed:
            self.conn = pika.BlockingConnection(self.params)
            self.ch = self.conn.channel()
            self.ch.tx_select()
        return self.ch

    def publish(self, rows: list[Row]) -> None:
        try:
            ch = self._channel()
            with coalesced(self.conn):
                for _, exchange, routing_key, body, headers, message_id in rows:
                    ch.basic_publish(exchange, routing_key, bytes(body), pika.BasicProperties(
                        content_type="application/cloudevents+json" if exchange else "application/json",
                        delivery_mode=2, message_id=message_id,
                        headers=json.loads(headers) if isinstance(headers, str) else headers))
            ch.tx_commit()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        conn, self.conn, self.ch = self.conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


class Relay:
    def __init__(self, database_url: str, publisher: Publisher, batch: int = 500):
        self.database_url, self.publisher, self.batch = database_url, publisher, batch

    def drain_once(self, conn) -> int:
        """Publish and delete one batch; returns how many rows went out."""
        rows = conn.execute("select id, exchange, routing_key, body, headers::text, message_id from outbox"
                            " order by id limit %s", (self.batch,)).fetchall()
        conn.commit()
        if not rows:
            return 0
        self.publisher.publish(rows)
        conn.execute("delete from outbox where id = any(%s)", ([r[0] for r in rows],))
        conn.commit()
        return len(rows)

    def drain(self, conn) -> int:
        total = 0
        while n := self.drain_once(conn):
            total += n
        return total

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                with connect(self.database_url) as conn, connect(self.database_url, autocommit=True) as listen:
                    if not self._lead(conn, stop):
                        return
                    listen.execute("listen ticketflow_outbox")
                    log.info("relay.leader")
                    backoff = 0.5
                    while not stop.is_set():
                        if self.drain(conn) == 0:
                            for _ in listen.notifies(timeout=0.5, stop_after=1):
                                pass
            except (psycopg.OperationalError, pika.exceptions.AMQPError, OSError) as e:
                log.warning("relay.retry", error=str(e)[:200], backoff=backoff)
                self.publisher.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.publisher.close()

    @staticmethod
    def _lead(conn, stop: threading.Event) -> bool:
        while not stop.is_set():
            got = conn.execute("select pg_try_advisory_lock(%s)", (_LEADER_KEY,)).fetchone()[0]
            conn.commit()
            if got:
                return True
            stop.wait(2.0)
        return False
