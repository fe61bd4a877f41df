"""Prometheus `/metrics` for operators: every figure is read from PostgreSQL at scrape time.

Counters live in the database, written in the same transaction as the effect they count,
so every process contributes to one exact series and a restart never resets or doubles one
(no multiprocess directory to get wrong). Labels are bounded vocabularies only.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable

import psycopg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from schemas.vocabulary import CATEGORIES, HEALTH_STATES, STATUSES
from services.amqp.topology import WORKER_ACTORS, Topology
from services.components.health import Health
from services.config import Settings
from services.core.clock import Clock, SystemClock
from services.core.routing import AGENT_STATES
from services.logs import log
from services.store import conversion, heartbeats, kpis, outbox, parking, timers
from services.store.db import connect, ping

P = "ticketflow_"
COUNTERS = {
    "events_ingested_total": ("Inbound events applied, by type.", ["type"]),
    "events_rejected_total": ("Inbound messages rejected, by reason.", ["reason"]),
    "sla_breaches_total": ("SLA clocks breached.", ["policy", "clock"]),
    "surveys_dispatched_total": ("Surveys sent (attempt 0) and reminders (1, 2).", ["attempt"]),
    "escalations_total": ("Tickets handed to platform support, by reason.", ["reason"]),
    "dead_letters_total": ("Messages that exhausted retries or crashed a consumer.", ["queue"]),
    "timer_failures_total": ("Timer firings that raised (the timer is set aside and retried).", ["kind"]),
    "tickets_purged_total": ("Closed tickets purged with their rows by retention (TICKETFLOW_RETENTION_DAYS).", []),
    "worker_messages_total": (
        "Messages processed by dramatiq workers, by actor and outcome (all processes).",
        ["actor", "outcome"],
    ),
    "api_requests_total": (
        "HTTP API requests by route template (never an id) and status code, all API processes.",
        ["route", "code"],
    ),
    "refinements_total": (
        "Refine tasks by outcome: applied, agreed, unsure, upstream, unavailable (no refining model).",
        ["outcome"],
    ),
    "translation_provider_unavailable_total": (
        "Translations a provider could not serve (missing pair or binary, open circuit, failure).",
        ["provider"],
    ),
}
HISTOGRAMS = {
    "first_response_seconds": ("Time from ticket opened to the merchant's first response.", ["policy"]),
    "timer_lag_seconds": ("Wall-clock delay between a timer's due instant and its firing.", []),
    "chat_queue_wait_seconds": ("How long a chat waited before routing gave it to an agent (0: at once).", []),
}
COMPONENT_NAMES = ("ingest", "workers", "scheduler", "relay", "exporter")


class DatabaseCollector:
    def __init__(
        self, settings: Settings, components: list[str], clock: Clock | None = None, heartbeat_window: float = 15.0
    ):
        self.settings, self.components, self.clock = settings, components, clock or SystemClock()
        self.heartbeat_window = heartbeat_window  # 3 heartbeats (services.components.health writes every 5 s)
        self.topology = Topology(settings.namespace)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings.database_url, autocommit=True)
        return self._conn

    def ping(self) -> bool:
        """PostgreSQL answers (the exporter's readiness)."""
        with self._lock:
            try:
                ping(self._db())
                return True
            except Exception as e:  # noqa: BLE001
                log.warning("exporter.ping_failed", error=str(e)[:200])
                self._conn = None
                return False

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                yield from self._collect(self._db())
                up = 1
            except Exception as e:  # noqa: BLE001 - a scrape must answer even when the database is away
                log.warning("exporter.scrape_failed", error=str(e)[:200])
                self._conn = None
                up = 0
        g = GaugeMetricFamily(P + "database_up", "1 when the last scrape could read PostgreSQL.")
        g.add_metric([], up)
        yield g

    def _collect(self, conn) -> Iterable[Metric]:
        rows = outbox.counters(conn)
        by_name: dict[str, list[tuple[dict, float]]] = defaultdict(list)
        for name, labels, value in rows:
            by_name[name].append((json.loads(labels), value))
        for name, (doc, label_names) in COUNTERS.items():
            m = CounterMetricFamily(P + name, doc, labels=label_names)
            for labels, value in by_name.get(name, []):
                m.add_metric([labels.get(k, "") for k in label_names], value)
            yield m
        yield _gauge_by(by_name, "tickets", "Tickets by current status.", "status", STATUSES)
        yield _gauge_by(by_name, "open_tickets", "Open (not closed) tickets by category.", "category", CATEGORIES)
        yield from _routing_gauges(by_name)
        for name, (doc, label_names) in HISTOGRAMS.items():
            yield self._histogram(name, doc, label_names, by_name)
        now = self.clock.now()
        snap = kpis.platform_snapshot(conn, now)
        for key, doc in (
            ("csat_ratio", "Satisfied / rated surveys, platform-wide, last 7 days."),
            ("late_response_ratio", "Late / all merchant responses, platform-wide, last 7 days."),
            ("response_24h_ratio", "Buyer-started tickets answered within 24 h / all, last 7 days."),
        ):
            g = GaugeMetricFamily(P + key, doc)
            if snap.get(key) is not None:
                g.add_metric([], snap[key])
            yield g
        g = GaugeMetricFamily(P + "merchants", "Merchants by health state.", labels=["health"])
        for state in HEALTH_STATES:
            g.add_metric([state], snap.get("merchants", {}).get(state, 0))
        yield g
        at = conversion.as_of(conn, kpis.watermark(conn), now)  # event time, as every other KPI window here
        g = GaugeMetricFamily(
            P + "conversion_revenue",
            "Revenue of orders placed within 7 days after the buyer's chat was answered (003), platform-wide, "
            "orders of the last 7 days, by ISO 4217 currency.",
            labels=["currency"],
        )
        for currency, revenue in conversion.platform_revenue(conn, at).items():
            g.add_metric([currency], revenue)
        yield g
        for name, count, doc in (
            ("timers_pending", timers.count, "Durable timers not yet fired."),
            ("outbox_pending", outbox.count, "Outbound messages committed, not yet published."),
            ("parked_events", parking.count, "Events waiting for their ticket.opened."),
        ):
            g = GaugeMetricFamily(P + name, doc)
            g.add_metric([], count(conn))
            yield g
        g = GaugeMetricFamily(P + "timers_set_aside", "Timers whose firing raised, waiting for their retry.")
        g.add_metric([], timers.count_set_aside(conn))
        yield g
        up = heartbeats.recent(conn, self.heartbeat_window)
        g = GaugeMetricFamily(
            P + "component_up",
            "1 when at least one process of the component beat recently with its loop turning and connected"
            " (heartbeats in PostgreSQL, services.components.health).",
            labels=["component"],
        )
        n = GaugeMetricFamily(
            P + "component_instances", "Processes of each component whose loop turned recently.", labels=["component"]
        )
        for c in sorted(set(COMPONENT_NAMES) | set(up)):
            ready, live = up.get(c, (0, 0))
            g.add_metric([c], 1 if ready else 0)
            n.add_metric([c], live)
        yield g
        yield n
        yield self._queue_depths()

    @staticmethod
    def _histogram(name: str, doc: str, label_names: list[str], by_name) -> HistogramMetricFamily:
        h = HistogramMetricFamily(P + name, doc, labels=label_names)
        series: dict[tuple, dict] = defaultdict(lambda: {"buckets": {}, "sum": 0.0, "count": 0.0})
        for labels, v in by_name.get(f"{name}_bucket", []):
            key = tuple(labels.get(k, "") for k in label_names)
            series[key]["buckets"][float(labels["le"])] = v
        for suffix in ("sum", "count"):
            for labels, v in by_name.get(f"{name}_{suffix}", []):
                series[tuple(labels.get(k, "") for k in label_names)][suffix] = v
        bounds = outbox.HISTOGRAM_BUCKETS[name]
        for key, s in series.items():
            buckets = [(repr(float(b)), s["buckets"].get(float(b), 0.0)) for b in bounds]
            buckets.append(("+Inf", s["count"]))
            h.add_metric(list(key), buckets, s["sum"])
        return h

    def _queue_depths(self) -> Metric:
        g = GaugeMetricFamily(P + "queue_depth", "Messages ready in each of our RabbitMQ queues.", labels=["queue"])
        names = [self.topology.ingest_queue, self.topology.rejected_queue, self.topology.failed_queue]
        for actor in WORKER_ACTORS:
            q = self.topology.worker_queue(actor)
            names += [q, f"{q}.XQ"]
        try:
            import pika

            conn = pika.BlockingConnection(pika.URLParameters(self.settings.amqp_url))
            try:
                for q in names:
                    ch = conn.channel()
                    try:
                        g.add_metric([q], ch.queue_declare(q, passive=True).method.message_count)
                        ch.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        pass
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001 - the broker being away must not fail the scrape
            log.warning("exporter.queue_depth_failed", error=str(e)[:200])
        return g


def serve(settings: Settings, components: list[str], health: Health, port: int | None = None):
    """`/metrics` with `/healthz` and `/readyz` of this process on the metrics port; returns the closer.
    Its probe: live while the server answers, ready while PostgreSQL answers a scrape."""
    registry = CollectorRegistry()
    collector = DatabaseCollector(settings, components)
    registry.register(collector)
    health.probe("exporter", check=lambda: (True, collector.ping()))
    close = health.serve(settings.metrics_port if port is None else port, metrics=lambda: generate_latest(registry))
    log.info("exporter.listening", port=settings.metrics_port if port is None else port)
    return close


def _routing_gauges(by_name) -> Iterable[Metric]:
    """Chat routing (003): chats waiting in merchants' queues, and agents by state (never by id)."""
    g = GaugeMetricFamily(P + "chats_queued", "Chats waiting in a merchant's queue for an agent.")
    g.add_metric([], sum(v for _, v in by_name.get("chats_queued", [])))
    yield g
    yield _gauge_by(by_name, "agents", "Known chat agents by availability state.", "state", AGENT_STATES)


def _gauge_by(by_name, name: str, doc: str, label: str, values: Iterable[str]) -> Metric:
    """A gauge kept as counter rows (+1/-1 in the transactions that change it), one series per value
    of its vocabulary: a value with no row yet reads 0 rather than vanishing from the dashboard."""
    current = {labels.get(label): v for labels, v in by_name.get(name, [])}
    g = GaugeMetricFamily(P + name, doc, labels=[label])
    for value in values:
        g.add_metric([value], current.get(value, 0))
    return g
