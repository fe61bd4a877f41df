"""What a transaction writes besides ticket state: outbox rows, timeline rows, messages, timers,
counter deltas and KPI facts, collected in memory and written at the end of the batch in a
handful of statements (one round trip per row is what caps PostgreSQL near 1.8k commits/s here).

`Writes.record(outcome, cause, at)` is how an applied outcome of the core lands here; the
relay publishes the outbox after commit (services.components.relay).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from dramatiq import Message
from psycopg import postgres, pq
from psycopg.adapt import Dumper

from schemas import encode_outbound, validate_outbound
from services.amqp.topology import Topology
from services.core.ticket import CLOSED, Fact, Outcome, Ticket
from services.store import timers
from services.store.queries import Q

_IDS = b"ticketflow/outbound/v1:"
_TIMELINE_SKIP = {"merchant_id", "text"}
KEPT_BYTES = 16 * 1024  # of a rejected message over the size limit, what <ns>.in.rejected keeps

HISTOGRAM_BUCKETS = {
    "first_response_seconds": (
        60,
        300,
        900,
        1800,
        3600,
        7200,
        4 * 3600,
        12 * 3600,
        24 * 3600,
        48 * 3600,
        72 * 3600,
        7 * 86400,
    ),
    "timer_lag_seconds": (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    "chat_queue_wait_seconds": (0, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
}


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
        cur.execute(Q["add_counters"], [list(c) for c in zip(*rows)])


def counters(conn) -> list[tuple]:
    """Every counter row (name, labels as JSON text, value): what /metrics reports."""
    return conn.execute(Q["metric_counters"]).fetchall()


@lru_cache(maxsize=256)
def _histogram_keys(name: str, labels: tuple[tuple[str, str], ...]):
    """Bounds, and the counter keys of each bucket, the count and the sum: built once per histogram
    and label set rather than for every observation."""
    bounds = HISTOGRAM_BUCKETS[name]
    buckets = [(f"{name}_bucket", tuple(sorted((*labels, ("le", repr(float(le))))))) for le in bounds]
    return bounds, buckets, (f"{name}_count", labels), (f"{name}_sum", labels)


class _JsonTextDumper(Dumper):
    """jsonb for a binary COPY from JSON text serialised already (psycopg's own jsonb dumper would
    encode the text again, as a JSON string). Binary, because the text format escapes in Python."""

    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()  # jsonb's binary format: version 1, then the text


def _copy(cur, statement: str, types: tuple[str, ...], rows) -> None:
    cur.adapters.register_dumper(None, _JsonTextDumper)  # by oid only: used by set_types, nowhere else
    with cur.copy(statement) as cp:
        cp.set_types(types)
        for row in rows:
            cp.write_row(row)


class Writes:
    """The side effects of one transaction, in memory until `flush`."""

    def __init__(self, topology: Topology, recipients: Callable[[str], list[str]] | None = None):
        self.topology = topology
        self.recipients = recipients  # merchant id -> its users, for notification.requested (004)
        self._outbox: list[tuple[str, str, bytes, str | None, str]] = []
        self._timeline: list[tuple[str, datetime, str, str, str | None, str]] = []
        self._counters: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._facts: list[Fact] = []
        self._timers: dict[tuple[str, str], datetime | None] = {}  # (ticket, kind) -> due, None = drop; last wins
        self._messages: list[tuple[str, str, str, str, datetime]] = []
        self._deferred: list[tuple[int, int, str, str, datetime, dict[str, Any]]] = []

    # -- what the unit of work records ---------------------------------------------------------
    def record(self, before: Ticket | None, outcome: Outcome, cause: str, at: datetime) -> None:
        """An applied outcome of the core: its events, worker tasks, timers, messages, KPI facts and
        counters. `cause` (the inbound event id or the timer) makes the outbound ids deterministic."""
        t = outcome.ticket
        assert t is not None
        for n, e in enumerate(outcome.emits):
            self.event(cause=cause, n=n, type_=e.type, subject=t.id, at=at, data=e.data)
            self._count_emit(t, e.type, e.data)
        for n, task in enumerate(outcome.tasks):
            self.task(cause=cause, n=n, actor=task.actor, kwargs=task.kwargs, at=at)
        for kind, due in outcome.timers.items():
            self._timers[(t.id, kind)] = due
        for m in outcome.messages:
            self._messages.append((t.id, m["message_id"], m["author"], m["text"], m["at"]))
        for fact in outcome.facts:
            self._facts.append(fact)
            if fact.kind == "first_response" and fact.value is not None:
                self.observe("first_response_seconds", fact.value, policy=fact.policy)
        if before is None:
            self.count("tickets", 1, status=t.status)
            self.count("open_tickets", 1, category=t.category)
        elif before.category != t.category and before.is_open and t.is_open:  # reclassified (issue #17)
            self.count("open_tickets", -1, category=before.category)
            self.count("open_tickets", 1, category=t.category)

    def absorb(self, other: Writes) -> None:
        """Take the writes collected apart in `other` (one timer's firing), in order, after ours."""
        self._outbox += other._outbox
        self._timeline += other._timeline
        for key, amount in other._counters.items():  # added, not replaced
            self._counters[key] += amount
        self._facts += other._facts
        self._timers.update(other._timers)
        self._messages += other._messages

    def fired(self, ticket_id: str, kind: str) -> None:
        """A timer fired: its row goes, unless the outcome recorded after this sets it again."""
        self._timers[(ticket_id, kind)] = None

    def rejected(
        self,
        body: bytes,
        reason: str,
        detail: str,
        event_id_: str | None,
        subject: str | None,
        merchant_id: str | None,
        key: str,
        now: datetime,
    ) -> None:
        """Bad input: counted, answered with `event.rejected`, the raw message kept in `<ns>.in.rejected`."""
        self.count("events_rejected_total", reason=reason)
        cause = f"rejected:{key}"
        self.event(
            cause=cause,
            n=0,
            type_="event.rejected",
            subject=subject or "unknown",
            at=now,
            data={"merchant_id": merchant_id, "event_id": event_id_, "reason": reason, "detail": detail},
        )
        headers = {"x-ticketflow-reason": reason, "x-ticketflow-detail": detail[:500]}
        if event_id_:
            headers["x-ticketflow-event-id"] = event_id_
        if len(body) > KEPT_BYTES:
            # An oversized message is kept as a bounded prefix with its digest and size, never copied
            # whole through PostgreSQL and the relay (one 20 MiB body x prefetch took both out of memory).
            headers["x-ticketflow-sha256"] = hashlib.sha256(body).hexdigest()
            headers["x-ticketflow-size"] = str(len(body))
            headers["x-ticketflow-truncated"] = f"first {KEPT_BYTES} bytes kept"
            body = body[:KEPT_BYTES]
        self._outbox.append(("", self.topology.rejected_queue, body, json.dumps(headers), f"{cause}#raw"))

    def event(self, *, cause: str, n: int, type_: str, subject: str, at: datetime, data: dict[str, Any]) -> str:
        eid = event_id(cause, n)
        if type_ == "notification.requested" and "recipient_user_ids" not in data:
            if self.recipients is None:  # who to tell is read at flush, on its cursor; the row keeps its place
                self._deferred.append((len(self._outbox), len(self._timeline), eid, subject, at, data))
                self._outbox.append(None)  # type: ignore[arg-type]
                self._timeline.append(None)  # type: ignore[arg-type]
                return eid
            data = {**data, "recipient_user_ids": self.recipients(data["merchant_id"])}
        self._render(eid, type_, subject, at, data)
        return eid

    def _render(self, eid: str, type_: str, subject: str, at: datetime, data: dict[str, Any], slot=None) -> None:
        payload = validate_outbound(type_, data)
        body = encode_outbound(id=eid, type=type_, subject=subject, time=at, data=payload)
        row = (self.topology.outbound, type_, body, None, eid)
        line = (subject, at, "out", type_, eid, payload.model_dump_json(exclude=_TIMELINE_SKIP))
        if slot is not None:
            self._outbox[slot[0]], self._timeline[slot[1]] = row, line
            return
        self._outbox.append(row)
        if type_ != "merchant.health_changed":  # the timeline holds what went out, in wire form, minus texts
            self._timeline.append(line)

    def _resolve_deferred(self, cur) -> None:
        """notification.requested emitted without a recipients lookup (a worker's Writes): read them now."""
        from services.store.users import Recipients

        recipients = Recipients(cur)
        for slot_out, slot_tl, eid, subject, at, data in self._deferred:
            data = {**data, "recipient_user_ids": recipients(data["merchant_id"])}
            self._render(eid, "notification.requested", subject, at, data, slot=(slot_out, slot_tl))
        self._deferred = []

    def task(self, *, cause: str, n: int, actor: str, kwargs: dict[str, Any], at: datetime) -> None:
        mid = event_id(cause, 1000 + n)
        msg: Message[Any] = Message(
            queue_name=self.topology.worker_queue(actor),
            actor_name=actor,
            args=(),
            kwargs=kwargs,
            options={},
            message_id=mid,
            message_timestamp=int(at.timestamp() * 1000),
        )
        self._outbox.append(("", msg.queue_name, msg.encode(), None, mid))

    def note(self, ticket_id: str, at: datetime, kind: str, type_: str, event_id_: str | None, detail: dict) -> None:
        """A timeline row for something that came in (an event, a timer) rather than went out."""
        self._timeline.append((ticket_id, at, kind, type_, event_id_, orjson.dumps(detail, default=str).decode()))

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        self._counters[(name, tuple(sorted(labels.items())))] += amount  # rendered once, at flush

    def observe(self, name: str, value: float, **labels: str) -> None:
        bounds, buckets, count, total = _histogram_keys(name, tuple(sorted(labels.items())))
        for k in buckets[bisect_left(bounds, value) :]:  # cumulative: every bucket at or above the value
            self._counters[k] += 1
        self._counters[count] += 1
        self._counters[total] += value

    def take_facts(self) -> list[Fact]:
        """The batch's KPI facts, handed over once (the unit of work records them in one statement)."""
        facts, self._facts = self._facts, []
        return facts

    def _count_emit(self, t: Ticket, type_: str, data: dict) -> None:
        if type_ == "ticket.status_changed" and data.get("from"):
            self.count("tickets", -1, status=data["from"])
            self.count("tickets", 1, status=data["to"])
            if CLOSED in (data["from"], data["to"]):  # the red count per category (DOMAIN, seed 000)
                self.count("open_tickets", -1 if data["to"] == CLOSED else 1, category=t.category)
        elif type_ == "sla.breached":
            self.count("sla_breaches_total", policy=t.policy, clock=data["clock"])
        elif type_ == "survey.dispatched":
            self.count("surveys_dispatched_total", attempt=str(data["attempt"]))
        elif type_ == "ticket.escalated":
            self.count("escalations_total", reason=data["reason"])

    # -- the end of the transaction ------------------------------------------------------------
    def flush(self, cur) -> None:
        if self._deferred:
            self._resolve_deferred(cur)
        if self._timers:
            timers.write(cur, self._timers)
        if self._messages:
            cur.execute(Q["insert_messages"], [list(c) for c in zip(*self._messages)])
        # COPY: one round trip for the batch's rows, several times faster than multi-row inserts here
        if self._outbox:
            _copy(cur, Q["copy_outbox"], ("text", "text", "bytea", "jsonb", "text"), self._outbox)
        if self._timeline:
            _copy(cur, Q["copy_timeline"], ("text", "timestamptz", "text", "text", "text", "jsonb"), self._timeline)
        add_counters(cur, ((n, dict(lbl), v) for (n, lbl), v in self._counters.items()))
        if self._outbox:
            cur.execute(Q["notify_outbox"])
        self._outbox, self._timeline, self._counters, self._timers, self._messages = [], [], defaultdict(float), {}, []


# -- the relay's side of the outbox -----------------------------------------------------------------
class LeadershipLost(Exception):
    """The relay's session no longer holds the leader lock: it must not publish."""


def pending(conn, limit: int, lead_key: int | None = None) -> list[tuple[int, str, str, bytes, str | None, str]]:
    """The oldest `limit` committed rows, in id order (the order their causes were applied). With
    `lead_key`, first proves in the same transaction that this session still holds that lock, so a
    relay whose session died or was replaced reads nothing to publish."""
    if lead_key is not None and not still_leads(conn, lead_key):
        conn.rollback()
        raise LeadershipLost(f"advisory lock {lead_key:#x} is not held by this session")
    rows = conn.execute(Q["outbox_batch"], (limit,)).fetchall()
    conn.commit()
    return rows


def published(conn, ids: list[int]) -> None:
    """Rows the broker has taken (tx.commit-ok) go."""
    conn.execute(Q["delete_outbox"], (ids,))
    conn.commit()


def count(conn) -> int:
    """Outbound messages committed, not yet published."""
    return conn.execute(Q["count_outbox"]).fetchone()[0]


def listen(conn) -> None:
    """Subscribe this (autocommit) session to the NOTIFY every flush sends after writing outbox rows."""
    conn.execute(Q["listen_outbox"])


def try_lead(conn, key: int) -> bool:
    """The relay's leader lock (a session advisory lock): one relay publishes at a time."""
    got = conn.execute(Q["try_relay_leadership"], (key,)).fetchone()[0]
    conn.commit()
    return got


def still_leads(conn, key: int) -> bool:
    """This session holds the advisory lock `key` (pg_locks splits a bigint key into classid, objid)."""
    return conn.execute(Q["relay_still_leads"], (key >> 32, key & 0xFFFFFFFF)).fetchone()[0]
