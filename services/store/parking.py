"""Events that arrived before their ticket's `ticket.opened` wait here (CONTRACT: up to 10 minutes
of processing time, at most 10 000, and at most a share of that per source), then are applied in
event-time order or expire."""

from __future__ import annotations

from datetime import datetime

from schemas import Inbound
from services.store.queries import Q


def tickets_with_parked(cur, ticket_ids: list[str]) -> set[str]:
    if not ticket_ids:
        return set()
    return {r[0] for r in cur.execute(Q["tickets_with_parked"], (ticket_ids,))}


def count(cur) -> int:
    return cur.execute(Q["count_parked"]).fetchone()[0]


def count_from(cur, source: str) -> int:
    """Parked events of one CloudEvent source: its share is bounded too, so one noisy upstream
    cannot fill the lot for everyone."""
    return cur.execute(Q["count_parked_from"], (source,)).fetchone()[0]


def park(cur, ev: Inbound, body: bytes, now: datetime) -> None:
    cur.execute(Q["park_event"], (ev.id, ev.subject, ev.time, body, now, ev.envelope.source))


def take(cur, ticket_id: str) -> list[tuple[str, bytes]]:
    """The ticket's parked events, removed, oldest event time first: (event id, body)."""
    rows = cur.execute(Q["take_parked"], (ticket_id,)).fetchall()
    return [(event_id, bytes(body)) for event_id, _, body in sorted(rows, key=lambda r: (r[1], r[0]))]


def take_expired(cur, parked_before: datetime) -> list[tuple[str, str, bytes]]:
    """Up to 1,000 events parked before `parked_before`, removed: (event id, ticket id, body)."""
    return [(e, t, bytes(b)) for e, t, b in cur.execute(Q["take_expired_parked"], (parked_before,)).fetchall()]


def waiting_for(conn, ticket_id: str) -> int:
    return conn.execute(Q["parked_for_ticket"], (ticket_id,)).fetchone()[0]
