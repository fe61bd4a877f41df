"""Chat routing (services.core.routing): the contract's rules by example, and properties over any
sequence of availability changes, chat status changes and transfers (hypothesis)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from services.core import routing as routing_module
from services.core.lifecycle import Lifecycle
from services.core.policies import PolicyError, load_policies
from services.core.routing import (
    ACCEPTING,
    OFFLINE,
    TRANSFER_ONLY,
    AgentUpdate,
    ChatUpdate,
    Desk,
    Transfer,
    route,
)
from tests.fakes import ClassifyingLifecycle

T0 = datetime(2026, 7, 14, 8, 0, tzinfo=timezone.utc)
WAITING, ANSWERED, CLOSED = "awaiting_merchant", "awaiting_customer", "closed"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(triggers, desk: Desk | None = None):
    desk = desk or Desk("m1")
    actions = []
    for tr in triggers:
        r = route(desk, tr)
        desk = r.desk
        actions += [(a.ticket_id, a.type, a.data) for a in r.actions]
    return desk, actions


def assigned(actions):
    return [(t, d["agent_id"], d["reason"]) for t, ty, d in actions if ty == "chat.assigned"]


# -- the contract's rules, by example --------------------------------------------------------------------
def test_a_single_agent_gets_every_chat_whatever_its_state_and_keeps_them_offline():
    # Given a merchant whose only agent is offline
    desk, actions = run([AgentUpdate("solo", OFFLINE, at(0)), ChatUpdate("c1", WAITING, at(1))])
    # I expect the chat assigned to it at once
    assert assigned(actions) == [("c1", "solo", "auto")]
    # When it goes offline again, nothing is given back
    desk, actions = run([AgentUpdate("solo", OFFLINE, at(2))], desk)
    assert actions == [] and desk.chats["c1"].agent == "solo"


def test_ties_fewest_chats_then_never_assigned_then_longest_since_then_smallest_id():
    agents = [AgentUpdate(a, ACCEPTING, at(0)) for a in ("b", "a", "c")]
    desk, actions = run([*agents, ChatUpdate("c1", WAITING, at(1)), ChatUpdate("c2", WAITING, at(2))])
    # all at zero chats, never assigned: smallest id first, then the next never-assigned one
    assert [a for _, a, _ in assigned(actions)] == ["a", "b"]
    # a and b answer: all three are at zero again; c was never assigned, then a (assigned longest ago)
    desk, actions = run(
        [
            ChatUpdate("c1", ANSWERED, at(3), answered=True),
            ChatUpdate("c2", ANSWERED, at(3), answered=True),
            ChatUpdate("c3", WAITING, at(4)),
            ChatUpdate("c4", WAITING, at(5)),
        ],
        desk,
    )
    assert [a for _, a, _ in assigned(actions)] == ["c", "a"]


def test_the_queue_empties_oldest_first_when_an_agent_becomes_eligible():
    desk, actions = run(
        [
            AgentUpdate("a1", OFFLINE, at(0)),
            AgentUpdate("a2", TRANSFER_ONLY, at(0)),
            ChatUpdate("late", WAITING, at(20)),
            ChatUpdate("early", WAITING, at(10)),  # out of order: its own time decides its place
        ]
    )
    assert [(t, d["position"]) for t, ty, d in actions if ty == "chat.queued"] == [("late", 1), ("early", 1)]
    assert desk.position("early") == 1 and desk.position("late") == 2
    desk, actions = run([AgentUpdate("a1", ACCEPTING, at(30), max_open_chats=1, keep_cap=False)], desk)
    assert assigned(actions) == [("early", "a1", "auto")]
    assert actions[0][2]["waited_seconds"] == 20 * 60
    assert desk.position("late") == 1


def test_offline_gives_back_waiting_chats_ahead_of_newer_ones_and_transfer_only_keeps_its_own():
    desk, _ = run(
        [
            AgentUpdate("a1", ACCEPTING, at(0), max_open_chats=1, keep_cap=False),
            AgentUpdate("a2", ACCEPTING, at(0), max_open_chats=1, keep_cap=False),
            ChatUpdate("c1", WAITING, at(1)),
            ChatUpdate("c2", WAITING, at(2)),
            ChatUpdate("c3", WAITING, at(3)),
        ]
    )
    assert desk.position("c3") == 1
    desk, actions = run([AgentUpdate("a2", TRANSFER_ONLY, at(4))], desk)
    assert actions == [] and desk.chats["c2"].agent == "a2"  # transfer_only keeps its chats
    desk, actions = run([AgentUpdate("a1", OFFLINE, at(5))], desk)
    assert [(t, ty) for t, ty, _ in actions] == [("c1", "chat.unassigned"), ("c1", "chat.queued")]
    assert actions[1][2]["position"] == 1 and desk.position("c3") == 2
    # a transfer_only agent gets manual transfers only, beyond its limit too
    desk, actions = run([Transfer("a2", at(6), ticket_id="c3")], desk)
    assert assigned(actions) == [("c3", "a2", "transfer")] and desk.agents["a2"].load == 2


def test_a_transfer_needs_a_known_agent_who_is_not_offline():
    desk, _ = run(
        [AgentUpdate("a1", ACCEPTING, at(0)), AgentUpdate("a2", OFFLINE, at(0)), ChatUpdate("c1", WAITING, at(1))]
    )
    for tr in (Transfer("zz", at(2), ticket_id="c1"), Transfer("a2", at(2), ticket_id="c1")):
        r = route(desk, tr)
        assert r.rejection and r.actions == [] and r.desk is desk


def test_a_chat_returning_to_awaiting_merchant_stays_with_its_agent_unless_offline():
    desk, _ = run(
        [
            AgentUpdate("a1", ACCEPTING, at(0)),
            AgentUpdate("a2", ACCEPTING, at(0)),
            ChatUpdate("c1", WAITING, at(1)),
            ChatUpdate("c1", ANSWERED, at(2), answered=True),
        ]
    )
    desk, actions = run([ChatUpdate("c1", WAITING, at(3))], desk)
    assert actions == [] and desk.agents["a1"].load == 1
    desk, _ = run([ChatUpdate("c1", ANSWERED, at(4), answered=True), AgentUpdate("a1", OFFLINE, at(5))], desk)
    desk, actions = run([ChatUpdate("c1", WAITING, at(6))], desk)
    assert [(ty, d.get("agent_id"), d.get("reason")) for _, ty, d in actions] == [
        ("chat.unassigned", "a1", "agent_offline"),
        ("chat.assigned", "a2", "reassigned"),
    ]


def test_answers_are_credited_to_the_agent_holding_the_chat():
    desk, _ = run([AgentUpdate("a1", ACCEPTING, at(0)), ChatUpdate("c1", WAITING, at(1))])
    r = route(desk, ChatUpdate("c1", CLOSED, at(31), answered=True))
    assert [(x.agent_id, x.seconds) for x in r.answers] == [("a1", 30 * 60)]
    assert "c1" not in r.desk.chats and r.desk.agents["a1"].load == 0


# -- properties over any sequence of triggers -------------------------------------------------------------
AGENTS = ("a1", "a2", "a3", "a4")
CHATS = tuple(f"c{i}" for i in range(8))

agent_update = st.builds(
    lambda a, s, cap, keep: ("agent", a, s, cap, keep),
    st.sampled_from(AGENTS),
    st.sampled_from((ACCEPTING, ACCEPTING, TRANSFER_ONLY, OFFLINE)),
    st.one_of(st.none(), st.integers(0, 3)),
    st.booleans(),
)
chat_update = st.builds(
    lambda c, s, ans: ("chat", c, s, ans),
    st.sampled_from(CHATS),
    st.sampled_from((WAITING, WAITING, ANSWERED, CLOSED)),
    st.booleans(),
)
transfer = st.builds(
    lambda to, c, frm, all_: ("transfer", to, c, frm, all_),
    st.sampled_from(AGENTS),
    st.sampled_from(CHATS),
    st.sampled_from(AGENTS),
    st.booleans(),
)
steps = st.lists(
    st.tuples(st.integers(0, 30), st.one_of(agent_update, chat_update, chat_update, transfer)), max_size=60
)


def triggers(plan):
    out, minute = [], 0
    for gap, step in plan:
        minute += gap
        t = at(minute)
        if step[0] == "agent":
            _, a, s, cap, keep = step
            out.append(AgentUpdate(a, s, t, max_open_chats=cap, keep_cap=keep))
        elif step[0] == "chat":
            _, c, s, ans = step
            out.append(ChatUpdate(c, s, t, answered=ans and s != WAITING))
        else:
            _, to, c, frm, all_ = step
            out.append(Transfer(to, t, ticket_id=None if all_ else c, from_agent_id=frm if all_ else None))
    return out


def check_step(before: Desk, tr, r, holders: dict[str, str | None]) -> None:
    d = r.desk
    multi = len(d.agents) >= 2
    auto_to: set[str] = set()
    queued_order = []
    for a in r.actions:
        if a.type == "chat.unassigned":
            assert holders.get(a.ticket_id) == a.data["agent_id"]
            holders[a.ticket_id] = None
        elif a.type == "chat.assigned":
            # no chat assigned to two agents: an assignment only ever follows its release
            assert holders.get(a.ticket_id) is None, (a, holders)
            holders[a.ticket_id] = a.data["agent_id"]
            if a.data["reason"] != "transfer":
                auto_to.add(a.data["agent_id"])
                queued_order.append(a.ticket_id)
                if multi:  # a transfer_only (or offline) agent never receives an automatic chat
                    assert d.agents[a.data["agent_id"]].state == ACCEPTING
        elif a.type == "chat.queued":
            assert a.data["position"] == d.position(a.ticket_id)
    # the state agrees with what was announced
    for tid, c in d.chats.items():
        assert holders.get(tid) == c.agent, tid
    # each agent's load is its waiting chats
    for ag in d.agents.values():
        assert ag.load == sum(1 for c in d.chats.values() if c.agent == ag.id and c.waiting_since is not None)
        # never over capacity by an automatic assignment (transfers and returning conversations may)
        if multi and ag.id in auto_to and ag.max_open_chats is not None:
            assert ag.load <= ag.max_open_chats
    # the queue is exactly the waiting chats nobody holds, sorted; it empties oldest first
    assert d.queue == sorted(
        (c.waiting_since, c.ticket_id) for c in d.chats.values() if c.waiting_since and not c.agent
    )
    # oldest first: every chat still queued is newer than every queued chat handed out by this trigger
    handed = [k for k in before.queue if k[1] in queued_order]
    still = [k for k in before.queue if k in d.queue]
    assert not handed or not still or max(handed) < min(still)
    if d.queue:  # nothing left waiting while someone could take it
        assert multi or not d.agents
        assert not any(ag.eligible() for ag in d.agents.values())


@settings(max_examples=2000, deadline=None)
@given(steps)
def test_routing_invariants_hold_after_every_trigger(plan):
    desk = Desk("m1")
    holders: dict[str, str | None] = {}
    for tr in triggers(plan):
        r = route(desk, tr)
        if r.rejection:
            assert r.desk is desk and not r.actions
            continue
        check_step(desk, tr, r, holders)
        for tid in set(holders) - set(r.desk.chats):  # a closed chat leaves the desk with its holder
            del holders[tid]
        desk = r.desk


@settings(max_examples=150, deadline=None)
@given(steps, st.integers(0, 60))
def test_a_replay_routes_the_same_way_even_from_the_stored_form(plan, cut):
    trs = triggers(plan)
    desk_a, actions_a = run(trs)
    # the same events again, with the desk stored and read back half way (as the store does per batch)
    half, _ = run(trs[:cut])
    stored = Desk.from_doc("m1", half.to_doc())
    desk_b, actions_b = run(trs[cut:], stored)
    _, head = run(trs[:cut])
    assert head + actions_b == actions_a
    assert desk_b.to_doc() == desk_a.to_doc() and desk_b.queue == desk_a.queue


# -- which tickets route: the policy setting, and the lifecycle's part of a transfer ----------------------
def test_routing_is_a_validated_policy_setting(tmp_path):
    assert {n for n, p in load_policies().items() if p.routing} == {"chat"}
    f = tmp_path / "p.toml"
    f.write_text("[policies.wish]\nrouting = true\n[policies.chat]\nrouting = false\n")
    assert {n for n, p in load_policies(f).items() if p.routing} == {"wish"}
    f.write_text('[policies.chat]\nrouting = "yes"\n')
    with pytest.raises(PolicyError, match="policies.chat.routing"):
        load_policies(f)


def test_the_lifecycle_accepts_a_transfer_only_for_an_open_chat_under_routing():
    lc = ClassifyingLifecycle(Lifecycle(load_policies()))

    def ev(type_, data, n):
        body = {"specversion": "1.0", "id": f"e{n}", "source": "t", "type": type_, "time": at(n).isoformat()}
        return schemas.decode(json.dumps({**body, "subject": "T-1", "data": data}).encode())

    def opened(policy):
        return lc.apply(
            None,
            ev(
                "ticket.opened", {"merchant_id": "m", "policy": policy, "message": {"message_id": "x", "text": "hi"}}, 0
            ),
        ).ticket

    move = ev("chat.transfer_requested", {"to_agent_id": "a2"}, 1)
    chat = opened("chat")
    o = lc.apply(chat, move)
    assert o.rejection is None and o.emits == [] and o.ticket.status == WAITING  # routing decides the rest
    assert lc.apply(opened("wish"), move).rejection[0] == "invalid_transition"
    closed = lc.apply(chat, ev("ticket.closed", {"by": "customer"}, 2)).ticket
    assert lc.apply(closed, move).rejection[0] == "invalid_transition"


def test_a_merchant_keeps_a_bounded_number_of_agents(monkeypatch):
    monkeypatch.setattr(routing_module, "MAX_AGENTS", 2)
    desk, _ = run([AgentUpdate("a1", ACCEPTING, at(0)), AgentUpdate("a2", ACCEPTING, at(0))])
    r = route(desk, AgentUpdate("a3", ACCEPTING, at(1)))
    assert r.rejection and "a3" not in r.desk.agents and r.desk is desk
    # a known agent still changes state
    assert route(desk, AgentUpdate("a2", OFFLINE, at(2))).desk.agents["a2"].state == OFFLINE
