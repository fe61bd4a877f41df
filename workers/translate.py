"""Queue `<ns>.translate`: translate one customer message into the merchant's language."""

from __future__ import annotations

import dramatiq

from services.jobs.translation import TranslationJob


def register(broker: dramatiq.Broker, queue_name: str, job: TranslationJob) -> dramatiq.Actor:
    def translate(ticket_id: str, message_id: str) -> None:
        job.run(ticket_id, message_id)

    return dramatiq.actor(
        broker=broker,
        queue_name=queue_name,
        actor_name="translate",
        max_retries=10,
        min_backoff=1_000,
        max_backoff=300_000,
    )(translate)
