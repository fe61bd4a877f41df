"""Fires durable timers on the wall clock: claim due rows, fire through the outbox, repeat.

Sleeps until the next due instant (at most `poll` seconds, so a timer inserted meanwhile
waits at most that long): sub-second lag without a busy loop. Several schedulers share due work
(each claims its rows with SKIP LOCKED); when due timers exist but none could be claimed (their
tickets are locked by ingest or another scheduler) it backs off, doubling up to `max_backoff`,
instead of spinning on them.
"""

from __future__ import annotations

import threading
import time

import psycopg

from services.components.backoff import Backoff
from services.components.health import Probe
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
        max_backoff: float = 5.0,
        probe: Probe | None = None,
    ):
        self.database_url, self.engine, self.clock, self.poll, self.batch = database_url, engine, clock, poll, batch
        self.health_every, self.retention_days, self.max_backoff = health_every, retention_days, max_backoff
        self.probe = probe or Probe("scheduler")

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff("scheduler")
        while not stop.is_set():
            self.probe.beat()  # retrying is progress too: alive, if not ready
            try:
                with connect(self.database_url) as conn:
                    log.info("scheduler.started")
                    self.probe.ready(True)
                    next_health = 0.0
                    busy = 0.0  # back-off while due timers are all held elsewhere
                    while not stop.is_set():
                        self.probe.beat()
                        fired = self.engine.fire_due(conn, self.clock.now(), self.batch)
                        if time.monotonic() >= next_health:  # housekeeping: on time even while timers
                            self.engine.refresh_health(conn)  # keep falling due (it used to wait for a
                            self.engine.purge_expired(conn, self.retention_days)  # round with none)
                            next_health = time.monotonic() + self.health_every
                        if fired:
                            busy = 0.0
                            continue
                        nxt = timers.next_due(conn)
                        conn.commit()
                        now = self.clock.now()
                        if nxt is not None and nxt <= now:  # due, yet nothing claimable: locked elsewhere
                            busy = min(self.max_backoff, max(self.poll, busy * 2))
                            log.debug("scheduler.due_locked", backoff=busy)
                            stop.wait(busy)
                            continue
                        busy = 0.0
                        wait = self.poll if nxt is None else max(0.0, min(self.poll, (nxt - now).total_seconds()))
                        stop.wait(wait)
                backoff.reset()
            except psycopg.OperationalError as e:
                self.probe.ready(False)
                backoff.wait(stop, e)
