"""Durable timers: one pending row per (ticket, kind), moved or dropped as the ticket changes,
deleted when fired. Claimed with SKIP LOCKED so several schedulers share due work."""

from __future__ import annotations

from datetime import datetime

from services.store.queries import Q


def due(cur, until: datetime, limit: int) -> list[tuple[str, str, datetime]]:
    """The earliest due timers no other scheduler holds (SKIP LOCKED), so several schedulers take
    different shares instead of all reading the same first `limit`. The rows are locked only while
    they are read (a savepoint rolled back at once): the caller then locks tickets before timers,
    the order every writer keeps, and never waits on a ticket's desk while holding timer rows of
    tickets it did not get."""
    cur.execute(Q["due_timers_savepoint"])
    rows = cur.execute(Q["due_timers"], {"until": until, "limit": limit}).fetchall()
    cur.execute(Q["due_timers_release"])
    return rows


def lock_live(cur, ticket_ids: list[str], until: datetime) -> set[tuple[str, str, datetime]]:
    """The due timers of `ticket_ids` still there and not held by another scheduler, locked."""
    return {(r[0], r[1], r[2]) for r in cur.execute(Q["lock_live_timers"], {"ids": ticket_ids, "until": until})}


def any_due(conn, until: datetime) -> bool:
    return conn.execute(Q["any_timer_due"], {"until": until}).fetchone()[0]


def set_aside(cur, ticket_id: str, kind: str, due_at: datetime, at: datetime, error: str) -> None:
    """A timer whose firing raised: kept, retried with backoff after `at`; the error kept for `show`."""
    cur.execute(
        Q["set_timer_aside"],
        {"ticket_id": ticket_id, "kind": kind, "due_at": due_at, "at": at, "error": error[:500]},
    )


def set_aside_list(conn, limit: int = 100) -> list[tuple]:
    """(ticket, kind, due_at, attempts, retry_at, last_error) of the timers set aside, next retry first."""
    return conn.execute(Q["timers_set_aside"], (limit,)).fetchall()


def count(conn) -> int:
    """Durable timers not yet fired (set aside or not)."""
    return conn.execute(Q["count_timers"]).fetchone()[0]


def count_set_aside(conn) -> int:
    return conn.execute(Q["count_timers_set_aside"]).fetchone()[0]


def next_due(conn) -> datetime | None:
    return conn.execute(Q["next_timer_due"]).fetchone()[0]


def write(cur, changes: dict[tuple[str, str], datetime | None]) -> None:
    """Apply (ticket, kind) -> due changes; None drops the timer."""
    upserts = sorted((t, k, d) for (t, k), d in changes.items() if d is not None)
    drops = sorted((t, k) for (t, k), d in changes.items() if d is None)
    if drops:
        cur.execute(Q["drop_timers"], [[t for t, _ in drops], [k for _, k in drops]])
    if upserts:
        cur.execute(Q["upsert_timers"], [list(c) for c in zip(*upserts)])
