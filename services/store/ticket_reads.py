"""What the HTTP API reads about tickets: the working list (filters, three sorts, a keyset cursor)
and one ticket with its messages, translations, timers and timeline.

Keyset pagination rather than offsets: a page starts strictly after the last row of the previous
one in the sort's total order (the ticket id breaks ties), so tickets inserted meanwhile never
shift a later page: none is skipped or repeated. Each sort of the open list (the default view) has
its own partial index (migration 007), so a page is a range scan whatever the account's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.core.ticket import Ticket
from services.store.queries import Q

_LIST = {
    "priority": Q["list_tickets_priority"],
    "waiting": Q["list_tickets_waiting"],
    "newest": Q["list_tickets_newest"],
}
SORTS = tuple(_LIST)


@dataclass(frozen=True)
class ListFilter:
    merchant_id: str
    statuses: tuple[str, ...]
    group: str | None = None
    category: str | None = None
    channel: str | None = None
    label: str | None = None
    order_id: str | None = None
    urgent: bool | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    q: str | None = None


@dataclass(frozen=True)
class Row:
    id: str
    status: str
    policy: str
    group: str | None
    category: str
    urgent: bool
    urges: int
    opened_at: datetime
    updated_at: datetime
    due_at: datetime | None
    order_id: str | None
    channel: str | None
    waiting_since: datetime | None
    labels: list[str]

    def key(self, sort: str) -> tuple[int | None, str | None, str]:
        """The keyset position of this row under `sort`: (k1, k2, k3) as the list query compares them.
        Instants travel as text ('infinity' for no deadline), so a cursor survives JSON."""
        if sort == "priority":
            return (-self.urges, self.due_at.isoformat() if self.due_at else "infinity", self.id)
        if sort == "waiting":
            return (None, self.waiting_since.isoformat() if self.waiting_since else "infinity", self.id)
        return (None, self.opened_at.isoformat(), self.id)


def page(conn, f: ListFilter, sort: str, limit: int, after: tuple[Any, Any, Any] | None) -> list[Row]:
    """Up to `limit` rows of the list, starting after the keyset position `after` (None: the first page)."""
    k1, k2, k3 = after if after else (None, None, None)
    params = {
        "merchant": f.merchant_id,
        "statuses": list(f.statuses),
        "grp": f.group,
        "category": f.category,
        "channel": f.channel,
        "label": f.label,
        "order_id": f.order_id,
        "urgent": f.urgent,
        "since": f.created_since,
        "until": f.created_until,
        "q": f.q,
        "k1": k1,
        "k2": k2,
        "k3": k3,
        "limit": limit,
    }
    rows = conn.execute(_LIST[sort], params).fetchall()
    return [Row(*r[:-1], labels=list(r[-1] or [])) for r in rows]  # type: ignore[misc]


def ticket_of(conn, ticket_id: str, merchant_id: str) -> Ticket | None:
    """The ticket, only when it belongs to `merchant_id` (another account's ticket does not exist here)."""
    row = conn.execute(Q["ticket_of_merchant"], (ticket_id, merchant_id)).fetchone()
    return None if row is None else Ticket.model_validate(row[0])


def messages_of(conn, ticket_id: str) -> list[tuple[str, str, str, datetime]]:
    return conn.execute(Q["ticket_messages"], (ticket_id,)).fetchall()


def translations_of(conn, ticket_id: str) -> list[tuple[str, str, str, str, bool, str]]:
    return conn.execute(Q["ticket_translations"], (ticket_id,)).fetchall()
