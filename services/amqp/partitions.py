"""Ticket-keyed partitions of the inbound stream, made of what RabbitMQ ships with.

    <ns>.in (topic, upstream) -> <ns>.in.ingest -> router (one active) -> <ns>.in.partitioned
        (x-consistent-hash on the `x-ticketflow-subject` header) -> <ns>.in.p00 .. <ns>.in.pNN

Every event of a ticket lands in one partition queue, in the order the router read them; each
partition queue has one consumer at a time (an *exclusive* consumer: the broker refuses a second
one and frees the queue the moment the holder's connection dies), so one ingest process applies a
ticket's events, in order, while other tickets go to other processes. The router only adds the
header: upstream apps keep publishing structured events to `<ns>.in` with routing key = type, and
an event published after `migrate` waits in `<ns>.in.ingest` as before. How many partitions a
process holds follows the number of live ingest processes, read from the consumer count of
`<ns>.in.members` (each ingest process keeps one consumer there): no coordinator of our own.

The consistent-hash exchange is a plugin shipped with RabbitMQ (`rabbitmq-plugins enable
rabbitmq_consistent_hash_exchange`); `declare` names it when the broker lacks it. Changing the
partition count re-maps tickets: drain `<ns>.in.p*` first (stop the router, let ingest empty them).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pika

HASH_HEADER = "x-ticketflow-subject"
# The publisher's broker user (AMQP user_id, which RabbitMQ checks), carried across the router: the
# router cannot republish under another user's user_id. It always overwrites what a publisher sent.
USER_HEADER = "x-ticketflow-user-id"
PLUGIN = "rabbitmq_consistent_hash_exchange"
_SUBJECT_HEADERS = ("cloudEvents:subject", "cloudEvents_subject")


class PluginMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Partitions:
    namespace: str
    count: int = 8
    exchange_type: str = "x-consistent-hash"  # the plugin's; a test names one no broker has

    @property
    def exchange(self) -> str:
        return f"{self.namespace}.in.partitioned"

    @property
    def members(self) -> str:
        return f"{self.namespace}.in.members"

    @property
    def queues(self) -> list[str]:
        return [f"{self.namespace}.in.p{i:02d}" for i in range(self.count)]

    def declare(self, connection: pika.BlockingConnection, failed_queue: str) -> None:
        """The hash exchange, the partition queues (bound with equal weight) and the members queue.
        A broker without the plugin closes the connection (503 COMMAND_INVALID): PluginMissing says what to do."""
        ch = connection.channel()
        try:
            ch.exchange_declare(self.exchange, self.exchange_type, durable=True, arguments={"hash-header": HASH_HEADER})
        except (pika.exceptions.ChannelClosedByBroker, pika.exceptions.ConnectionClosedByBroker) as e:
            # an unknown exchange type is a connection error (503 COMMAND_INVALID): the connection is gone
            if "exchange type" in str(e) or e.reply_code == 503:
                raise PluginMissing(
                    f"RabbitMQ lacks the {PLUGIN} plugin that ticket partitions need: run "
                    f"`rabbitmq-plugins enable {PLUGIN}` on the broker, or set TICKETFLOW_INGEST_PARTITIONS=0 "
                    "(one active ingest process)"
                ) from None
            raise
        for q in self.queues:
            ch.queue_declare(
                q, durable=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": failed_queue}
            )
            ch.queue_bind(q, self.exchange, "1")  # the routing key of a binding is its weight
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
