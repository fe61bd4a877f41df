"""PostgreSQL connections and versioned migrations (SQL files in services/store/sql/, applied in order).

Every connection the project makes comes from `connect` or `pool` here, with the same safety
settings (`Timeouts`): TCP keepalives and `tcp_user_timeout` on both ends, so a peer that vanished
without a FIN (a dead node, a cut network) is noticed in seconds instead of the kernel's ~2 h,
and statement, lock and idle-in-transaction timeouts, so one stuck statement or forgotten
transaction cannot hold ticket locks (or the relay's leadership) indefinitely. The client-side
values go to libpq; the server-side ones travel as startup `options`, which PgBouncer does not
forward (deploy/README.md: set them on the role there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from services.store.queries import Q

_MIGRATION = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7469636B  # "tick": serialises concurrent migrate runs


@dataclass(frozen=True)
class Timeouts:
    """Seconds; 0 turns a server-side timeout off. Defaults: a dead peer is noticed within
    `keepalive_idle + keepalive_interval * keepalive_count` (14 s) by either end, so a standby
    relay takes over well inside 30 s of its leader's death."""

    connect: float = 10.0
    keepalive_idle: int = 5
    keepalive_interval: int = 3
    keepalive_count: int = 3
    tcp_user_timeout: float = 15.0  # unacknowledged data for this long drops the connection
    statement: float = 60.0
    lock: float = 10.0
    idle_in_transaction: float = 120.0
    server_options: bool = True  # False behind a pooler that rejects startup `options` (PgBouncer)

    def libpq(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "connect_timeout": max(1, round(self.connect)),
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": self.keepalive_interval,
            "keepalives_count": self.keepalive_count,
            "tcp_user_timeout": int(self.tcp_user_timeout * 1000),
        }
        if self.server_options:
            kw["options"] = " ".join(f"-c {k}={v}" for k, v in self.server_settings().items())
        return kw

    def server_settings(self) -> dict[str, int]:
        return {
            "statement_timeout": int(self.statement * 1000),
            "lock_timeout": int(self.lock * 1000),
            "idle_in_transaction_session_timeout": int(self.idle_in_transaction * 1000),
            "tcp_keepalives_idle": self.keepalive_idle,
            "tcp_keepalives_interval": self.keepalive_interval,
            "tcp_keepalives_count": self.keepalive_count,
            "tcp_user_timeout": int(self.tcp_user_timeout * 1000),
        }


_timeouts = Timeouts()


def configure(timeouts: Timeouts) -> None:
    """Set the process's connection settings (bootstrap does, from Settings, before any connection)."""
    global _timeouts
    _timeouts = timeouts


def timeouts() -> Timeouts:
    return _timeouts


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    # prepare_threshold=None keeps us correct behind PgBouncer in transaction mode (PITFALLS.md).
    return psycopg.connect(url, autocommit=autocommit, prepare_threshold=None, **_timeouts.libpq())


def ping(conn) -> None:
    """A round trip: raises if the session is gone (psycopg.OperationalError)."""
    conn.execute(Q["ping"])


def pool(url: str, *, max_size: int = 4):
    """A connection pool with the same settings as `connect` (the workers' jobs take connections from it)."""
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        url, min_size=1, max_size=max_size, kwargs={"prepare_threshold": None, **_timeouts.libpq()}, open=True
    )


def migrations() -> list[tuple[int, str, str]]:
    out = []
    for f in resources.files("services.store.sql").iterdir():
        m = _MIGRATION.match(f.name)
        if m:
            out.append((int(m.group(1)), m.group(2), f.read_text()))
    return sorted(out)


def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it is missing and we are permitted; True if created."""
    try:
        connect(url).close()
        return False
    except psycopg.OperationalError as e:
        if "does not exist" not in str(e):
            raise
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with connect(admin, autocommit=True) as c:
        try:
            # Stays inline, not a named query: the database name is an identifier, which no
            # parameter can stand for; psycopg.sql quotes it.
            c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
    return True


def cost_notes(name: str) -> list[str]:
    """What a migration says about its cost on an existing deployment (its `-- cost:` lines)."""
    for version, stem, text in migrations():
        if f"{version:03d}_{stem}" == name:
            return [ln[len("-- cost:") :].strip() for ln in text.splitlines() if ln.startswith("-- cost:")]
    return []


def migrate(url: str) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied."""
    ensure_database(url)
    applied: list[str] = []
    with connect(url, autocommit=True) as c:
        c.execute(Q["migration_no_statement_timeout"])
        c.execute(Q["migration_no_lock_timeout"])
        c.execute(Q["migration_lock"], (_LOCK_KEY,))
        try:
            c.execute(Q["create_schema_migrations"])
            done = {r[0] for r in c.execute(Q["applied_migrations"])}
            for version, name, text in migrations():
                if version in done:
                    continue
                with c.transaction():
                    c.execute(text)  # the migration file itself (services/store/sql/), not a named query
                    c.execute(Q["record_migration"], (version, name))
                applied.append(f"{version:03d}_{name}")
        finally:
            c.execute(Q["migration_unlock"], (_LOCK_KEY,))
    return applied
