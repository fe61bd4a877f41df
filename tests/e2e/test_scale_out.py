"""Several processes per component (CONTRACT, after the command table): three ingest processes and
two relay+scheduler processes on one namespace; one ingest and one relay+scheduler are killed
(SIGKILL) mid-stream. Every ticket's outbound sequence must still be exact: per-ticket order, no
effect missing, none doubled (outbound events deduplicated by id, as AMQP consumers must)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from .harness import BIN, event

pytestmark = pytest.mark.e2e

FLOW = ["awaiting_merchant", "awaiting_customer", "awaiting_merchant", "closed"]


def _at(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _msg(subject: str, author: str, at: datetime, id_: str) -> dict:
    data = {"message": {"message_id": f"{id_}-m", "author": author, "text": f"{author} says hi"}}
    return event("message.posted", subject, _at(at), data, id_)


def _opened(subject: str, at: datetime) -> dict:
    data = {"merchant_id": "m-scale", "policy": "wish", "message": {"message_id": f"{subject}-m0", "text": "hello"}}
    return event("ticket.opened", subject, _at(at), data, f"{subject}-o")


def _start(pipeline, components: str) -> subprocess.Popen:
    log = pipeline.log.open("ab")
    return subprocess.Popen(
        [str(BIN), "run", "--components", components],
        env=pipeline.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _unique(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            out.append(e)
    return out


def test_three_ingest_and_two_relay_schedulers_survive_one_of_each_killed(pipeline):
    # Given three ingest processes and two relay+scheduler processes on one namespace
    # (the first of each is started alone until it leads, so the victims are the router and the relay leader)
    procs = [_start(pipeline, "ingest")]
    try:
        _wait_log(pipeline, '"router.active"')
        procs += [_start(pipeline, "relay,scheduler")]
        _wait_log(pipeline, '"relay.leader"')
        procs[1:1] = [_start(pipeline, "ingest") for _ in range(2)]
        procs += [_start(pipeline, "relay,scheduler")]
        assert _ready(pipeline, procs), pipeline.log.read_text()[-3000:]
        now = datetime.now(timezone.utc).replace(microsecond=0)
        run = uuid.uuid4().hex[:6]
        flows = [f"S-{run}-{i:03d}" for i in range(120)]
        lates = [f"L-{run}-{i:02d}" for i in range(30)]
        base = now - timedelta(hours=2)
        stream: list[dict] = [_opened(s, base) for s in flows]
        stream += [_opened(s, now - timedelta(hours=49)) for s in lates]  # deadlines already passed
        stream += [_msg(s, "merchant", base + timedelta(minutes=10), f"{s}-r1") for s in flows]
        stream += [_msg(s, "merchant", base + timedelta(minutes=10), f"{s}-r1") for s in flows[::3]]  # duplicates
        stream += [_msg(s, "customer", base + timedelta(minutes=20), f"{s}-r2") for s in flows]
        stream += [event("ticket.resolved", s, _at(base + timedelta(minutes=30)), {}, f"{s}-x") for s in flows]
        # When the stream is published and one ingest and one relay+scheduler die (SIGKILL) a third of the way
        cut = len(stream) // 3
        for ev in stream[:cut]:
            pipeline.publish(ev)
        time.sleep(0.5)
        for victim in (procs[0], procs[3]):
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        for ev in stream[cut:]:
            pipeline.publish(ev)

        def done() -> bool:
            out = _unique(pipeline.seen)
            by = {}
            for e in out:
                by.setdefault(e.get("subject"), []).append(e)
            flows_done = all(sum(e["type"] == "ticket.status_changed" for e in by.get(s, [])) >= 4 for s in flows)
            lates_done = all(any(e["type"] == "sla.breached" for e in by.get(s, [])) for s in lates)
            return flows_done and lates_done

        finished = pipeline.wait_for(done, max_s=180)
        pipeline.drain(quiet_s=3, max_s=20)  # anything doubled would arrive now
        out = _unique(pipeline.seen)
        # I expect every ticket's sequence exact, in order, and no effect twice
        wrong = {}
        for s in flows:
            got = [e["data"]["to"] for e in out if e.get("subject") == s and e["type"] == "ticket.status_changed"]
            if got != FLOW:
                wrong[s] = got
        for s in lates:
            got = [e["type"] for e in out if e.get("subject") == s and e["type"].startswith("sla.")]
            if got != ["sla.activated", "sla.warning", "sla.breached"]:
                wrong[s] = got
        assert finished and not wrong, (len(wrong), dict(list(wrong.items())[:5]), pipeline.log.read_text()[-2000:])
        causes = [
            (e["type"], e["subject"], e["data"].get("caused_by"), e["data"].get("to"), e["data"].get("due_at"))
            for e in out
            if e["type"] == "ticket.status_changed" or e["type"].startswith("sla.")
        ]
        assert len(causes) == len(set(causes)), "an effect was published under two ids"
        # and the survivors are still up
        assert all(p.poll() is None for p in procs[1:3] + procs[4:])
        # and the router, the relay's leadership and the partitions moved to the survivors
        text = pipeline.log.read_text()
        assert text.count('"router.active"') >= 2 and text.count('"relay.leader"') >= 2
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _wait_log(pipeline, needle: str, max_s: float = 60) -> None:
    end = time.time() + max_s
    while needle not in pipeline.log.read_text():
        assert time.time() < end, f"no {needle} in {max_s} s: {pipeline.log.read_text()[-2000:]}"
        time.sleep(0.2)


def _ready(pipeline, procs, max_s: float = 90) -> bool:
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    pipeline.publish(
        event(
            "ticket.opened",
            probe,
            "2026-01-05T10:00:00Z",
            {"merchant_id": "m-probe", "policy": "wish", "message": {"message_id": probe, "text": "probe"}},
        )
    )
    ok = pipeline.wait_for(lambda: bool(pipeline.of(probe, "ticket.status_changed")), max_s=max_s)
    time.sleep(3)  # let the ingest processes settle their shares of the partitions
    return ok and all(p.poll() is None for p in procs)
