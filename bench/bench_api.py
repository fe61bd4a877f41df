"""Issue #15 benchmark: the HTTP API on the local PostgreSQL and RabbitMQ (opt-in, prints figures).

Seeds `--merchant-tickets` tickets of one merchant (a quarter open, two messages each) and
`--total` tickets in all, with set-based SQL; serves the real app with uvicorn on a local port;
then measures, with `--clients` client threads over keep-alive HTTP connections:
  * baseline: GET /healthz (no database): what this machine's HTTP stack gives here;
  * list: GET /v1/tickets (default view, priority sort, 50 a page), following next_cursor through
    the first pages, then again from the top;
  * ticket: GET /v1/tickets/{id} for random tickets of the merchant (messages, timeline);
  * command accept latency: POST /v1/tickets/{id}/replies one at a time (validation, pre-check,
    record, publish with a broker confirm) until 202.
Figures: requests/s and p50/p99 ms; reads also as a ratio of the baseline measured in this run.

    python bench/bench_api.py                                        # 100 000 of one merchant, 300 000 in all
    python bench/bench_api.py --merchant-tickets 100000 --total 1000000
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import httpx

from bench._support import pct, scratch

SEED = """
insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at, updated_at, due_at,
                     order_id, state)
select id, merchant_id, 'wish', status, category, urgent, urges, opened_at, opened_at, due_at, 'o-' || i,
       jsonb_build_object('id', id, 'merchant_id', merchant_id, 'policy', 'wish', 'status', status,
                          'opened_at', opened_at, 'updated_at', opened_at, 'category', category,
                          'group', 'order_support', 'urgent', urgent, 'urges', urges, 'labels', '[]'::jsonb,
                          'order', jsonb_build_object('order_id', 'o-' || i))
from (
    select i, 't-' || i as id, case when i <= %(m)s then 'm1' else 'm' || (2 + i %% 997) end as merchant_id,
           case when i %% 4 = 0 then 'awaiting_merchant' else 'closed' end as status,
           (array['order_status','item_problem','product_question'])[1 + i %% 3] as category,
           i %% 97 = 0 as urgent, i %% 3 as urges,
           timestamptz '2026-01-01' + i * interval '7 seconds' as opened_at,
           case when i %% 4 = 0 then timestamptz '2026-03-01' + i * interval '5 seconds' end as due_at
    from generate_series(1, %(n)s) i
) s
"""
MESSAGES = """
insert into messages (ticket_id, message_id, author, text, at)
select 't-' || i, 'm' || k, case k when 0 then 'customer' else 'merchant' end,
       'where is my order number ' || i, timestamptz '2026-01-01' + i * interval '7 seconds' + k * interval '1 hour'
from generate_series(1, %(m)s) i, generate_series(0, 1) k
"""


def run_clients(n_clients: int, seconds: float, make_request) -> tuple[int, list[float]]:
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int):
        rnd = random.Random(i)
        state: dict = {}
        mine = []
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                make_request(c, rnd, state)
                mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat), lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--merchant-tickets", type=int, default=100_000)
    ap.add_argument("--total", type=int, default=300_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--commands", type=int, default=200)
    a = ap.parse_args()

    import psycopg
    import uvicorn

    from services.bootstrap import build_api
    from services.config import Settings
    from services.store import users
    from services.store.db import connect

    with scratch("bapi") as (amqp, url, ns):
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute(SEED, {"m": a.merchant_tickets, "n": max(a.total, a.merchant_tickets)})
            conn.execute(MESSAGES, {"m": a.merchant_tickets})
            conn.execute("analyze")
        print(f"seeded {a.total:,} tickets ({a.merchant_tickets:,} of merchant m1) in {time.perf_counter() - t0:.0f} s")
        import pika

        from services.amqp.topology import Topology

        conn = pika.BlockingConnection(pika.URLParameters(amqp))
        Topology(ns).declare(conn.channel())
        conn.close()
        settings = Settings(amqp_url=amqp, database_url=url, namespace=ns, api_rate=1e9, api_burst=10**9)
        with connect(url) as conn:
            _, token = users.add(conn, "m1", "owner", "bench")
        app, close = build_api(settings)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        import logging

        logging.getLogger("ticketflow").setLevel(logging.ERROR)
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        open_ids = [f"t-{i}" for i in range(4, a.merchant_tickets + 1, 4)]
        all_ids = [f"t-{i}" for i in range(1, a.merchant_tickets + 1)]

        def healthz(c, rnd, st):
            assert c.get(base + "/healthz").status_code == 200

        def listing(c, rnd, st):
            params = {"cursor": st["cursor"]} if st.get("cursor") and st.get("pages", 0) < 20 else {}
            st["pages"] = st.get("pages", 0) + 1 if params else 0
            r = c.get(base + "/v1/tickets", params=params, headers=auth)
            assert r.status_code == 200, r.text
            st["cursor"] = r.json()["next_cursor"]

        def ticket(c, rnd, st):
            r = c.get(base + f"/v1/tickets/{rnd.choice(all_ids)}", headers=auth)
            assert r.status_code == 200, r.text

        results = {}
        for name, fn in (
            ("baseline GET /healthz", healthz),
            ("list GET /v1/tickets", listing),
            ("ticket GET /v1/tickets/{id}", ticket),
        ):
            n, lat = run_clients(a.clients, a.seconds, fn)
            results[name] = (n / a.seconds, pct(lat, 50) * 1000, pct(lat, 99) * 1000)
        base_rps = results["baseline GET /healthz"][0]
        print(f"{a.clients} client threads, {a.seconds:.0f} s each, server and clients on this machine")
        for name, (rps, p50, p99) in results.items():
            print(
                f"  {name:<30} {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({rps / base_rps:.2f}x baseline)"
            )
        lat = []
        with httpx.Client(timeout=30) as c:
            for i in range(a.commands):
                t1 = time.perf_counter()
                r = c.post(base + f"/v1/tickets/{open_ids[i]}/replies", json={"text": "on its way"}, headers=auth)
                lat.append(time.perf_counter() - t1)
                assert r.status_code == 202, r.text
        print(
            f"  command accept (POST replies -> 202, broker confirm), one at a time: {a.commands} commands, "
            f"p50 {pct(lat, 50) * 1000:.1f} ms  p99 {pct(lat, 99) * 1000:.1f} ms"
        )
        server.should_exit = True
        th.join(10)
        close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
