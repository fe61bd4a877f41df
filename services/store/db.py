"""PostgreSQL connections and versioned migrations (SQL files in services/store/sql/, applied in order)."""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

_MIGRATION = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7469636B  # "tick": serialises concurrent migrate runs


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    # prepare_threshold=None keeps us correct behind PgBouncer in transaction mode (PITFALLS.md).
    return psycopg.connect(url, autocommit=autocommit, prepare_threshold=None, connect_timeout=10)


def pool(url: str, *, max_size: int = 4):
    """A connection pool with the same settings as `connect` (the workers' jobs take connections from it)."""
    from psycopg_pool import ConnectionPool

    return ConnectionPool(url, min_size=1, max_size=max_size, kwargs={"prepare_threshold": None}, open=True)


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
        c.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            c.execute(
                "create table if not exists schema_migrations (version integer primary key, name text not null,"
                " applied_at timestamptz not null default now())"
            )
            done = {r[0] for r in c.execute("select version from schema_migrations")}
            for version, name, text in migrations():
                if version in done:
                    continue
                with c.transaction():
                    c.execute(text)
                    c.execute("insert into schema_migrations (version, name) values (%s, %s)", (version, name))
                applied.append(f"{version:03d}_{name}")
        finally:
            c.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
