"""Timers coming due: claim, fire through the core, write, in one transaction per round.

Shared by the scheduler (wall clock) and `tick --now T`, so both do exactly the same thing.
Lock order is tickets (in id order) before timers, as in every writer: no deadlocks with ingest.
"""

from __future__ import annotations

import time
from datetime import datetime

from services.amqp.topology import Topology
from services.core.clock import Clock
from services.core.lifecycle import Lifecycle
from services.core.policies import Policy
from services.core.ticket import Ticket
from services.store import health, tickets, timers, users
from services.store.outbox import Writes
from services.store.routing import Desks


class TimerFiring:
    def __init__(self, topology: Topology, lifecycle: Lifecycle, policies: dict[str, Policy], clock: Clock):
        self.topology, self.lifecycle, self.policies, self.clock = topology, lifecycle, policies, clock

    def fire_due(self, conn, until: datetime, limit: int = 200) -> int:
        """Fire up to `limit` timers due at or before `until`, earliest first; returns how many fired."""
        with conn.transaction(), conn.cursor() as cur:
            due = timers.due(cur, until, limit)
            if not due:
                return 0
            held = tickets.lock(cur, sorted({r[0] for r in due}), skip_locked=True)
            live = timers.lock_live(cur, list(held), until)
            routed_merchants = sorted({t.merchant_id for t in held.values() if self.policies[t.policy].routing})
            # After the tickets, as every writer, but SKIP LOCKED: this transaction already holds due timer
            # rows of tickets it could not lock, whose holder may be waiting for them; waiting for a desk
            # here could close that circle. A busy desk's chats are fired next round.
            desks, busy = Desks.lock_available(cur, self.policies, routed_merchants)
            w = Writes(self.topology, recipients=users.Recipients(cur))
            changed: dict[str, Ticket] = {}
            fired = 0
            for ticket_id, kind, due_at in due:
                t = held.get(ticket_id)
                if t is None or (ticket_id, kind, due_at) not in live or t.merchant_id in busy:
                    continue  # another scheduler has it, or the ticket or its desk is busy: next round
                w.fired(ticket_id, kind)
                o = self.lifecycle.fire(t, kind, due_at)
                w.note(ticket_id, due_at, "timer", kind, None, {"due_at": due_at.isoformat()})
                cause = f"timer:{ticket_id}:{kind}:{due_at.isoformat()}"
                w.record(t, o, cause, due_at)
                routed = desks.follow(t, o, due_at)
                if routed is not None:
                    desks.keep(w, routed, cause, due_at)
                held[ticket_id] = changed[ticket_id] = o.ticket or t
                fired += 1
                lag = (self.clock.now() - due_at).total_seconds()
                if 0 <= lag < 3600:  # only a scheduler on the wall clock has a meaningful lag
                    w.observe("timer_lag_seconds", lag)
            tickets.save(cur, changed.values())
            desks.save(cur)
            health.record_facts(w, cur, self.policies)
            w.flush(cur)
        return fired

    def fire_all(self, conn, until: datetime, patience: float = 60.0) -> int:
        """Everything due by `until` (what `tick` promises). A round that fires nothing while due timers
        remain means their tickets were locked by a concurrent writer (SKIP LOCKED): wait and retry."""
        total, waited = 0, 0.0
        while True:
            n = self.fire_due(conn, until)
            total += n
            if n:
                continue
            left = timers.any_due(conn, until)
            conn.commit()
            if not left:
                return total
            if waited >= patience:
                raise TimeoutError(f"timers due by {until.isoformat()} stayed locked for {patience:.0f} s")
            time.sleep(0.05)
            waited += 0.05
