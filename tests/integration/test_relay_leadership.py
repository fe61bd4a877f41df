"""Relay leadership under a dead leader: its network cut, not only its process killed.

Two ways to cut: `ss -K` destroys the leader's TCP connection (the kernel resets it), and a
network namespace whose link goes down (packets vanish, nobody is told: only keepalives and
`tcp_user_timeout` can notice). Either way the standby must take over within 30 s and the old
leader must not publish again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pika
import psycopg
import pytest

from services.components.relay import _LEADER_KEY, LeadershipUnsafe, Relay
from services.store import outbox
from services.store.db import connect, migrate
from tests.conftest import run_env
from tests.private import PrivatePostgres

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).with_name("ticketflow")


def _add_rows(database_url: str, exchange: str, ids: list[str]) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        for i in ids:
            body = json.dumps({"id": i}).encode()
            c.execute(
                "insert into outbox (exchange, routing_key, body, headers, message_id) values (%s, 'test.row', %s, null, %s)",
                (exchange, body, i),
            )
        c.execute("select pg_notify('ticketflow_outbox', '')")


def _leader(database_url: str) -> tuple[int, int] | None:
    """(backend pid, client port) of the session holding the relay's lock, or None."""
    with psycopg.connect(database_url, autocommit=True) as c:
        return c.execute(
            "select l.pid, a.client_port from pg_locks l join pg_stat_activity a using (pid)"
            " where l.locktype = 'advisory' and l.objid = %s::bigint::oid and l.granted",
            (_LEADER_KEY,),
        ).fetchone()


def _wait(pred, timeout: float, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def test_a_standby_relay_takes_over_when_the_leaders_connection_is_cut(
    database_url, amqp_url, namespace, broker_cleanup
):
    # Given two relay processes on one database, one of them leading, and a tap on <ns>.out
    from services.bootstrap import declare_topology
    from services.config import Settings

    declare_topology(Settings(amqp_url=amqp_url, database_url=database_url, namespace=namespace))
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    tap = f"{namespace}.tap"
    ch.queue_declare(tap)
    ch.queue_bind(tap, f"{namespace}.out", "#")
    env = run_env(amqp_url, database_url, namespace)
    procs = [
        subprocess.Popen(
            [str(BIN), "run", "--components", "relay"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        first = _wait(lambda: _leader(database_url), 60)
        assert first, "no relay took the lead"
        ids = [f"row-{n:03d}" for n in range(40)]
        _add_rows(database_url, f"{namespace}.out", ids[:20])

        # When the leader's connection is destroyed on both ends (ss -K)
        port = urlsplit(database_url).port or 5432
        cut = time.monotonic()
        for expr in (
            ["dst", "127.0.0.1", "dport", "=", str(port), "sport", "=", str(first[1])],
            ["src", "127.0.0.1", "sport", "=", str(port), "dport", "=", str(first[1])],
        ):
            r = subprocess.run(["ss", "-K", *expr], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr

        # I expect another session to hold the lock within 30 s, and every row to come out
        second = _wait(lambda: (lead := _leader(database_url)) and lead[0] != first[0] and lead, 30)
        assert second, "no relay took over within 30 s"
        assert time.monotonic() - cut < 30
        _add_rows(database_url, f"{namespace}.out", ids[20:])
        got: list[str] = []
        end = time.monotonic() + 30
        while time.monotonic() < end and not set(ids) <= set(got):
            m, _, body = ch.basic_get(tap, auto_ack=True)
            if m is None:
                time.sleep(0.1)
                continue
            got.append(json.loads(body)["id"])
        assert set(got) == set(ids)
        first_seen = list(dict.fromkeys(got))
        assert first_seen == sorted(first_seen), "rows left out of outbox order"
        assert all(p.poll() is None for p in procs), "a relay process died instead of reconnecting"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        conn.close()


class FilePublisher:
    """Appends (monotonic time, message id) lines: what a relay in another network namespace published
    (it cannot reach the test's broker from there, and the question here is only *when* it publishes)."""

    def __init__(self, path: str):
        self.path = path

    def publish(self, rows) -> None:
        with open(self.path, "a") as f:
            for r in rows:
                f.write(f"{time.time():.3f} {r[5]}\n")

    def close(self) -> None:
        pass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def test_a_leader_whose_network_vanishes_stops_and_a_standby_leads_within_30_s(tmp_path):
    # Given a private PostgreSQL reachable over a veth pair, a relay leading from inside a network
    # namespace and a standby relay outside it
    tag = uuid.uuid4().hex[:6]
    octet = 100 + int(tag[:2], 16) % 150
    host_if, ns_if, netns = f"tfh{tag}", f"tfn{tag}", f"tf11b{tag}"
    host_ip, ns_ip = f"10.211.{octet}.1", f"10.211.{octet}.2"
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", netns)
        _ip("addr", "add", f"{host_ip}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", netns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        _ip("netns", "exec", netns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")
        with PrivatePostgres(listen=f"127.0.0.1,{host_ip}") as pg:
            with psycopg.connect(pg.admin_url, autocommit=True) as c:
                c.execute("create database relay")
            migrate(pg.url("relay"))
            leader_log, standby_log = tmp_path / "leader.txt", tmp_path / "standby.txt"
            child = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    sys.executable,
                    "-c",
                    "import sys, threading; sys.path.insert(0, sys.argv[3]);"
                    "from tests.integration.test_relay_leadership import FilePublisher;"
                    "from services.components.relay import Relay;"
                    "Relay(sys.argv[1], FilePublisher(sys.argv[2]), standby_poll=0.5).run(threading.Event())",
                    pg.url("relay", host_ip),
                    str(leader_log),
                    str(Path(__file__).parents[2]),
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stop = threading.Event()
            try:
                assert _wait(lambda: _leader(pg.url("relay")), 60), "the namespaced relay did not lead"
                standby = Relay(pg.url("relay"), FilePublisher(str(standby_log)))
                t = threading.Thread(target=standby.run, args=(stop,), daemon=True)
                t.start()
                _add_rows(pg.url("relay"), "x", ["before-1", "before-2"])
                assert _wait(lambda: leader_log.exists() and "before-2" in leader_log.read_text(), 30)

                # When the leader's link goes down: no FIN, no RST, its packets simply vanish
                _ip("link", "set", host_if, "down")
                cut = time.time()
                _add_rows(pg.url("relay"), "x", ["after-1", "after-2"])

                # I expect the standby to publish the new rows within 30 s of the cut, and the old
                # leader never to publish again
                assert _wait(lambda: standby_log.exists() and "after-2" in standby_log.read_text(), 35), (
                    "standby did not take over: " + pg.log_tail()[-500:]
                )
                took = float(standby_log.read_text().split()[0]) - cut
                print(f"takeover after the link went down: {took:.1f} s")
                assert took < 30, f"takeover took {took:.1f} s"
                assert all(float(line.split()[0]) < cut for line in leader_log.read_text().splitlines())
            finally:
                stop.set()
                child.kill()
                child.wait(timeout=10)
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_a_session_without_the_lock_reads_nothing_to_publish(database_url):
    # Given a connection that does not hold the relay's lock: what a transaction-mode pooler hands
    # the relay's second transaction (another server session)
    with connect(database_url) as holder, connect(database_url) as other:
        assert outbox.try_lead(holder, _LEADER_KEY)
        # When it asks for a batch as the leader, I expect LeadershipLost, not rows
        with pytest.raises(outbox.LeadershipLost):
            outbox.pending(other, 10, _LEADER_KEY)
        # and the relay refuses to run on such a connection
        with pytest.raises(LeadershipUnsafe):
            Relay(database_url, FilePublisher("/dev/null"))._check_session(other)
        # while the holder's own session passes both checks
        assert outbox.pending(holder, 10, _LEADER_KEY) == []
        Relay(database_url, FilePublisher("/dev/null"))._check_session(holder)


def test_the_relay_keeps_its_broker_connection_while_it_waits_on_listen(database_url, namespace):
    # Given a leading relay on a 2 s broker heartbeat that has published once (a private broker:
    # other suites close every connection of the shared one in their outage tests)
    from services.amqp.publisher import AmqpPublisher
    from services.bootstrap import declare_topology
    from services.config import Settings
    from tests.private import PrivateRabbit

    with PrivateRabbit() as rmq:
        declare_topology(Settings(amqp_url=rmq.url, database_url=database_url, namespace=namespace))
        publisher = AmqpPublisher(rmq.url + "?heartbeat=2")
        relay = Relay(database_url, publisher)
        stop = threading.Event()
        t = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        t.start()
        try:
            _add_rows(database_url, f"{namespace}.out", ["first"])
            assert _wait(lambda: publisher.conn is not None and not _pending(database_url), 30)
            conn = publisher.conn
            # When nothing happens for 8 s (the broker drops a connection silent for ~4 s)
            time.sleep(8)
            _add_rows(database_url, f"{namespace}.out", ["second"])
            # I expect the next row published on the same, still open connection
            assert _wait(lambda: not _pending(database_url), 30)
            assert publisher.conn is conn and conn.is_open
        finally:
            stop.set()
            t.join(timeout=10)


def _pending(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as c:
        return c.execute("select count(*) from outbox").fetchone()[0]
