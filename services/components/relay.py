"""The outbox relay: publishes committed outbox rows in id order, deletes them only after the
broker has taken them. A crash between publish and delete resends (same ids; consumers dedupe),
never loses. One relay holds the leader lock at a time so per-ticket order survives.
"""

from __future__ import annotations

import threading

import pika
import psycopg

from services.amqp.publisher import Publisher
from services.logs import log
from services.store import outbox
from services.store.db import connect

_LEADER_KEY = 0x72656C61  # "rela"


class Relay:
    def __init__(self, database_url: str, publisher: Publisher, batch: int = 500):
        self.database_url, self.publisher, self.batch = database_url, publisher, batch

    def drain_once(self, conn) -> int:
        """Publish and delete one batch; returns how many rows went out."""
        rows = outbox.pending(conn, self.batch)
        if not rows:
            return 0
        self.publisher.publish(rows)
        outbox.published(conn, [r[0] for r in rows])
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
            if outbox.try_lead(conn, _LEADER_KEY):
                return True
            stop.wait(2.0)
        return False
