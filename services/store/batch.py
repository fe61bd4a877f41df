"""Inbound batches, the unit of work of ingest: raw messages in, one transaction out.

`prepare` is pure (decode, classify what opens tickets), so the ingest consumer runs it while the
previous batch commits; `stage` claims ids, locks tickets (in id order), parks or applies each
event through the core and collects the writes; `commit` writes them and commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas import Inbound, Rejected, decode, structured
from schemas.inbound import NOT_TICKET_EVENTS
from services.amqp.topology import Topology
from services.core.clock import Clock
from services.core.lifecycle import Classification, Lifecycle, classification_key
from services.core.policies import Policy
from services.core.ticket import Outcome, Ticket
from services.logs import log
from services.store import conversion, health, inbound, parking, tickets, users
from services.store import routing as desks_
from services.store import subjects as subject_locks
from services.store.outbox import Writes

ClassifyFn = Callable[[str, str | None], Classification]


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class Prepared:
    decoded: list[tuple[bytes, Inbound | Rejected]]
    classified: dict[tuple[str, str | None], Classification]  # (text, locale) -> the classifier's answer
    # Positions (in the bodies given) whose preparation raised: a bug, not bad input. They are left out
    # of `decoded`, counted as dead letters by `stage`, and the caller dead-letters them (<ns>.in.failed).
    failed: list[tuple[int, Exception]] = field(default_factory=list)

    def kept(self, items: list) -> list:
        """`items`, one per body given to `prepare`, without the failed positions: aligned with `decoded`."""
        gone = {i for i, _ in self.failed}
        return [x for i, x in enumerate(items) if i not in gone]


@dataclass
class Staged:
    cur: Any
    writes: Writes
    result: BatchResult = field(default_factory=BatchResult)
    changed: dict[str, Ticket] = field(default_factory=dict)
    desks: desks_.Desks | None = None


class InboundBatches:
    def __init__(
        self,
        topology: Topology,
        lifecycle: Lifecycle,
        classify: ClassifyFn,
        policies: dict[str, Policy],
        clock: Clock,
        parking_limit: int = 10_000,
        parking_seconds: float = 600.0,
        parking_source_limit: int = 5_000,
    ):
        self.topology, self.lifecycle, self.classify, self.policies = topology, lifecycle, classify, policies
        self.clock, self.parking_limit, self.parking_source_limit = clock, parking_limit, parking_source_limit
        self.parking_window = timedelta(seconds=parking_seconds)

    def prepare(self, bodies: list[bytes], properties: list | None = None) -> Prepared:
        """Decode, and classify what will open tickets. No database. `properties` (pika's, one per
        body) bring the binary content mode: such a message is kept as its structured bytes."""
        prepared = Prepared([], {})
        for i, body in enumerate(bodies):
            try:
                self._prepare_one(body, None if properties is None else properties[i], prepared)
            except Exception as e:  # noqa: BLE001 - one message's bug must not stop the batch behind it
                log.exception("event.prepare_failed", position=i, size=len(body))
                prepared.failed.append((i, e))
        return prepared

    def _prepare_one(self, body: bytes, props, prepared: Prepared) -> None:
        try:
            if props is not None:
                body = structured(body, props.content_type, props.headers)
            ev = decode(body)
        except Rejected as r:
            prepared.decoded.append((body, r))
            return
        k = classification_key(ev)
        if k is not None and k not in prepared.classified:
            prepared.classified[k] = self.classify(*k)
        prepared.decoded.append((body, ev))

    def stage(self, conn, prepared: Prepared) -> Staged:
        """Open the batch's transaction and apply it. The writes are collected, not sent; `commit`
        sends them. Nothing else may use `conn` in between."""
        if conn.autocommit:
            raise ValueError("InboundBatches.stage needs a connection outside autocommit: a batch is one transaction")
        cur = conn.cursor()
        staged = Staged(cur, Writes(self.topology, recipients=users.Recipients(cur)))
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
            tickets.save(cur, staged.changed.values())
            if staged.desks is not None:
                staged.desks.save(cur)
            health.record_facts(w, cur, self.policies)
            w.flush(cur)
            cur.close()
            conn.commit()
        except BaseException:
            cur.close()
            conn.rollback()
            raise

    def expire_parked(self, conn) -> int:
        """Reject parked events older than the parking window (processing time) as unknown_ticket."""
        now = self.clock.now()
        detail = f"no ticket.opened within {self.parking_window.total_seconds():.0f} s"
        with conn.transaction(), conn.cursor() as cur:
            rows = parking.take_expired(cur, now - self.parking_window)
            if not rows:
                return 0
            w = Writes(self.topology)
            for event_id, ticket_id, body in rows:
                self._reject(
                    w, cur, body, "unknown_ticket", detail, event_id, ticket_id, None, now, event_id, BatchResult()
                )
            w.flush(cur)
        return len(rows)

    # -- internals -------------------------------------------------------------------------
    def _stage(self, staged: Staged, prepared: Prepared) -> None:
        cur, w, result, changed = staged.cur, staged.writes, staged.result, staged.changed
        now = self.clock.now()
        decoded = prepared.decoded
        if prepared.failed:
            w.count("dead_letters_total", len(prepared.failed), queue=self.topology.failed_queue)
        if not decoded:
            return
        subject_locks.lock(cur, (ev.subject for _, ev in decoded if isinstance(ev, Inbound)))  # before any read
        keys = [inbound.key(body, ev) for body, ev in decoded]
        fresh = inbound.claim(cur, keys, decoded, now)
        events = [ev for (_, ev), k in zip(decoded, keys) if k in fresh and isinstance(ev, Inbound)]
        # An availability change is about an agent, an order about an order: not locked as tickets, never parked.
        held = tickets.lock(cur, sorted({ev.subject for ev in events if ev.type not in NOT_TICKET_EVENTS}))
        staged.desks = desks = desks_.Desks.lock(
            cur, self.policies, desks_.merchants_to_lock(self.policies, events, held)
        )
        opening = sorted({ev.subject for _, ev in decoded if isinstance(ev, Inbound) and ev.type == "ticket.opened"})
        if isinstance(w.recipients, users.Recipients):
            w.recipients.prefetch(
                [t.merchant_id for t in held.values()]
                + [getattr(ev.data, "merchant_id", None) for ev in events if ev.type == "ticket.opened"]
            )
        with_parked = parking.tickets_with_parked(cur, opening)
        parked_now: int | None = None
        parked_from: dict[str, int] = {}  # per CloudEvent source, counted on first use
        for (body, ev), k in zip(decoded, keys, strict=True):
            if k not in fresh:
                result.duplicates += 1
                continue
            fresh.discard(k)  # a second copy inside the same batch is a duplicate too
            if isinstance(ev, Rejected):
                self._reject(w, cur, body, ev.reason, ev.detail, ev.event_id, ev.subject, None, now, k, result)
                continue
            if ev.type == desks_.AVAILABILITY:
                self._availability(w, cur, desks, ev, body, now, result)
                continue
            if ev.type in NOT_TICKET_EVENTS:  # order.placed: its subject is an order, never parked
                conversion.place_order(cur, ev)
                w.count("events_ingested_total", type=ev.type)
                result.applied += 1
                continue
            t = held.get(ev.subject)
            if t is None and ev.type != "ticket.opened":
                parked_now = parking.count(cur) if parked_now is None else parked_now
                source = ev.envelope.source
                if source not in parked_from:
                    parked_from[source] = parking.count_from(cur, source)
                full = (
                    "the parking lot is full"
                    if parked_now >= self.parking_limit
                    else "this source's share of the parking lot is full"
                    if parked_from[source] >= self.parking_source_limit
                    else None
                )
                if full:
                    self._reject(
                        w,
                        cur,
                        body,
                        "unknown_ticket",
                        f"no ticket.opened and {full}",
                        ev.id,
                        ev.subject,
                        None,
                        now,
                        k,
                        result,
                    )
                    continue
                parking.park(cur, ev, body, now)
                inbound.set_outcome(cur, ev.id, "parked")
                parked_now += 1
                parked_from[source] += 1
                with_parked.add(ev.subject)
                result.parked += 1
                log.info("event.parked", event_id=ev.id, ticket_id=ev.subject, type=ev.type)
                continue
            t = self._apply(w, cur, t, ev, body, now, result, prepared.classified, desks)
            if t is not None:
                held[ev.subject] = changed[ev.subject] = t
                if ev.type == "ticket.opened" and ev.subject in with_parked:
                    held[ev.subject] = changed[ev.subject] = self._unpark(w, cur, t, now, result, desks)

    def _apply(
        self,
        w: Writes,
        cur,
        t: Ticket | None,
        ev: Inbound,
        body: bytes,
        now: datetime,
        result: BatchResult,
        classified: dict[tuple[str, str | None], Classification],
        desks: desks_.Desks | None = None,
    ) -> Ticket | None:
        k = classification_key(ev)
        classification = None if k is None else (classified.get(k) or self.classify(*k))
        o = self.lifecycle.apply(t, ev, classification)
        routed = None if o.rejection or desks is None else desks.follow(t, o, ev.time, ev)
        if routed is not None and routed.rejection:  # a transfer routing refuses
            o = Outcome(t, rejection=("invalid_transition", routed.rejection))
        w.count("events_ingested_total", type=ev.type)
        w.note(ev.subject, ev.time, "in", ev.type, ev.id, o.detail)
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
        w.record(t, o, ev.id, ev.time)
        if routed is not None:
            desks.keep(w, routed, ev.id, ev.time)  # type: ignore[union-attr]
        result.applied += 1
        log.debug(
            "event.applied",
            event_id=ev.id,
            ticket_id=ev.subject,
            type=ev.type,
            status=o.ticket.status if o.ticket else None,
        )
        return o.ticket

    def _unpark(self, w: Writes, cur, t: Ticket, now: datetime, result: BatchResult, desks) -> Ticket:
        for event_id, body in parking.take(cur, t.id):
            try:
                ev = decode(body)
            except Rejected as r:  # parked under an older, laxer version: rejected now, not a crash
                self._reject(
                    w, cur, body, r.reason, r.detail, event_id, t.id, t.merchant_id, now, event_id, result, True
                )
                continue
            inbound.set_outcome(cur, event_id, "applied")
            t = self._apply(w, cur, t, ev, body, now, result, {}, desks) or t
        return t

    def _availability(self, w: Writes, cur, desks: desks_.Desks, ev: Inbound, body: bytes, now, result) -> None:
        """`agent.availability_changed`: the merchant's desk changes, chats may move; no ticket of its own."""
        w.count("events_ingested_total", type=ev.type)
        routed = desks.agent(ev)
        if routed.rejection:
            merchant = ev.data.merchant_id  # type: ignore[attr-defined]
            self._reject(
                w,
                cur,
                body,
                "invalid_transition",
                routed.rejection,
                ev.id,
                ev.subject,
                merchant,
                now,
                ev.id,
                result,
                True,
            )
            return
        desks.keep(w, routed, ev.id, ev.time)
        result.applied += 1
        log.debug("event.applied", event_id=ev.id, agent_id=ev.subject, type=ev.type)

    @staticmethod
    def _reject(
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
        w.rejected(body, reason, detail, event_id, subject, merchant_id, key, now)
        if update_outcome or reason == "unknown_ticket":
            inbound.set_outcome(cur, key, f"rejected:{reason}")
        log.warning("event.rejected", event_id=event_id, ticket_id=subject, reason=reason, detail=detail[:200])
