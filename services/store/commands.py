"""Commands the HTTP API published on `<ns>.in`, and what became of them.

The pipeline records every inbound id and its outcome in `inbound_events` (applied, parked,
rejected:<reason>), so a command's status is a join: no second source of truth. `api_commands`
adds who sent it (a status is only shown to the sender's account) and its Idempotency-Key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.store.queries import Q


@dataclass(frozen=True)
class Status:
    type: str
    ticket_id: str
    accepted_at: datetime
    state: str  # pending | applied | rejected
    reason: str | None


@dataclass(frozen=True)
class Sent:
    event_id: str
    ticket_id: str
    type: str
    body: bytes
    seen_by_pipeline: bool


def record(
    conn, event_id: str, user_id: str, merchant_id: str, ticket_id: str, type_: str, key: str | None, body: bytes
) -> None:
    """Before publishing: a command whose publish fails is still known (and stays `pending`); a retry
    with its Idempotency-Key publishes the same event again."""
    with conn.transaction():
        conn.execute(Q["record_command"], (event_id, user_id, merchant_id, ticket_id, type_, key, body))


def by_key(conn, user_id: str, key: str) -> Sent | None:
    """The command this user sent with this Idempotency-Key, if any."""
    row = conn.execute(Q["command_by_key"], (user_id, key)).fetchone()
    return None if row is None else Sent(row[0], row[1], row[2], bytes(row[3]), bool(row[4]))


def status(conn, event_id: str, merchant_id: str) -> Status | None:
    row = conn.execute(Q["command_status"], (event_id, merchant_id)).fetchone()
    if row is None:
        return None
    type_, ticket_id, at, outcome = row
    if outcome is None or outcome == "parked":
        return Status(type_, ticket_id, at, "pending", None)
    if outcome.startswith("rejected:"):
        return Status(type_, ticket_id, at, "rejected", outcome.removeprefix("rejected:"))
    return Status(type_, ticket_id, at, "applied", None)
