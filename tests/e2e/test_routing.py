"""Chat routing (003) from outside: CloudEvents on `<ns>.in`, chat.* events on `<ns>.out`, `show`,
`tick` and `/metrics` of the real `ticketflow` processes."""

from __future__ import annotations

import json
import urllib.request

import pytest

from .harness import Pipeline, event, tapped

pytestmark = pytest.mark.e2e
M = "m-e2e-tokoku"


def available(agent_id: str, state: str, time_: str, **extra) -> dict:
    return event("agent.availability_changed", agent_id, time_, {"merchant_id": M, "state": state, **extra})


def chat(tid: str, time_: str) -> dict:
    data = {
        "merchant_id": M,
        "policy": "chat",
        "channel": "tokopedia",
        "customer": {"id": f"c-{tid}", "locale": "id-ID", "timezone": "Asia/Jakarta"},
        "message": {"message_id": f"{tid}-1", "text": "Kak, pesanan saya belum sampai"},
    }
    return event("ticket.opened", tid, time_, data)


def assigned(p: Pipeline, tid: str) -> list[tuple[str, str]]:
    return [(e["data"]["agent_id"], e["data"]["reason"]) for e in p.of(tid, "chat.assigned")]


@pytest.fixture
def full(amqp_url, database_url, namespace):
    with tapped(amqp_url, database_url, namespace, components="ingest,workers,relay,exporter") as p:
        yield p


def test_three_agents_a_queue_offline_and_a_shift_handover_through_the_exchanges(full: Pipeline):
    p = full
    p.start()
    # Given two agents taking one chat each and a manager on transfers only
    for a, state in (("ag-dewi", "accepting"), ("ag-budi", "accepting"), ("ag-sari", "transfer_only")):
        p.publish(available(a, state, "2026-07-14T01:00:00Z", max_open_chats=1, role="agent"))
    p.drain(quiet_s=1.5, max_s=10)
    # When four chats open, ten minutes apart: each arrives after the one before was routed, as chats
    # opened minutes apart do (events of different tickets may be applied in any order: ingest keeps
    # order per ticket only, and each ticket's partition is its own queue)
    for i in range(4):
        p.publish(chat(f"CH-{i}", f"2026-07-14T02:{i}0:00Z"))
        assert p.wait_for(lambda i=i: p.of(f"CH-{i}", "chat.assigned") or p.of(f"CH-{i}", "chat.queued"))
    # I expect the first two assigned (smallest id first among equals), the other two queued in order
    assert assigned(p, "CH-0") == [("ag-budi", "auto")] and assigned(p, "CH-1") == [("ag-dewi", "auto")]
    assert [e["data"]["position"] for e in p.of("CH-2", "chat.queued") + p.of("CH-3", "chat.queued")] == [1, 2]
    # and show gives the queue position
    r = p.cli("show", "CH-3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["routing"]["queue_position"] == 2

    # When ag-budi goes offline, its unanswered CH-0 goes back to the queue, ahead of CH-2 and CH-3
    p.publish(available("ag-budi", "offline", "2026-07-14T03:00:00Z"))
    assert p.wait_for(lambda: p.of("CH-0", "chat.queued"))
    assert p.of("CH-0", "chat.unassigned")[0]["data"] == {
        "merchant_id": M,
        "agent_id": "ag-budi",
        "reason": "agent_offline",
    }
    assert p.of("CH-0", "chat.queued")[0]["data"]["position"] == 1
    # When ag-dewi answers CH-1, the oldest waiting chat (CH-0) is hers, reassigned
    p.publish(
        event(
            "message.posted",
            "CH-1",
            "2026-07-14T03:10:00Z",
            {"message": {"message_id": "CH-1-2", "author": "merchant", "text": "Baik kak, kami cek"}},
        )
    )
    assert p.wait_for(lambda: len(p.of("CH-0", "chat.assigned")) == 2)
    last = p.of("CH-0", "chat.assigned")[-1]["data"]
    assert (last["agent_id"], last["reason"], last["previous_agent_id"]) == ("ag-dewi", "reassigned", "ag-budi")
    assert last["waited_seconds"] == 70 * 60  # since CH-0 started waiting at 02:00
    # At the end of her shift every open chat of ag-dewi goes to ag-sari (manual: beyond her limit)
    p.publish(
        event(
            "chat.transfer_requested",
            "CH-1",
            "2026-07-14T03:20:00Z",
            {"to_agent_id": "ag-sari", "scope": "all", "from_agent_id": "ag-dewi"},
        )
    )
    assert p.wait_for(lambda: [assigned(p, t)[-1] for t in ("CH-0", "CH-1")] == [("ag-sari", "transfer")] * 2)
    # and the place it frees takes the oldest queued chat
    assert p.wait_for(lambda: assigned(p, "CH-2") == [("ag-dewi", "auto")])
    # A transfer to an agent who is offline is refused, nothing moves
    bad = event("chat.transfer_requested", "CH-3", "2026-07-14T03:30:00Z", {"to_agent_id": "ag-budi"})
    p.publish(bad)
    assert p.wait_for(
        lambda: any(e["data"].get("event_id") == bad["id"] for e in p.seen if e["type"] == "event.rejected")
    )
    assert not p.of("CH-3", "chat.assigned")

    # show --merchant lists the agents and the queue; /metrics has the routing series without agent ids
    r = p.cli("show", "--merchant", M, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    agents = {a["agent_id"]: a for a in rep["agents"]}
    assert agents["ag-budi"]["state"] == "offline" and agents["ag-sari"]["awaiting_merchant_chats"] == 1
    assert agents["ag-sari"]["open_chats"] == 2 and agents["ag-dewi"]["answered_within_24h"] == 1
    assert [q["ticket_id"] for q in rep["queue"]] == ["CH-3"]
    text = p.cli("show", "--merchant", M).stdout
    assert "ag-sari" in text and "1 chat(s) waiting" in text
    body = urllib.request.urlopen(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=10).read().decode()
    assert "ticketflow_chats_queued 1.0" in body
    assert 'ticketflow_agents{state="offline"} 1.0' in body and 'ticketflow_agents{state="accepting"} 1.0' in body
    assert "ticketflow_chat_queue_wait_seconds_bucket" in body
    assert not [a for a in ("ag-dewi", "ag-budi", "ag-sari", M) if a in body]  # no ids in labels


def test_an_availability_change_is_never_parked_as_an_unknown_ticket(full: Pipeline):
    p = full
    p.start()
    p.publish(available("ag-solo", "offline", "2026-07-14T01:00:00Z"))
    p.publish(chat("CH-SOLO", "2026-07-14T01:30:00Z"))
    # the merchant's one agent gets the chat whatever its state
    assert p.wait_for(lambda: assigned(p, "CH-SOLO") == [("ag-solo", "auto")])
    r = p.cli("show", "ag-solo")
    assert r.returncode == 1 and "parked" not in r.stderr
    assert not [e for e in p.seen if e["type"] == "event.rejected"]


def test_the_demo_routes_chats_for_a_one_agent_and_a_three_agent_merchant():
    import subprocess

    from .harness import BIN

    r = subprocess.run([str(BIN), "demo"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    # one agent: both chats to her, the second while she is offline
    assert out.count("-> ag-rina (auto; waited 0 s)") == 2
    # three agents: a queue forms, an offline agent's chats go back first, a shift ends with a transfer of all
    for expected in (
        "ag-andi (agent_offline)",
        "-> ag-bela (reassigned from ag-andi; waited 4200 s)",
        "-> ag-citra (transfer from ag-bela",
        "to_agent_id is offline",
        "ag-citra         transfer_only  manager",
        "CSAT 100.0% (1 rated)",
    ):
        assert expected in out, expected
