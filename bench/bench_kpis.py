"""Issue #6 benchmark: merchant KPIs at scale, on the local PostgreSQL (opt-in, prints figures).

1. seeds 30 days of history for M merchants and N tickets straight into the KPI tables with
   set-based SQL (what `kpis.record` would have left behind; feeding 1M tickets through it one
   event at a time would take the better part of an hour on 2 cores);
2. KPI updates per second through `kpis.record`: U events (1-2 facts each), `--batch` events per
   transaction like ingest, on `--workers` connections, event time moving on from the history;
3. a `/metrics` scrape through `DatabaseCollector` in a separate exporter-like process:
   scrape time (p50/p99, the KPI part alone too) and that process's RSS;
4. merchants by health: the sharded count table vs counting `kpi_merchants` (seq and index-only).

    python bench/bench_kpis.py                                  # 10 000 merchants, 100 000 tickets
    python bench/bench_kpis.py --merchants 100000 --tickets 1000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._support import pct, scratch

W0 = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)

SEED_SQL = """
create unlogged table bench_tickets as
with t as (
    select i, 'bm-' || floor(%(m)s * power(random(), 2))::int as merchant_id,
           %(w0)s::timestamptz - random() * interval '30 days' as opened_at
    from generate_series(1, %(n)s) i
), q as (
    select t.*, (abs(hashtext(merchant_id)) %% 100) / 100.0 as badness from t
)
select i, merchant_id, opened_at, (i %% 16)::smallint as shard,
       case when random() < 0.92 then random() * 40 * 3600 end as answer_s,
       random() < badness * 0.5 as late,
       case when random() < 0.4 then case when random() < 1 - badness * 0.5 then 4 + floor(random() * 2)::int
                                          else 1 + floor(random() * 3)::int end end as rating
from q;
update bench_tickets set answer_s = null where opened_at + answer_s * interval '1 second' > %(w0)s;

create unlogged table bench_facts as
select merchant_id, shard, (opened_at at time zone 'UTC')::date as day, 0 as rated, 0 as satisfied,
       0 as responses, 0 as late, 1 as opened, coalesce(answer_s <= 86400, false)::int as answered_24h,
       0 as first_responses, 0.0::float8 as first_response_seconds
from bench_tickets
union all
select merchant_id, shard, ((opened_at + answer_s * interval '1 second') at time zone 'UTC')::date, 0, 0, 1,
       late::int, 0, 0, 1, answer_s
from bench_tickets where answer_s is not null
union all   -- never answered and past a 48 h deadline: a breach, counted late
select merchant_id, shard, ((opened_at + interval '48 hours') at time zone 'UTC')::date, 0, 0, 1, 1, 0, 0, 0, 0
from bench_tickets where answer_s is null and opened_at + interval '48 hours' <= %(w0)s
union all
select merchant_id, shard, ((opened_at + answer_s * interval '1 second' + interval '1 hour') at time zone 'UTC')::date,
       1, (rating >= 4)::int, 0, 0, 0, 0, 0, 0
from bench_tickets where rating is not null and answer_s is not null
     and opened_at + answer_s * interval '1 second' + interval '1 hour' <= %(w0)s;

insert into kpi_merchant_days
select merchant_id, day, sum(rated), sum(satisfied), sum(responses), sum(late), sum(opened), sum(answered_24h),
       sum(first_responses), sum(first_response_seconds)
from bench_facts group by merchant_id, day;
insert into kpi_platform_days
select day, shard, sum(rated), sum(satisfied), sum(responses), sum(late), sum(opened), sum(answered_24h),
       sum(first_responses), sum(first_response_seconds)
from bench_facts group by day, shard;
insert into kpi_pending_24h
select merchant_id, opened_at, count(*) from bench_tickets
where opened_at >= %(w0)s::timestamptz - interval '24 hours' and answer_s is null group by 1, 2;
insert into kpi_watermark values (0, %(w0)s);
insert into kpi_merchants (merchant_id, policy, state, evaluated_day)
select merchant_id, 'wish',
       case when late::float8 / nullif(responses, 0) > 0.45 or satisfied::float8 / nullif(rated, 0) < 0.60
                 then 'restricted'
            when coalesce(satisfied::float8 / nullif(rated, 0) > 0.85, true)
                 and coalesce(late::float8 / nullif(responses, 0) < 0.05, true) then 'normal'
            else 'warning' end,
       (%(w0)s::timestamptz at time zone 'UTC')::date
from (select merchant_id, sum(rated) rated, sum(satisfied) satisfied, sum(responses) responses, sum(late) late
      from kpi_merchant_days group by merchant_id) s;
insert into kpi_health_counts select 0, state, count(*) from kpi_merchants group by state;
drop table bench_facts;
"""


def seed(url: str, merchants: int, tickets: int) -> dict:
    from services.store.db import connect

    t0 = time.perf_counter()
    with connect(url, autocommit=True) as c:
        import psycopg

        psycopg.ClientCursor(c).execute(SEED_SQL, {"m": merchants, "n": tickets, "w0": W0})  # several statements
        c.execute("vacuum analyze")
        sizes = {
            t: c.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("kpi_merchant_days", "kpi_platform_days", "kpi_merchants", "kpi_pending_24h")
        }
        mb = c.execute("select pg_total_relation_size('kpi_merchant_days') / 1048576.0").fetchone()[0]
        recent = [
            r[0]
            for r in c.execute(
                "select merchant_id from bench_tickets where opened_at > %s::timestamptz - interval '20 hours'"
                " and answer_s is null limit 20000",
                (W0,),
            )
        ]
    return {"seconds": time.perf_counter() - t0, "rows": sizes, "merchant_days_mb": float(mb), "recent": recent}


def _events(n: int, merchants: int, rnd: random.Random, start: datetime, step: float):
    """One inbound event's facts per item, event time moving on `step` seconds per event."""
    from services.core.ticket import Fact

    opened: list[tuple[str, datetime]] = []
    for k in range(n):
        at = start + timedelta(seconds=k * step)
        m = f"bm-{int(merchants * rnd.random() ** 2)}"
        r = rnd.random()
        if r < 0.4 or not opened:
            opened.append((m, at))
            yield [Fact("opened", m, "wish", at)]
        elif r < 0.75:
            m, t_open = opened.pop(rnd.randrange(len(opened)))
            delay = (at - t_open).total_seconds()
            yield [
                Fact("first_response", m, "wish", at, value=delay, opened_at=t_open),
                Fact("response", m, "wish", at, late=rnd.random() < 0.1),
            ]
        else:
            yield [Fact("rating", m, "wish", at, value=float(rnd.choice((1, 3, 4, 5, 5, 5))))]


def _worker(args) -> dict:
    url, merchants, updates, batch, wid, step = args
    from services.core.policies import BUILTIN
    from services.store import kpis
    from services.store.db import connect

    rnd = random.Random(wid)
    latencies, changes, facts = [], 0, 0
    events = list(_events(updates, merchants, rnd, W0 + timedelta(seconds=wid), step))
    t0 = time.perf_counter()
    with connect(url) as conn:
        for i in range(0, len(events), batch):
            with conn.transaction(), conn.cursor() as cur:
                for ev in events[i : i + batch]:
                    s = time.perf_counter()
                    changes += len(kpis.record(cur, ev, BUILTIN))
                    latencies.append(time.perf_counter() - s)
                    facts += len(ev)
    return {
        "seconds": time.perf_counter() - t0,
        "events": len(events),
        "facts": facts,
        "changes": changes,
        "latencies": latencies,
    }


def updates(url: str, merchants: int, total: int, batch: int, workers: int) -> dict:
    per = total // workers
    step = 3.0 * workers  # all workers together: one event every 3 s of event time
    t0 = time.perf_counter()
    if workers == 1:
        results = [_worker((url, merchants, per, batch, 0, step))]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_worker, [(url, merchants, per, batch, w, step) for w in range(workers)])
    wall = time.perf_counter() - t0
    lat = [x for r in results for x in r["latencies"]]
    events = sum(r["events"] for r in results)
    return {
        "workers": workers,
        "events": events,
        "facts": sum(r["facts"] for r in results),
        "events_per_s": events / wall,
        "facts_per_s": sum(r["facts"] for r in results) / wall,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "health_changes": sum(r["changes"] for r in results),
    }


EXPORTER = r"""
import json, sys, time
from prometheus_client import CollectorRegistry, generate_latest
from services.store import kpis
from services.core.clock import SystemClock
from services.config import Settings
from services.components.exporter import DatabaseCollector
url, amqp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
registry = CollectorRegistry()
collector = DatabaseCollector(Settings(database_url=url, amqp_url=amqp), ["exporter"])
registry.register(collector)
rss0 = rss()
full, kpi, size = [], [], 0
for _ in range(n):
    t = time.perf_counter(); size = len(generate_latest(registry)); full.append(time.perf_counter() - t)
    conn = collector._db()
    t = time.perf_counter(); kpis.platform_snapshot(conn, SystemClock().now()); kpi.append(time.perf_counter() - t)
print(json.dumps({"full": full, "kpi": kpi, "rss_before_mb": rss0, "rss_after_mb": rss(), "bytes": size}))
"""


def scrape(url: str, amqp: str, n: int) -> dict:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", EXPORTER, url, amqp, str(n)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(root), "TICKETFLOW_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"},
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    full = r["full"][1:]  # the first scrape also connects to PostgreSQL and RabbitMQ: reported apart
    return {
        "first_ms": r["full"][0] * 1000,
        "full_p50_ms": pct(full, 50) * 1000,
        "full_p99_ms": pct(full, 99) * 1000,
        "kpi_p50_ms": pct(r["kpi"], 50) * 1000,
        "kpi_p99_ms": pct(r["kpi"], 99) * 1000,
        "rss_before_mb": r["rss_before_mb"],
        "rss_after_mb": r["rss_after_mb"],
        "bytes": r["bytes"],
    }


def state_counts(url: str, repeat: int = 5) -> dict:
    from services.store.db import connect

    def best(c, sql):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            c.execute(sql).fetchall()
            times.append(time.perf_counter() - t)
        return min(times) * 1000

    with connect(url, autocommit=True) as c:
        out = {
            "count_table_ms": best(c, "select state, sum(n) from kpi_health_counts group by state"),
            "seq_count_ms": best(c, "select state, count(*) from kpi_merchants group by state"),
        }
        c.execute("create index bench_merchants_by_state on kpi_merchants (state)")
        c.execute("vacuum analyze kpi_merchants")
        c.execute("set enable_seqscan = off")
        out["index_only_count_ms"] = best(c, "select state, count(*) from kpi_merchants group by state")
        c.execute("drop index bench_merchants_by_state")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--merchants", type=int, default=10_000)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--updates", type=int, default=20_000, help="events through kpis.record in the timed phase")
    ap.add_argument("--batch", type=int, default=200, help="events per transaction (ingest batch)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="connections for the update phase")
    ap.add_argument("--scrapes", type=int, default=30)
    a = ap.parse_args()
    print(f"bench_kpis: {a.merchants} merchants, {a.tickets} tickets of history, {a.updates} timed events")
    with scratch("bk") as (amqp, url, _ns):
        s = seed(url, a.merchants, a.tickets)
        print(f"seed      {s['seconds']:.1f} s  rows {s['rows']}  kpi_merchant_days {s['merchant_days_mb']:.0f} MB")
        for w in a.workers:
            u = updates(url, a.merchants, a.updates, a.batch, w)
            print(
                f"record    {w} connection(s): {u['events_per_s']:.0f} events/s ({u['facts_per_s']:.0f} facts/s)"
                f"  per call p50 {u['p50_ms']:.2f} ms p99 {u['p99_ms']:.2f} ms  ({u['events']} events,"
                f" {u['health_changes']} health changes)"
            )
        sc = scrape(url, amqp, a.scrapes)
        print(
            f"scrape    /metrics p50 {sc['full_p50_ms']:.1f} ms p99 {sc['full_p99_ms']:.1f} ms, first"
            f" {sc['first_ms']:.0f} ms (kpis.platform_snapshot alone p50 {sc['kpi_p50_ms']:.2f} ms"
            f" p99 {sc['kpi_p99_ms']:.2f} ms; {sc['bytes']} bytes, RabbitMQ queue depths included)"
        )
        print(
            f"exporter  RSS {sc['rss_before_mb']:.0f} MB before the first scrape, {sc['rss_after_mb']:.0f} MB"
            f" after {a.scrapes}"
        )
        c = state_counts(url)
        print(
            f"by state  count table {c['count_table_ms']:.2f} ms, seq count {c['seq_count_ms']:.1f} ms,"
            f" index-only count {c['index_only_count_ms']:.1f} ms ({s['rows']['kpi_merchants']} merchants)"
        )


if __name__ == "__main__":
    main()
