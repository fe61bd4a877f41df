"""Chat routing (003): decisions per second of the pure function, and what routing adds to ingest.

1. `route` alone, one merchant with 200 agents (all at their limit) and 10,000 queued chats: a new
   chat (queued: a decision about its place), an answer that frees a place (the oldest queued chat
   assigned), an agent coming back with room for 50 (50 assignments). Baseline in the same run: the
   lifecycle applying a customer message to a chat (`Lifecycle.apply`), the core's everyday step.
2. Ingest (Engine.ingest, batches of 200, no broker) of the same chat stream with the `chat` policy
   routing and with routing switched off (policy setting), on the heavy merchant above and on 100
   small merchants of 3 agents: events/s and CPU per event, and the difference per event.
    python bench/bench_routing.py [--events 2000] [--queued 10000] [--agents 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import scratch

T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)


def _iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _ev(type_, subject, minutes, data, id_):
    body = {"specversion": "1.0", "id": id_, "source": "bench", "type": type_, "time": _iso(minutes)}
    return json.dumps({**body, "subject": subject, "data": data}).encode()


def _agent(merchant, aid, minutes, cap):
    return _ev(
        "agent.availability_changed",
        aid,
        minutes,
        {"merchant_id": merchant, "state": "accepting", "max_open_chats": cap},
        f"av-{merchant}-{aid}",
    )


def _chat(merchant, tid, minutes):
    data = {"merchant_id": merchant, "policy": "chat", "message": {"message_id": f"{tid}-m", "text": "Kak, stok ada?"}}
    return _ev("ticket.opened", tid, minutes, data, f"op-{tid}")


def _reply(tid, minutes):
    data = {"message": {"message_id": f"{tid}-r", "author": "merchant", "text": "Ada kak"}}
    return _ev("message.posted", tid, minutes, data, f"re-{tid}")


# -- 1. the pure function --------------------------------------------------------------------------------
def bench_function(agents: int, queued: int, rounds: int) -> None:
    from services.core.lifecycle import Lifecycle
    from services.core.policies import load_policies
    from services.core.routing import AgentUpdate, ChatUpdate, Desk, route
    from tests.fakes import ClassifyingLifecycle

    desk = Desk("m-big")
    for i in range(agents):
        desk = route(desk, AgentUpdate(f"ag-{i:03d}", "accepting", T0, max_open_chats=1, keep_cap=False)).desk
    for i in range(agents + queued):
        desk = route(desk, ChatUpdate(f"c-{i:05d}", "awaiting_merchant", T0 + timedelta(seconds=i))).desk
    assert len(desk.queue) == queued
    at = T0 + timedelta(days=1)

    def timed(fn, n):
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        return (time.perf_counter() - t) / n

    new = timed(lambda i: route(desk, ChatUpdate(f"n-{i}", "awaiting_merchant", at)), rounds)
    held = [c.ticket_id for c in desk.chats.values() if c.agent][:rounds]
    free = timed(lambda i: route(desk, ChatUpdate(held[i % len(held)], "awaiting_customer", at, answered=True)), rounds)
    room = timed(
        lambda i: route(desk, AgentUpdate("ag-000", "accepting", at, max_open_chats=51, keep_cap=False)), rounds
    )
    copy = timed(lambda i: desk.copy(), rounds)
    # as the store calls it: the desk handed over (no copy); each call on a fresh copy, the copy not timed
    copies = [desk.copy() for _ in range(rounds)]
    owned = timed(
        lambda i: route(
            copies[i], ChatUpdate(held[i % len(held)], "awaiting_customer", at, answered=True), in_place=True
        ),
        rounds,
    )

    lc = ClassifyingLifecycle(Lifecycle(load_policies()))
    import schemas

    opened = lc.apply(None, schemas.decode(_chat("m-big", "L-1", 0))).ticket
    msg = schemas.decode(
        _ev("message.posted", "L-1", 5, {"message": {"message_id": "x", "author": "customer", "text": "halo"}}, "l-2")
    )
    base = timed(lambda i: lc.apply(opened, msg), rounds * 5)
    print(f"route(), one merchant: {agents} agents at their limit, {queued} queued chats")
    print(f"  baseline Lifecycle.apply (customer message)  {1 / base:9.0f}/s   {base * 1e6:8.1f} us")
    for label, s, decisions in (
        ("new chat -> queued", new, 1),
        ("answer frees a place -> 1 assigned", free, 1),
        ("agent given room for 50 more -> 50 assigned", room, 50),
        ("answer frees a place, in place (the store)", owned, 1),
    ):
        print(
            f"  {label:<44} {decisions / s:9.0f} decisions/s   {s * 1e6:8.1f} us/call   {s / base:5.1f}x the baseline"
        )
    print(f"  of which copying the desk (route leaves its input as it was)   {copy * 1e6:8.1f} us")


# -- 2. what routing adds to ingest ----------------------------------------------------------------------
def bench_ingest(
    name: str, merchants: int, agents: int, queued: int, events: int, routing: bool
) -> tuple[float, float]:
    from services.bootstrap import build_engine
    from services.config import Settings
    from services.store.db import connect

    with scratch("br") as (amqp, db, ns):
        # routing off the way an operator would switch it off: the policy setting
        toml = Path(tempfile.mkstemp(suffix=".toml")[1])
        toml.write_text(f"[policies.chat]\nrouting = {'true' if routing else 'false'}\n")
        env = {"TICKETFLOW_DATABASE_URL": db, "TICKETFLOW_AMQP_URL": amqp, "TICKETFLOW_NAMESPACE": ns}
        engine = build_engine(Settings.from_env({**env, "TICKETFLOW_POLICIES": str(toml)}))
        ms = [f"m-{k:03d}" for k in range(merchants)]
        setup = [_agent(m, f"ag-{i:03d}", 0, 1) for m in ms for i in range(agents)]
        per = agents + queued  # every agent holds one waiting chat, the rest queue
        setup += [_chat(m, f"{m}-c{i:05d}", 1 + i / 60) for m in ms for i in range(per)]
        # the measured stream: an agent answers a held chat (its place goes to the oldest queued), a new chat opens
        stream = []
        for j in range(events // 2):
            m = ms[j % merchants]
            k = j // merchants
            stream += [_reply(f"{m}-c{k:05d}", 2000 + j), _chat(m, f"{m}-new{k:05d}", 2000 + j)]
        with connect(db) as conn:
            for i in range(0, len(setup), 500):
                engine.ingest(conn, setup[i : i + 500])
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(stream), 200):
                engine.ingest(conn, stream[i : i + 200])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            routed = conn.execute("select count(*) from outbox where routing_key like 'chat.%%'").fetchone()[0]
    n = len(stream)
    print(
        f"  {name:<34} routing {'on ' if routing else 'off'}  {n / wall:7.0f} events/s   "
        f"wall {wall * 1000 / n:6.3f} ms/event   cpu {cpu * 1000 / n:6.3f} ms/event   chat.* rows {routed}"
    )
    return wall / n, cpu / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=200)
    a = ap.parse_args()
    bench_function(a.agents, a.queued, a.rounds)
    print(f"ingest (Engine.ingest, batches of 200, no broker), {a.events} events: answers + new chats")
    for name, merchants, agents, queued in (
        (f"1 merchant, {a.agents} agents, {a.queued} queued", 1, a.agents, a.queued),
        ("100 merchants, 3 agents, 2 queued", 100, 3, 2),
    ):
        off = bench_ingest(name, merchants, agents, queued, a.events, routing=False)
        on = bench_ingest(name, merchants, agents, queued, a.events, routing=True)
        print(
            f"  {'':<34} routing adds {(on[0] - off[0]) * 1000:6.3f} ms wall, {(on[1] - off[1]) * 1000:6.3f} ms cpu "
            f"per event (x{on[0] / off[0]:.2f} wall)"
        )


if __name__ == "__main__":
    main()
