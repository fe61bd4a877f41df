"""An in-process HTTP API on the test's own database and broker namespace, and a way to put tickets
in the database through the real pipeline code (Engine.ingest), for the API tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pika
from fastapi.testclient import TestClient

from services.amqp.publisher import ConfirmedPublisher
from services.amqp.topology import Topology
from services.api import ApiDeps, create_app
from services.api.ops import RateLimiter, RequestMetrics
from services.core.clock import SystemClock
from services.core.lifecycle import Lifecycle
from services.core.policies import load_policies
from services.language import normalize_language
from services.store import users
from services.store.db import connect, pool
from services.store.engine import Engine
from tests.fakes import fake_classify


def event(type_, subject, time_, data, id_=None) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_ or str(uuid.uuid4()),
            "source": "tests/upstream",
            "type": type_,
            "time": time_,
            "subject": subject,
            "data": data,
        }
    ).encode()


def opened(ticket_id, merchant="m1", time_="2026-03-02T09:00:00Z", text="hello", order_id=None, **extra) -> bytes:
    data = {"merchant_id": merchant, "policy": "wish", "message": {"message_id": f"{ticket_id}-m0", "text": text}}
    if order_id:
        data["order"] = {"order_id": order_id}
    data.update(extra)
    return event("ticket.opened", ticket_id, time_, data)


@dataclass
class Api:
    client: TestClient
    deps: ApiDeps
    database_url: str
    namespace: str
    amqp_url: str
    engine: Engine
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, merchant: str, role: str, name: str = "someone") -> tuple[str, str]:
        with connect(self.database_url) as conn:
            u, token = users.add(conn, merchant, role, name)
        return u.id, token

    def ingest(self, *bodies: bytes):
        with connect(self.database_url) as conn:
            return self.engine.ingest(conn, list(bodies))

    def call(self, method: str, path: str, token: str | None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, path, headers=headers, **kw)


def make_api(
    database_url: str, amqp_url: str, namespace: str, *, rate: float = 1000.0, burst: int = 10_000, builtin=None
):
    topology = Topology(namespace)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        topology.declare(conn.channel())
    finally:
        conn.close()
    policies = load_policies(None)
    p = pool(database_url, max_size=4)
    deps = ApiDeps(
        pool=p,
        publisher=ConfirmedPublisher(amqp_url),
        lifecycle=Lifecycle(policies),
        topology=topology,
        clock=SystemClock(),
        normalize_language=normalize_language,
        metrics=RequestMetrics(p),
        rate_limiter=RateLimiter(rate, burst),
        builtin_templates=builtin,
    )
    engine = Engine(topology, Lifecycle(policies), fake_classify, policies, SystemClock())
    return Api(TestClient(create_app(deps)), deps, database_url, namespace, amqp_url, engine)


def close_api(api: Api) -> None:
    api.client.close()
    api.deps.publisher.close()
    api.deps.pool.close()


class Tap:
    """A queue bound to an exchange with `#`: what was published there."""

    def __init__(self, amqp_url: str, exchange: str):
        self.conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.ch = self.conn.channel()
        self.queue = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.queue, exchange, "#")

    def drain(self, timeout: float = 3.0) -> list[tuple[pika.BasicProperties, dict]]:
        out = []
        for method, props, body in self.ch.consume(self.queue, inactivity_timeout=timeout):
            if method is None:
                break
            self.ch.basic_ack(method.delivery_tag)
            out.append((props, json.loads(body)))
        self.ch.cancel()
        return out

    def close(self):
        self.conn.close()
