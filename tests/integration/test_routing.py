"""Chat routing through the engine against the real PostgreSQL: desks locked per merchant, outbound
events in the outbox, timers that free places, two ingest processes at once."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from services.amqp.topology import Topology
from services.core.clock import FixedClock
from services.core.lifecycle import Lifecycle
from services.core.policies import load_policies
from services.store import routing
from services.store.db import connect
from services.store.engine import Engine
from tests.fakes import fake_classify

pytestmark = pytest.mark.integration
NOW = datetime(2026, 7, 14, 12, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 7, 14, 8, 0, tzinfo=timezone.utc)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def ev(type_, subject, minutes, data, id_):
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "t",
            "type": type_,
            "time": at(minutes),
            "subject": subject,
            "data": data,
        }
    ).encode()


def agent(aid, state, minutes, merchant="m1", **extra):
    return ev(
        "agent.availability_changed",
        aid,
        minutes,
        {"merchant_id": merchant, "state": state, **extra},
        f"av-{aid}-{minutes}",
    )


def chat(tid, minutes, merchant="m1"):
    data = {"merchant_id": merchant, "policy": "chat", "message": {"message_id": f"{tid}-m", "text": "halo kak"}}
    return ev("ticket.opened", tid, minutes, data, f"op-{tid}")


def reply(tid, minutes, author="merchant"):
    data = {"message": {"message_id": f"{tid}-{author}-{minutes}", "author": author, "text": "ok"}}
    return ev("message.posted", tid, minutes, data, f"msg-{tid}-{author}-{minutes}")


def transfer(tid, minutes, to, scope="one", frm=None):
    data = {"to_agent_id": to, "scope": scope, **({"from_agent_id": frm} if frm else {})}
    return ev("chat.transfer_requested", tid, minutes, data, f"tr-{tid}-{minutes}")


def routed(conn, type_=None):
    """(ticket, type, data) of the routing events in the outbox, in outbox order."""
    rows = conn.execute(
        "select body from outbox where routing_key like 'chat.%%' or routing_key = 'event.rejected' order by id"
    )
    out = [json.loads(bytes(b)) for (b,) in rows]
    return [(e["subject"], e["type"], e["data"]) for e in out if type_ is None or e["type"] == type_]


def counter(conn, name, **labels):
    row = conn.execute(
        "select value from metric_counters where name = %s and labels = %s",
        (name, json.dumps(labels, sort_keys=True, separators=(",", ":"))),
    ).fetchone()
    return row[0] if row else 0


@pytest.fixture
def engine():
    policies = load_policies()
    return Engine(Topology("tft"), Lifecycle(policies), fake_classify, policies, FixedClock(NOW))


def test_a_single_agent_gets_its_chat_and_the_agent_is_never_parked_as_a_ticket(engine, database_url):
    # Given a merchant whose only agent announced itself (subject = the agent id)
    with connect(database_url) as conn:
        r = engine.ingest(conn, [agent("ag-lina", "accepting", 0)])
        # I expect it applied, not parked as an event waiting for a ticket
        assert (r.applied, r.parked) == (1, 0)
        assert conn.execute("select count(*) from parked_events").fetchone()[0] == 0
        # When a chat opens for that merchant
        engine.ingest(conn, [chat("CH-1", 5)])
        # I expect it assigned to that agent at once, after the ticket's own opening events
        assert routed(conn) == [
            (
                "CH-1",
                "chat.assigned",
                {
                    "merchant_id": "m1",
                    "agent_id": "ag-lina",
                    "previous_agent_id": None,
                    "reason": "auto",
                    "waited_seconds": 0.0,
                },
            )
        ]
        types = [
            r[0]
            for r in conn.execute("select routing_key from outbox where routing_key <> 'tft.translate' order by id")
        ]
        assert types.index("ticket.status_changed") < types.index("chat.assigned")
        desk = routing.load_desk(conn, "m1")
        assert desk.chats["CH-1"].agent == "ag-lina" and counter(conn, "agents", state="accepting") == 1


def test_three_agents_capacity_queue_offline_and_transfer_of_all(engine, database_url):
    with connect(database_url) as conn:
        # Given three accepting agents of one chat each
        engine.ingest(conn, [agent(a, "accepting", 0, max_open_chats=1) for a in ("a1", "a2", "a3")])
        # When five chats open, a minute apart
        engine.ingest(conn, [chat(f"C{i}", 10 + i) for i in range(5)])
        # I expect three assigned (smallest agent id first among equals) and two queued, oldest first
        assigned = {s: d["agent_id"] for s, _, d in routed(conn, "chat.assigned")}
        assert assigned == {"C0": "a1", "C1": "a2", "C2": "a3"}
        assert [(s, d["position"]) for s, _, d in routed(conn, "chat.queued")] == [("C3", 1), ("C4", 2)]
        assert counter(conn, "chats_queued") == 2
        # When a2 answers C1, its place goes to the oldest queued chat
        engine.ingest(conn, [reply("C1", 20)])
        assert routed(conn, "chat.assigned")[-1][:1] + (routed(conn, "chat.assigned")[-1][2]["agent_id"],) == (
            "C3",
            "a2",
        )
        # When a3 goes offline, its unanswered C2 goes back ahead of C4 (queued later) and waits for a place
        engine.ingest(conn, [agent("a3", "offline", 25)])
        tail = routed(conn)[-2:]
        assert tail[0][:2] == ("C2", "chat.unassigned") and tail[0][2]["reason"] == "agent_offline"
        assert tail[1][:2] == ("C2", "chat.queued") and tail[1][2]["position"] == 1
        # When a1 answers C0, C2 (older) is handed out before C4, as reassigned from a3
        engine.ingest(conn, [reply("C0", 30)])
        s, _, d = routed(conn, "chat.assigned")[-1]
        assert (s, d["agent_id"], d["reason"], d["previous_agent_id"]) == ("C2", "a1", "reassigned", "a3")
        # At the end of a2's shift: every open chat of a2 (C1 answered, C3 waiting) moves to a1, beyond its cap
        engine.ingest(conn, [transfer("C3", 40, "a1", scope="all", frm="a2")])
        moved = [(s, t, d.get("reason")) for s, t, d in routed(conn)[-5:-1]]
        assert moved == [
            ("C1", "chat.unassigned", "transfer"),
            ("C1", "chat.assigned", "transfer"),
            ("C3", "chat.unassigned", "transfer"),
            ("C3", "chat.assigned", "transfer"),
        ]
        # and a2's freed place takes the last queued chat
        desk = routing.load_desk(conn, "m1")
        assert desk.chats["C4"].agent == "a2" and desk.queue == []
        assert desk.agents["a1"].load == 2 and counter(conn, "chats_queued") == 0
        assert counter(conn, "agents", state="offline") == 1 and counter(conn, "agents", state="accepting") == 2
        # and the agents' answers are kept for show --merchant
        stats = routing.answer_stats(conn, "m1")
        assert stats["a1"][:2] == (1, 1) and stats["a2"][:2] == (1, 1)


def test_a_transfer_to_an_unknown_or_offline_agent_is_an_invalid_transition(engine, database_url):
    with connect(database_url) as conn:
        engine.ingest(conn, [agent("a1", "accepting", 0), agent("a2", "offline", 0), chat("C9", 5)])
        r = engine.ingest(conn, [transfer("C9", 6, "nobody"), transfer("C9", 7, "a2")])
        assert r.rejected == {"invalid_transition": 2}
        assert routing.load_desk(conn, "m1").chats["C9"].agent == "a1"


def test_a_chat_closed_by_its_inactivity_timer_frees_its_place(engine, database_url):
    with connect(database_url) as conn:
        engine.ingest(conn, [agent("a1", "accepting", 0, max_open_chats=1), agent("a2", "offline", 0)])
        engine.ingest(conn, [chat("OLD", 1), chat("NEW", 60 * 24 * 3)])
        assert routing.load_desk(conn, "m1").position("NEW") == 1
        # When OLD has been ignored for 7 days, the scheduler closes it
        engine.fire_all(conn, T0 + timedelta(days=7, minutes=2))
        # I expect NEW handed to a1 at the timer's due instant
        s, _, d = routed(conn, "chat.assigned")[-1]
        assert (s, d["agent_id"]) == ("NEW", "a1")
        assert d["waited_seconds"] == (timedelta(days=7, minutes=1) - timedelta(days=3)).total_seconds()


def test_two_ingest_processes_never_assign_beyond_capacity(engine, database_url):
    # Given two agents of capacity 3, and 40 chats arriving through two ingest connections at once
    with connect(database_url) as conn:
        engine.ingest(
            conn, [agent("a1", "accepting", 0, max_open_chats=3), agent("a2", "accepting", 0, max_open_chats=3)]
        )
    errors = []

    def ingest(part):
        try:
            with connect(database_url) as c:
                for i in range(part, 40, 2):
                    engine.ingest(c, [chat(f"P{i:02d}", 1 + i)])
        except Exception as e:  # noqa: BLE001 - a thread's failure is reported by the assert below
            errors.append(e)

    threads = [threading.Thread(target=ingest, args=(p,)) for p in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with connect(database_url) as conn:
        assigned = routed(conn, "chat.assigned")
        # I expect exactly six assignments, each chat at most once, three per agent; the rest queued
        assert len(assigned) == 6 and len({s for s, _, _ in assigned}) == 6
        per_agent = [d["agent_id"] for _, _, d in assigned]
        assert per_agent.count("a1") == 3 and per_agent.count("a2") == 3
        desk = routing.load_desk(conn, "m1")
        assert len(desk.queue) == 34 and counter(conn, "chats_queued") == 34


def test_a_duplicate_availability_change_has_no_second_effect_and_a_transfer_waits_for_its_chat(engine, database_url):
    with connect(database_url) as conn:
        # Given an agent going offline announced twice (at-least-once delivery)
        engine.ingest(conn, [agent("a1", "accepting", 0), agent("a2", "accepting", 0), chat("C1", 1)])
        r = engine.ingest(conn, [agent("a1", "offline", 5), agent("a1", "offline", 5)])
        # I expect one effect: one unassignment, one move in the agents gauge
        assert (r.applied, r.duplicates) == (1, 1)
        assert [t for s, t, _ in routed(conn)].count("chat.unassigned") == 1
        assert counter(conn, "agents", state="offline") == 1 and counter(conn, "agents", state="accepting") == 1
        # When a transfer arrives before its chat is opened, it waits (parked) and applies after it
        r = engine.ingest(conn, [transfer("C2", 11, "a1")])
        assert r.parked == 1
        engine.ingest(conn, [agent("a1", "transfer_only", 9), chat("C2", 10)])
        assert [(d["agent_id"], d["reason"]) for s, _, d in routed(conn, "chat.assigned") if s == "C2"] == [
            ("a2", "auto"),
            ("a1", "transfer"),
        ]
        assert routing.assignment(conn, "m1", "C2")["assignee"] == "a1"


def test_the_scheduler_and_ingest_routing_one_merchant_at_once_neither_deadlock_nor_double_assign(engine, database_url):
    # Given 30 ignored chats whose 7 days run out, and agents with room for 2 each
    with connect(database_url) as conn:
        engine.ingest(conn, [agent(f"a{i}", "accepting", 0, max_open_chats=2) for i in range(3)])
        engine.ingest(conn, [chat(f"OLD{i:02d}", 1 + i) for i in range(30)])
    errors = []

    def scheduler():
        try:
            with connect(database_url) as c:
                engine.fire_all(c, T0 + timedelta(days=8))
        except Exception as e:  # noqa: BLE001 - a thread's failure is reported by the assert below
            errors.append(e)

    def ingest():
        try:
            with connect(database_url) as c:
                for i in range(30):
                    engine.ingest(c, [chat(f"NEW{i:02d}", 60 * 24 * 7 + 10 + i)])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    # When the scheduler closes them while new chats arrive through ingest
    threads = [threading.Thread(target=scheduler), threading.Thread(target=ingest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    with connect(database_url) as conn:
        desk = routing.load_desk(conn, "m1")
        # I expect the old chats gone from the desk, six new ones held (two per agent), the rest queued
        assert not [t for t in desk.chats if t.startswith("OLD")]
        assert sorted(a.load for a in desk.agents.values()) == [2, 2, 2]
        assert len(desk.queue) == 24 and counter(conn, "chats_queued") == 24
        # and every assignment followed its chat's release: no chat held by two agents at once
        holder: dict[str, str | None] = {}
        for s, t, d in routed(conn):
            if t == "chat.assigned":
                assert holder.get(s) is None, s
                holder[s] = d["agent_id"]
            elif t == "chat.unassigned":
                holder[s] = None


def test_the_scheduler_never_waits_for_a_desk_held_by_a_writer_of_its_timers(engine, database_url):
    # Given two chats of one merchant past their breach, and an ingest transaction holding one of
    # them (OLD1) and the merchant's desk, about to rewrite OLD1's timers
    with connect(database_url) as conn:
        engine.ingest(conn, [agent("a1", "accepting", 0), agent("a2", "accepting", 0)])
        engine.ingest(conn, [chat("OLD1", 1), chat("OLD2", 2)])
    writer = connect(database_url)
    writer.execute("select id from tickets where id = 'OLD1' for update")
    writer.execute("select merchant_id from routing_desks where merchant_id = 'm1' for update")
    try:
        # When a scheduler claims both due breach timers meanwhile
        result = []
        t = threading.Thread(target=lambda: result.append(_fire_once(engine, database_url, T0 + timedelta(days=2))))
        t.start()
        t.join(20)
        # I expect it to give up on the busy desk's chats at once (it holds OLD1's timer row, which the
        # writer needs: waiting for the desk would deadlock) and fire nothing this round
        assert not t.is_alive() and result == [0]
        writer.execute("update timers set due_at = due_at where ticket_id = 'OLD1'")  # the writer is not blocked
        writer.commit()
    finally:
        writer.close()
    with connect(database_url) as conn:
        # and everything fires on the next rounds
        assert engine.fire_all(conn, T0 + timedelta(days=2)) == 2


def _fire_once(engine, database_url, until):
    with connect(database_url) as c:
        return engine.fire_due(c, until)
