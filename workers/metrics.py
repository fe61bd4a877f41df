"""Count every message a worker processes, by actor and outcome, in PostgreSQL.

dramatiq's own Prometheus middleware needs a multiprocess directory per container and a
port of its own, and is not set up at all when a Worker is driven programmatically (#703,
PITFALLS.md). Writing the counts where every other counter lives makes them exact across
any number of worker processes and visible on the one exporter. Counts are flushed about
once a second on one connection (a connection per message would cost more than the work),
so a process killed with -9 loses at most its last second of counts.
"""

from __future__ import annotations

import threading
from collections import Counter

import psycopg
from dramatiq.middleware import Middleware

from services.logs import log
from services.store.db import connect
from services.store.outbox import add_counters


class WorkerMetrics(Middleware):
    def __init__(self, database_url: str, flush_every: float = 1.0):
        self.database_url, self.flush_every = database_url, flush_every
        self.pending: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.booted = 0  # Workers running on this broker (refine has its own: workers/group.py)

    def after_worker_boot(self, broker, worker):
        """Start the flusher with the first worker."""
        with self.lock:
            self.booted += 1
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name="worker-metrics", daemon=True)
        self.thread.start()

    def after_worker_shutdown(self, broker, worker):
        """Flush what is left once the last worker has gone (its actors have finished or were requeued)."""
        with self.lock:
            self.booted -= 1
            last = self.booted <= 0
        if last and self.thread:
            self.stop.set()
            self.thread.join(timeout=5)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        """`ok`, or `error` for an attempt that raised (retried or not)."""
        with self.lock:
            self.pending[(message.actor_name, "ok" if exception is None else "error")] += 1

    def after_skip_message(self, broker, message):
        """Skipped by a middleware (e.g. AgeLimit)."""
        with self.lock:
            self.pending[(message.actor_name, "skipped")] += 1

    def _run(self) -> None:
        conn = None
        while True:
            stopping = self.stop.wait(self.flush_every)
            with self.lock:
                batch, self.pending = self.pending, Counter()
            if batch:
                try:
                    if conn is None or conn.closed:
                        conn = connect(self.database_url, autocommit=True)
                    add_counters(
                        conn.cursor(),
                        [("worker_messages_total", {"actor": a, "outcome": o}, n) for (a, o), n in batch.items()],
                    )
                except psycopg.Error as e:
                    log.warning("worker_metrics.write_failed", error=str(e)[:200])
                    with self.lock:
                        self.pending.update(batch)  # try again next round
                    conn = None
            if stopping:
                break
        if conn is not None:
            conn.close()
