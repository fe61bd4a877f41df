"""Operating the API: request counts for Prometheus, access logs, a rate limit per token.

Counts go where every other counter lives (`metric_counters`, read by the exporter at scrape
time), flushed about once a second on one connection, so any number of API processes add up.
Labels are the route template (`/v1/tickets/{ticket_id}`, never an id) and the status code.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import psycopg

from services.logs import log
from services.store.outbox import add_counters

METRIC = "api_requests_total"


class RequestMetrics:
    def __init__(self, pool, flush_every: float = 1.0):
        self.pool, self.flush_every = pool, flush_every
        self.pending: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def count(self, route: str, code: int) -> None:
        with self.lock:
            self.pending[(route, str(code))] += 1

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="api-metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=5)
        self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, Counter()
        if not batch:
            return
        try:
            with self.pool.connection() as conn:
                add_counters(conn.cursor(), [(METRIC, {"route": r, "code": c}, n) for (r, c), n in batch.items()])
        except psycopg.Error as e:
            log.warning("api_metrics.write_failed", error=str(e)[:200])
            with self.lock:
                self.pending.update(batch)  # next round

    def _run(self) -> None:
        while not self.stop.wait(self.flush_every):
            self.flush()


class RateLimiter:
    """A token bucket per API token (keyed by its user): `rate` requests a second on average,
    bursts up to `burst`. In memory, per process: a limit against a runaway client, not billing."""

    def __init__(self, rate: float, burst: int, monotonic=time.monotonic):
        self.rate, self.burst, self.monotonic = rate, burst, monotonic
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go; else the seconds to wait (for Retry-After)."""
        now = self.monotonic()
        with self.lock:
            tokens, at = self.buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0.0
            self.buckets[key] = (tokens, now)
            if len(self.buckets) > 100_000:  # bounded: forget full buckets
                self.buckets = {k: v for k, v in self.buckets.items() if v[0] < self.burst}
            return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
