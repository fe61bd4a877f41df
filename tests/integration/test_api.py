"""The HTTP API against the real PostgreSQL and RabbitMQ: accounts and tokens, isolation between
merchants and roles, commands published on `<ns>.in` and their outcome, the list's cursor,
templates and suggestions, notifications' recipients, metrics, rate limit."""

from __future__ import annotations

import json

import pika
import pytest

from services.store.db import connect
from tests.integration.api_support import Tap, close_api, event, make_api, opened

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
def api(database_url, amqp_url, namespace, broker_cleanup):
    a = make_api(database_url, amqp_url, namespace)
    yield a
    close_api(a)


# -- tokens --------------------------------------------------------------------------------------


def test_a_request_without_a_token_or_with_a_bad_one_is_401_problem_json(api):
    # Given a user of merchant m1
    _, token = api.user("m1", "viewer")
    # When the list is asked for without a token, with a malformed one, and with a wrong secret
    bad_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answers = [api.call("GET", "/v1/tickets", t) for t in (None, "nonsense", bad_secret)]
    # I expect 401 problem+json each time, and 200 with the real token
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert all(r.headers["content-type"].startswith(PROBLEM) for r in answers)
    assert answers[0].json()["status"] == 401 and answers[0].json()["title"] == "Unauthorized"
    assert api.call("GET", "/v1/tickets", token).status_code == 200


def test_a_revoked_user_is_refused_at_once(api):
    from services.store import users

    # Given a user whose token works
    user_id, token = api.user("m1", "agent")
    assert api.call("GET", "/v1/tickets", token).status_code == 200
    # When the user is revoked
    with connect(api.database_url) as conn:
        assert users.revoke(conn, user_id)
    # I expect its token to be refused, and the listing to say so
    assert api.call("GET", "/v1/tickets", token).status_code == 401
    with connect(api.database_url) as conn:
        (row,) = users.listed(conn, "m1")
    assert row.id == user_id and row.revoked_at is not None


def test_only_a_hash_of_the_token_is_stored(api):
    # Given a new user
    _, token = api.user("m1", "owner")
    secret = token.split(".")[2]
    # I expect the secret nowhere in the table
    with connect(api.database_url) as conn:
        rows = conn.execute("select id, merchant_id, role, name, secret_hash::text from api_users").fetchall()
    assert secret not in json.dumps([list(map(str, r)) for r in rows])


# -- isolation between merchants ---------------------------------------------------------------------


def test_a_user_sees_every_ticket_of_its_account_and_none_of_another(api):
    # Given tickets of two merchants, and two users of m1 plus one of m2
    api.ingest(opened("t-a1", "m1"), opened("t-a2", "m1"), opened("t-b1", "m2"))
    _, alice = api.user("m1", "viewer", "alice")
    _, anna = api.user("m1", "agent", "anna")
    _, bob = api.user("m2", "owner", "bob")
    # When each lists the open tickets
    ids = {
        who: {i["id"] for i in api.call("GET", "/v1/tickets", t).json()["items"]}
        for who, t in (("alice", alice), ("anna", anna), ("bob", bob))
    }
    # I expect both m1 users to see both m1 tickets (004: shared), and m2 only its own
    assert ids == {"alice": {"t-a1", "t-a2"}, "anna": {"t-a1", "t-a2"}, "bob": {"t-b1"}}
    # and another merchant's ticket to be 404 for reads, suggestions and commands alike
    for method, path, body in (
        ("GET", "/v1/tickets/t-b1", None),
        ("GET", "/v1/tickets/t-b1/suggestions", None),
        ("POST", "/v1/tickets/t-b1/replies", {"text": "hi"}),
        ("POST", "/v1/tickets/t-b1/appeal", {"reason": "no"}),
    ):
        r = api.call(method, path, anna, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
    assert api.call("GET", "/v1/tickets/t-b1", bob).status_code == 200


def test_a_command_status_is_visible_to_its_account_only(api):
    # Given a command sent by a user of m1
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    _, viewer = api.user("m1", "viewer")
    _, other = api.user("m2", "owner")
    event_id = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "on its way"}).json()["event_id"]
    # I expect a colleague to see its status and another merchant to get 404
    assert api.call("GET", f"/v1/commands/{event_id}", viewer).status_code == 200
    assert api.call("GET", f"/v1/commands/{event_id}", other).status_code == 404


# -- roles ---------------------------------------------------------------------------------------


def test_roles_viewer_reads_only_agent_commands_owner_also_reopens(api):
    # Given an open ticket and one user per role
    api.ingest(opened("t-1", "m1"))
    _, owner = api.user("m1", "owner")
    _, agent = api.user("m1", "agent")
    _, viewer = api.user("m1", "viewer")
    # When the viewer replies, and the agent reopens
    v = api.call("POST", "/v1/tickets/t-1/replies", viewer, json={"text": "hi"})
    a = api.call("POST", "/v1/tickets/t-1/reopen", agent, json={"reason": "again"})
    t = api.call("POST", "/v1/templates", viewer, json={"name": "x", "category": "other", "texts": {"en": "x"}})
    av = api.call("PUT", "/v1/agents/me/availability", viewer, json={"state": "accepting"})
    # I expect 403 for each, while the viewer still reads
    assert [v.status_code, a.status_code, t.status_code, av.status_code] == [403, 403, 403, 403]
    assert v.headers["content-type"].startswith(PROBLEM)
    assert api.call("GET", "/v1/tickets/t-1", viewer).status_code == 200
    # and the agent replies while the owner may reopen (409 here: the ticket is open, not closed)
    assert api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "hi"}).status_code == 202
    r = api.call("POST", "/v1/tickets/t-1/reopen", owner, json={"reason": "again"})
    assert r.status_code == 409 and r.json()["reason"] == "invalid_transition"


def test_a_bad_body_is_422_problem_json_without_echoing_the_input(api):
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    secret_text = "customer secret words"
    for path, body in (
        ("/v1/tickets/t-1/replies", {"text": ""}),
        ("/v1/tickets/t-1/replies", {"text": secret_text, "resolve": "yes"}),
        ("/v1/tickets/t-1/refund", {"items": []}),
        ("/v1/tickets/t-1/unresolved", {}),
        ("/v1/tickets/t-1/refund", {"items": [{"item_id": "i1"}], "currency": "euro"}),
    ):
        r = api.call("POST", path, agent, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["errors"]
        assert secret_text not in r.text


# -- commands ------------------------------------------------------------------------------------


def test_a_reply_is_published_on_the_inbound_exchange_and_applied_by_the_pipeline(api):
    # Given an open ticket, a tap on <ns>.in, and an agent
    api.ingest(opened("t-1", "m1", order_id="o-9"))
    agent_id, agent = api.user("m1", "agent")
    tap = Tap(api.amqp_url, f"{api.namespace}.in")
    try:
        # When the agent replies
        photo = {"url": "https://cdn.example/label.jpg", "content_type": "image/jpeg", "size_bytes": 2048}
        r = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "Shipped today", "attachments": [photo]})
        # I expect 202 {event_id, status_url}, and the event on <ns>.in as the contract says
        assert r.status_code == 202
        event_id = r.json()["event_id"]
        assert r.json()["status_url"] == f"/v1/commands/{event_id}"
        ((props, ev),) = tap.drain()
    finally:
        tap.close()
    assert ev["id"] == event_id and ev["type"] == "message.posted" and ev["subject"] == "t-1"
    assert ev["source"] == "ticketflow-api" and ev["data"]["actor_user_id"] == agent_id
    assert ev["data"]["message"]["author"] == "merchant" and props.delivery_mode == 2
    assert props.user_id == pika.URLParameters(api.amqp_url).credentials.username  # vouches for the source
    # and the status `pending` until the pipeline takes it, then `applied`
    assert api.call("GET", r.json()["status_url"], agent).json()["status"] == "pending"
    api.ingest(json.dumps(ev).encode())
    assert api.call("GET", r.json()["status_url"], agent).json()["status"] == "applied"
    detail = api.call("GET", "/v1/tickets/t-1", agent).json()
    assert detail["status"] == "awaiting_customer"
    assert [m["text"] for m in detail["messages"]] == ["hello", "Shipped today"]
    assert detail["messages"][1]["attachments"] == [photo] and detail["messages"][0]["attachments"] == []


def test_an_idempotency_key_gives_the_same_event_id_for_the_same_user(api):
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    _, colleague = api.user("m1", "agent")
    key = {"Idempotency-Key": "retry-me-1"}
    first = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "a"}, headers=key).json()["event_id"]
    again = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "a"}, headers=key).json()["event_id"]
    other = api.call("POST", "/v1/tickets/t-1/replies", colleague, json={"text": "a"}, headers=key).json()["event_id"]
    no_key = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "a"}).json()["event_id"]
    assert first == again
    assert len({first, other, no_key}) == 3
    # the same key for another command is refused, not silently mapped to the first one
    r = api.call("POST", "/v1/tickets/t-1/appeal", agent, json={"reason": "x"}, headers=key)
    assert r.status_code == 422


def test_the_pipeline_stays_the_authority_a_command_it_refuses_reads_rejected(api):
    # Given an open Wish ticket and two resolves sent before the pipeline applied either
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    tap = Tap(api.amqp_url, f"{api.namespace}.in")
    try:
        ids = [api.call("POST", "/v1/tickets/t-1/resolve", agent).json()["event_id"] for _ in range(2)]
        published = tap.drain()
    finally:
        tap.close()
    # When the pipeline applies them in order
    api.ingest(*(json.dumps(ev).encode() for _, ev in published))
    # I expect the first applied (Wish closes at once) and the second rejected with the reason
    first, second = (api.call("GET", f"/v1/commands/{i}", agent).json() for i in ids)
    assert first["status"] == "applied"
    assert second["status"] == "rejected" and second["reason"] == "invalid_transition"
    # and a third resolve now refused up front: 409
    r = api.call("POST", "/v1/tickets/t-1/resolve", agent)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)


def test_availability_becomes_an_agent_event_for_the_calling_user(api):
    agent_id, agent = api.user("m1", "agent")
    tap = Tap(api.amqp_url, f"{api.namespace}.in")
    try:
        r = api.call("PUT", "/v1/agents/me/availability", agent, json={"state": "accepting", "max_open_chats": 3})
        ((_, ev),) = tap.drain()
    finally:
        tap.close()
    assert r.status_code == 202
    assert ev["type"] == "agent.availability_changed" and ev["subject"] == agent_id
    assert ev["data"] == {
        "merchant_id": "m1",
        "state": "accepting",
        "role": "agent",
        "max_open_chats": 3,
        "actor_user_id": agent_id,
    }


# -- the list --------------------------------------------------------------------------------------


def test_the_list_filters_and_sorts(api):
    api.ingest(
        opened("t-1", "m1", "2026-03-02T09:00:00Z", "category:item_problem broken", order_id="o-1", labels=["vip"]),
        opened("t-2", "m1", "2026-03-02T10:00:00Z", "URGENT category:product_question size"),
        opened("t-3", "m1", "2026-03-02T11:00:00Z", "category:order_status where is it", order_id="o-3"),
        event("ticket.urged", "t-3", "2026-03-02T12:00:00Z", {}),
        event("ticket.withdrawn", "t-2", "2026-03-02T12:30:00Z", {}),
    )
    _, token = api.user("m1", "viewer")

    def ids(**params):
        r = api.call("GET", "/v1/tickets", token, params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids() == ["t-3", "t-1"]  # default: open only, priority = urged first, then least time left
    assert ids(sort="newest") == ["t-3", "t-1"]
    assert ids(sort="waiting") == ["t-1", "t-3"]
    assert ids(status=["closed"]) == ["t-2"]
    assert set(ids(status=["closed", "awaiting_merchant"])) == {"t-1", "t-2", "t-3"}
    assert ids(category="item_problem") == ["t-1"]
    assert ids(group="order_support") == ["t-3"]
    assert ids(status="closed", urgent="true") == ["t-2"]
    assert ids(label="vip") == ["t-1"]
    assert ids(order_id="o-3") == ["t-3"]
    assert ids(q="o-1") == ["t-1"] and ids(q="t-3") == ["t-3"] and ids(q="broken") == ["t-1"]
    assert ids(created_since="2026-03-02T10:30:00Z") == ["t-3"]
    assert ids(created_until="2026-03-02T10:30:00+00:00") == ["t-1"]
    assert api.call("GET", "/v1/tickets", token, params={"limit": 0}).status_code == 422
    assert api.call("GET", "/v1/tickets", token, params={"cursor": "garbage"}).status_code == 422
    assert api.call("GET", "/v1/tickets", token, params={"created_since": "yesterday"}).status_code == 422


@pytest.mark.parametrize("sort", ["priority", "waiting", "newest"])
def test_the_cursor_skips_and_repeats_nothing_while_tickets_are_inserted(api, sort):
    # Given 25 open tickets
    api.ingest(*(opened(f"t-{i:02d}", "m1", f"2026-03-02T{9 + i // 10:02d}:{(i % 10) * 5:02d}:00Z") for i in range(25)))
    _, token = api.user("m1", "viewer")
    seen, cursor, page = [], None, 0
    while True:
        params = {"sort": sort, "limit": 7} | ({"cursor": cursor} if cursor else {})
        body = api.call("GET", "/v1/tickets", token, params=params).json()
        seen += [i["id"] for i in body["items"]]
        # When new tickets arrive between pages (older and newer than the ones listed)
        page += 1
        api.ingest(
            opened(f"new-{page}-a", "m1", "2026-03-01T00:00:00Z"), opened(f"new-{page}-b", "m1", "2026-03-05T00:00:00Z")
        )
        cursor = body["next_cursor"]
        if not cursor:
            break
    # I expect every original ticket exactly once, in the order of a one-page read of them
    original = [i for i in seen if i.startswith("t-")]
    assert sorted(original) == [f"t-{i:02d}" for i in range(25)]
    assert len(seen) == len(set(seen))
    # and a cursor of one sort refused for another
    first = api.call("GET", "/v1/tickets", token, params={"sort": sort, "limit": 1}).json()["next_cursor"]
    other = "newest" if sort != "newest" else "waiting"
    assert api.call("GET", "/v1/tickets", token, params={"sort": other, "cursor": first}).status_code == 422


# -- templates and suggestions ------------------------------------------------------------------------


def test_suggestions_in_the_customers_language_with_the_order_id_filled(api):
    api.ingest(
        opened(
            "t-id",
            "m1",
            text="category:order_status dimana pesanan saya",
            order_id="INV-7",
            customer={"locale": "id-ID"},
            merchant_locale="zh-CN",
        ),
        opened(
            "t-hu",
            "m1",
            text="category:order_status hol van a csomagom",
            order_id=None,
            customer={"locale": "hu-HU"},
            merchant_locale="zh-CN",
        ),
        opened("t-xx", "m1", text="category:order_status ???", customer={"locale": "fi"}, merchant_locale="fr"),
    )
    _, agent = api.user("m1", "agent")
    texts = {
        "en": "Your order {order_id} is on its way",
        "id": "Pesanan {order_id} sedang dikirim",
        "zh-Hans": "您的订单 {order_id} 已发货",
    }
    assert (
        api.call(
            "POST", "/v1/templates", agent, json={"name": "shipped", "category": "order_status", "texts": texts}
        ).status_code
        == 201
    )
    api.call(
        "POST", "/v1/templates", agent, json={"name": "hello", "category": "order_status", "texts": {"en": "Hello!"}}
    )
    api.call(
        "POST", "/v1/templates", agent, json={"name": "refund", "category": "refund_request", "texts": {"en": "R"}}
    )
    listed = api.call("GET", "/v1/templates", agent).json()
    assert {t["name"] for t in listed} == {"shipped", "hello", "refund"}

    def suggested(ticket):
        return {
            s["name"]: (s["language"], s["text"])
            for s in api.call("GET", f"/v1/tickets/{ticket}/suggestions", agent).json()["items"]
        }

    # the customer's language, with the order id filled
    assert suggested("t-id") == {"shipped": ("id", "Pesanan INV-7 sedang dikirim"), "hello": ("en", "Hello!")}
    # no Hungarian text: the merchant's language; no order id: a text that needs one is left out
    assert suggested("t-hu") == {"hello": ("en", "Hello!")}
    # neither the customer's nor the merchant's language: English
    assert suggested("t-xx")["hello"] == ("en", "Hello!")
    # another merchant sees none of these templates
    _, other = api.user("m2", "owner")
    assert api.call("GET", "/v1/templates", other).json() == []


# -- notifications, metrics, rate limit, health -----------------------------------------------------


def test_notifications_name_every_active_user_of_the_account(api):
    from services.store import users

    ids = sorted([api.user("m1", "owner")[0], api.user("m1", "viewer")[0]])
    gone, _ = api.user("m1", "agent")
    api.user("m2", "owner")
    with connect(api.database_url) as conn:
        users.revoke(conn, gone)
    api.ingest(opened("t-1", "m1"))
    with connect(api.database_url) as conn:
        bodies = [
            json.loads(bytes(b))
            for (b,) in conn.execute("select body from outbox where routing_key = 'notification.requested'")
        ]
    assert bodies and all(b["data"]["recipient_user_ids"] == ids for b in bodies)


def test_requests_are_counted_by_route_template_and_code(api):
    api.ingest(opened("t-1", "m1"))
    _, token = api.user("m1", "viewer")
    api.call("GET", "/v1/tickets/t-1", token)
    api.call("GET", "/v1/tickets/nope", token)
    api.call("GET", "/v1/tickets", None)
    api.deps.metrics.flush()
    with connect(api.database_url) as conn:
        rows = dict(
            conn.execute("select labels, value from metric_counters where name = 'api_requests_total'").fetchall()
        )
    assert rows == {
        '{"code":"200","route":"/v1/tickets/{ticket_id}"}': 1.0,
        '{"code":"404","route":"/v1/tickets/{ticket_id}"}': 1.0,
        '{"code":"401","route":"/v1/tickets"}': 1.0,
    }
    # and served on /metrics as ticketflow_api_requests_total{route,code}
    from services.components.exporter import DatabaseCollector
    from services.config import Settings

    collector = DatabaseCollector(Settings(database_url=api.database_url, amqp_url=api.amqp_url), ["exporter"])
    (family,) = [m for m in collector.collect() if m.name == "ticketflow_api_requests"]
    assert {(s.labels["route"], s.labels["code"], s.value) for s in family.samples if s.name.endswith("_total")} == {
        ("/v1/tickets/{ticket_id}", "200", 1.0),
        ("/v1/tickets/{ticket_id}", "404", 1.0),
        ("/v1/tickets", "401", 1.0),
    }


def test_a_token_over_its_rate_gets_429_with_retry_after(database_url, amqp_url, namespace, broker_cleanup):
    api = make_api(database_url, amqp_url, namespace, rate=0.01, burst=3)
    try:
        _, token = api.user("m1", "viewer")
        _, other = api.user("m1", "viewer")
        codes = [api.call("GET", "/v1/tickets", token).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = api.call("GET", "/v1/tickets", token)
        assert int(r.headers["Retry-After"]) >= 1 and r.headers["content-type"].startswith(PROBLEM)
        assert api.call("GET", "/v1/tickets", other).status_code == 200  # per token
    finally:
        close_api(api)


def test_health_and_readiness_need_no_token_and_cors_is_off(api):
    assert api.call("GET", "/healthz", None).json() == {"status": "ok", "checks": {}}
    r = api.call("GET", "/readyz", None)
    assert r.status_code == 200 and r.json()["checks"] == {"database": True, "broker": True}
    doc = api.call("GET", "/openapi.json", None)
    assert doc.status_code == 200 and doc.json()["openapi"].startswith("3.1")
    pre = api.call(
        "OPTIONS",
        "/v1/tickets",
        None,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_nul_characters_are_refused_with_422_never_a_500(api):
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    for method, path, params, body in (
        ("GET", "/v1/tickets", {"label": "a\x00b"}, None),
        ("GET", "/v1/tickets/t%001", None, None),
        ("POST", "/v1/tickets/t-1/replies", None, {"text": "hi\x00"}),
        ("POST", "/v1/templates", None, {"name": "n", "category": "other", "texts": {"en": "a\x00"}}),
    ):
        r = api.call(method, path, agent, params=params, json=body)
        assert r.status_code == 422, (path, r.text)


def test_an_export_is_the_accounts_tickets_once_a_minute_then_429_with_retry_after(api):
    api.ingest(opened("t-1", "m1", order_id="o-1"), opened("t-2", "m1"), opened("t-x", "m2"))
    _, viewer = api.user("m1", "viewer")
    _, other = api.user("m2", "viewer")
    r = api.call("GET", "/v1/exports", viewer, params={"format": "jsonl"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert sorted(row["ticket_id"] for row in rows) == ["t-1", "t-2"] and r.headers["X-Ticketflow-Truncated"] == "false"
    # a second export of the account within 60 s, by any of its users: 429 with Retry-After
    again = api.call("GET", "/v1/exports", viewer, params={"format": "csv"})
    assert again.status_code == 429 and 1 <= int(again.headers["Retry-After"]) <= 60
    assert again.headers["content-type"].startswith(PROBLEM)
    # another account is not limited by m1's export
    csv_rows = api.call("GET", "/v1/exports", other).text.splitlines()
    assert csv_rows[0].startswith("ticket_id,") and [r.split(",")[0] for r in csv_rows[1:]] == ["t-x"]
    assert api.call("GET", "/v1/exports", viewer, params={"status": "bogus"}).status_code == 422
    assert (
        api.call(
            "GET", "/v1/exports", viewer, params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
        ).status_code
        == 422
    )


class _Down:
    """A broker that refuses every publish (then recovers), around the real publisher."""

    def __init__(self, real):
        self.real, self.down = real, True

    def publish(self, *args):
        if self.down:
            raise ConnectionError("broker away")
        return self.real.publish(*args)

    def ready(self):
        return not self.down and self.real.ready()

    def close(self):
        self.real.close()


def test_a_command_whose_publish_failed_is_published_again_when_retried_with_its_key(api):
    api.ingest(opened("t-1", "m1"))
    _, agent = api.user("m1", "agent")
    key = {"Idempotency-Key": "k-503"}
    real = api.deps.publisher
    api.deps.publisher = _Down(real)
    try:
        # Given the broker refusing the first publish
        r = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "hi"}, headers=key)
        assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
        assert api.call("GET", "/readyz", None).status_code == 503
        # When the broker is back and the client retries with the same key
        api.deps.publisher.down = False
        tap = Tap(api.amqp_url, f"{api.namespace}.in")
        try:
            again = api.call("POST", "/v1/tickets/t-1/replies", agent, json={"text": "hi"}, headers=key)
            published = tap.drain()
        finally:
            tap.close()
    finally:
        api.deps.publisher = real
    # I expect the same command published now, once, and applied by the pipeline
    assert again.status_code == 202
    ((_, ev),) = published
    assert ev["id"] == again.json()["event_id"]
    api.ingest(json.dumps(ev).encode())
    assert api.call("GET", again.json()["status_url"], agent).json()["status"] == "applied"


def test_built_in_templates_are_listed_and_suggested_beside_the_merchants_own(
    database_url, amqp_url, namespace, broker_cleanup
):
    from services.bootstrap import builtin_templates

    api = make_api(database_url, amqp_url, namespace, builtin=builtin_templates())
    try:
        api.ingest(opened("t-tw", "m1", text="category:order_status", customer={"locale": "zh-TW"}))
        _, agent = api.user("m1", "agent")
        listed = api.call("GET", "/v1/templates", agent).json()
        assert {t["source"] for t in listed} == {"builtin"} and len(listed) >= 8
        got = api.call("GET", "/v1/tickets/t-tw/suggestions", agent).json()["items"]
        lost = [s for s in got if s["name"] == "wish_preshipment_6_lost_reshipped"]
        assert lost and lost[0]["source"] == "builtin" and lost[0]["language"] == "zh-Hant"
        assert all(s["source"] == "builtin" for s in got)
    finally:
        close_api(api)


def test_availability_through_the_api_routes_a_chat_to_the_agent_and_the_ticket_shows_it(api):
    # Given an agent who sets itself accepting through the API (the event applied by the pipeline)
    agent_id, agent = api.user("m1", "agent")
    tap = Tap(api.amqp_url, f"{api.namespace}.in")
    try:
        assert api.call("PUT", "/v1/agents/me/availability", agent, json={"state": "accepting"}).status_code == 202
        ((_, ev),) = tap.drain()
    finally:
        tap.close()
    api.ingest(json.dumps(ev).encode())
    # When a chat opens for its merchant (one agent: assigned at once, 003) and a Wish ticket too
    api.ingest(opened("c-1", "m1", policy="chat"), opened("w-1", "m1"))
    # I expect the chat's assignee in the ticket view, and a transfer of the Wish ticket refused up front
    assert api.call("GET", "/v1/tickets/c-1", agent).json()["assignee"] == agent_id
    assert api.call("GET", "/v1/tickets/w-1", agent).json()["assignee"] is None
    r = api.call("POST", "/v1/tickets/w-1/transfer", agent, json={"to_agent_id": agent_id})
    assert r.status_code == 409 and r.json()["reason"] == "invalid_transition"


def test_a_notification_from_a_workers_writes_names_the_users_too(api):
    """Writes built without a recipients lookup (a dramatiq job's) reads them at flush, in its place."""
    from datetime import datetime, timezone

    from services.amqp.topology import Topology
    from services.store.outbox import Writes

    ids = sorted([api.user("m1", "owner")[0], api.user("m1", "agent")[0]])
    at = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    w = Writes(Topology(api.namespace))
    w.event(
        cause="c",
        n=0,
        type_="sla.warning",
        subject="t-1",
        at=at,
        data={"merchant_id": "m1", "clock": "merchant_response", "due_at": at, "policy": "wish"},
    )
    w.event(
        cause="c",
        n=1,
        type_="notification.requested",
        subject="t-1",
        at=at,
        data={"merchant_id": "m1", "kind": "deadline_soon", "status": "awaiting_merchant"},
    )
    with connect(api.database_url) as conn, conn.cursor() as cur:
        w.flush(cur)
        rows = [(rk, json.loads(bytes(b))) for rk, b in cur.execute("select routing_key, body from outbox order by id")]
    assert [rk for rk, _ in rows] == ["sla.warning", "notification.requested"]
    assert rows[1][1]["data"]["recipient_user_ids"] == ids
