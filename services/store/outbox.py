"""What a transaction writes besides state: outbox rows, timeline rows, counter deltas.

Collected in memory during a batch and written with a handful of `executemany` calls at the
end, because one round trip per row is what caps PostgreSQL near 1.8k commits/s here.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
from dramatiq import Message
from psycopg import postgres, pq
from psycopg.adapt import Dumper

from schemas import encode_outbound, validate_outbound

_IDS = b"ticketflow/outbound/v1:"
_TIMELINE_SKIP = {"merchant_id", "text"}


def event_id(cause: str, n: int) -> str:
    """Deterministic: the same cause always yields the same outbound ids, so a replay is recognisable.
    (A keyed BLAKE2b digest in UUID form: what uuid5 gives, at a fraction of its cost on the hot path.)"""
    h = hashlib.blake2b(f"{cause}#{n}".encode(), digest_size=16, key=_IDS).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # str(uuid.UUID(hex=h)), without its cost


def labels_key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def add_counters(cur, rows) -> None:
    """Add (name, labels dict, amount) rows to the shared counters. Sorted, so concurrent writers take
    the counter rows' locks in one order; labels rendered by `labels_key`, the one form the exporter reads."""
    rows = sorted((name, labels_key(labels), float(v)) for name, labels, v in rows if v)
    if rows:
        cur.execute(
            "insert into metric_counters (name, labels, value) select * from unnest(%b::text[],"
            " %b::text[], %b::float8[]) on conflict (name, labels) do update"
            " set value = metric_counters.value + excluded.value",
            [list(c) for c in zip(*rows)],
        )


class _JsonTextDumper(Dumper):
    """jsonb for a binary COPY from JSON text serialised already (psycopg's own jsonb dumper would
    encode the text again, as a JSON string). Binary, because the text format escapes in Python."""

    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()  # jsonb's binary format: version 1, then the text


def _copy(cur, target: str, types: tuple[str, ...], rows) -> None:
    cur.adapters.register_dumper(None, _JsonTextDumper)  # by oid only: used by set_types, nowhere else
    with cur.copy(f"copy {target} from stdin (format binary)") as cp:
        cp.set_types(types)
        for row in rows:
            cp.write_row(row)


class Writes:
    def __init__(self, topology):
        self.topology = topology
        self.outbox: list[tuple[str, str, bytes, str | None, str]] = []
        self.timeline: list[tuple[str, datetime, str, str, str | None, str]] = []
        self.counters: Counter[tuple[str, tuple]] = Counter()
        self.facts: list = []  # KPI facts of the batch, recorded once by Engine._record_kpis
        self.timers: dict[tuple[str, str], datetime | None] = {}  # (ticket, kind) -> due, None = drop; last wins
        self.messages: list[tuple[str, str, str, str, datetime]] = []

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount  # rendered once, at flush

    def event(self, *, cause: str, n: int, type_: str, subject: str, at: datetime, data: dict[str, Any]) -> str:
        eid = event_id(cause, n)
        payload = validate_outbound(type_, data)
        body = encode_outbound(id=eid, type=type_, subject=subject, time=at, data=payload)
        self.outbox.append((self.topology.outbound, type_, body, None, eid))
        if type_ != "merchant.health_changed":  # the timeline holds what went out, in wire form, minus texts
            self.timeline.append((subject, at, "out", type_, eid, payload.model_dump_json(exclude=_TIMELINE_SKIP)))
        return eid

    def task(self, *, cause: str, n: int, actor: str, kwargs: dict[str, Any], at: datetime) -> None:
        mid = event_id(cause, 1000 + n)
        msg = Message(
            queue_name=self.topology.worker_queue(actor),
            actor_name=actor,
            args=(),
            kwargs=kwargs,
            options={},
            message_id=mid,
            message_timestamp=int(at.timestamp() * 1000),
        )
        self.outbox.append(("", msg.queue_name, msg.encode(), None, mid))

    def raw_rejected(self, body: bytes, reason: str, detail: str, event_id_: str | None, message_id: str) -> None:
        headers = {"x-ticketflow-reason": reason, "x-ticketflow-detail": detail[:500]}
        if event_id_:
            headers["x-ticketflow-event-id"] = event_id_
        self.outbox.append(("", self.topology.rejected_queue, body, json.dumps(headers), message_id))

    def note(self, ticket_id: str, at: datetime, kind: str, type_: str, event_id_: str | None, detail: dict) -> None:
        self.timeline.append((ticket_id, at, kind, type_, event_id_, orjson.dumps(detail, default=str).decode()))

    def flush(self, cur) -> None:
        if self.timers:
            upserts = sorted((t, k, due) for (t, k), due in self.timers.items() if due is not None)
            drops = sorted((t, k) for (t, k), due in self.timers.items() if due is None)
            if drops:
                cur.execute(
                    "delete from timers where (ticket_id, kind) in (select * from unnest(%b::text[], %b::text[]))",
                    [[t for t, _ in drops], [k for _, k in drops]],
                )
            if upserts:
                cur.execute(
                    "insert into timers (ticket_id, kind, due_at) select * from unnest(%b::text[], %b::text[],"
                    " %b::timestamptz[]) on conflict (ticket_id, kind) do update set due_at = excluded.due_at",
                    [list(c) for c in zip(*upserts)],
                )
        if self.messages:
            cur.execute(
                "insert into messages (ticket_id, message_id, author, text, at) select * from unnest(%b::text[],"
                " %b::text[], %b::text[], %b::text[], %b::timestamptz[]) on conflict do nothing",
                [list(c) for c in zip(*self.messages)],
            )
        # COPY: one round trip for the batch's rows, several times faster than multi-row inserts here
        if self.outbox:
            _copy(
                cur,
                "outbox (exchange, routing_key, body, headers, message_id)",
                ("text", "text", "bytea", "jsonb", "text"),
                self.outbox,
            )
        if self.timeline:
            _copy(
                cur,
                "timeline (ticket_id, at, kind, type, event_id, detail)",
                ("text", "timestamptz", "text", "text", "text", "jsonb"),
                self.timeline,
            )
        add_counters(cur, ((n, dict(lbl), v) for (n, lbl), v in self.counters.items()))
        if self.outbox:
            cur.execute("select pg_notify('ticketflow_outbox', '')")
        self.outbox, self.timeline, self.counters, self.timers, self.messages = [], [], Counter(), {}, []
