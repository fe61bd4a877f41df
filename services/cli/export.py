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

import csv
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import IO

from schemas import format_rfc3339, parse_rfc3339
from services.config import Settings
from services.core.chat_state import chat_flags
from services.core.clock import SystemClock
from services.core.taxonomy import CATEGORIES
from services.core.ticket import CLOSED, STATUSES
from services.store.db import connect

MAX_ROWS = 50_000
COOLDOWN_SECONDS = 60
COLUMNS = (
    "ticket_id",
    "status",
    "category",
    "urgent",
    "opened_at",
    "updated_at",
    "due_at",
    "urges",
    "policy",
    "order_id",
    "channel",
    "waiting_since",
    "flags",
)
# DOMAIN "Working the list": longest waiting first, or newest (003); urges and time left order the work (002).
SORTS = {
    "waiting": "waiting_since nulls last, opened_at, id",
    "newest": "opened_at desc, id",
    "priority": "urges desc, due_at nulls last, opened_at, id",
}
OPEN = tuple(s for s in STATUSES if s != CLOSED)

CLAIM_SQL = """
insert into merchant_exports as e (merchant_id, last_at, last_filters) values (%(m)s, now(), %(filters)s)
on conflict (merchant_id) do update
   set last_at = excluded.last_at, last_filters = excluded.last_filters, last_rows = null, exports = e.exports + 1
 where e.last_at <= excluded.last_at - make_interval(secs => %(cooldown)s)
returning last_at
"""


class Usage(ValueError):
    """A bad option value: exit 2."""


class _Refused(Exception):
    """The merchant was exported less than COOLDOWN_SECONDS ago: exit 1, nothing written."""


def export(settings: Settings, args, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        q = _query(args)
    except Usage as e:
        print(f"ticketflow export: error: {e}", file=err)
        return 2
    try:
        with _destination(args.output, out) as sink, connect(settings.database_url) as conn:
            refused = _claim(conn, args.merchant, q["filters"])
            if refused:
                raise _Refused(refused)
            written, more = _write(conn, q, args.format, sink)
            conn.execute("update merchant_exports set last_rows = %s where merchant_id = %s", (written, args.merchant))
            conn.commit()
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


def _query(args) -> dict:
    where, params, filters = ["merchant_id = %s"], [args.merchant], {}
    status = (args.status or "open").strip()
    if status != "all":
        wanted = OPEN if status == "open" else tuple(s.strip() for s in status.split(",") if s.strip())
        bad = [s for s in wanted if s not in STATUSES]
        if bad or not wanted:
            raise Usage(
                f"--status: unknown status {', '.join(bad) or status!r}; "
                f"use open, all, or one or more of {', '.join(STATUSES)}"
            )
        where.append("status = any(%s)")
        params.append(list(wanted))
    filters["status"] = status
    if args.category:
        cats = [c.strip() for c in args.category.split(",") if c.strip()]
        bad = [c for c in cats if c not in CATEGORIES]
        if bad or not cats:
            raise Usage(
                f"--category: unknown category {', '.join(bad) or args.category!r}; "
                f"use one or more of {', '.join(CATEGORIES)}"
            )
        where.append("category = any(%s)")
        params.append(cats)
        filters["category"] = ",".join(cats)
    since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    if since is not None:
        where.append("opened_at >= %s")
        params.append(since)
        filters["since"] = format_rfc3339(since)
    if until is not None:
        where.append("opened_at < %s")
        params.append(until)
        filters["until"] = format_rfc3339(until)
    if getattr(args, "channel", None):
        channels = [c.strip() for c in args.channel.split(",") if c.strip()]
        if not channels or any(len(c) > 32 for c in channels):
            raise Usage(f"--channel: expected one or more channel names of at most 32 characters, got {args.channel!r}")
        where.append("channel = any(%s)")
        params.append(channels)
        filters["channel"] = ",".join(channels)
    for option, column in (("order", "order_id"), ("ticket", "id")):
        value = getattr(args, option, None)
        if value:
            where.append(f"{column} = %s")
            params.append(value)
            filters[option] = value
    if since is not None and until is not None and since >= until:
        raise Usage("--since must be before --until")
    order = SORTS[getattr(args, "sort", None) or "waiting"]
    sql = (
        f"select id, status, category, urgent, opened_at, updated_at, due_at, urges, policy, order_id, channel,"
        f" waiting_since from tickets"
        f" where {' and '.join(where)}"
        f" order by (status = '{CLOSED}'), {order} limit %s"
    )
    describe = ", ".join(f"{k} {v}" for k, v in filters.items())
    return {"sql": sql, "params": params, "filters": filters, "describe": describe}


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise Usage(f"{option}: {e} (expected RFC 3339 with an offset, e.g. 2026-03-02T09:00:00Z)") from None


def _claim(conn, merchant_id: str, filters: dict) -> str | None:
    """Claim this merchant's export slot (committed at once); a refusal message when it is taken."""
    with conn.transaction():
        got = conn.execute(
            CLAIM_SQL, {"m": merchant_id, "filters": json.dumps(filters), "cooldown": COOLDOWN_SECONDS}
        ).fetchone()
        if got:
            return None
        last_at, now = conn.execute(
            "select last_at, now() from merchant_exports where merchant_id = %s", (merchant_id,)
        ).fetchone()
    allowed = last_at + timedelta(seconds=COOLDOWN_SECONDS)
    wait = max(1, math.ceil((allowed - now).total_seconds()))
    return (
        f"merchant {merchant_id} was exported at {format_rfc3339(last_at)}; one export per {COOLDOWN_SECONDS} s,"
        f" the next is allowed from {format_rfc3339(allowed)} (in {wait} s)"
    )


def _write(conn, q: dict, fmt: str, sink: IO[str]) -> tuple[int, bool]:
    written, more = 0, False
    now = SystemClock().now()
    with conn.cursor(name="ticketflow_export") as cur:
        cur.itersize = 2000
        cur.execute(q["sql"], [*q["params"], MAX_ROWS + 1])
        w = csv.writer(sink, lineterminator="\n")
        if fmt != "jsonl":
            w.writerow(COLUMNS)
        for row in cur:
            if written == MAX_ROWS:
                more = True
                break
            if fmt == "jsonl":
                sink.write(json.dumps(dict(zip(COLUMNS, _json_row(row, now))), ensure_ascii=False) + "\n")
            else:
                w.writerow(_csv_row(row, now))
            written += 1
    return written, more


def _json_row(r, now: datetime) -> list:
    id_, status, category, urgent, opened_at, updated_at, due_at, urges, policy, order_id, channel, waiting = r
    return [
        id_,
        status,
        category,
        bool(urgent),
        format_rfc3339(opened_at),
        format_rfc3339(updated_at),
        format_rfc3339(due_at) if due_at else None,
        int(urges),
        policy,
        order_id,
        channel,
        format_rfc3339(waiting) if waiting else None,
        chat_flags(status, due_at, now),
    ]


def _csv_row(r, now: datetime) -> list:
    row = _json_row(r, now)
    row[-1] = " ".join(row[-1])
    return ["" if v is None else ("true" if v is True else "false" if v is False else v) for v in row]


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
