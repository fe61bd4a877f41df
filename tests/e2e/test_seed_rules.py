"""Issue #13 through the exchanges: the "Per policy" table row by row for every built-in policy, what
the events say carried on the outbound events, a merchant reply translated for the customer, and
`order.placed` (not a ticket event) kept without parking. One pipeline for all of it (2 shared cores)."""

from __future__ import annotations

import json

import psycopg
import pytest

from .harness import Pipeline, event

pytestmark = pytest.mark.e2e

T = "2026-03-02T{}:00Z"  # a Monday; Douyin's 09:00-21:00 Shanghai window is 01:00-13:00 UTC
POLICIES = ("wish", "douyin", "chat")
REFUND = {"items": [{"item_id": "kettle", "quantity": 1}], "amount": "12.50", "currency": "EUR"}
EVIDENCE = [{"url": "https://files.example/agreement.png", "content_type": "image/png", "size_bytes": 1024}]


def opened(policy, sid, category="product_question", **extra):
    return event(
        "ticket.opened",
        sid,
        T.format("02:00"),
        {
            "merchant_id": f"m-rules-{policy}",
            "policy": policy,
            "merchant_locale": "en",
            "category": category,
            "customer": {"id": f"c-{sid}", "locale": "de-DE", "timezone": "Europe/Berlin"},
            "message": {"message_id": f"{sid}-m1", "text": "Der Deckel ist gesprungen."},
            **extra,
        },
        f"{sid}-open",
    )


def act(type_, sid, hhmm, data, name):
    return event(type_, sid, T.format(hhmm), data, f"{sid}-{name}")


def cases(policy):
    """(subject, events, what I expect): one ticket per row of the table."""
    p = policy[0].upper()
    return [
        (f"{p}-WD", [act("ticket.withdrawn", f"{p}-WD", "03:00", {"reason": "changed my mind"}, "wd")]),
        (f"{p}-CM", [act("ticket.closed", f"{p}-CM", "03:00", {"by": "merchant"}, "close")]),
        (f"{p}-CP", [act("ticket.closed", f"{p}-CP", "03:00", {"by": "platform"}, "close")]),
        (f"{p}-RF", [act("ticket.refunded", f"{p}-RF", "03:00", REFUND, "refund")]),  # post-purchase
        (f"{p}-RP", [act("ticket.refunded", f"{p}-RP", "03:00", REFUND, "refund")]),  # pre-purchase
        (
            f"{p}-AG",
            [
                act("ticket.resolved", f"{p}-AG", "03:00", {"agreed": True, "message": _m(f"{p}-AG-r1")}, "bare"),
                act(
                    "ticket.resolved",
                    f"{p}-AG",
                    "04:00",
                    {"agreed": True, "message": {**_m(f"{p}-AG-r2"), "attachments": EVIDENCE}},
                    "evidence",
                ),
            ],
        ),
    ]


def _m(mid):
    return {"message_id": mid, "text": "We agreed on a replacement."}


def rejected(pipeline, subject):
    return [
        (e["data"]["event_id"].rsplit("-", 1)[-1], e["data"]["reason"]) for e in pipeline.of(subject, "event.rejected")
    ]


def test_the_per_policy_table_and_what_the_events_say_through_the_exchanges(pipeline: Pipeline):
    pipeline.start()
    # Given one ticket per row and policy, each opened, then acted on
    for policy in POLICIES:
        for sid, acts in cases(policy):
            category = "item_problem" if sid.endswith(("-RF", "-AG")) else "product_question"
            pipeline.publish(opened(policy, sid, category))
            for a in acts:
                pipeline.publish(a)
    # And reasons, a merchant reply in English to a German customer, and orders
    pipeline.publish(opened("douyin", "D-WHY", "item_problem"))
    pipeline.publish(act("ticket.unresolved", "D-WHY", "03:00", {"reason": "cannot reach the customer"}, "u"))
    pipeline.publish(
        act("ticket.platform_decided", "D-WHY", "04:00", {"decision": "rejected", "note": "call again"}, "p")
    )
    pipeline.publish(opened("chat", "C-TR", channel="tokopedia"))
    pipeline.publish(
        act(
            "message.posted",
            "C-TR",
            "03:00",
            {"message": {"message_id": "C-TR-r", "author": "merchant", "text": "Sorry, we will send a new lid today."}},
            "r",
        )
    )
    pipeline.publish(
        event(
            "order.placed",
            "ord-1",
            T.format("05:00"),
            {"merchant_id": "m-rules-chat", "customer_id": "c-C-TR", "amount": "30", "currency": "EUR"},
            "ord-1-placed",
        )
    )
    pipeline.drain(quiet_s=4)
    assert pipeline.wait_for(
        lambda: pipeline.of("D-CP", "ticket.status_changed")[1:] and pipeline.of("C-TR", "message.translated")[1:],
        max_s=60,
    )
    pipeline.drain(quiet_s=2)

    # Then, row 1: a Douyin request cannot be withdrawn, and is closed only by the platform
    for p in ("W", "C"):
        assert pipeline.statuses(f"{p}-WD") == ["awaiting_merchant", "closed"]
        assert pipeline.of(f"{p}-WD", "ticket.status_changed")[-1]["data"]["note"] == "changed my mind"
        assert pipeline.statuses(f"{p}-CM") == ["awaiting_merchant", "closed"]
    assert pipeline.statuses("D-WD") == ["awaiting_merchant"] and rejected(pipeline, "D-WD") == [
        ("wd", "invalid_transition")
    ]
    assert pipeline.statuses("D-CM") == ["awaiting_merchant"] and rejected(pipeline, "D-CM") == [
        ("close", "invalid_transition")
    ]
    for p in "WDC":
        assert pipeline.statuses(f"{p}-CP") == ["awaiting_merchant", "closed"]
    # row 2: a Douyin refund is recorded without closing; the clock keeps running (no fulfilment)
    assert pipeline.statuses("D-RF") == ["awaiting_merchant"] and rejected(pipeline, "D-RF") == []
    assert not pipeline.of("D-RF", "sla.fulfilled") and not pipeline.of("D-RF", "sla.cancelled")
    for p in ("W", "C"):
        assert pipeline.statuses(f"{p}-RF") == ["awaiting_merchant", "closed"]
    # row 4: Wish refunds post-purchase tickets only
    assert pipeline.statuses("W-RP") == ["awaiting_merchant"] and rejected(pipeline, "W-RP") == [
        ("refund", "invalid_transition")
    ]
    assert pipeline.statuses("D-RP") == ["awaiting_merchant"] and pipeline.statuses("C-RP") == [
        "awaiting_merchant",
        "closed",
    ]
    # row 3: a Douyin resolve with agreed: true needs the evidence; elsewhere the first resolve closes
    assert rejected(pipeline, "D-AG") == [("bare", "missing_evidence")]
    assert pipeline.statuses("D-AG") == ["awaiting_merchant", "user_confirming"]
    for p in ("W", "C"):
        assert pipeline.statuses(f"{p}-AG") == ["awaiting_merchant", "closed"]
        assert rejected(pipeline, f"{p}-AG") == [("evidence", "invalid_transition")]  # already closed

    # reasons and notes travel: escalated.detail and status_changed.note
    assert [e["data"].get("detail") for e in pipeline.of("D-WHY", "ticket.escalated")] == ["cannot reach the customer"]
    assert pipeline.of("D-WHY", "ticket.status_changed")[-1]["data"]["note"] == "call again"
    # a merchant reply in English for a German customer: a message.translated into German
    tr = [e["data"] for e in pipeline.of("C-TR", "message.translated") if e["data"]["message_id"] == "C-TR-r"]
    assert len(tr) == 1 and tr[0]["source_language"] == "en" and tr[0]["target_language"] == "de"

    # and the order is kept as an order: not parked, not a ticket, converting the answered chat
    with psycopg.connect(pipeline.env["TICKETFLOW_DATABASE_URL"]) as conn:
        assert conn.execute("select count(*) from parked_events").fetchone()[0] == 0
        assert conn.execute("select merchant_id, amount::text from orders").fetchall() == [("m-rules-chat", "30.0000")]
        assert conn.execute("select count(*) from tickets where id = 'ord-1'").fetchone()[0] == 0
        assert conn.execute("select channel from tickets where id = 'C-TR'").fetchone()[0] == "tokopedia"
    assert not pipeline.of("ord-1")  # nothing goes out for an order
    r = pipeline.cli("show", "--merchant", "m-rules-chat", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["conversion_7d"] == {"EUR": {"orders": 1, "revenue": "30"}}
    s = pipeline.cli("show", "D-AG")
    assert s.returncode == 0 and "attached  D-AG-r2 (merchant): https://files.example/agreement.png" in s.stdout
