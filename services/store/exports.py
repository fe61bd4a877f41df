"""Exporting a merchant's tickets (DOMAIN "Working the list", seed 002: at most 50 000 rows at once,
no second export within 1 minute): the query, the 60 s claim and the rows, shared by `ticketflow
export` and `GET /v1/exports`.

Ticket columns only, never customer text. Filters: `status` (a status, a comma list, `open` =
every status but closed, `all`; default `open`, as the list's default in seed 004), `category` (a
category or a comma list), `channel` (the storefront, or a comma list), `since`/`until` on the
creation time (`since <= opened_at < until`). Sorted by waiting time, longest first (003): open
tickets before closed ones; among them the tickets waiting for the merchant, longest since they
entered `awaiting_merchant` first, then the ones waiting on someone else, oldest first. `flags` are
003's chat states at the moment of the export (services.core.chat_state).

The 60 s limit is claimed on the database clock before the rows are read, with a conditional
upsert, so two racing exports of one merchant cannot both pass.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta
from typing import IO

from schemas import format_rfc3339, parse_rfc3339
from services.core.chat_state import chat_flags
from services.core.clock import SystemClock
from services.core.taxonomy import CATEGORIES
from services.core.ticket import CLOSED, STATUSES
from services.store.queries import Q

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


class Usage(ValueError):
    """A bad option value: exit 2."""


def query(args) -> dict:
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
    # Built here rather than named in queries/*.sql: the WHERE clause holds only the filters given and
    # the ORDER BY is one of SORTS. Every piece of text is a constant of this module; values travel as
    # parameters (%s), never in the text.
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


def claim(conn, merchant_id: str, filters: dict) -> tuple[str, int] | None:
    """Claim this merchant's export slot (committed at once); (refusal message, seconds to wait) when taken."""
    with conn.transaction():
        got = conn.execute(
            Q["claim_export"], {"m": merchant_id, "filters": json.dumps(filters), "cooldown": COOLDOWN_SECONDS}
        ).fetchone()
        if got:
            return None
        last_at, now = conn.execute(Q["last_export"], (merchant_id,)).fetchone()
    allowed = last_at + timedelta(seconds=COOLDOWN_SECONDS)
    wait = max(1, math.ceil((allowed - now).total_seconds()))
    return (
        (
            f"merchant {merchant_id} was exported at {format_rfc3339(last_at)}; one export per {COOLDOWN_SECONDS} s,"
            f" the next is allowed from {format_rfc3339(allowed)} (in {wait} s)"
        ),
        wait,
    )


def write(conn, q: dict, fmt: str, sink: IO[str], max_rows: int = MAX_ROWS) -> tuple[int, bool]:
    """Read the rows (at most max_rows + 1, ~13 columns each: a few MB), end the transaction, then
    write: a slow reader at the other end of the pipe never holds a transaction open (which would
    keep vacuum from the hot tables) nor a snapshot older than the read."""
    now = SystemClock().now()
    rows = conn.execute(q["sql"], [*q["params"], max_rows + 1]).fetchall()
    conn.commit()
    more = len(rows) > max_rows
    rows = rows[:max_rows]
    # RFC 4180 line breaks (CRLF): the csv module quotes a cell only for characters of the line
    # terminator, so with "\n" alone a CR inside an id was written bare and split the row for readers.
    w = csv.writer(sink, lineterminator="\r\n")
    if fmt != "jsonl":
        w.writerow(COLUMNS)
    for row in rows:
        if fmt == "jsonl":
            sink.write(json.dumps(dict(zip(COLUMNS, _json_row(row, now))), ensure_ascii=False) + "\n")
        else:
            w.writerow(_csv_row(row, now))
    return len(rows), more


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
    return ["" if v is None else ("true" if v is True else "false" if v is False else _cell(v)) for v in row]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A text cell a spreadsheet would read as a formula (`=HYPERLINK(...)`, `+cmd|...`, `@SUM`, and the
    tab/CR variants) gets a leading apostrophe (OWASP "CSV injection"): ids come from upstream apps."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def finished(conn, merchant_id: str, rows: int) -> None:
    conn.execute(Q["export_rows"], (rows, merchant_id))
    conn.commit()
