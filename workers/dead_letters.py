"""Record messages that exhausted their retries in PostgreSQL: RabbitMQ drops `.XQ` messages
after 7 days (PITFALLS.md), and an operator needs to see and count them longer than that."""

from __future__ import annotations

import json

import psycopg
from dramatiq.middleware import Middleware

from services.logs import log
from services.store.db import connect
from services.store.outbox import add_counters


class DeadLetterRecorder(Middleware):
    def __init__(self, database_url: str):
        self.database_url = database_url

    def after_nack(self, broker, message):
        """A nack after the Retries middleware gave up: the message is on its way to the dead-letter queue."""
        error = (message.options.get("traceback") or "")[-2000:]
        try:
            with connect(self.database_url) as c:
                c.execute(
                    "insert into dead_letters (queue, actor, message_id, args, error) values (%s, %s, %s, %s, %s)",
                    (
                        message.queue_name,
                        message.actor_name,
                        message.message_id,
                        json.dumps(message.kwargs, default=str),
                        error,
                    ),
                )
                add_counters(c.cursor(), [("dead_letters_total", {"queue": message.queue_name}, 1)])
        except psycopg.Error as e:  # the broker still keeps it in .XQ; say so loudly
            log.error("dead_letter.record_failed", message_id=message.message_id, error=str(e)[:200])
        log.error("dead_letter", queue=message.queue_name, actor=message.actor_name, message_id=message.message_id)
