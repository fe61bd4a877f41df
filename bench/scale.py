"""Scale-out figures: 1, 2 and 3 ingest processes (and 1 or 2 relays) on the local services.

For each configuration, on a fresh database and namespace: the processes are started, warmed, then
a burst of the pipeline bench's stream (unique multilingual texts) is published to `<ns>.in` and
timed until every `ticket.status_changed` is out. Prints events/s; CPU per event of each ingest
process, of the relays, of the router's share and of RabbitMQ and PostgreSQL; PostgreSQL rows
written and WAL bytes per event. RabbitMQ, PostgreSQL and the WAL are shared with anything else
running on the machine: run it on an idle box, or read the figures as upper bounds.
    python bench/scale.py [--events 8000] [--configs 1x1,2x1,3x1,3x2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import scratch
from bench.bench_pipeline import BIN, Tap, publish, stream, wait_for
from tests.conftest import run_env


def proc_cpu(pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / tick


def children_cpu(parents: set[int]) -> float:
    """CPU seconds of the direct children of `parents` (the router runs in a child of each ingest)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in parents:
            total += proc_cpu(int(pid))
    return total


def service_cpu() -> dict[str, float]:
    """CPU seconds of every RabbitMQ and PostgreSQL process (other users of them included)."""
    out = {"rabbitmq": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        role = "rabbitmq" if "beam.smp" in cmd else "postgres" if cmd.startswith("postgres") else None
        if role:
            out[role] += proc_cpu(int(pid))
    return out


def db_counters(db: str) -> tuple[int, int]:
    """(rows inserted + updated + deleted in this database, cluster WAL position in bytes)."""
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("select pg_stat_clear_snapshot()")
        rows = c.execute(
            "select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) from pg_stat_user_tables"
        ).fetchone()[0]
        wal = c.execute("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0]
    return int(rows), int(wal)


def run_config(n_ingest: int, n_relay: int, events: int) -> dict:
    with scratch("sc") as (amqp, db, ns):
        env = run_env(amqp, db, ns)
        subprocess.run([str(BIN), "migrate"], env=env, check=True, capture_output=True)
        log = open(f"/tmp/bench-scale-{ns}.log", "wb")

        def start(c):
            return subprocess.Popen(
                [str(BIN), "run", "--components", c],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        ingest = [start("ingest") for _ in range(n_ingest)]
        relays = [start("relay") for _ in range(n_relay)]
        try:
            tap = Tap(amqp, ns)
            tap.start()
            warm = stream(400, "warm")
            publish(amqp, ns, warm, None)
            wait_for(tap, [i for i, _ in warm], 120)
            time.sleep(3)  # partitions settle across the ingest processes
            batch = stream(events, "s")
            time.sleep(1.0)  # let the statistics of the warm-up flush
            rows0, wal0 = db_counters(db)
            cpu0 = {p.pid: proc_cpu(p.pid) for p in ingest + relays}
            router0 = children_cpu({p.pid for p in ingest})
            svc0 = service_cpu()
            t0 = time.perf_counter()
            publish(amqp, ns, batch, None)
            t_end = wait_for(tap, [i for i, _ in batch], 600)
            cpu1 = {p.pid: proc_cpu(p.pid) for p in ingest + relays}
            router1 = children_cpu({p.pid for p in ingest})
            svc1 = service_cpu()
            time.sleep(1.0)
            rows1, wal1 = db_counters(db)
            tap.stop.set()
        finally:
            for p in ingest + relays:
                os.killpg(p.pid, signal.SIGTERM)
            for p in ingest + relays:
                p.wait(30)
    n = len(batch)
    return {
        "config": f"{n_ingest} ingest, {n_relay} relay",
        "rate": n / (t_end - t0),
        "ingest_ms": [(cpu1[p.pid] - cpu0[p.pid]) * 1000 / n for p in ingest],
        "router_ms": (router1 - router0) * 1000 / n,
        "relay_ms": [(cpu1[p.pid] - cpu0[p.pid]) * 1000 / n for p in relays],
        "rabbitmq_ms": (svc1["rabbitmq"] - svc0["rabbitmq"]) * 1000 / n,
        "postgres_ms": (svc1["postgres"] - svc0["postgres"]) * 1000 / n,
        "rows": (rows1 - rows0) / n,
        "wal": (wal1 - wal0) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=8000)
    ap.add_argument("--configs", default="1x1,2x1,3x1,3x2", help="INGESTxRELAY, comma-separated")
    a = ap.parse_args()
    results = [run_config(*map(int, c.split("x")), a.events) for c in a.configs.split(",")]
    print(f"{a.events} events per configuration (half ticket.opened with unique multilingual texts, half replies)")
    print(
        "configuration        events/s   ingest cpu ms/event (each process)   router ms/ev  relay ms/ev   rabbitmq ms/ev  "
        "postgres ms/ev   pg rows/ev   WAL bytes/ev"
    )
    for r in results:
        ingest = " ".join(f"{x:.2f}" for x in r["ingest_ms"])
        relay = " ".join(f"{x:.2f}" for x in r["relay_ms"])
        print(
            f"{r['config']:<20} {r['rate']:8.0f}   {ingest:<18} (sum {sum(r['ingest_ms']):.2f})        "
            f"{r['router_ms']:8.2f}      {relay:<12}  {r['rabbitmq_ms']:8.2f}        {r['postgres_ms']:8.2f}        {r['rows']:6.1f}"
            f"       {r['wal']:8.0f}"
        )
    base = results[0]["rate"]
    print(
        "speed-up vs the first configuration: " + ", ".join(f"{r['config']} {r['rate'] / base:.2f}x" for r in results)
    )


if __name__ == "__main__":
    main()
