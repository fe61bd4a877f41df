"""Migration drift: the schema the migrations build equals the committed services/store/sql/schema.sql.

schema.sql is the one place to read the whole schema at once (procrastinate keeps the same pair).
After adding a migration, rewrite it with `make schema` (this file run as a script), review, commit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "services" / "store" / "sql" / "schema.sql"
HINT = "the migrations no longer build schema.sql: run `make schema`, review the diff, commit it"

pytestmark = pytest.mark.integration


def dump(url: str) -> str:
    """pg_dump --schema-only, without what varies between runs and servers (comments, SET lines,
    pg_dump's per-run \\restrict keys) and without the migration bookkeeping table's rows."""
    out = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--no-comments", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    keep = []
    for line in out.splitlines():
        if line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")):
            continue
        keep.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(keep)).strip() + "\n"


def test_migrations_build_the_committed_schema(database_url):
    assert SCHEMA.exists(), HINT
    assert dump(database_url) == SCHEMA.read_text(), HINT


if __name__ == "__main__":  # `make schema`: migrate a scratch database and write schema.sql from it
    import uuid

    import psycopg

    from services.store.db import migrate

    admin = sys.argv[1] if len(sys.argv) > 1 else "postgresql://127.0.0.1/postgres"
    name = f"tf_schema_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    try:
        url = admin.rsplit("/", 1)[0] + "/" + name
        migrate(url)
        SCHEMA.write_text(dump(url))
        print(f"wrote {SCHEMA}")
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')
