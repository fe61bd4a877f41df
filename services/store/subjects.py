"""Per-ticket mutual exclusion for writers that may create a ticket or park events for it.

A row lock (`tickets.lock`) cannot guard a ticket that does not exist yet: two transactions that
both find no row would both create it (two `ticket.opened` with different ids), or one parks an
event while the other, opening the ticket, has already read the parked events and misses it (the
event would then expire as `unknown_ticket` beside its ticket). A transaction-level advisory lock
per ticket id, taken before anything about those tickets is read, serialises exactly those
writers; it is released by the commit, and several ingest processes take them in one order.
Hash collisions only make two tickets wait for each other, never wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.store.queries import Q


def lock(cur, ticket_ids: Iterable[str | None]) -> None:
    ids = sorted({t for t in ticket_ids if t})
    if ids:
        cur.execute(Q["lock_subjects"], (ids,))
