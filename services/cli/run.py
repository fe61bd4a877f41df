"""`ticketflow run`: the named components as threads of one process, until SIGTERM/SIGINT.

Each component is also a process of its own when run alone (`--components relay`), which is
how a deployment scales them; threads keep a small installation to one process.

Health (services.components.health): every component has a probe; `/healthz` and `/readyz`
are served on TICKETFLOW_HEALTH_PORT when set, else on the metrics port of a process that runs
the exporter (with `/metrics`); every process writes heartbeats for `component_up`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from services.bootstrap import build_engine, partitions, policies, sources
from services.bootstrap import topology as build_topology
from services.cli.errors import Failure
from services.components.health import Health, workers_state
from services.config import Settings
from services.core.clock import SystemClock
from services.logs import log

COMPONENTS = ("ingest", "workers", "scheduler", "relay", "exporter", "api")
COMPONENTS_GRACE_SECONDS = 15.0  # then the workers get WORKERS_GRACE_MS: SIGTERM to exit stays under 25 s


def run(settings: Settings, components: list[str]) -> int:
    if {"ingest", "scheduler"} & set(components):
        check_policies(settings)  # before any signal handler or thread: a clear one-line exit 1
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
    topology = build_topology(settings)
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
                retention_days=settings.retention_days,
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
    if "api" in components:
        closers.append(_serve_api(settings, start, health))
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
    # One deadline for the whole shutdown, under Kubernetes' default 30 s grace: components first (ingest
    # finishes and acks the batch it is committing), then the workers and the exporter. A component still
    # busy then is left (daemon thread): whatever it had not acked goes back to the broker.
    deadline = time.monotonic() + COMPONENTS_GRACE_SECONDS
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    beats.join(timeout=min(5.0, max(0.0, deadline - time.monotonic())))
    for close in closers:
        close()
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        # A component blocked (say, on a lock inside PostgreSQL) would also hold the interpreter's exit
        # (it joins the ingest committer's pool): leave now. Its transaction rolls back with the
        # connection, its unacked deliveries go back to the broker.
        log.warning("run.stop_incomplete", components=stuck)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    log.info("run.stopped", crashed=crashed or None)
    return 1 if crashed else 0  # a supervisor restarts a process that stopped because a component died


def check_policies(settings: Settings) -> None:
    """A policy referenced by an open ticket but missing from this process's configuration (say, the
    policies file mounted on ingest only) would fail every timer and event of those tickets: refuse to
    start instead, with one line naming them. A database not reachable yet is not this check's
    business (the components retry their connections); it is skipped with a warning."""
    import psycopg

    from services.store.db import connect

    known = policies(settings.policies_path)  # a bad policies file fails first, with its own line
    try:
        with connect(settings.database_url) as conn:
            refuse_missing_policies(conn, settings.policies_path, known)
    except psycopg.Error as e:  # not reachable yet, or not migrated yet
        log.warning("policies.check_skipped", error=str(e)[:200])


def refuse_missing_policies(conn, path: str | None, known) -> None:
    """Raise Failure naming the policies open tickets use that `known` lacks."""
    from services.store import tickets

    missing = sorted(tickets.open_policies(conn) - set(known))
    if missing:
        where = path or "the built-in policies (TICKETFLOW_POLICIES not set)"
        raise Failure(f"open tickets use policies missing from {where}: {', '.join(missing)}")


def _serve_api(settings: Settings, start, health: Health):
    """The HTTP API under uvicorn on TICKETFLOW_API_PORT, on a thread like the other components;
    its probe is live while uvicorn serves, ready once it listens."""
    import uvicorn

    from services.bootstrap import build_api

    app, close_app = build_api(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False)
    )

    def serve(stop: threading.Event) -> None:
        def watch() -> None:
            stop.wait()
            server.should_exit = True

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        server.run()
        if not stop.is_set():
            raise RuntimeError(f"the HTTP API stopped (port {settings.api_port} taken?)")

    health.probe("api", check=lambda: (not server.should_exit, bool(server.started)))
    start("api", serve)
    return close_app


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
