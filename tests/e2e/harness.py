"""Drive `ticketflow` from outside, as upstream and downstream apps do: CLI + exchanges only."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pika

from schemas.builders import cloudevent
from tests.conftest import delete_namespace, run_env

BIN = Path(sys.executable).parent / "ticketflow"


def event(type_: str, subject: str, time_: str, data: dict, id_: str | None = None) -> dict:
    return cloudevent(type_, subject, time_, data, id=id_, source="tests/upstream")


class Pipeline:
    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        namespace: str,
        components: str = "ingest,workers,relay",
        extra_env: dict | None = None,
        user_id: str | None = None,
    ):
        self.amqp_url, self.ns, self.components = amqp_url, namespace, components
        self.user_id = user_id  # the AMQP user_id every publish carries (RabbitMQ checks it is ours)
        self.env = run_env(
            amqp_url, database_url, namespace, TICKETFLOW_METRICS_PORT=str(_free_port()), **(extra_env or {})
        )
        self.metrics_port = int(self.env["TICKETFLOW_METRICS_PORT"])
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="ticketflow-e2e-", suffix=".log")[1])
        self.seen: list[dict] = []
        self.conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()

    def cli(self, *args: str, timeout: float = 120, input_: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=timeout, input=input_
        )

    def migrate_and_tap(self) -> None:
        r = self.cli("migrate")
        assert r.returncode == 0, r.stderr
        self.tap = f"{self.ns}.tap"
        self.ch.queue_declare(self.tap, durable=False)
        self.ch.queue_bind(self.tap, f"{self.ns}.out", "#")

    def start(self, ready_s: float = 60) -> None:
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--components", self.components],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        end = time.time() + ready_s
        while time.time() < end:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            probe = f"probe-{uuid.uuid4().hex[:8]}"
            self.publish(
                event(
                    "ticket.opened",
                    probe,
                    "2026-01-05T10:00:00Z",
                    {"merchant_id": "m-probe", "policy": "wish", "message": {"message_id": probe, "text": "probe"}},
                )
            )
            self.drain(quiet_s=1.0, max_s=3)
            if self.of(probe, "ticket.status_changed"):
                self.seen = [e for e in self.seen if not str(e.get("subject", "")).startswith(("probe-", "m-probe"))]
                return
        raise AssertionError(f"pipeline not ready in {ready_s} s: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, wait: float = 30) -> int | None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def close(self) -> None:
        self.stop()
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def publish(self, ev: dict | bytes, routing_key: str | None = None, user_id: str | None = None) -> None:
        body = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
        rk = routing_key or (ev.get("type", "x") if isinstance(ev, dict) else "x")
        self.ch.basic_publish(
            f"{self.ns}.in",
            rk,
            body,
            pika.BasicProperties(
                content_type="application/cloudevents+json", delivery_mode=2, user_id=user_id or self.user_id
            ),
        )

    def drain(self, quiet_s: float = 2.0, max_s: float = 60) -> list[dict]:
        end, last = time.time() + max_s, time.time()
        while time.time() < end and time.time() - last < quiet_s:
            m, _, body = self.ch.basic_get(self.tap, auto_ack=True)
            if m is None:
                self.conn.sleep(0.02)
                continue
            last = time.time()
            self.seen.append(json.loads(body))
        return self.seen

    def wait_for(self, pred, max_s: float = 30) -> bool:
        end = time.time() + max_s
        while time.time() < end:
            self.drain(quiet_s=0.3, max_s=1)
            if pred():
                return True
        return False

    def tick(self, now: str) -> None:
        r = self.cli("tick", "--now", now)
        assert r.returncode == 0, r.stderr

    def of(self, subject: str, type_: str | None = None) -> list[dict]:
        return [e for e in self.seen if e.get("subject") == subject and (type_ is None or e.get("type") == type_)]

    def statuses(self, subject: str) -> list[str]:
        return [e["data"]["to"] for e in self.of(subject, "ticket.status_changed")]

    def depth(self, queue: str) -> int:
        ch = self.conn.channel()
        try:
            return ch.queue_declare(queue, passive=True).method.message_count
        finally:
            ch.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tapped(amqp_url: str, database_url: str, namespace: str, **kw):
    """A migrated Pipeline with its tap on `<ns>.out`; closed and its namespace deleted afterwards.
    `kw` goes to Pipeline (components, extra_env...)."""
    p = Pipeline(amqp_url, database_url, namespace, **kw)
    p.migrate_and_tap()
    try:
        yield p
    finally:
        p.close()
        delete_namespace(amqp_url, namespace)
