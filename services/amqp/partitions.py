"""Ticket-keyed partitions of the inbound stream, made of plain queues (no broker plugin).

    <ns>.in (topic, upstream) -> <ns>.in.ingest -> router (one active) -> <ns>.in.p00 .. <ns>.in.pNN
        (the queue chosen by a stable hash of the ticket id, published through the default exchange)

Every event of a ticket lands in one partition queue, in the order the router read them; each
partition queue has one consumer at a time (an *exclusive* consumer: the broker refuses a second
one and frees the queue the moment the holder's connection dies), so one ingest process applies a
ticket's events, in order, while other tickets go to other processes. The router only adds the
header: upstream apps keep publishing structured events to `<ns>.in` with routing key = type, and
an event published after `migrate` waits in `<ns>.in.ingest` as before. How many partitions a
process holds follows the number of live ingest processes, read from the consumer count of
`<ns>.in.members` (each ingest process keeps one consumer there): no coordinator of our own.

Why the router hashes and not RabbitMQ's consistent-hash exchange (the first design): that exchange
is a plugin a stock broker does not enable, and without it `migrate` failed on a fresh machine; the
router reads every event anyway, so choosing the queue there costs a CRC-32 and the default exchange
routes more cheaply than the hash exchange. Changing the partition count re-maps tickets: drain
`<ns>.in.p*` first (stop the router, let ingest empty them).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import orjson
import pika

#: The ticket id the router hashed, carried on every partitioned message (for diagnosis and tests).
HASH_HEADER = "x-ticketflow-subject"
# The publisher's broker user (AMQP user_id, which RabbitMQ checks), carried across the router: the
# router cannot republish under another user's user_id. It always overwrites what a publisher sent.
USER_HEADER = "x-ticketflow-user-id"
_SUBJECT_HEADERS = ("cloudEvents:subject", "cloudEvents_subject")


@dataclass(frozen=True)
class Partitions:
    namespace: str
    count: int = 8

    @property
    def members(self) -> str:
        return f"{self.namespace}.in.members"

    @property
    def queues(self) -> list[str]:
        return [f"{self.namespace}.in.p{i:02d}" for i in range(self.count)]

    def queue_for(self, subject: str) -> str:
        """The partition queue of a ticket: the same for every event of it, in every process and
        release (CRC-32 is fixed by its standard, unlike Python's salted `hash`)."""
        return self.queues[zlib.crc32(subject.encode("utf-8", "surrogatepass")) % self.count]

    def declare(self, connection: pika.BlockingConnection, failed_queue: str) -> None:
        """The partition queues (dead letters to the failed queue) and the members queue."""
        ch = connection.channel()
        for q in self.queues:
            ch.queue_declare(
                q, durable=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": failed_queue}
            )
        ch.queue_declare(self.members, durable=True)
        ch.close()


def subject_of(properties: pika.BasicProperties | None, body: bytes, limit: int = 262_144) -> str:
    """The ticket id a message is about, for hashing only: the binary-mode attribute, else the
    structured body's `subject`. Unreadable input hashes to "-" (ingest rejects it, whatever queue)."""
    headers = getattr(properties, "headers", None) or {}
    for name in _SUBJECT_HEADERS:
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value:
            return value[:256]
    if len(body) <= limit:
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return "-"
        if isinstance(raw, dict) and isinstance(raw.get("subject"), str) and raw["subject"]:
            return raw["subject"][:256]
    return "-"
