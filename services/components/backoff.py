"""How a component's loop paces its reconnects: 0.5 s, doubling up to 10 s, back to 0.5 s once it
is connected again. One object, so ingest, the relay and the scheduler retry the same way."""

from __future__ import annotations

import threading

from services.logs import log


class Backoff:
    def __init__(self, component: str, first: float = 0.5, most: float = 10.0):
        self.component, self.first, self.most = component, first, most
        self.delay = first

    def reset(self) -> None:
        """Connected again: the next failure waits the shortest delay."""
        self.delay = self.first

    def wait(self, stop: threading.Event, error: BaseException) -> None:
        """Log the failure, wait (or less, when `stop` is set meanwhile), double the next wait."""
        log.warning(f"{self.component}.retry", error=str(error)[:200], backoff=self.delay)
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, self.most)
