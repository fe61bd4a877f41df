"""`ticketflow run`: the named components as threads of one process, until SIGTERM/SIGINT.

Each component is also a process of its own when run alone (`--components relay`), which is
how a deployment scales them; threads keep a small installation to one process.

Health (services.components.health): every component has a probe; `/healthz` and `/readyz`
are served on TICKETFLOW_HEALTH_PORT when set, else on the metrics port of a process that runs
the exporter (with `/metrics`); every process writes heartbeats for `component_up`.
"""

from __future__ import annotations

import signal
import sys
import threading

from services.amqp.topology import Topology
from services.bootstrap import build_engine, partitions, sources
from services.components.health import Health, workers_state
from services.config import Settings
from services.core.clock import SystemClock
from services.logs import log

COMPONENTS = ("ingest", "workers", "scheduler", "relay", "exporter")


def run(settings: Settings, components: list[str]) -> int:
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("shutdown.requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    clock = SystemClock()
    health = Health(settings.liveness_seconds)
    crashed: list[str] = []
    engine = build_engine(settings, clock)
    topology = Topology(settings.namespace)
    threads: list[threading.Thread] = []
    closers = []

    def start(name: str, target) -> None:
        t = threading.Thread(target=_guard(name, target, stop, crashed), name=name, daemon=True)
        t.start()
        threads.append(t)

    if "ingest" in components:
        from services.components.ingest import IngestConsumer
        from services.language import warm_up

        warm_up()  # load the classifier and detector now, not on the first ticket
        parts = partitions(settings)
        if parts is not None:  # every ingest process can route (in a child process); one does at a time
            from services.components.router import start_process

            closers.append(start_process(settings.amqp_url, settings.namespace, parts.count, settings.log_format))
        start(
            "ingest",
            IngestConsumer(
                settings.amqp_url,
                settings.database_url,
                topology,
                engine,
                partitions=parts,
                batch=settings.ingest_batch,
                prefetch=settings.ingest_prefetch,
                probe=health.probe("ingest"),
                sources=sources(settings),
            ).run,
        )
    if "relay" in components:
        from services.amqp.publisher import AmqpPublisher
        from services.components.relay import Relay

        start(
            "relay",
            Relay(settings.database_url, AmqpPublisher(settings.amqp_url), probe=health.probe("relay")).run,
        )
    if "scheduler" in components:
        from services.components.scheduler import Scheduler

        start(
            "scheduler",
            Scheduler(
                settings.database_url,
                engine,
                clock,
                dedupe_days=settings.dedupe_days,
                probe=health.probe("scheduler"),
            ).run,
        )
    if "workers" in components:
        from services.bootstrap import build_workers

        _, worker, close_workers = build_workers(settings, amqp_url=settings.amqp_url)
        worker.start()
        health.probe("workers", check=lambda: workers_state(worker))
        closers.append(close_workers)
    if "exporter" in components:
        from services.components.exporter import serve

        closers.append(serve(settings, components, health))
    if settings.health_port is not None and not (
        "exporter" in components and settings.health_port == settings.metrics_port
    ):
        closers.append(health.serve(settings.health_port))  # (the exporter's port serves them already)
    beats = threading.Thread(
        target=health.run_heartbeats, args=(settings.database_url, stop), name="heartbeats", daemon=True
    )
    beats.start()
    log.info("run.started", components=components, namespace=settings.namespace)
    stop.wait()
    for t in threads:
        t.join(timeout=20)
    beats.join(timeout=5)
    for close in closers:
        close()
    log.info("run.stopped", crashed=crashed)
    return 1 if crashed else 0


def _guard(name, target, stop: threading.Event, crashed: list[str]):
    """A component that dies of a bug stops the process (a supervisor restarts it) rather than
    leaving a half-working pipeline that looks alive."""

    def body():
        try:
            target(stop)
        except Exception as e:  # noqa: BLE001
            log.exception("component.crashed", component=name)
            crashed.append(name)
            print(f"ticketflow run: {name} stopped: {str(e)[:300]}", file=sys.stderr)
            stop.set()

    return body
