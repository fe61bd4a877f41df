"""Issue #2 benchmark: a mixed stream (ticket.opened, message.posted) from <ns>.in to
ticket.status_changed on <ns>.out, through a real `ticketflow run` on the local services.

Prints: sustained events/s; p50/p99 publish -> status_changed latency at half that rate and at the
target rate (500/s); CPU per event by process; and,
in the same run on the same broker, a no-op dramatiq actor's throughput as the baseline.
    python bench/bench_pipeline.py [--events 10000] [--seconds 10] [--target-rate 500] [--ingest 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import pct, scratch
from schemas.builders import cloudevent
from services.amqp.publisher import coalesced
from services.amqp.topology import WORKER_ACTORS, Topology
from tests.conftest import run_env

BIN = Path(sys.executable).parent / "ticketflow"


_TEXTS = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[1] / "services/language/data/eval.jsonl").read_text().splitlines()
]


def stream(n: int, tag: str) -> list[tuple[str, bytes]]:
    """Half opened, half merchant replies; every event changes a status. Opening messages are the
    classifier's held-out set (570 texts, 11 languages, merchant speaking the customer's language),
    each made unique with an order number so nothing is classified twice."""
    out = []
    for i in range(n // 2):
        s = f"B{tag}-{i}"
        sample = _TEXTS[i % len(_TEXTS)]
        for type_, data, t in (
            (
                "ticket.opened",
                {
                    "merchant_id": f"m{i % 500}",
                    "policy": "wish",
                    "merchant_locale": sample["lang"],
                    "customer": {"id": f"c{i}", "locale": sample["lang"]},
                    "message": {"message_id": f"{s}a", "text": f"{sample['text']} #{tag}{i}"},
                },
                "2026-03-02T09:00:00Z",
            ),
            (
                "message.posted",
                {"message": {"message_id": f"{s}b", "author": "merchant", "text": "Shipped."}},
                "2026-03-02T09:05:00Z",
            ),
        ):
            ev = cloudevent(type_, s, t, data, source="bench")
            out.append((ev["id"], json.dumps(ev).encode()))
    # interleave so consecutive events belong to different tickets, as real traffic does
    half = len(out) // 2
    opened, replies = out[0::2], out[1::2]
    mixed = []
    for i in range(len(opened)):
        mixed.append(opened[i])
        if i >= 50:
            mixed.append(replies[i - 50])
    mixed.extend(replies[len(opened) - 50 :])
    assert len(mixed) == len(out), (len(mixed), len(out), half)
    return mixed


class Tap(threading.Thread):
    """Collects status_changed arrival times by cause (inbound event id)."""

    def __init__(self, amqp: str, ns: str):
        super().__init__(daemon=True)
        self.conn = pika.BlockingConnection(pika.URLParameters(amqp))
        self.ch = self.conn.channel()
        self.q = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.q, f"{ns}.out", "ticket.status_changed")
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self):
        for m, _, body in self.ch.consume(self.q, auto_ack=True, inactivity_timeout=0.2):
            if m is not None:
                self.arrived[orjson.loads(body)["data"]["caused_by"]] = time.perf_counter()
            if self.stop.is_set():
                break
        self.conn.close()


def publish(amqp: str, ns: str, events, rate: float | None) -> dict[str, float]:
    conn = pika.BlockingConnection(pika.URLParameters(amqp))
    ch = conn.channel()
    sent: dict[str, float] = {}
    start = time.perf_counter()
    props = pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2)
    if rate is None:  # a burst: frames written 500 messages at a time, so the load generator stays cheap
        for i in range(0, len(events), 500):
            with coalesced(conn):
                for eid, body in events[i : i + 500]:
                    sent[eid] = time.perf_counter()
                    ch.basic_publish(f"{ns}.in", "x", body, props)
            conn.process_data_events(0)
    for i, (eid, body) in enumerate(events if rate else ()):
        due = start + i / rate
        while (d := due - time.perf_counter()) > 0:
            time.sleep(min(d, 0.002))
        sent[eid] = time.perf_counter()
        ch.basic_publish(f"{ns}.in", "x", body, props)
    conn.close()
    return sent


def run_pipeline(amqp, db, ns, second="relay,workers", ingest=1):
    env = run_env(amqp, db, ns)
    subprocess.run([str(BIN), "migrate"], env=env, check=True, capture_output=True)
    log = open(f"/tmp/bench-pipeline-{ns}.log", "wb")
    # ingest and relay as separate processes: two cores, two GIL-bound loops
    procs = [
        subprocess.Popen(
            [str(BIN), "run", "--components", c], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        for c in ["ingest"] * ingest + [second]
    ]
    return procs


def cpu_seconds(procs=()) -> dict[str, float]:
    """CPU seconds used so far by this bench's processes (`procs` and their children, e.g. the
    router of an ingest process), by role, and by RabbitMQ and PostgreSQL (shared with whatever
    else runs on the box); read before and after the sustained phase, the difference says where
    the cores went per event. Only our own pids count: other checkouts' `ticketflow run` would not."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    me = os.getpid()
    roles = {p.pid: ("ingest" if "ingest" in " ".join(p.args) else "relay+workers") for p in procs}
    stats: dict[int, tuple[int, str, float]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(pid)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / tick)
    for pid, (ppid, cmd, cpu) in stats.items():
        role = (
            "bench"
            if pid == me
            else roles.get(pid)
            or (roles[ppid] + " (child)" if ppid in roles else None)
            or ("postgres" if cmd.startswith("postgres") else "rabbitmq" if "beam.smp" in cmd else None)
        )
        if role:
            out[role] = out.get(role, 0.0) + cpu
    return out


def worker_backlog(amqp: str, ns: str) -> dict[str, int]:
    """Tasks waiting in the workers' queues (translation, refinement) when the drain ends."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp))
    try:
        ch = conn.channel()
        t = Topology(ns)
        return {a: ch.queue_declare(t.worker_queue(a), passive=True).method.message_count for a in WORKER_ACTORS}
    except pika.exceptions.ChannelClosedByBroker:
        return {}
    finally:
        if conn.is_open:
            conn.close()


def wait_for(tap: Tap, ids, timeout: float) -> float:
    end = time.time() + timeout
    while time.time() < end:
        if all(i in tap.arrived for i in ids):
            return max(tap.arrived[i] for i in ids)
        time.sleep(0.05)
    missing = sum(1 for i in ids if i not in tap.arrived)
    raise SystemExit(f"{missing} events never came out")


def dramatiq_baseline(amqp: str, ns: str, n: int) -> float:
    import dramatiq
    from dramatiq import Worker

    from workers.broker import make_broker

    broker = make_broker(amqp)
    q = f"{ns}.noop"
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def noop(i):
        with lock:
            count[0] += 1
            if count[0] == n:
                done.set()

    actor = dramatiq.actor(noop, broker=broker, queue_name=q, actor_name="noop", max_retries=0)
    broker.declare_queue(q, ensure=True)
    # enqueue without confirms for the fill (not measured)
    conn = pika.BlockingConnection(pika.URLParameters(amqp))
    ch = conn.channel()
    for i in range(n):
        ch.basic_publish("", q, actor.message(i).encode(), pika.BasicProperties(delivery_mode=2))
    conn.close()
    worker = Worker(broker, worker_threads=8)
    t0 = time.perf_counter()
    worker.start()
    done.wait(300)
    elapsed = time.perf_counter() - t0
    worker.stop()
    ch = pika.BlockingConnection(pika.URLParameters(amqp)).channel()
    for name in (q, f"{q}.DQ", f"{q}.XQ"):
        ch.queue_delete(name)
    broker.close()
    return n / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--target-rate", type=float, default=500.0, help="a second latency phase at this rate")
    ap.add_argument(
        "--with",
        dest="second",
        default="relay,workers",
        help="components of the second process (the first runs ingest)",
    )
    ap.add_argument(
        "--ingest",
        type=int,
        default=1,
        help="ingest processes (more than one shares the partitions: TICKETFLOW_INGEST_PARTITIONS > 0)",
    )
    ap.add_argument("--settle", type=float, default=0.0, help="seconds of quiet before each latency phase")
    a = ap.parse_args()
    if a.ingest > 1 and os.environ.get("TICKETFLOW_INGEST_PARTITIONS", "8") == "0":
        raise SystemExit("--ingest > 1 needs partitions (a second process without them is a hot standby)")
    with scratch("bp") as (amqp, db, ns):
        procs = run_pipeline(amqp, db, ns, a.second, a.ingest)
        try:
            tap = Tap(amqp, ns)
            tap.start()
            warm = stream(200, "warm")
            publish(amqp, ns, warm, None)
            wait_for(tap, [i for i, _ in warm], 90)
            if a.ingest > 1:
                time.sleep(5)  # the processes settle their shares of the partitions (rebalanced every 2 s)
            events = stream(a.events, "s")
            t0, cpu0 = time.perf_counter(), cpu_seconds(procs)
            publish(amqp, ns, events, None)
            t_end = wait_for(tap, [i for i, _ in events], 300)
            cpu1 = cpu_seconds(procs)
            backlog = worker_backlog(amqp, ns)
            sustained = len(events) / (t_end - t0)
            lats = {}
            for tag, rate in (("l", sustained / 2), ("t", a.target_rate)):  # half the sustained rate; the target's
                time.sleep(a.settle)  # what the phase before left (vacuum, the workers' queues) is not this one's
                lat_events = stream(int(rate * a.seconds) // 2 * 2, tag)
                sent = publish(amqp, ns, lat_events, rate)
                wait_for(tap, list(sent), 120)
                lats[rate] = [(tap.arrived[i] - sent[i]) * 1000 for i in sent]
            tap.stop.set()
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                p.wait(30)
        base = dramatiq_baseline(amqp, ns, min(a.events, 20_000))
    print(
        f"pipeline sustained      {sustained:8.0f} events/s  ({len(events)} events, processes: "
        f"{a.ingest} x ingest + {a.second})"
    )
    for rate, lat in lats.items():
        print(
            f"latency at {rate:6.0f}/s   p50 {pct(lat, 50):7.1f} ms   p99 {pct(lat, 99):7.1f} ms   max {max(lat):7.1f} ms"
        )
    used = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    print(
        "cpu per event (ms)      "
        + "  ".join(f"{k} {v * 1000 / len(events):.2f}" for k, v in sorted(used.items()))
        + f"  | all {sum(used.values()) * 1000 / len(events):.2f} of {os.cpu_count() * (t_end - t0) * 1000 / len(events):.2f}"
    )
    print(
        "worker queues at drain end  "
        + "  ".join(f"{q} {n}" for q, n in backlog.items())
        + "  (tasks still waiting: work the drain figure did not wait for)"
    )
    print(f"dramatiq no-op actor    {base:8.0f} msgs/s   (same broker, 1 process x 8 threads)")
    print(f"ratio pipeline/no-op    {sustained / base:8.2f}")


if __name__ == "__main__":
    main()
