"""Several dramatiq Workers on one broker, each with its own queues and threads, started and stopped
as one (issue #17: refinement gets threads of its own, so a burst of it never delays a translation).

dramatiq's Worker hands every queue's messages to one pool of threads: with refine and translate in
one pool, 4 slow embeddings occupy all 4 threads and translations wait behind them. One Worker per
share of the work (`queues=`) keeps the pools apart; this object gives `run`, the demo and the health
probe the one Worker-like thing they used to have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dramatiq import Worker


class WorkerGroup:
    def __init__(self, workers: Mapping[str, Worker]):
        """`workers`: name -> a Worker built with `queues=` (its share of the queues)."""
        self.by_name = dict(workers)

    def start(self) -> None:
        for w in self.by_name.values():
            w.start()

    def stop(self, timeout: int = 600_000) -> None:
        """Stops every Worker, each given `timeout` ms for its running actors."""
        for w in self.by_name.values():
            w.stop(timeout=timeout)

    def join(self) -> None:
        for w in self.by_name.values():
            w.join()

    @property
    def consumers(self) -> dict[str, Any]:
        """Every Worker's consumer threads, by queue (each queue is consumed by one Worker)."""
        return {q: c for w in self.by_name.values() for q, c in w.consumers.items()}

    @property
    def workers(self) -> list[Any]:
        """Every Worker's worker threads."""
        return [t for w in self.by_name.values() for t in w.workers]
