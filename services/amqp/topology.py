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
        """Exchanges and the queues `run` consumes from, so events published after migrate wait."""
        for exchange in (self.inbound, self.outbound):
            channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(self.failed_queue, durable=True)
        channel.queue_declare(
            self.ingest_queue,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.failed_queue},
        )
        channel.queue_bind(self.ingest_queue, self.inbound, "#")
        channel.queue_declare(self.rejected_queue, durable=True)
