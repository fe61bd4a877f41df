"""Inbound event ids: the idempotency key of every side effect (CONTRACT: a duplicate has no effect)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from schemas import Inbound, Rejected
from services.store.queries import Q


def key(body: bytes, ev: Inbound | Rejected) -> str:
    """The event id; rejected input is keyed by its bytes, so a redelivery is not counted twice and a
    rejected message never shadows a valid event that reuses its id."""
    if isinstance(ev, Inbound):
        return ev.id
    return "sha256:" + hashlib.sha256(body).hexdigest()


def claim(cur, keys: list[str], decoded: list[tuple[bytes, Inbound | Rejected]], now: datetime) -> set[str]:
    """Record the batch's keys; returns those seen for the first time."""
    rows: dict[str, tuple[object, ...]] = {}
    for k, (_, ev) in zip(keys, decoded, strict=True):
        if k in rows:
            continue
        if isinstance(ev, Inbound):
            rows[k] = (k, ev.subject, ev.type, ev.time, now, "applied")
        else:
            rows[k] = (k, ev.subject, ev.event_type, None, now, f"rejected:{ev.reason}")
    got = cur.execute(Q["claim_inbound_ids"], [list(c) for c in zip(*rows.values())]).fetchall()
    return {r[0] for r in got}


def set_outcome(cur, key_: str, outcome: str) -> None:
    cur.execute(Q["set_inbound_outcome"], (outcome, key_))


def forget_older_than(conn, before: datetime, limit: int = 10_000) -> int:
    """Drop ids received before `before`, a bounded slice at a time (nothing parked is dropped)."""
    with conn.transaction():
        return conn.execute(Q["forget_old_inbound_ids"], (before, limit)).rowcount
