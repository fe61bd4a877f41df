"""The unit of work: inbound messages and due timers in, state + outbox rows out, in one
transaction per batch. Everything with I/O that the core needs funnels through here, so
ingest, the scheduler, `tick` and the demo all share one path.

Lock order is always tickets (sorted by id) before timers, in every caller, so concurrent
ingest and scheduler processes never deadlock on each other.
"""

from __future__ import annotations

import hashlib
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from schemas import Inbound, Rejected, decode
from services.amqp.topology import Topology
from services.core.clock import Clock
from services.core.lifecycle import Lifecycle, classification_key
from services.core.policies import Policy
from services.core.ticket import CLOSED, Outcome, Ticket
from services.logs import log
from services.store import kpis
from services.store.outbox import Writes


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


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
}


@lru_cache(maxsize=256)
def _histogram_keys(name: str, labels: tuple[tuple[str, str], ...]):
    """Bounds, and the Writes counter keys of each bucket, the count and the sum: built once per
    histogram and label set rather than for every observation."""
    bounds = HISTOGRAM_BUCKETS[name]
    buckets = [(f"{name}_bucket", tuple(sorted((*labels, ("le", repr(float(le))))))) for le in bounds]
    return bounds, buckets, (f"{name}_count", labels), (f"{name}_sum", labels)


@dataclass
class Prepared:
    decoded: list[tuple[bytes, Inbound | Rejected]]
    classified: dict[tuple[str, str | None], Any]  # (text, locale) -> the classifier's answer


@dataclass
class Staged:
    cur: Any
    writes: Writes
    result: BatchResult = field(default_factory=BatchResult)
    changed: dict[str, Ticket] = field(default_factory=dict)


class _Classified:
    """The core's classify port, answered from `Engine.prepare`'s results when the batch has them
    (same function, computed ahead, off the transaction's critical path), else computed now."""

    def __init__(self, classify):
        self.classify = classify
        self.ready: dict[tuple[str, str | None], Any] = {}

    def __call__(self, text: str, locale: str | None):
        got = self.ready.get((text, locale))
        return got if got is not None else self.classify(text, locale)


class Engine:
    def __init__(
        self,
        topology: Topology,
        lifecycle: Lifecycle,
        policies: dict[str, Policy],
        clock: Clock,
        parking_limit: int = 10_000,
        parking_seconds: float = 600.0,
    ):
        self.topology, self.lifecycle, self.policies, self.clock = topology, lifecycle, policies, clock
        self.parking_limit, self.parking_window = parking_limit, timedelta(seconds=parking_seconds)
        self._classify = _Classified(lifecycle.classify)
        lifecycle.classify = self._classify

    # -- inbound -----------------------------------------------------------------------
    def ingest(self, conn, bodies: list[bytes]) -> BatchResult:
        """Apply a batch of raw inbound messages in one transaction (commit before the caller acks)."""
        staged = self.stage(conn, self.prepare(bodies))
        self.commit(conn, staged)
        return staged.result

    def prepare(self, bodies: list[bytes]) -> Prepared:
        """The pure half of a batch: decode, and classify what will open tickets. No database, so the
        ingest consumer runs it while the previous batch commits (IngestConsumer: one batch in flight)."""
        decoded: list[tuple[bytes, Inbound | Rejected]] = []
        classified: dict[tuple[str, str | None], Any] = {}
        for body in bodies:
            try:
                ev = decode(body)
            except Rejected as r:
                decoded.append((body, r))
                continue
            decoded.append((body, ev))
            key = classification_key(ev)
            if key is not None and key not in classified:
                classified[key] = self._classify.classify(*key)
        return Prepared(decoded, classified)

    def stage(self, conn, prepared: Prepared) -> Staged:
        """Open the batch's transaction and apply it: ids claimed, tickets locked, the core run. The writes
        are collected, not sent; `commit` sends them. Nothing else may use `conn` in between."""
        if conn.autocommit:
            raise ValueError("Engine.stage needs a connection outside autocommit: the batch is one transaction")
        staged = Staged(conn.cursor(), Writes(self.topology))
        try:
            self._stage(staged, prepared)
        except BaseException:
            staged.cur.close()
            conn.rollback()
            raise
        return staged

    def commit(self, conn, staged: Staged) -> None:
        """Write what `stage` collected and commit. May run on another thread than `stage` did."""
        cur, w = staged.cur, staged.writes
        try:
            self._save(cur, staged.changed.values())
            self._record_kpis(w, cur)
            w.flush(cur)
            cur.close()
            conn.commit()
        except BaseException:
            cur.close()
            conn.rollback()
            raise

    def _stage(self, staged: Staged, prepared: Prepared) -> None:
        cur, w, result, changed = staged.cur, staged.writes, staged.result, staged.changed
        now = self.clock.now()
        decoded = prepared.decoded
        keys = [self._key(body, ev) for body, ev in decoded]
        fresh = self._claim_ids(cur, keys, decoded, now)
        subjects = sorted({ev.subject for (_, ev), k in zip(decoded, keys) if k in fresh and isinstance(ev, Inbound)})
        tickets = self._lock_tickets(cur, subjects)
        parked_now = None
        opening = sorted({ev.subject for _, ev in decoded if isinstance(ev, Inbound) and ev.type == "ticket.opened"})
        with_parked = (
            {
                r[0]
                for r in cur.execute(
                    "select distinct ticket_id from parked_events where ticket_id = any(%s)", (opening,)
                )
            }
            if opening
            else set()
        )
        self._classify.ready = prepared.classified
        try:
            for (body, ev), key in zip(decoded, keys):
                if key not in fresh:
                    result.duplicates += 1
                    continue
                fresh.discard(key)  # a second copy inside the same batch is a duplicate too
                if isinstance(ev, Rejected):
                    self._reject(w, cur, body, ev.reason, ev.detail, ev.event_id, ev.subject, None, now, key, result)
                    continue
                t = tickets.get(ev.subject)
                if t is None and ev.type != "ticket.opened":
                    if parked_now is None:
                        parked_now = cur.execute("select count(*) from parked_events").fetchone()[0]
                    if parked_now >= self.parking_limit:
                        self._reject(
                            w,
                            cur,
                            body,
                            "unknown_ticket",
                            "no ticket.opened and the parking lot is full",
                            ev.id,
                            ev.subject,
                            None,
                            now,
                            key,
                            result,
                        )
                        continue
                    cur.execute(
                        "insert into parked_events (event_id, ticket_id, time, body, parked_at)"
                        " values (%s, %s, %s, %s, %s) on conflict do nothing",
                        (ev.id, ev.subject, ev.time, body, now),
                    )
                    cur.execute("update inbound_events set outcome = 'parked' where id = %s", (ev.id,))
                    parked_now += 1
                    with_parked.add(ev.subject)
                    result.parked += 1
                    log.info("event.parked", event_id=ev.id, ticket_id=ev.subject, type=ev.type)
                    continue
                t = self._apply(w, cur, t, ev, body, now, result)
                if t is not None:
                    tickets[ev.subject] = changed[ev.subject] = t
                    if ev.type == "ticket.opened" and ev.subject in with_parked:
                        t = self._unpark(w, cur, t, now, result)
                        tickets[ev.subject] = changed[ev.subject] = t
        finally:
            self._classify.ready = {}

    def expire_parked(self, conn) -> int:
        """Reject parked events older than the parking window (processing time) as unknown_ticket."""
        now = self.clock.now()
        with conn.transaction(), conn.cursor() as cur:
            rows = cur.execute(
                "delete from parked_events where event_id in (select event_id from parked_events"
                " where parked_at <= %s order by parked_at limit 1000 for update skip locked)"
                " returning event_id, ticket_id, body",
                (now - self.parking_window,),
            ).fetchall()
            if not rows:
                return 0
            w = Writes(self.topology)
            result = BatchResult()
            for event_id, ticket_id, body in rows:
                self._reject(
                    w,
                    cur,
                    bytes(body),
                    "unknown_ticket",
                    f"no ticket.opened within {self.parking_window.total_seconds():.0f} s",
                    event_id,
                    ticket_id,
                    None,
                    now,
                    event_id,
                    result,
                )
            w.flush(cur)
        return len(rows)

    # -- timers --------------------------------------------------------------------------
    def fire_due(self, conn, until: datetime, limit: int = 200) -> int:
        """Fire up to `limit` timers due at or before `until`, earliest first; returns how many fired."""
        with conn.transaction(), conn.cursor() as cur:
            due = cur.execute(
                "select ticket_id, kind, due_at from timers where due_at <= %s"
                " order by due_at, ticket_id, kind limit %s",
                (until, limit),
            ).fetchall()
            if not due:
                return 0
            tickets = self._lock_tickets(cur, sorted({r[0] for r in due}), skip_locked=True)
            live = {
                (r[0], r[1], r[2])
                for r in cur.execute(
                    "select ticket_id, kind, due_at from timers where ticket_id = any(%s) and due_at <= %s"
                    " for update skip locked",
                    (list(tickets), until),
                )
            }
            w = Writes(self.topology)
            changed: dict[str, Ticket] = {}
            fired = 0
            for ticket_id, kind, due_at in due:
                t = tickets.get(ticket_id)
                if t is None or (ticket_id, kind, due_at) not in live:
                    continue  # another scheduler has it, or the ticket is busy: next round
                w.timers[(ticket_id, kind)] = None  # fired; the outcome may set it again
                o = self.lifecycle.fire(t, kind, due_at)
                cause = f"timer:{ticket_id}:{kind}:{due_at.isoformat()}"
                w.note(ticket_id, due_at, "timer", kind, None, {"due_at": due_at.isoformat()})
                self._persist(w, cur, t, o, cause, due_at)
                tickets[ticket_id] = changed[ticket_id] = o.ticket or t
                fired += 1
                lag = (self.clock.now() - due_at).total_seconds()
                if 0 <= lag < 3600:  # only a scheduler on the wall clock has a meaningful lag
                    self._observe(w, "timer_lag_seconds", lag, {})
            self._save(cur, changed.values())
            self._record_kpis(w, cur)
            w.flush(cur)
        return fired

    def fire_all(self, conn, until: datetime, patience: float = 60.0) -> int:
        """Everything due by `until` (what `tick` promises). A round that fires nothing while due timers
        remain means their tickets were locked by a concurrent writer (SKIP LOCKED): wait and retry."""
        total, waited = 0, 0.0
        while True:
            n = self.fire_due(conn, until)
            total += n
            if n:
                continue
            left = conn.execute("select exists (select 1 from timers where due_at <= %s)", (until,)).fetchone()[0]
            conn.commit()
            if not left:
                return total
            if waited >= patience:
                raise TimeoutError(f"timers due by {until.isoformat()} stayed locked for {patience:.0f} s")
            time.sleep(0.05)
            waited += 0.05

    def forget_old_ids(self, conn, days: float, limit: int = 10_000) -> int:
        """Drop dedupe ids older than `days` of processing time, a bounded slice at a time: a redelivery
        weeks later is not a risk worth an ever-growing table (nothing parked is ever dropped here)."""
        with conn.transaction():
            n = conn.execute(
                "delete from inbound_events where id in (select id from inbound_events where"
                " received_at < %s and outcome <> 'parked' order by received_at limit %s)",
                (self.clock.now() - timedelta(days=days), limit),
            ).rowcount
        return n

    def refresh_health(self, conn, limit: int = 500) -> int:
        """Re-evaluate merchants whose 30-day window moved on without a fact of their own, so a
        merchant whose bad days aged out does not stay `restricted` until its next ticket."""
        with conn.transaction(), conn.cursor() as cur:
            changes = kpis.refresh_stale(cur, self.policies, limit)
            if changes:
                at = kpis.watermark(conn)
                w = Writes(self.topology)
                for merchant_id, data in changes:
                    w.event(
                        cause=f"health-refresh:{merchant_id}:{at.isoformat()}:{data['state']}",
                        n=0,
                        type_="merchant.health_changed",
                        subject=merchant_id,
                        at=at,
                        data=data,
                    )
                w.flush(cur)
        return len(changes)

    # -- internals -------------------------------------------------------------------------
    def _record_kpis(self, w: Writes, cur) -> None:
        """One KPI update per batch (facts fold into per-day buckets): a round trip per event would
        cost more than the rest of ingest. Health changes are published with the merchant as subject."""
        if not w.facts:
            return
        at = max(f.at for f in w.facts)
        for merchant_id, data in kpis.record(cur, w.facts, self.policies):
            w.event(
                cause=f"health:{merchant_id}:{at.isoformat()}:{data['previous']}>{data['state']}",
                n=0,
                type_="merchant.health_changed",
                subject=merchant_id,
                at=at,
                data=data,
            )
        w.facts = []

    @staticmethod
    def _key(body: bytes, ev: Inbound | Rejected) -> str:
        if isinstance(ev, Inbound):
            return ev.id
        # Rejected input is keyed by its bytes: a redelivery is not counted twice, and a rejected
        # message never shadows a valid event that reuses its id.
        return "sha256:" + hashlib.sha256(body).hexdigest()

    @staticmethod
    def _claim_ids(cur, keys, decoded, now) -> set[str]:
        rows = {}
        for key, (_, ev) in zip(keys, decoded):
            if key in rows:
                continue
            if isinstance(ev, Inbound):
                rows[key] = (key, ev.subject, ev.type, ev.time, now, "applied")
            else:
                rows[key] = (key, ev.subject, ev.event_type, None, now, f"rejected:{ev.reason}")
        vals = list(rows.values())
        got = cur.execute(
            "insert into inbound_events (id, ticket_id, type, time, received_at, outcome)"
            " select * from unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],"
            " %b::text[])"
            " on conflict (id) do nothing returning id",
            [list(c) for c in zip(*vals)],
        ).fetchall()
        return {r[0] for r in got}

    @staticmethod
    def _lock_tickets(cur, ids: list[str], skip_locked: bool = False) -> dict[str, Ticket]:
        if not ids:
            return {}
        rows = cur.execute(
            "select id, state from tickets where id = any(%s) order by id for update"
            + (" skip locked" if skip_locked else ""),
            (ids,),
        ).fetchall()
        return {r[0]: Ticket.model_validate(r[1]) for r in rows}

    def _apply(
        self, w: Writes, cur, t: Ticket | None, ev: Inbound, body: bytes, now: datetime, result: BatchResult
    ) -> Ticket | None:
        o = self.lifecycle.apply(t, ev)
        w.count("events_ingested_total", type=ev.type)
        w.note(ev.subject, ev.time, "in", ev.type, ev.id, {})
        if o.rejection:
            reason, detail = o.rejection
            self._reject(
                w,
                cur,
                body,
                reason,
                detail,
                ev.id,
                ev.subject,
                t.merchant_id if t else None,
                now,
                ev.id,
                result,
                update_outcome=True,
            )
            return None
        self._persist(w, cur, t, o, ev.id, ev.time)
        result.applied += 1
        log.debug(
            "event.applied",
            event_id=ev.id,
            ticket_id=ev.subject,
            type=ev.type,
            status=o.ticket.status if o.ticket else None,
        )
        return o.ticket

    def _unpark(self, w: Writes, cur, t: Ticket, now: datetime, result: BatchResult) -> Ticket:
        rows = cur.execute(
            "delete from parked_events where ticket_id = %s returning event_id, time, body", (t.id,)
        ).fetchall()
        for event_id, _, body in sorted(rows, key=lambda r: (r[1], r[0])):
            body = bytes(body)
            ev = decode(body)
            cur.execute("update inbound_events set outcome = 'applied' where id = %s", (event_id,))
            t = self._apply(w, cur, t, ev, body, now, result) or t
        return t

    def _persist(self, w: Writes, cur, before: Ticket | None, o: Outcome, cause: str, at: datetime) -> None:
        t = o.ticket
        assert t is not None
        for n, e in enumerate(o.emits):
            w.event(cause=cause, n=n, type_=e.type, subject=t.id, at=at, data=e.data)
            self._count_emit(w, t, e.type, e.data)
        for n, task in enumerate(o.tasks):
            w.task(cause=cause, n=n, actor=task.actor, kwargs=task.kwargs, at=at)
        for kind, due in o.timers.items():
            w.timers[(t.id, kind)] = due
        for m in o.messages:
            w.messages.append((t.id, m["message_id"], m["author"], m["text"], m["at"]))
        for fact in o.facts:
            w.facts.append(fact)
            if fact.kind == "first_response" and fact.value is not None:
                self._observe(w, "first_response_seconds", fact.value, {"policy": fact.policy})
        if before is None:
            w.count("tickets", 1, status=t.status)
            w.count("open_tickets", 1, category=t.category)

    @staticmethod
    def _count_emit(w: Writes, t: Ticket, type_: str, data: dict) -> None:
        if type_ == "ticket.status_changed" and data.get("from"):
            w.count("tickets", -1, status=data["from"])
            w.count("tickets", 1, status=data["to"])
            if CLOSED in (data["from"], data["to"]):  # the red count per category (DOMAIN, seed 000)
                w.count("open_tickets", -1 if data["to"] == CLOSED else 1, category=t.category)
        elif type_ == "sla.breached":
            w.count("sla_breaches_total", policy=t.policy, clock=data["clock"])
        elif type_ == "survey.dispatched":
            w.count("surveys_dispatched_total", attempt=str(data["attempt"]))
        elif type_ == "ticket.escalated":
            w.count("escalations_total", reason=data["reason"])

    def _observe(self, w: Writes, name: str, value: float, labels: dict[str, str]) -> None:
        bounds, buckets, count, total = _histogram_keys(name, tuple(sorted(labels.items())))
        for key in buckets[bisect_left(bounds, value) :]:  # cumulative: every bucket at or above the value
            w.counters[key] += 1
        w.counters[count] += 1
        w.counters[total] += value

    def _reject(
        self,
        w: Writes,
        cur,
        body: bytes,
        reason: str,
        detail: str,
        event_id: str | None,
        subject: str | None,
        merchant_id: str | None,
        now: datetime,
        key: str,
        result: BatchResult,
        update_outcome: bool = False,
    ) -> None:
        result.rejected[reason] = result.rejected.get(reason, 0) + 1
        w.count("events_rejected_total", reason=reason)
        cause = f"rejected:{key}"
        w.event(
            cause=cause,
            n=0,
            type_="event.rejected",
            subject=subject or "unknown",
            at=now,
            data={"merchant_id": merchant_id, "event_id": event_id, "reason": reason, "detail": detail},
        )
        w.raw_rejected(body, reason, detail, event_id, message_id=f"{cause}#raw")
        if update_outcome or reason == "unknown_ticket":
            cur.execute("update inbound_events set outcome = %s where id = %s", (f"rejected:{reason}", key))
        log.warning("event.rejected", event_id=event_id, ticket_id=subject, reason=reason, detail=detail[:200])

    @staticmethod
    def _save(cur, tickets) -> None:
        """One statement for the batch's tickets: without prepared statements (PgBouncer-safe), an
        executemany costs the server a parse and plan per row, the largest wait of an ingest batch."""
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
            )
            for t in tickets
        ]
        if rows:
            cur.execute(
                "insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at, updated_at,"
                " due_at, order_id, state) select * from unnest(%b::text[], %b::text[], %b::text[], %b::text[],"
                " %b::text[], %b::bool[], %b::int[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[],"
                " %b::text[], %b::jsonb[])"
                " on conflict (id) do update set status = excluded.status, category = excluded.category,"
                " urgent = excluded.urgent, urges = excluded.urges, updated_at = excluded.updated_at,"
                " due_at = excluded.due_at, state = excluded.state",
                [list(c) for c in zip(*rows)],
            )
