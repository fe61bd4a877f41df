"""Chat routing (contract "Chat routing (003)") as a pure function: (desk, trigger) -> Routed.

A merchant's *desk* is its routing state: the agents it has (known from their first
`agent.availability_changed`), its open chats under a routing policy, and the queue of waiting
chats nobody holds. `route` applies one trigger at the trigger's own `at` and returns the new
desk and what to announce; it reads no clock and has no I/O, so the same triggers in the same
order always route the same way (a replay, a second ingest process, a test).

Rules, as the contract orders them:
- exactly one agent: every chat goes to it at once (`auto`), whatever its state; nothing is
  given back when it goes offline (003: one account has no accept switch);
- two or more: a waiting chat goes to an *eligible* agent (state `accepting`, fewer waiting chats
  than `max_open_chats`), the one with the fewest waiting chats, then the longest since its last
  assignment (never assigned first), then the smallest id; with none eligible it is queued;
- the queue empties oldest first (by the time the chat started waiting, then ticket id) whenever an
  agent is eligible;
- an agent going offline gives its waiting chats back to the queue, ahead of newer ones (they keep
  the time they started waiting); a `transfer_only` agent keeps its chats, gets only transfers;
- a transfer moves one chat, or every open chat of an agent, to a known agent who is not offline,
  even beyond its `max_open_chats`;
- a chat that leaves `awaiting_merchant` or closes frees its agent's place at once. It stays with
  its agent while open, and when the customer writes again it returns to that agent (if not
  offline): a conversation is kept, not handed out again (see `ChatUpdate`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import datetime
from heapq import heapify, heappop, heappush
from typing import Any, Literal, NamedTuple

ACCEPTING, TRANSFER_ONLY, OFFLINE = "accepting", "transfer_only", "offline"
AGENT_STATES = (ACCEPTING, TRANSFER_ONLY, OFFLINE)
WAITING = "awaiting_merchant"  # the one status in which a chat occupies its agent's place
CLOSED = "closed"

MAX_AGENTS = 5_000  # per merchant: agent ids come from outside, and every routing step scans the agents
QueueKey = tuple[datetime, str]  # (waiting since, ticket id): oldest first, then ticket id


@dataclass
class Agent:
    id: str
    state: str
    role: str = "agent"
    max_open_chats: int | None = None  # None: no limit
    last_assigned_at: datetime | None = None
    load: int = 0  # waiting (`awaiting_merchant`) chats assigned to it, kept in step by `route`
    since: datetime | None = None  # when it took its current state

    def eligible(self) -> bool:
        return self.state == ACCEPTING and (self.max_open_chats is None or self.load < self.max_open_chats)

    def rank(self) -> tuple[int, bool, datetime, str]:
        """Fewest waiting chats, then longest since the last assignment (never assigned first), then id."""
        never = self.last_assigned_at is None
        return (self.load, not never, self.last_assigned_at or datetime.min, self.id)


class Chat(NamedTuple):
    """Immutable (changed by `_replace`), and a tuple: a desk of 10,000 chats loads fast."""

    ticket_id: str
    waiting_since: datetime | None = None  # set while `awaiting_merchant`: when it started waiting
    agent: str | None = None
    previous_agent: str | None = None  # who held it before it went back to the queue


@dataclass
class Desk:
    merchant_id: str
    agents: dict[str, Agent] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    queue: list[QueueKey] = field(default_factory=list)  # sorted; waiting chats without an agent
    # chat id -> (the Chat as loaded, its stored form): what did not change is written back as it was read
    loaded: dict[str, tuple[Chat, list[Any]]] = field(default_factory=dict, repr=False, compare=False)

    def copy(self) -> Desk:
        """A copy `route` may change: agents are mutable, chats are frozen (replaced, never changed)."""
        agents = {
            k: Agent(a.id, a.state, a.role, a.max_open_chats, a.last_assigned_at, a.load, a.since)
            for k, a in self.agents.items()
        }
        return Desk(self.merchant_id, agents, dict(self.chats), list(self.queue), self.loaded)

    def position(self, ticket_id: str) -> int | None:
        """1-based place in the queue, None when not queued."""
        c = self.chats.get(ticket_id)
        if c is None or c.agent is not None or c.waiting_since is None:
            return None
        i = bisect_left(self.queue, (c.waiting_since, ticket_id))
        return i + 1 if i < len(self.queue) and self.queue[i] == (c.waiting_since, ticket_id) else None

    # -- storage form (plain JSON types; the store serialises it) ------------------------------------
    def to_doc(self) -> dict[str, Any]:
        iso = _iso
        return {
            "agents": {
                a.id: [a.state, a.role, a.max_open_chats, iso(a.last_assigned_at), a.load, iso(a.since)]
                for a in self.agents.values()
            },
            "chats": {tid: self._stored(c) for tid, c in self.chats.items()},
        }

    def _stored(self, c: Chat) -> list[Any]:
        kept = self.loaded.get(c.ticket_id)
        if kept is not None and kept[0] is c:
            return kept[1]
        return [_iso(c.waiting_since), c.agent, c.previous_agent]

    @classmethod
    def from_doc(cls, merchant_id: str, doc: dict[str, Any] | None) -> Desk:
        d = cls(merchant_id)
        if not doc:
            return d
        dt = _dt
        for aid, (state, role, cap, last, load, since) in doc.get("agents", {}).items():
            d.agents[aid] = Agent(aid, state, role, cap, dt(last), load, dt(since))
        loaded = d.loaded
        for tid, stored in doc.get("chats", {}).items():
            ws, agent, prev = stored
            c = Chat(tid, dt(ws), agent, prev)
            d.chats[tid] = c
            loaded[tid] = (c, stored)
            if c.waiting_since is not None and agent is None:
                d.queue.append((c.waiting_since, tid))
        d.queue.sort()
        return d


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


# -- triggers ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentUpdate:
    """`agent.availability_changed`. `max_open_chats`/`role` left out keep the agent's previous value
    (`keep_cap`/`keep_role`), so an app that only flips the switch does not lift a limit."""

    agent_id: str
    state: str
    at: datetime
    role: str | None = None
    max_open_chats: int | None = None
    keep_cap: bool = True


@dataclass(frozen=True)
class ChatUpdate:
    """A routed ticket's status after an event or timer; `answered`: a merchant act took it out of
    `awaiting_merchant` (it answered the customer: counted for the agent holding the chat)."""

    ticket_id: str
    status: str
    at: datetime
    answered: bool = False


@dataclass(frozen=True)
class Transfer:
    """`chat.transfer_requested`: `ticket_id` for scope `one`, `from_agent_id` for scope `all`."""

    to_agent_id: str
    at: datetime
    ticket_id: str | None = None
    from_agent_id: str | None = None


Trigger = AgentUpdate | ChatUpdate | Transfer


# -- what routing decides --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """An outbound event about one chat: `type` is `chat.queued`, `chat.assigned` or `chat.unassigned`,
    `data` its contract data (without `merchant_id`, which the store adds)."""

    ticket_id: str
    type: Literal["chat.queued", "chat.assigned", "chat.unassigned"]
    data: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """An agent answered a chat it held: `seconds` since the chat started waiting."""

    ticket_id: str
    agent_id: str
    at: datetime
    seconds: float


@dataclass
class Routed:
    desk: Desk
    actions: list[Action] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    agent_moves: list[tuple[str | None, str]] = field(default_factory=list)  # (old state or None, new state)
    rejection: str | None = None  # a refused transfer: the detail of an `invalid_transition`
    entered: list[str] = field(default_factory=list)  # chats this trigger put in the queue
    queued_delta: int = 0  # the queue's length after minus before


def route(desk: Desk, trigger: Trigger, *, in_place: bool = False) -> Routed:
    """Apply one trigger to a copy of `desk`; the given desk is left as it was. `in_place`: the caller
    hands the desk over (the store, which owns it for its transaction) and saves the O(chats) copy; a
    refused transfer still leaves it untouched (everything is checked before anything changes)."""
    r = Routed(desk if in_place else desk.copy())
    queued_before = len(desk.queue)
    if isinstance(trigger, AgentUpdate):
        _agent(r, trigger)
    elif isinstance(trigger, ChatUpdate):
        _chat(r, trigger)
    elif isinstance(trigger, Transfer):
        _transfer(r, trigger)
    else:  # pragma: no cover - the type says it all
        raise TypeError(trigger)
    if r.rejection:  # checked before anything changed: the desk is as it was
        return Routed(desk, rejection=r.rejection)
    _drain(r, trigger.at)
    r.queued_delta = len(r.desk.queue) - queued_before
    return r


def _agent(r: Routed, u: AgentUpdate) -> None:
    d = r.desk
    old = d.agents.get(u.agent_id)
    if old is None and len(d.agents) >= MAX_AGENTS:
        r.rejection = f"agent.availability_changed: the merchant has {MAX_AGENTS} agents, the most routing keeps"
        return
    if old is None:
        a = Agent(u.agent_id, u.state, u.role or "agent", u.max_open_chats, since=u.at)
        d.agents[a.id] = a
        r.agent_moves.append((None, u.state))
    else:
        if old.state != u.state:
            r.agent_moves.append((old.state, u.state))
            old.since = u.at
        old.state = u.state
        old.role = u.role or old.role
        if not u.keep_cap:
            old.max_open_chats = u.max_open_chats
    if len(d.agents) >= 2:  # also covers the move from one agent (who keeps everything) to two
        _give_back_from_offline(r, u.at)


def _give_back_from_offline(r: Routed, at: datetime) -> None:
    d = r.desk
    for tid in sorted(t for t, c in d.chats.items() if c.waiting_since is not None and c.agent is not None):
        c = d.chats[tid]
        a = d.agents.get(c.agent) if c.agent else None
        if a is None or a.state != OFFLINE:
            continue
        a.load -= 1
        r.actions.append(Action(tid, "chat.unassigned", {"agent_id": a.id, "reason": "agent_offline"}))
        _enqueue(r, c._replace(agent=None, previous_agent=a.id))


def _chat(r: Routed, u: ChatUpdate) -> None:
    d = r.desk
    c = d.chats.get(u.ticket_id)
    if u.status == WAITING:
        if c is None:
            c = Chat(u.ticket_id)
        if c.waiting_since is not None:
            d.chats[c.ticket_id] = c
            return  # already waiting: nothing moves
        c = c._replace(waiting_since=u.at)
        holder = d.agents.get(c.agent) if c.agent else None
        if holder is not None and (len(d.agents) == 1 or holder.state != OFFLINE):
            holder.load += 1  # the conversation returns to its agent
            d.chats[c.ticket_id] = c
            return
        if c.agent is not None:  # its agent is offline (or unknown): back to the queue
            # (an offline agent's load counts only waiting chats, and this one was not waiting)
            r.actions.append(Action(c.ticket_id, "chat.unassigned", {"agent_id": c.agent, "reason": "agent_offline"}))
            c = c._replace(agent=None, previous_agent=c.agent)
        _enqueue(r, c)
        return
    if c is None:
        return
    if c.waiting_since is not None:
        if c.agent is None:
            d.queue.pop(bisect_left(d.queue, (c.waiting_since, c.ticket_id)))
        else:
            a = d.agents[c.agent]
            a.load -= 1
            if u.answered:
                r.answers.append(Answer(c.ticket_id, a.id, u.at, max(0.0, (u.at - c.waiting_since).total_seconds())))
        c = c._replace(waiting_since=None)
    if u.status == CLOSED:
        del d.chats[c.ticket_id]
    else:
        d.chats[c.ticket_id] = c


def _transfer(r: Routed, t: Transfer) -> None:
    d = r.desk
    to = d.agents.get(t.to_agent_id)
    if to is None:
        r.rejection = "chat.transfer_requested: to_agent_id is not a known agent of this merchant"
        return
    if to.state == OFFLINE:
        r.rejection = "chat.transfer_requested: to_agent_id is offline"
        return
    if t.from_agent_id is not None:
        if t.from_agent_id not in d.agents:
            r.rejection = "chat.transfer_requested: from_agent_id is not a known agent of this merchant"
            return
        ids = sorted(tid for tid, c in d.chats.items() if c.agent == t.from_agent_id)
    else:
        if t.ticket_id not in d.chats:
            r.rejection = "chat.transfer_requested: not an open chat under routing"
            return
        ids = [t.ticket_id]
    for tid in ids:
        c = d.chats[tid]
        if c.agent == to.id:
            continue
        prev = c.agent
        if prev is not None:
            r.actions.append(Action(tid, "chat.unassigned", {"agent_id": prev, "reason": "transfer"}))
            if c.waiting_since is not None:
                d.agents[prev].load -= 1
        elif c.waiting_since is not None:
            d.queue.pop(bisect_left(d.queue, (c.waiting_since, tid)))
        _assign(r, c._replace(previous_agent=prev), to, "transfer", t.at)


def _enqueue(r: Routed, c: Chat) -> None:
    assert c.waiting_since is not None and c.agent is None
    r.desk.chats[c.ticket_id] = c
    insort(r.desk.queue, (c.waiting_since, c.ticket_id))
    r.entered.append(c.ticket_id)


def _assign(r: Routed, c: Chat, a: Agent, reason: str, at: datetime) -> None:
    waited = 0.0 if c.waiting_since is None else max(0.0, (at - c.waiting_since).total_seconds())
    r.desk.chats[c.ticket_id] = c._replace(agent=a.id)
    if c.waiting_since is not None:
        a.load += 1
    a.last_assigned_at = at
    r.actions.append(
        Action(
            c.ticket_id,
            "chat.assigned",
            {"agent_id": a.id, "previous_agent_id": c.previous_agent, "reason": reason, "waited_seconds": waited},
        )
    )


def _drain(r: Routed, at: datetime) -> None:
    """Hand out the queue, oldest first, while someone can take a chat; announce what stays queued.
    Eligible agents sit in a heap by rank, so emptying 10,000 chats over 200 agents is n log n."""
    d = r.desk
    if d.queue and d.agents:
        single = next(iter(d.agents.values())) if len(d.agents) == 1 else None
        # Agent.eligible() spelled inline: this scan runs for every trigger while chats wait (200 agents: hot)
        heap = (
            []
            if single
            else [
                (a.rank(), a.id)
                for a in d.agents.values()
                if a.state == ACCEPTING and (a.max_open_chats is None or a.load < a.max_open_chats)
            ]
        )
        heapify(heap)
        taken = 0
        for _, tid in d.queue:
            if single is not None:
                a = single
            elif heap:
                a = d.agents[heappop(heap)[1]]
            else:
                break
            c = d.chats[tid]
            _assign(r, c, a, "reassigned" if c.previous_agent else "auto", at)
            taken += 1
            if single is None and a.eligible():
                heappush(heap, (a.rank(), a.id))
        del d.queue[:taken]
    # A chat this trigger put in the queue and that is still there is announced with its place.
    for tid in r.entered:
        pos = d.position(tid)
        if pos is not None:
            r.actions.append(Action(tid, "chat.queued", {"waiting_since": d.chats[tid].waiting_since, "position": pos}))
