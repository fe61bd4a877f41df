"""`ticketflow export`: one merchant's tickets as CSV or JSON Lines (DOMAIN "Working the list",
seed 002: at most 50 000 rows at once, no second export within 1 minute).

Ticket columns only, never customer text. Filters: `--status` (a status, a comma list, `open`
= every status but closed, `all`; default `open`, as the list's default in seed 004),
`--category` (a category or a comma list), `--channel` (the storefront, or a comma list),
`--since`/`--until` on the creation time (`since <= opened_at < until`). Sorted by waiting time,
longest first (003 "urutkan berdasarkan waktu tunggu"): open tickets before closed ones; among them
the tickets waiting for the merchant, longest since they entered `awaiting_merchant` first, then the
ones waiting on someone else (the customer, the platform), oldest first. `flags` are 003's chat
states at the moment of the export (services.core.chat_state).

The 60 s limit is claimed on the database clock before the rows are read, with a conditional
upsert, so two racing exports of one merchant cannot both pass; a refused export exits 1.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from services.config import Settings
from services.store import exports
from services.store.db import connect

MAX_ROWS = exports.MAX_ROWS  # tests lower it
Usage = exports.Usage


class _Refused(Exception):
    """The merchant was exported less than COOLDOWN_SECONDS ago: exit 1, nothing written."""


def export(settings: Settings, args, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        q = exports.query(args)
    except Usage as e:
        print(f"ticketflow export: error: {e}", file=err)
        return 2
    try:
        with _destination(args.output, out) as sink, connect(settings.database_url) as conn:
            refused = exports.claim(conn, args.merchant, q["filters"])
            if refused:
                raise _Refused(refused[0])
            written, more = exports.write(conn, q, args.format, sink, max_rows=MAX_ROWS)
            exports.finished(conn, args.merchant, written)
    except _Refused as e:
        print(f"ticketflow export: {e}", file=err)
        return 1
    except OSError as e:
        print(f"ticketflow export: {args.output}: {e.strerror or e}", file=err)
        return 1
    where = "stdout" if args.output in (None, "-") else args.output
    note = (
        f"; more tickets match: the export stops at {MAX_ROWS} rows, narrow it with --since/--until/--status"
        if more
        else ""
    )
    print(
        f"ticketflow export: {written} ticket(s) of merchant {args.merchant} ({q['describe']}) "
        f"written to {where} as {args.format}{note}",
        file=err,
    )
    return 0


@contextmanager
def _destination(path: str | None, stdout: IO[str]) -> Iterator[IO[str]]:
    """stdout, or FILE written atomically (a temporary file renamed on success, removed otherwise)."""
    if path in (None, "-"):
        yield stdout
        stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ticketflow-export-", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
