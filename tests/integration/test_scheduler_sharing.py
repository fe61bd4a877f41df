"""Several schedulers share due work, and a scheduler whose due timers are all held elsewhere backs
off instead of spinning on them."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from services.components.scheduler import Scheduler
from services.core.clock import FixedClock
from services.store.db import connect
from tests.integration.test_engine import engine, opened  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.integration
LATER = datetime(2026, 3, 20, tzinfo=timezone.utc)  # every timer of a ticket opened 2026-03-02 is due


def test_a_scheduler_fires_other_timers_while_the_earliest_are_claimed(engine, database_url):  # noqa: F811
    # Given three chats with due timers, and another scheduler holding the earliest timer row
    with connect(database_url) as conn:
        engine.ingest(
            conn, [opened(f"S{i}", f"s{i}", time_=f"2026-03-02T0{i}:00:00Z", policy="chat") for i in range(3)]
        )
    with connect(database_url) as other, connect(database_url) as conn:
        held = other.execute(
            "select ticket_id, kind from timers order by due_at, ticket_id, kind limit 1 for update"
        ).fetchone()
        # When this scheduler asks for one due timer
        fired = engine.fire_due(conn, LATER, limit=1)
        # I expect it to fire another one (the first select skips locked rows too), not to come back empty
        assert fired == 1
        left = {tuple(r) for r in conn.execute("select ticket_id, kind from timers")}
        assert tuple(held) in left
        other.rollback()


class CountingEngine:
    """The real engine, counting how often the scheduler asks it to fire."""

    def __init__(self, inner):
        self.engine, self.calls = inner, 0

    def fire_due(self, conn, until, limit=200):
        self.calls += 1
        return self.engine.fire_due(conn, until, limit)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def test_a_scheduler_backs_off_while_due_tickets_are_locked(engine, database_url):  # noqa: F811
    # Given a due timer whose ticket is locked by a long transaction elsewhere
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("L1", "l1", policy="chat")])
    counting = CountingEngine(engine)
    scheduler = Scheduler(database_url, counting, FixedClock(LATER), poll=0.2, max_backoff=2.0)
    stop = threading.Event()
    with connect(database_url) as locker:
        locker.execute("select * from tickets where id = 'L1' for update")
        t = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
        t.start()
        # When the scheduler runs for three seconds against it
        stop.wait(3.0)
        calls_while_locked = counting.calls
        locker.rollback()
    # I expect a handful of attempts (0.2, 0.4, 0.8, 1.6 s apart), not a busy loop
    assert 1 <= calls_while_locked <= 8, calls_while_locked
    # and the timers to fire once the lock is gone
    with connect(database_url) as conn:
        for _ in range(50):
            if conn.execute("select count(*) from timers where ticket_id = 'L1'").fetchone()[0] == 0:
                break
            conn.commit()
            stop.wait(0.2)
        else:
            pytest.fail("the timers never fired after the lock was released")
    stop.set()
    t.join(timeout=10)
