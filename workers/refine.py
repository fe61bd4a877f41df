"""Queue `<ns>.refine`: classify a ticket's opening message again with the stronger model (issue #17)."""

from __future__ import annotations

import dramatiq

from services.jobs.refine import RefineJob


def register(broker: dramatiq.Broker, queue_name: str, job: RefineJob) -> dramatiq.Actor:
    def refine(ticket_id: str, message_id: str) -> None:
        job.run(ticket_id, message_id)

    return dramatiq.actor(
        broker=broker,
        queue_name=queue_name,
        actor_name="refine",
        max_retries=10,
        min_backoff=1_000,
        max_backoff=300_000,
        time_limit=120_000,  # the first task of a process loads the model
    )(refine)
