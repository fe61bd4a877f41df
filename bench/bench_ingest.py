"""Ingest without the broker: Engine.ingest over the pipeline bench's stream, batches of 200, on a
scratch database. Separates the engine's cost (Python + PostgreSQL) from AMQP's; prints events/s,
this process's CPU per event, and what a batch writes.
    python bench/bench_ingest.py [--events 8000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import scratch
from bench.bench_pipeline import stream


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=200)
    a = ap.parse_args()
    from services.bootstrap import build_engine
    from services.config import Settings
    from services.language import warm_up
    from services.store.db import connect

    with scratch("bi") as (amqp, db, ns):
        engine = build_engine(
            Settings.from_env({"TICKETFLOW_DATABASE_URL": db, "TICKETFLOW_AMQP_URL": amqp, "TICKETFLOW_NAMESPACE": ns})
        )
        warm_up()
        events = [b for _, b in stream(a.events, "x")]
        with connect(db) as conn:
            engine.ingest(conn, [b for _, b in stream(400, "w")])  # warm caches and the planner
            conn.execute("delete from outbox")
            conn.commit()
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(events), a.batch):
                engine.ingest(conn, events[i : i + a.batch])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            mix = conn.execute("select routing_key, count(*) from outbox group by 1 order by 2 desc").fetchall()
            timeline = conn.execute("select count(*) from timeline").fetchone()[0]
    n = len(events)
    print(f"ingest in-process       {n / wall:8.0f} events/s   cpu {cpu * 1000 / n:.3f} ms/event (this process)")
    print(f"outbox rows per event   {sum(c for _, c in mix) / n:8.2f}   " + ", ".join(f"{k} {c}" for k, c in mix))
    print(f"timeline rows per event {timeline / (n + 400):8.2f}")


if __name__ == "__main__":
    main()
