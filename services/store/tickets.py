"""Ticket rows: the core's state (one JSONB column) plus the columns that lists and exports filter on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.core.ticket import CLOSED, Ticket
from services.store.queries import Q


def lock(cur, ids: list[str], *, skip_locked: bool = False) -> dict[str, Ticket]:
    """The tickets of `ids` that exist, locked for this transaction (in id order: no deadlocks)."""
    if not ids:
        return {}
    rows = cur.execute(Q["lock_tickets_skip_locked" if skip_locked else "lock_tickets"], (ids,)).fetchall()
    return {r[0]: Ticket.model_validate(r[1]) for r in rows}


def save(cur, tickets: Iterable[Ticket]) -> None:
    rows = [
        (
            t.id,
            t.merchant_id,
            t.policy,
            t.status,
            t.category,
            t.urgent,
            t.urges,
            t.opened_at,
            t.updated_at,
            t.clock.due_at if t.clock and t.status != CLOSED else None,
            t.order_id,
            t.model_dump_json(),
            t.channel,
            t.waiting_since,
        )
        for t in tickets
    ]
    if rows:
        cur.execute(Q["save_tickets"], [list(c) for c in zip(*rows)])


def load(conn, ticket_id: str) -> Ticket | None:
    row = conn.execute(Q["ticket_state"], (ticket_id,)).fetchone()
    return None if row is None else Ticket.model_validate(row[0])


def count_by_status(conn) -> dict[str, int]:
    return dict(conn.execute(Q["tickets_by_status"]).fetchall())


def timers_of(conn, ticket_id: str) -> list[tuple[str, datetime]]:
    return conn.execute(Q["ticket_timers"], (ticket_id,)).fetchall()


def timeline_of(conn, ticket_id: str) -> list[tuple]:
    return conn.execute(Q["ticket_timeline"], (ticket_id,)).fetchall()


def every_ticket(conn) -> list[Ticket]:
    """Every ticket, in id order: for the demo's closing report (a demo holds a handful)."""
    return [Ticket.model_validate(r[0]) for r in conn.execute(Q["demo_ticket_states"]).fetchall()]
