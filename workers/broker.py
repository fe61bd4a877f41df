"""The one place a dramatiq broker is built, so every process sets it up the same way, first."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker

from .dead_letters import DeadLetterRecorder
from .metrics import WorkerMetrics


def make_broker(amqp_url: str | None, *, database_url: str | None = None) -> dramatiq.Broker:
    """RabbitMQ with publisher confirms (dramatiq's default loses messages on a broker crash,
    PITFALLS.md); an in-process stub when `amqp_url` is None (the demo)."""
    if amqp_url is None:
        broker: dramatiq.Broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        broker = RabbitmqBroker(url=amqp_url, confirm_delivery=True)
    if database_url:
        broker.add_middleware(DeadLetterRecorder(database_url))
        broker.add_middleware(WorkerMetrics(database_url))
    dramatiq.set_broker(broker)
    return broker
