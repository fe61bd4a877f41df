"""The subscription table: which worker does what work the core hands out (`Task.actor`)."""

from __future__ import annotations

import dramatiq

from services.amqp.topology import Topology
from services.jobs.refine import RefineJob
from services.jobs.translation import TranslationJob

from . import refine, translate


def register_all(
    broker: dramatiq.Broker,
    topology: Topology,
    *,
    database_url: str,
    translation_job: TranslationJob,
    refine_job: RefineJob,
    refine_nice: int = 0,
) -> dict[str, dramatiq.Actor]:
    return {
        "translate": translate.register(broker, topology.worker_queue("translate"), translation_job),
        "refine": refine.register(broker, topology.worker_queue("refine"), refine_job, nice=refine_nice),
    }
