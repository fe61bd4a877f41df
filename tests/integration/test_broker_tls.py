"""TLS to RabbitMQ, once, for real: a private node with an `amqps` listener and a self-signed
certificate; `migrate` and `run --components ingest,relay` reach it through `TICKETFLOW_AMQP_URL=amqps://`
(certificate chain and host name verified by the client), an event published over TLS comes out as
its status change, and the broker lists every ticketflow connection as TLS."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pika
import pytest

from schemas.builders import cloudevent
from tests.conftest import run_env
from tests.private import PrivateRabbit, self_signed

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent / "ticketflow"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("amqps"))
    os.chmod(key, 0o644)  # the node runs as the rabbitmq user and reads its copy
    with PrivateRabbit(tls=(str(cert), str(key))) as rmq:
        yield rmq, cert


def _amqps(rmq: PrivateRabbit, cert: Path) -> str:
    options = urllib.parse.quote(str({"ca_certs": str(cert), "server_hostname": "localhost"}))
    return f"amqps://guest:guest@localhost:{rmq.tls_port}/%2F?ssl_options={options}"


def test_the_pipeline_runs_over_amqps(tls_broker, database_url, namespace):
    rmq, cert = tls_broker
    url = _amqps(rmq, cert)
    env = run_env(url, database_url, namespace)
    # Given the topology declared over TLS
    migrated = subprocess.run([str(BIN), "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr[-1000:]
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    tap = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(tap, f"{namespace}.out", "ticket.status_changed")
    proc = subprocess.Popen(
        [str(BIN), "run", "--components", "ingest,relay"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # When an upstream publishes a ticket over TLS
        data = {"merchant_id": "m1", "policy": "wish", "message": {"message_id": "x1", "text": "hello"}}
        ev = cloudevent("ticket.opened", "T-TLS", "2026-03-02T09:00:00Z", data, id="tls-1")
        ch.confirm_delivery()
        ch.basic_publish(f"{namespace}.in", "ticket.opened", json.dumps(ev).encode())
        # I expect its status change out, read over TLS too
        body, deadline = None, time.time() + 60
        while body is None and time.time() < deadline:
            _, _, body = ch.basic_get(tap, auto_ack=True)
            if body is None:
                conn.sleep(0.2)
        assert body is not None, "no ticket.status_changed within 60 s"
        assert json.loads(body)["data"]["caused_by"] == "tls-1"
        # and every connection to the node, ours and the pipeline's (ingest, router, relay), to be TLS
        listed = rmq._ctl("-q", "list_connections", "ssl", "ssl_protocol")
        rows = [line.split("\t") for line in listed.stdout.splitlines() if line.strip()]
        rows = [r for r in rows if r[0] != "ssl"]  # the header, when the CLI prints one
        assert len(rows) >= 4, listed.stdout
        assert {r[0] for r in rows} == {"true"}, listed.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        conn.close()


def test_a_plain_connection_to_the_tls_port_is_refused(tls_broker):
    rmq, _ = tls_broker
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@localhost:{rmq.tls_port}/%2F"))


def test_an_untrusted_certificate_is_refused(tls_broker, tmp_path):
    rmq, _ = tls_broker
    other, _ = self_signed(tmp_path, "other")  # valid for localhost, but not the certificate the node has
    with pytest.raises(ssl.SSLCertVerificationError):  # the client refuses the server it cannot verify
        pika.BlockingConnection(pika.URLParameters(_amqps(rmq, other)))
