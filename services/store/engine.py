"""The store's face to the components: inbound batches, timer firing and housekeeping over one
set of collaborators (topology, core, classifier, policies, clock), built by services.bootstrap.

Each concern lives in its own module (batch, firing, health, inbound, parking, tickets, timers,
outbox); this class only gives ingest, the scheduler, `tick` and the demo one object to hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.amqp.topology import Topology
from services.core.clock import Clock
from services.core.lifecycle import Lifecycle
from services.core.policies import Policy
from services.store import health, inbound, retention
from services.store.batch import BatchResult, ClassifyFn, InboundBatches, Prepared, Staged
from services.store.firing import TimerFiring

__all__ = ["BatchResult", "Engine", "Prepared", "Staged"]


class Engine:
    def __init__(
        self,
        topology: Topology,
        lifecycle: Lifecycle,
        classify: ClassifyFn,
        policies: dict[str, Policy],
        clock: Clock,
        parking_limit: int = 10_000,
        parking_seconds: float = 600.0,
        parking_source_limit: int = 5_000,
    ):
        self.topology, self.lifecycle, self.policies = topology, lifecycle, policies
        self.batches = InboundBatches(
            topology, lifecycle, classify, policies, clock, parking_limit, parking_seconds, parking_source_limit
        )
        self.timers = TimerFiring(topology, lifecycle, policies, clock)

    @property
    def clock(self) -> Clock:
        return self.batches.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """One clock for every part (tests move time by setting it)."""
        self.batches.clock = self.timers.clock = clock

    # inbound (services.store.batch)
    def ingest(self, conn, bodies: list[bytes], properties: list | None = None) -> BatchResult:
        """Apply a batch of raw inbound messages in one transaction (commit before the caller acks)."""
        prepared = self.prepare(bodies, properties)
        if prepared.failed:  # the caller isolates it (ingest: one message per transaction, then dead letter)
            raise prepared.failed[0][1]
        staged = self.stage(conn, prepared)
        self.commit(conn, staged)
        return staged.result

    def prepare(self, bodies: list[bytes], properties: list | None = None) -> Prepared:
        return self.batches.prepare(bodies, properties)

    def stage(self, conn, prepared: Prepared) -> Staged:
        return self.batches.stage(conn, prepared)

    def commit(self, conn, staged: Staged) -> None:
        self.batches.commit(conn, staged)

    def expire_parked(self, conn) -> int:
        return self.batches.expire_parked(conn)

    # timers (services.store.firing)
    def fire_due(self, conn, until: datetime, limit: int = 200) -> int:
        return self.timers.fire_due(conn, until, limit)

    def fire_all(self, conn, until: datetime, patience: float = 60.0) -> int:
        return self.timers.fire_all(conn, until, patience)

    # housekeeping
    def purge_expired(self, conn, days: float, slices: int = 25, limit: int = 200) -> int:
        """Retention (services.store.retention): closed tickets older than `days` with their rows, then
        dedupe ids of no existing ticket; at most `slices` transactions of `limit` each per call, so
        the scheduler's housekeeping stays short. Returns the tickets purged."""
        before = self.clock.now() - timedelta(days=days)
        purged = 0
        for _ in range(slices):
            n = retention.purge_closed(conn, before, limit)
            purged += n
            if n < limit:
                break
        for _ in range(slices):
            if inbound.forget_older_than(conn, before, 10 * limit) < 10 * limit:
                break
        return purged

    def refresh_health(self, conn, limit: int = 500) -> int:
        return health.refresh(conn, self.topology, self.policies, limit)
