"""Issue #3 benchmark: durable timers at scale, on the local PostgreSQL.

With N pending timers (default 1,000,000): timers scheduled per second (the engine's upsert,
batched as ingest writes them, and whole tickets opened through Engine.ingest); fire lag
p50/p99 while 1,000 timers/s fall due, fired by a `ticketflow run --components scheduler`
process on the wall clock; that process's RSS with 0 and with N pending.
    python bench/bench_timers.py [--pending 1000000] [--due-rate 1000] [--due-seconds 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import pct, rss_mb, scratch
from schemas.builders import cloudevent_bytes
from tests.conftest import run_env

BIN = Path(sys.executable).parent / "ticketflow"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pending", type=int, default=1_000_000)
    ap.add_argument("--due-rate", type=int, default=1000)
    ap.add_argument("--due-seconds", type=int, default=20)
    a = ap.parse_args()
    from services.bootstrap import build_engine
    from services.config import Settings
    from services.core.clock import SystemClock
    from services.store.db import connect

    with scratch("bt") as (amqp, db, ns):
        settings = Settings(amqp_url=amqp, database_url=db, namespace=ns)
        engine = build_engine(settings, SystemClock())
        env = run_env(amqp, db, ns)
        sched = subprocess.Popen(
            [str(BIN), "run", "--components", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(3)
            rss0 = rss_mb(sched.pid)
            far = datetime(2030, 1, 1, tzinfo=timezone.utc)
            with connect(db) as conn:
                # 1. scheduling rate through the engine's own upsert, 500 rows a statement batch
                n_sql = min(200_000, a.pending)
                t0 = time.perf_counter()
                for start in range(0, n_sql, 500):
                    rows = [
                        (f"F{i}", "merchant_response.breach", far + timedelta(seconds=i))
                        for i in range(start, min(n_sql, start + 500))
                    ]
                    with conn.transaction():
                        conn.cursor().executemany(
                            "insert into timers (ticket_id, kind, due_at) values (%s, %s, %s)"
                            " on conflict (ticket_id, kind) do update set due_at = excluded.due_at",
                            rows,
                        )
                upsert_rate = n_sql / (time.perf_counter() - t0)
                # the rest of the pending set, in bulk (not measured)
                conn.execute(
                    "insert into timers (ticket_id, kind, due_at) select 'G' || g, 'chat_inactivity',"
                    " %s + g * interval '1 second' from generate_series(1, %s) g",
                    (far, max(0, a.pending - n_sql)),
                )
                conn.commit()
                conn.execute("vacuum analyze timers") if False else None
            # 2. real tickets whose merchant_response (chat, 24 h) falls due at due-rate/s from T0
            n_due = a.due_rate * a.due_seconds
            t_first = datetime.now(timezone.utc) + timedelta(seconds=max(30, n_due / 1500 + 15))
            bodies = []
            for i in range(n_due):
                due = t_first + timedelta(seconds=i / a.due_rate)
                opened = due - timedelta(hours=24)
                data = {
                    "merchant_id": f"m{i % 100}",
                    "policy": "chat",
                    "category": "order_status",
                    "message": {"message_id": f"L{i}", "text": "where is my order"},
                }
                bodies.append(cloudevent_bytes("ticket.opened", f"L{i}", opened, data, source="bench"))
            with connect(db) as conn:
                t0 = time.perf_counter()
                for s in range(0, n_due, 200):
                    engine.ingest(conn, bodies[s : s + 200])
                open_rate = n_due / (time.perf_counter() - t0)
                if datetime.now(timezone.utc) > t_first:
                    print("warning: tickets were created after the first due instant; lag figures are inflated")
                pending = conn.execute("select count(*) from timers").fetchone()[0]
                wait = (t_first - datetime.now(timezone.utc)).total_seconds() + a.due_seconds + 5
                time.sleep(max(0, wait))
                deadline = time.time() + 60
                while time.time() < deadline:
                    left = conn.execute(
                        "select count(*) from timers where kind = 'merchant_response.breach' and ticket_id like 'L%%'"
                    ).fetchone()[0]
                    conn.commit()
                    if left == 0:
                        break
                    time.sleep(0.5)
                lags = [
                    r[0]
                    for r in conn.execute(
                        "select extract(epoch from o.created_at) - extract(epoch from (convert_from(o.body, 'UTF8')::jsonb"
                        "->'data'->>'due_at')::timestamptz) from outbox o where o.routing_key = 'sla.breached'"
                    )
                ]
            rss1 = rss_mb(sched.pid)
        finally:
            os.killpg(sched.pid, signal.SIGTERM)
            sched.wait(30)
    print(f"pending timers                {pending:>10,}")
    print(f"timer upserts                 {upsert_rate:>10,.0f} /s  (engine SQL, 500 a batch, {n_sql:,} rows)")
    print(
        f"tickets opened via ingest     {open_rate:>10,.0f} /s  (each schedules 2 timers: {2 * open_rate:,.0f} timers/s)"
    )
    print(f"fired while {a.due_rate}/s fell due {len(lags):>8,} of {n_due:,}")
    print(
        f"fire lag                      p50 {pct(lags, 50) * 1000:7.1f} ms   p99 {pct(lags, 99) * 1000:7.1f} ms"
        f"   max {max(lags) * 1000 if lags else float('nan'):7.1f} ms  (transaction start - due instant)"
    )
    print(f"scheduler RSS                 {rss0:7.1f} MB idle, {rss1:7.1f} MB with {pending:,} pending")


if __name__ == "__main__":
    main()
