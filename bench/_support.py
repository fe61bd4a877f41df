"""Shared set-up for benchmarks: a throwaway database + namespace on the local services."""

from __future__ import annotations

import contextlib
import os
import uuid

import psycopg

from services.logs import configure as _configure_logs

_configure_logs("json", level=40)  # benches print figures; per-event logs would drown them (and cost time)

AMQP = os.environ.get("TICKETFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN = os.environ.get("TICKETFLOW_TEST_PG_ADMIN_URL", "postgresql://127.0.0.1/postgres")


@contextlib.contextmanager
def scratch(prefix: str):
    """Yields (amqp_url, database_url, namespace); drops the database and namespace afterwards."""
    from services.store.db import migrate

    tag = uuid.uuid4().hex[:8]
    ns, db = f"{prefix}{tag}", f"{prefix}_{tag}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'create database "{db}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db
    migrate(url)
    try:
        yield AMQP, url, ns
    finally:
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        from tests.conftest import delete_namespace

        delete_namespace(AMQP, ns)
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'drop database if exists "{db}" with (force)')


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
