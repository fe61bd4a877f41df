"""Messages a worker gave up on, kept in PostgreSQL: RabbitMQ drops `.XQ` messages after 7 days
(PITFALLS.md) and an operator needs to see and count them longer than that."""

from __future__ import annotations

import json
from typing import Any

from services.store.db import connect
from services.store.outbox import add_counters
from services.store.queries import Q


def record(database_url: str, *, queue: str, actor: str, message_id: str, kwargs: dict[str, Any], error: str) -> None:
    """One dead letter and its count, in one transaction (its own connection: called from a worker's
    middleware, outside any unit of work)."""
    with connect(database_url) as c, c.cursor() as cur:
        cur.execute(Q["insert_dead_letter"], (queue, actor, message_id, json.dumps(kwargs, default=str), error))
        add_counters(cur, [("dead_letters_total", {"queue": queue}, 1)])
