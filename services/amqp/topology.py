"""Names of every exchange and queue, all under the namespace, and their declaration.

Queue arguments cannot change once a queue exists (PITFALLS.md), so they are chosen here,
once; extras such as alternate exchanges belong in broker policies, not arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKER_ACTORS = ("translate", "refine")


@dataclass(frozen=True)
class Topology:
    namespace: str
    queue_type: str = "classic"  # TICKETFLOW_QUEUE_TYPE: classic | quorum
    delivery_limit: int = 20  # quorum: deliveries of one message before it is dead-lettered

    @property
    def inbound(self) -> str:
        return f"{self.namespace}.in"

    @property
    def outbound(self) -> str:
        return f"{self.namespace}.out"

    @property
    def ingest_queue(self) -> str:
        return f"{self.namespace}.in.ingest"

    @property
    def failed_queue(self) -> str:
        """Where a message that crashed the ingest code itself is dead-lettered (not bad input: a bug)."""
        return f"{self.namespace}.in.failed"

    @property
    def rejected_queue(self) -> str:
        return f"{self.namespace}.in.rejected"

    def worker_queue(self, actor: str) -> str:
        return f"{self.namespace}.{actor}"

    def declare(self, channel) -> None:
        """Exchanges and the queues `run` consumes from, so events published after migrate wait.

        Quorum queues (TICKETFLOW_QUEUE_TYPE=quorum) give the ingest queue a delivery limit: a message
        that keeps crashing its consumer (even by killing the process, which no code can catch) is
        dead-lettered to `<ns>.in.failed` after `delivery_limit` deliveries instead of looping forever.
        Classic stays the default: an existing queue cannot change type (PITFALLS), so switching a
        deployment means new queues (a new namespace) or draining and deleting the old ones."""
        for exchange in (self.inbound, self.outbound):
            channel.exchange_declare(exchange, "topic", durable=True)
        kind = {"x-queue-type": "quorum"} if self.queue_type == "quorum" else {}
        channel.queue_declare(self.failed_queue, durable=True, arguments=kind or None)
        ingest: dict[str, object] = {
            **kind,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.failed_queue,
        }
        if self.queue_type == "quorum":
            ingest["x-delivery-limit"] = self.delivery_limit
        channel.queue_declare(self.ingest_queue, durable=True, arguments=ingest)
        channel.queue_bind(self.ingest_queue, self.inbound, "#")
        channel.queue_declare(self.rejected_queue, durable=True, arguments=kind or None)
