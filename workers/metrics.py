"""Count every message a worker processes, by actor and outcome, in PostgreSQL.

dramatiq's own Prometheus middleware needs a multiprocess directory per container and a
port of its own, and is not set up at all when a Worker is driven programmatically (#703,
PITFALLS.md). Writing the counts where every other counter lives makes them exact across
any number of worker processes and visible on the one exporter.
"""
from __future__ import annotations

import json

import psycopg
from dramatiq.middleware import Middleware

from services.logs import log


class WorkerMetrics(Middleware):
    def __init__(self, database_url: str):
        self.database_url = database_url

    def after_process_message(self, broker, message, *, result=None, exception=None):
        """One row bump per message: `ok`, or `error` for an attempt that raised (retried or not)."""
        self._bump(message.actor_name, "ok" if exception is None else "error")

    def after_skip_message(self, broker, message):
        """Skipped by a middleware (e.g. AgeLimit)."""
        self._bump(message.actor_name, "skipped")

    def _bump(self, actor: str, outcome: str) -> None:
        labels = json.dumps({"actor": actor, "outcome": outcome}, sort_keys=True, separators=(",", ":"))
        try:
            with psycopg.connect(self.database_url, prepare_threshold=None, autocommit=True) as c:
                c.execute("insert into metric_counters (name, labels, value) values ('worker_messages_total', %s, 1)"
                          " on conflict (name, labels) do update set value = metric_counters.value + 1", (labels,))
        except psycopg.Error as e:
            log.warning("worker_metrics.write_failed", actor=actor, error=str(e)[:200])
