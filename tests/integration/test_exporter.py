"""`/metrics`: DatabaseCollector yields the contract's KPI series with the figures kpis computed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.components.exporter import DatabaseCollector
from services.config import Settings
from services.core.clock import FixedClock
from services.core.policies import BUILTIN
from services.core.ticket import Fact
from services.store import conversion, kpis
from services.store.db import connect
from services.store.outbox import add_counters

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def samples(collector) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in collector.collect() for s in m.samples}


def test_kpi_series_carry_the_recorded_figures(database_url, amqp_url):
    # Given three merchants' facts: m1 all good, m2 one late of two, m3 unsatisfied
    facts = [
        Fact("opened", "m1", "wish", T0),
        Fact("first_response", "m1", "wish", T0 + H, value=3600.0, opened_at=T0),
        Fact("response", "m1", "wish", T0 + H, late=False),
        Fact("rating", "m1", "wish", T0 + 2 * H, value=5.0),
        Fact("opened", "m2", "chat", T0),
        Fact("first_response", "m2", "chat", T0 + 30 * H, value=30 * 3600.0, opened_at=T0),
        Fact("response", "m2", "chat", T0 + 30 * H, late=True),
        Fact("response", "m2", "chat", T0 + 30 * H),
        Fact("rating", "m3", "wish", T0 + 30 * H, value=2.0),
    ]
    with connect(database_url) as conn:
        for f in facts:
            with conn.transaction(), conn.cursor() as cur:
                kpis.record(cur, [f], BUILTIN)
    # When Prometheus scrapes (the wall clock far away: the figures follow event time)
    settings = Settings(database_url=database_url, amqp_url=amqp_url)
    collector = DatabaseCollector(settings, ["exporter"], clock=FixedClock(datetime(2031, 1, 1, tzinfo=timezone.utc)))
    got = samples(collector)
    # I expect CSAT 1/2, late 1/3 responses, 24 h rate 1/2 tickets, merchants by stored state
    assert got[("ticketflow_csat_ratio", ())] == 0.5
    assert got[("ticketflow_late_response_ratio", ())] == pytest.approx(1 / 3)
    assert got[("ticketflow_response_24h_ratio", ())] == 0.5
    assert got[("ticketflow_merchants", (("health", "normal"),))] == 1  # m1
    assert got[("ticketflow_merchants", (("health", "warning"),))] == 0
    assert got[("ticketflow_merchants", (("health", "restricted"),))] == 2  # m2 50 % late, m3 CSAT 0
    assert got[("ticketflow_database_up", ())] == 1
    # and the text exposition has no merchant id in any label
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert "ticketflow_csat_ratio 0.5" in text and "m1" not in text and "m2" not in text


def test_undefined_ratios_have_no_sample_and_merchants_are_zero(database_url, amqp_url):
    collector = DatabaseCollector(Settings(database_url=database_url, amqp_url=amqp_url), ["exporter"])
    got = samples(collector)
    names = {name for name, _ in got}
    assert {"ticketflow_csat_ratio", "ticketflow_late_response_ratio", "ticketflow_response_24h_ratio"} & names == set()
    assert [got[("ticketflow_merchants", (("health", s),))] for s in ("normal", "warning", "restricted")] == [0, 0, 0]
    families = {m.name for m in collector.collect()}
    assert {
        "ticketflow_csat_ratio",
        "ticketflow_late_response_ratio",
        "ticketflow_response_24h_ratio",
        "ticketflow_merchants",
    } <= families


def test_conversion_revenue_by_currency_only(database_url, amqp_url):
    # Given a chat answered for customer c1 of m1, then two orders of c1 (EUR, IDR) and one of a stranger
    with connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        conversion.record_answers(cur, [Fact("chat_answered", "m1", "chat", T0, customer_id="c1")])
        for oid, cust, amount, currency in (
            ("o1", "c1", 10, "EUR"),
            ("o2", "c1", 25000, "IDR"),
            ("o3", "c9", 7, "EUR"),
        ):
            cur.execute(
                "insert into orders (order_id, merchant_id, customer_id, amount, currency, at, event_id)"
                " values (%s, 'm1', %s, %s, %s, %s, %s)",
                (oid, cust, amount, currency, T0 + H, oid),
            )
    # When Prometheus scrapes
    collector = DatabaseCollector(Settings(database_url=database_url, amqp_url=amqp_url), ["exporter"])
    got = samples(collector)
    # Then the converted revenue per currency, with no other label (no merchant, no customer)
    conv = {k: v for k, v in got.items() if k[0] == "ticketflow_conversion_revenue"}
    assert conv == {
        ("ticketflow_conversion_revenue", (("currency", "EUR"),)): 10.0,
        ("ticketflow_conversion_revenue", (("currency", "IDR"),)): 25000.0,
    }


def test_every_scrape_reads_the_counters_and_backlogs_afresh(database_url, amqp_url):
    # Given a scrape, then a counter moved and an outbound message committed, not yet published
    collector = DatabaseCollector(Settings(database_url=database_url, amqp_url=amqp_url), ["exporter"])
    before = samples(collector)
    with connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        add_counters(cur, [("escalations_total", {"reason": "unresolved"}, 2)])
        cur.execute(
            "insert into outbox (exchange, routing_key, body, headers, message_id) values ('x', 'k', '', '{}', 'm1')"
        )
    # When Prometheus scrapes again, I expect the next scrape to show both (nothing is cached between scrapes)
    after = samples(collector)
    key = ("ticketflow_escalations_total", (("reason", "unresolved"),))
    assert key not in before and after[key] == 2
    assert before[("ticketflow_outbox_pending", ())] == 0 and after[("ticketflow_outbox_pending", ())] == 1
