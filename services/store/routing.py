"""Chat routing in a transaction: the merchants' desks locked, routed through the core, saved.

A transaction that may route for a merchant locks that merchant's desk row once, after its tickets
(in merchant id order), changes the desk in memory as events apply (services.core.routing.route) and
saves it with the batch. The lock is what serialises one merchant's routing across ingest processes
and schedulers; the desk is read under it, so no two transactions decide on the same state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from schemas import Inbound
from services.core.policies import Policy
from services.core.routing import (
    AgentUpdate,
    Answer,
    ChatUpdate,
    Desk,
    Routed,
    Transfer,
    route,
)
from services.core.ticket import Outcome, Ticket
from services.logs import log
from services.store.outbox import Writes
from services.store.queries import Q

AVAILABILITY = "agent.availability_changed"
TRANSFER = "chat.transfer_requested"


def merchants_to_lock(policies: dict[str, Policy], events: list[Inbound], held: dict[str, Ticket]) -> list[str]:
    """The merchants whose desks these events may route on: agents' merchants, and the merchants of
    tickets (held or being opened) under a routing policy."""
    out: set[str] = set()
    for ev in events:
        if ev.type == AVAILABILITY:
            out.add(ev.data.merchant_id)  # type: ignore[attr-defined]
        elif ev.type == "ticket.opened":
            p = policies.get(ev.data.policy)  # type: ignore[attr-defined]
            if p is not None and p.routing:
                out.add(ev.data.merchant_id)  # type: ignore[attr-defined]
        else:
            t = held.get(ev.subject)
            if t is not None and policies[t.policy].routing:
                out.add(t.merchant_id)
    return sorted(out)


def load_desk(conn, merchant_id: str) -> Desk:
    """A merchant's desk as last committed (no lock: for `show`)."""
    row = conn.execute(Q["desk_state"], (merchant_id,)).fetchone()
    return Desk.from_doc(merchant_id, orjson.loads(row[0]) if row else None)


def assignment(conn, merchant_id: str, ticket_id: str) -> dict[str, Any] | None:
    """Who holds an open routed chat, or its place in the merchant's queue; None when the ticket is not
    an open chat under routing. For `show TICKET` and the HTTP API's ticket view."""
    desk = load_desk(conn, merchant_id)
    c = desk.chats.get(ticket_id)
    if c is None:
        return None
    return {
        "assignee": c.agent,
        "previous_agent": c.previous_agent,
        "queue_position": desk.position(ticket_id),
        "queue_length": len(desk.queue),
        "waiting_since": c.waiting_since.isoformat() if c.waiting_since else None,
    }


def routed_merchants(conn) -> list[str]:
    """Merchants with a desk (agents or routed chats), in id order."""
    return [r[0] for r in conn.execute(Q["desk_merchants"]).fetchall()]


def answer_stats(conn, merchant_id: str) -> dict[str, tuple[int, int, int, int]]:
    """agent id -> (answers, within 24 h, satisfied chats, rated chats)."""
    return {r[0]: tuple(r[1:]) for r in conn.execute(Q["agent_answer_stats"], (merchant_id,)).fetchall()}


class Desks:
    """The desks one transaction routes on."""

    def __init__(self, policies: dict[str, Policy], desks: dict[str, Desk]):
        self.policies, self.desks = policies, desks
        self._dirty: set[str] = set()
        self._answers: list[Answer] = []
        self._answer_merchant: list[str] = []
        self._at: dict[str, datetime] = {}
        self.missing_ok = False  # the scheduler's desks: a merchant with no desk row routes nothing

    @classmethod
    def lock(cls, cur, policies: dict[str, Policy], merchant_ids: list[str]) -> Desks:
        if not merchant_ids:
            return cls(policies, {})
        rows = cur.execute(Q["lock_desks"], (sorted(merchant_ids),)).fetchall()
        # as text, parsed by orjson: a desk of 10,000 chats is ~1 MB of JSON, and the stdlib parser's cost shows
        return cls(policies, {m: Desk.from_doc(m, orjson.loads(state)) for m, state in rows})

    @classmethod
    def lock_available(cls, cur, policies: dict[str, Policy], merchant_ids: list[str]) -> tuple[Desks, set[str]]:
        """The scheduler's variant: the desks no other transaction holds, locked, and the merchants whose
        desk is busy. A merchant without a desk row (chats from before routing) has nothing to route."""
        if not merchant_ids:
            return cls(policies, {}), set()
        ids = sorted(merchant_ids)
        existing = {r[0] for r in cur.execute(Q["existing_desks"], (ids,)).fetchall()}
        rows = cur.execute(Q["lock_desks_skip_locked"], (ids,)).fetchall()
        desks = cls(policies, {m: Desk.from_doc(m, orjson.loads(state)) for m, state in rows})
        desks.missing_ok = True
        return desks, existing - set(desks.desks)

    # -- deciding ---------------------------------------------------------------------------------------
    def agent(self, ev: Inbound) -> Routed:
        d = ev.data
        fields = d.model_fields_set
        u = AgentUpdate(
            agent_id=ev.subject,
            state=d.state,  # type: ignore[attr-defined]
            at=ev.time,
            role=d.role,  # type: ignore[attr-defined]
            max_open_chats=d.max_open_chats,  # type: ignore[attr-defined]
            keep_cap="max_open_chats" not in fields,
        )
        return route(self._desk(d.merchant_id), u, in_place=True)  # type: ignore[attr-defined]

    def follow(self, before: Ticket | None, o: Outcome, at: datetime, ev: Inbound | None = None) -> Routed | None:
        """What routing makes of an applied outcome: a transfer, or a routed chat changing status."""
        t = o.ticket
        if t is None or not self.policies[t.policy].routing:
            return None
        if ev is not None and ev.type == TRANSFER:
            d = ev.data
            all_ = d.scope == "all"  # type: ignore[attr-defined]
            trigger: Transfer | ChatUpdate = Transfer(
                to_agent_id=d.to_agent_id,  # type: ignore[attr-defined]
                at=at,
                ticket_id=None if all_ else t.id,
                from_agent_id=d.from_agent_id if all_ else None,  # type: ignore[attr-defined]
            )
        else:
            if before is not None and before.status == t.status:
                return None
            answered = any(e.type == "sla.fulfilled" and e.data.get("clock") == "merchant_response" for e in o.emits)
            trigger = ChatUpdate(t.id, t.status, at, answered)
        if self.missing_ok and t.merchant_id not in self.desks:
            return None
        return route(self._desk(t.merchant_id), trigger, in_place=True)

    # -- keeping what was decided ------------------------------------------------------------------------
    def keep(self, w: Writes, r: Routed, cause: str, at: datetime) -> None:
        """Take the routed desk, and write its outbound events (after the cause's own), counters and answers."""
        m = r.desk.merchant_id
        self.desks[m] = r.desk
        self._dirty.add(m)
        self._at[m] = max(at, self._at.get(m, at))
        for n, a in enumerate(r.actions):
            w.event(
                cause=f"{cause}:route", n=n, type_=a.type, subject=a.ticket_id, at=at, data={"merchant_id": m, **a.data}
            )
            if a.type == "chat.assigned" and a.data["reason"] != "transfer":
                w.observe("chat_queue_wait_seconds", a.data["waited_seconds"])
            log.info("chat.routed", ticket_id=a.ticket_id, event_id=cause, type=a.type, agent_id=a.data.get("agent_id"))
        w.count("chats_queued", r.queued_delta)
        for old, new in r.agent_moves:
            if old is not None:
                w.count("agents", -1, state=old)
            w.count("agents", 1, state=new)
        for ans in r.answers:
            self._answers.append(ans)
            self._answer_merchant.append(m)

    def save(self, cur) -> None:
        if self._dirty:
            ds = [self.desks[m] for m in sorted(self._dirty)]
            cur.execute(
                Q["save_desks"],
                [
                    [d.merchant_id for d in ds],
                    [orjson.dumps(d.to_doc()).decode() for d in ds],
                    [len(d.agents) for d in ds],
                    [len(d.queue) for d in ds],
                    [self._at[d.merchant_id] for d in ds],
                ],
            )
        if self._answers:
            a = self._answers
            cur.execute(
                Q["insert_agent_answers"],
                [
                    [x.ticket_id for x in a],
                    [x.at for x in a],
                    self._answer_merchant,
                    [x.agent_id for x in a],
                    [x.seconds for x in a],
                ],
            )
        self._dirty, self._answers, self._answer_merchant = set(), [], []

    def _desk(self, merchant_id: str) -> Desk:
        try:
            return self.desks[merchant_id]
        except KeyError:
            raise RuntimeError(f"desk of merchant {merchant_id!r} used without its lock") from None
