"""Server-backed fixtures: real RabbitMQ and PostgreSQL, isolated per run, cleaned up after.

Testcontainers when a Docker engine answers (and TICKETFLOW_TEST_CONTAINERS is not 0);
otherwise the URLs in the environment (defaults: the local services). A service that is not
reachable FAILS the tests that need it (dramatiq's rule: a skipped integration test in CI
is a green light on nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid

import pytest

RUN_TAG = uuid.uuid4().hex[:8]


def _docker_ok() -> bool:
    if os.environ.get("TICKETFLOW_TEST_CONTAINERS", "1") == "0" or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def services():
    """(amqp_url, postgres admin url) of a broker and a server these tests may use."""
    if "TICKETFLOW_TEST_AMQP_URL" not in os.environ and _docker_ok():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13.7") as rmq, PostgresContainer("postgres:16.4", driver=None) as pg:
            amqp = f"amqp://guest:guest@{rmq.get_container_host_ip()}:{rmq.get_exposed_port(5672)}/%2F"
            yield amqp, pg.get_connection_url()
        return
    amqp = os.environ.get("TICKETFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    pg = os.environ.get("TICKETFLOW_TEST_PG_ADMIN_URL", "postgresql://127.0.0.1/postgres")
    _require(amqp, pg)
    yield amqp, pg


def _require(amqp: str, pg: str) -> None:
    import pika
    import psycopg

    try:
        pika.BlockingConnection(pika.URLParameters(amqp)).close()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"RabbitMQ at {amqp} is not reachable ({type(e).__name__}); start it: rabbitmq-server -detached")
    try:
        psycopg.connect(pg, connect_timeout=5).close()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {pg} is not reachable ({e}); start it with pg_ctlcluster")


@pytest.fixture
def namespace() -> str:
    return f"tft{RUN_TAG}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def database_url(services):
    """A fresh, migrated database for one test, dropped afterwards."""
    import psycopg

    from services.store.db import migrate

    _, admin = services
    name = f"tft_{RUN_TAG}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    yield url
    with contextlib.suppress(Exception), psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def amqp_url(services) -> str:
    return services[0]


@pytest.fixture
def broker_cleanup(amqp_url, namespace):
    """Deletes every queue and exchange of the test's namespace afterwards."""
    yield
    delete_namespace(amqp_url, namespace)


def run_env(amqp_url: str, database_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a `ticketflow` child process of a test or bench: this one's, pointed at the
    given broker, database and namespace, logging JSON; `extra` adds or overrides settings."""
    return {
        **os.environ,
        "TICKETFLOW_AMQP_URL": amqp_url,
        "TICKETFLOW_DATABASE_URL": database_url,
        "TICKETFLOW_NAMESPACE": namespace,
        "TICKETFLOW_LOG_FORMAT": "json",
        **extra,
    }


def delete_namespace(amqp_url: str, namespace: str) -> None:
    import pika

    from services.amqp.partitions import Partitions
    from services.amqp.topology import WORKER_ACTORS, Topology

    t, parts = Topology(namespace), Partitions(namespace, 64)
    queues = [t.ingest_queue, t.rejected_queue, t.failed_queue, parts.members, *parts.queues]
    for a in WORKER_ACTORS:
        q = t.worker_queue(a)
        queues += [q, f"{q}.DQ", f"{q}.XQ"]
    with contextlib.suppress(Exception):
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = conn.channel()
        for q in queues + [f"{namespace}.tap"]:
            ch.queue_delete(q)
        for ex in (t.inbound, t.outbound, f"{namespace}.in.partitioned"):  # the last: releases before session 5
            ch.exchange_delete(ex)
        conn.close()
