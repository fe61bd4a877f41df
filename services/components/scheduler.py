"""Fires durable timers on the wall clock: claim due rows, fire through the outbox, repeat.

Sleeps until the next due instant (at most `poll` seconds, so a timer inserted meanwhile
waits at most that long): sub-second lag without a busy loop.
"""

from __future__ import annotations

import threading
import time

import psycopg

from services.core.clock import Clock
from services.logs import log
from services.store import timers
from services.store.db import connect
from services.store.engine import Engine


class Scheduler:
    def __init__(
        self,
        database_url: str,
        engine: Engine,
        clock: Clock,
        *,
        poll: float = 0.2,
        batch: int = 200,
        health_every: float = 60.0,
        retention_days: float = 400.0,
    ):
        self.database_url, self.engine, self.clock, self.poll, self.batch = database_url, engine, clock, poll, batch
        self.health_every, self.retention_days = health_every, retention_days

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                with connect(self.database_url) as conn:
                    log.info("scheduler.started")
                    next_health = 0.0
                    while not stop.is_set():
                        fired = self.engine.fire_due(conn, self.clock.now(), self.batch)
                        if time.monotonic() >= next_health:  # housekeeping: on time even while timers
                            self.engine.refresh_health(conn)  # keep falling due (it used to wait for a
                            self.engine.purge_expired(conn, self.retention_days)  # round with none)
                            next_health = time.monotonic() + self.health_every
                        if fired:
                            continue
                        nxt = timers.next_due(conn)
                        conn.commit()
                        wait = (
                            self.poll
                            if nxt is None
                            else max(0.0, min(self.poll, (nxt - self.clock.now()).total_seconds()))
                        )
                        stop.wait(wait)
                backoff = 0.5
            except psycopg.OperationalError as e:
                log.warning("scheduler.retry", error=str(e)[:200], backoff=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
