"""Queue `<ns>.refine`: classify a ticket's opening message again with the stronger model (issue #17).

Consumed by threads of its own (`TICKETFLOW_REFINE_THREADS`, see workers/group.py), each run at a
lower OS priority (`TICKETFLOW_REFINE_NICE`): background work that yields the cores to the rest."""

from __future__ import annotations

import dramatiq

from services.jobs.refine import RefineJob

from .priority import lower_this_thread


def register(broker: dramatiq.Broker, queue_name: str, job: RefineJob, *, nice: int = 0) -> dramatiq.Actor:
    def refine(ticket_id: str, message_id: str) -> None:
        lower_this_thread(nice)  # once per thread: only the refine Worker's threads run this actor
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
