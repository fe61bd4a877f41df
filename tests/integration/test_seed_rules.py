"""Issue #13 against the real PostgreSQL: Douyin out of merchant health (002) with a Wish control, chat
conversion from `order.placed` (003), and what `show` / `show --merchant` make of them."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from schemas.builders import cloudevent_bytes
from services.amqp.topology import Topology
from services.cli.merchant import merchant_report
from services.cli.show import render_ticket
from services.config import Settings
from services.core.clock import FixedClock
from services.core.lifecycle import Lifecycle
from services.core.policies import BUILTIN, load_policies
from services.core.ticket import Fact
from services.jobs.translation import TranslationJob
from services.language.translate import Translation
from services.store import conversion, kpis, tickets
from services.store.db import connect, migrations, pool
from services.store.engine import Engine
from tests.fakes import fake_classify

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
D = timedelta(days=1)


def rec(conn, *facts):
    with conn.transaction(), conn.cursor() as cur:
        return kpis.record(cur, list(facts), BUILTIN)


def bad_month(merchant: str, policy: str) -> list[Fact]:
    """Twenty tickets, every response late, every rating 1: restricted under any threshold."""
    out = []
    for i in range(20):
        at = T0 + i * H
        out += [
            Fact("opened", merchant, policy, at),
            Fact("response", merchant, policy, at + 30 * H, late=True),
            Fact("rating", merchant, policy, at + 31 * H, value=1.0),
        ]
    return out


def test_a_douyin_only_merchant_keeps_normal_health_and_a_wish_control_is_restricted(database_url):
    with connect(database_url) as conn:
        # Given the same awful month for a Douyin-only merchant and for a Wish merchant
        douyin = rec(conn, *bad_month("m-douyin", "douyin"))
        wish = rec(conn, *bad_month("m-wish", "wish"))
        # Then only the Wish merchant's health changes (002: service requests do not affect the shop's score)
        assert douyin == []
        assert [(m, d["state"]) for m, d in wish] == [("m-wish", "restricted")]
        assert conn.execute("select count(*) from kpi_merchants where merchant_id = 'm-douyin'").fetchone()[0] == 0
        # And the KPIs still show the Douyin figures, per policy
        at = kpis.watermark(conn)
        by_policy = kpis.merchant_policy_days(conn, "m-douyin", at)
        assert set(by_policy) == {"douyin"}
        total = sum((c.responses, c.late, c.rated, c.satisfied) == (0, 0, 0, 0) for c in by_policy["douyin"].values())
        assert total < len(by_policy["douyin"])
        assert sum(c.late for c in by_policy["douyin"].values()) == 20
        assert sum(c.rated for c in by_policy["douyin"].values()) == 20
        # and in the platform-wide ratios too (those are not merchant health)
        _, k = kpis.platform_kpis(conn, at)
        assert k.rated == 40 and k.late_response_ratio == 1.0


def test_a_mixed_merchant_is_judged_on_its_wish_tickets_only(database_url):
    with connect(database_url) as conn:
        good_wish = [Fact("response", "m-mix", "wish", T0 + i * H, late=False) for i in range(10)]
        changes = rec(conn, *bad_month("m-mix", "douyin"), *good_wish)
        assert changes == []  # normal: 0 % late on the tickets that count
        row = kpis.merchant_kpis(conn, "m-mix", kpis.watermark(conn))[30]
        assert row.responses == 10 and row.late_response_ratio == 0.0 and row.rated == 0


# -- conversion through the engine ----------------------------------------------------------------
def ev(type_, subject, time_, data, id_):
    return cloudevent_bytes(type_, subject, time_, data, id=id_)


def chat(subject, customer, at, merchant="shop-1"):
    return ev(
        "ticket.opened",
        subject,
        at,
        {
            "merchant_id": merchant,
            "policy": "chat",
            "channel": "tokopedia",
            "customer": {"id": customer, "locale": "id-ID"},
            "message": {"message_id": f"{subject}-1", "text": "Apakah ukuran M masih ada?"},
        },
        f"{subject}-open",
    )


def reply(subject, at, n=1):
    return ev(
        "message.posted",
        subject,
        at,
        {"message": {"message_id": f"{subject}-r{n}", "author": "merchant", "text": "Masih ada, kak"}},
        f"{subject}-reply-{n}",
    )


def order(order_id, customer, at, amount, currency="IDR", merchant="shop-1"):
    return ev(
        "order.placed",
        order_id,
        at,
        {"merchant_id": merchant, "customer_id": customer, "amount": amount, "currency": currency},
        f"{order_id}-placed",
    )


@pytest.fixture
def engine():
    policies = load_policies()
    return Engine(Topology("tfc"), Lifecycle(policies), fake_classify, policies, FixedClock(T0 + 30 * D))


def test_orders_convert_within_7_days_after_an_answered_chat_in_any_arrival_order(engine, database_url):
    with connect(database_url) as conn:
        # Given an order placed before its chat's answer arrives (out of order), and the chat then answered
        r1 = engine.ingest(conn, [order("o-early", "c-1", T0 + 2 * D, "150000")])
        assert r1.applied == 1 and r1.parked == 0  # an order is not a ticket event: never parked
        engine.ingest(conn, [chat("C-1", "c-1", T0), reply("C-1", T0 + H)])
        # And orders: same customer 6 days later (counts), 8 days later (too late), another customer (no)
        engine.ingest(
            conn,
            [
                order("o-6d", "c-1", T0 + H + 6 * D, "50000"),
                order("o-8d", "c-1", T0 + H + 8 * D, "70000"),
                order("o-other", "c-2", T0 + 2 * D, "99000"),
                order("o-usd", "c-1", T0 + 3 * D, "12.5", currency="USD"),
                order("o-6d", "c-1", T0 + H + 6 * D, "50000"),  # a duplicate event: one effect
            ],
        )
        assert conn.execute("select count(*) from orders").fetchone()[0] == 5
        assert conn.execute("select count(*) from parked_events").fetchone()[0] == 0
        # Then at T0 + 8 days (the 7 days back reach T0 + 1 day) the converted revenue is per currency
        at = T0 + 8 * D + 2 * H
        assert conversion.merchant_revenue(conn, "shop-1", at) == {
            "IDR": {"orders": 2, "revenue": "200000"},
            "USD": {"orders": 1, "revenue": "12.5"},
        }
        assert conversion.platform_revenue(conn, at) == {"IDR": 200000.0, "USD": 12.5}
        # an order of the same customer at another merchant does not convert
        engine.ingest(conn, [order("o-x", "c-1", T0 + 2 * D, "1", merchant="shop-2")])
        assert conversion.merchant_revenue(conn, "shop-2", at) == {}


def test_show_and_merchant_report_carry_the_new_facts(engine, database_url):
    with connect(database_url) as conn:
        engine.ingest(
            conn,
            [
                chat("C-9", "c-9", T0),
                ev(
                    "message.posted",
                    "C-9",
                    T0 + H,
                    {
                        "message": {
                            "message_id": "C-9-p",
                            "author": "customer",
                            "text": "fotonya",
                            "attachments": [{"url": "https://f.example/p.jpg", "content_type": "image/jpeg"}],
                        }
                    },
                    "C-9-photo",
                ),
                reply("C-9", T0 + 2 * H),
                ev("ticket.appealed", "C-9", T0 + 3 * H, {"reason": "abusive buyer"}, "C-9-appeal"),
                order("o-9", "c-9", T0 + 1 * D, "42000"),
            ],
        )
        t = tickets.load(conn, "C-9")
        text = render_ticket(t, tickets.timers_of(conn, "C-9"), tickets.timeline_of(conn, "C-9"), now=T0 + 4 * H)
    assert "channel tokopedia" in text
    assert "said      " in text and "reason 'abusive buyer'" in text
    assert "attached  C-9-p (customer): https://f.example/p.jpg [image/jpeg]" in text
    assert "detail: 'abusive buyer'" in text  # the escalation's detail in the timeline
    out = io.StringIO()
    settings = Settings(database_url=database_url)
    assert merchant_report(settings, "shop-1", as_json=True, clock=FixedClock(T0 + 2 * D), out=out) == 0
    r = json.loads(out.getvalue())
    assert r["conversion_7d"] == {"IDR": {"orders": 1, "revenue": "42000"}}
    assert r["kpis_by_policy"]["chat"]["7d"]["opened"] == 1
    text_out = io.StringIO()
    assert merchant_report(settings, "shop-1", clock=FixedClock(T0 + 2 * D), out=text_out) == 0
    assert "conversion (7 d)    42000 IDR (1 order(s))" in text_out.getvalue()


# -- merchant messages translated for the customer, by the translate worker's job ---------------------
class RecordingTranslator:
    """Stands in for the engines: says what it was asked (the job's choice of languages is under test)."""

    name = "recording"

    def __init__(self):
        self.asked: list[tuple[str, str]] = []

    def translate(self, text: str, source: str, target: str) -> Translation:
        self.asked.append((source, target))
        return Translation(f"[{target}] {text}", source, target, self.name, True)


def test_the_translate_job_turns_a_merchant_reply_into_the_customers_language(engine, database_url):
    wish = {"merchant_id": "shop-tr", "policy": "wish", "merchant_locale": "en"}
    with connect(database_url) as conn:
        engine.ingest(
            conn,
            [
                ev(
                    "ticket.opened",
                    "W-TR",
                    T0,
                    {
                        **wish,
                        "customer": {"id": "c-de", "locale": "de-DE"},
                        "message": {"message_id": "W-TR-1", "text": "Der Deckel ist gesprungen, bitte ersetzen."},
                    },
                    "W-TR-open",
                ),
                ev(
                    "message.posted",
                    "W-TR",
                    T0 + H,
                    {
                        "message": {
                            "message_id": "W-TR-en",
                            "author": "merchant",
                            "text": "We will send a new lid today.",
                        }
                    },
                    "W-TR-en",
                ),
                ev(
                    "message.posted",
                    "W-TR",
                    T0 + 2 * H,
                    {
                        "message": {
                            "message_id": "W-TR-de",
                            "author": "merchant",
                            "text": "Wir schicken Ihnen heute einen neuen Deckel, es tut uns leid.",
                        }
                    },
                    "W-TR-de",
                ),
            ],
        )
    translator = RecordingTranslator()
    p = pool(database_url, max_size=2)
    try:
        job = TranslationJob(p, Topology("tfc"), translator)
        # When the worker runs each merchant message's task (twice: a redelivery)
        for mid in ("W-TR-en", "W-TR-de", "W-TR-en"):
            job.run("W-TR", mid)
    finally:
        p.close()
    # Then the English reply is translated into German once, and the German one is left as written
    assert translator.asked == [("en", "de")]
    with connect(database_url) as conn:
        rows = conn.execute(
            "select message_id, source_language, target_language, text from translations where ticket_id = 'W-TR'"
        ).fetchall()
        assert rows == [("W-TR-en", "en", "de", "[de] We will send a new lid today.")]
        out = conn.execute("select count(*) from outbox where routing_key = 'message.translated'").fetchone()[0]
        assert out == 1  # one message.translated, from the job, none for the redelivery or the German reply


def test_migration_005_drops_chat_clocks_the_old_reading_left_outside_awaiting_merchant(engine, database_url):
    # Given a chat answered by the merchant, as the old reading left it: an inactivity clock and its timer
    with connect(database_url) as conn:
        engine.ingest(conn, [chat("C-OLD", "c-old", T0), reply("C-OLD", T0 + H)])
        due = T0 + H + 7 * D
        conn.execute(
            "update tickets set state = jsonb_set(state, '{inactivity_due_at}', to_jsonb(%s::text)) where id = 'C-OLD'",
            (due.isoformat(),),
        )
        conn.execute("insert into timers (ticket_id, kind, due_at) values ('C-OLD', 'chat_inactivity', %s)", (due,))
        # And a chat still waiting for the merchant, whose clock stays
        engine.ingest(conn, [chat("C-NEW", "c-new", T0)])
        conn.commit()
        # When migration 005's data step runs (it is idempotent)
        text = next(t for v, _, t in migrations() if v == 5)
        conn.execute(text[text.index("-- chat_inactivity corrected") :])
        conn.commit()
        # Then the answered chat has no clock left, the waiting one keeps its own
        assert tickets.load(conn, "C-OLD").inactivity_due_at is None
        assert tickets.load(conn, "C-NEW").inactivity_due_at == T0 + 7 * D
        kinds = conn.execute(
            "select ticket_id from timers where kind = 'chat_inactivity' order by ticket_id"
        ).fetchall()
        assert kinds == [("C-NEW",)]
