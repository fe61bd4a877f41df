"""Retention (CONTRACT: TICKETFLOW_RETENTION_DAYS, default 400): closed tickets and everything kept
about them (messages, translations, the refining worker's answers, timeline, timers, dedupe ids) go
together, this long after closing; so a duplicate event id has no second effect as long as its
ticket exists, and customer text is not kept forever. Run by the scheduler's housekeeping, a bounded
slice per transaction.
"""

from __future__ import annotations

from datetime import datetime

from services.store.outbox import add_counters
from services.store.queries import Q


def purge_closed(conn, closed_before: datetime, limit: int = 200) -> int:
    """One slice: up to `limit` tickets closed before `closed_before`, with their rows; returns how many."""
    with conn.transaction(), conn.cursor() as cur:
        ids = [r[0] for r in cur.execute(Q["closed_tickets_before"], (closed_before, limit))]
        if not ids:
            return 0
        for statement in (
            Q["purge_messages"],
            Q["purge_translations"],
            Q["purge_refinements"],
            Q["purge_timeline"],
            Q["purge_timers"],
            Q["purge_inbound_ids"],
            Q["purge_tickets"],
        ):
            cur.execute(statement, (ids,))
        add_counters(cur, [("tickets", {"status": "closed"}, -len(ids)), ("tickets_purged_total", {}, len(ids))])
    return len(ids)
