"""The README's walk-through, from outside: `ticketflow users add`, `run` with the `api` component,
a ticket from upstream, the list of tickets needing action over HTTP, a reply through the API, and
the reply applied: on `<ns>.out` (caused by the command's event id) and in the ticket."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import delete_namespace

from .harness import Pipeline, _free_port, event

pytestmark = pytest.mark.e2e
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _DIRECT.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture
def api_pipeline(amqp_url, database_url, namespace):
    port = _free_port()
    p = Pipeline(
        amqp_url,
        database_url,
        namespace,
        components="ingest,workers,relay,api",
        extra_env={"TICKETFLOW_API_PORT": str(port), "TICKETFLOW_API_HOST": "127.0.0.1"},
    )
    p.base = f"http://127.0.0.1:{port}"
    p.migrate_and_tap()
    yield p
    p.close()
    delete_namespace(amqp_url, namespace)


def test_a_reply_through_the_api_reaches_the_outbound_exchange_and_the_ticket(api_pipeline: Pipeline):
    p = api_pipeline
    # Given a user created from the command line, and the pipeline running with the API
    r = p.cli("users", "add", "--merchant", "m-shop", "--role", "agent", "--name", "Ana")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    assert set(lines) == {"user_id", "token"}
    token = lines["token"]
    p.start()
    deadline = time.monotonic() + 30
    while http("GET", p.base + "/readyz")[0] != 200:
        assert time.monotonic() < deadline, p.log.read_text()[-2000:]
        time.sleep(0.3)
    # and a ticket opened upstream
    p.publish(
        event(
            "ticket.opened",
            "T-API",
            "2026-03-02T09:00:00Z",
            {
                "merchant_id": "m-shop",
                "policy": "wish",
                "message": {"message_id": "c1", "text": "Where is my parcel?"},
                "order": {"order_id": "O-1"},
            },
        )
    )
    assert p.wait_for(lambda: p.of("T-API", "ticket.status_changed"))
    # When the agent lists the tickets needing action and replies to the first
    code, page = http("GET", p.base + "/v1/tickets?status=awaiting_merchant", token)
    assert code == 200 and [i["id"] for i in page["items"]] == ["T-API"]
    code, accepted = http("POST", p.base + "/v1/tickets/T-API/replies", token, {"text": "It left today."})
    assert code == 202, accepted
    # I expect the command applied, the status change on <ns>.out caused by its event id, and the ticket moved
    deadline = time.monotonic() + 30
    while (status := http("GET", p.base + accepted["status_url"], token)[1])["status"] == "pending":
        assert time.monotonic() < deadline, p.log.read_text()[-2000:]
        time.sleep(0.3)
    assert status["status"] == "applied", status
    assert p.wait_for(
        lambda: any(e["data"]["caused_by"] == accepted["event_id"] for e in p.of("T-API", "ticket.status_changed"))
    )
    moved = [e for e in p.of("T-API", "ticket.status_changed") if e["data"]["caused_by"] == accepted["event_id"]]
    assert moved[0]["data"]["to"] == "awaiting_customer"
    code, ticket = http("GET", p.base + "/v1/tickets/T-API", token)
    assert ticket["status"] == "awaiting_customer"
    assert [(m["author"], m["text"]) for m in ticket["messages"]] == [
        ("customer", "Where is my parcel?"),
        ("merchant", "It left today."),
    ]
    # and, after a clean stop, the requests counted by route template (never an id) on the shared counters
    assert p.stop() == 0
    import psycopg

    with psycopg.connect(p.env["TICKETFLOW_DATABASE_URL"]) as conn:
        labels = [
            json.loads(r[0])
            for r in conn.execute("select labels from metric_counters where name = 'api_requests_total'")
        ]
    assert {"route": "/v1/tickets/{ticket_id}/replies", "code": "202"} in labels
    assert not any("T-API" in lbl["route"] for lbl in labels)
