"""Record messages that exhausted their retries in PostgreSQL: RabbitMQ drops `.XQ` messages
after 7 days (PITFALLS.md), and an operator needs to see and count them longer than that."""

from __future__ import annotations

import psycopg
from dramatiq.middleware import Middleware

from services.logs import log
from services.store import dead_letters


class DeadLetterRecorder(Middleware):
    def __init__(self, database_url: str):
        self.database_url = database_url

    def after_nack(self, broker, message):
        """A nack after the Retries middleware gave up: the message is on its way to the dead-letter queue."""
        error = (message.options.get("traceback") or "")[-2000:]
        try:
            dead_letters.record(
                self.database_url,
                queue=message.queue_name,
                actor=message.actor_name,
                message_id=message.message_id,
                kwargs=message.kwargs,
                error=error,
            )
        except psycopg.Error as e:  # the broker still keeps it in .XQ; say so loudly
            log.error("dead_letter.record_failed", message_id=message.message_id, error=str(e)[:200])
        log.error("dead_letter", queue=message.queue_name, actor=message.actor_name, message_id=message.message_id)
