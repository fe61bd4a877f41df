"""The outbox relay: publishes committed outbox rows in id order, deletes them only after the
broker has taken them. A crash between publish and delete resends (same ids; consumers dedupe),
never loses. One relay holds the leader lock at a time so per-ticket order survives.

Leadership is a session advisory lock, so it lasts exactly as long as the leader's PostgreSQL
session. Every batch first proves, in the transaction that reads it, that this session still
holds the lock (`outbox.pending(lead_key=...)`): a leader whose session was cut reads nothing
and stops at once. The server notices a dead leader (a crashed node, a cut network) through the
keepalives and `tcp_user_timeout` every connection carries (services.store.db), which frees the
lock for a standby within ~15 s; standbys retry every `standby_poll` seconds.

Behind a pooler in transaction mode (PgBouncer `pool_mode=transaction`) a session lock cannot
hold: the relay checks right after taking it that the lock belongs to the session that reads
the outbox, and refuses to run (`LeadershipUnsafe`, the process exits) when it does not.
"""

from __future__ import annotations

import threading

import pika
import psycopg

from services.amqp.publisher import Publisher
from services.components.backoff import Backoff
from services.components.health import Probe
from services.logs import log
from services.store import outbox
from services.store.db import connect, ping

_LEADER_KEY = 0x72656C61  # "rela"


class LeadershipUnsafe(RuntimeError):
    """The leader lock does not stay with the session that publishes (a transaction-mode pooler)."""


class Relay:
    def __init__(
        self,
        database_url: str,
        publisher: Publisher,
        batch: int = 500,
        *,
        probe: Probe | None = None,
        standby_poll: float = 2.0,
        lead_key: int = _LEADER_KEY,
    ):
        self.database_url, self.publisher, self.batch = database_url, publisher, batch
        self.probe = probe or Probe("relay")
        self.standby_poll, self.lead_key = standby_poll, lead_key
        self.leading = False

    def drain_once(self, conn, lead_key: int | None = None) -> int:
        """Publish and delete one batch; returns how many rows went out."""
        rows = outbox.pending(conn, self.batch, lead_key)
        if not rows:
            return 0
        self.publisher.publish(rows)
        outbox.published(conn, [r[0] for r in rows])
        return len(rows)

    def drain(self, conn, lead_key: int | None = None) -> int:
        total = 0
        while n := self.drain_once(conn, lead_key):
            total += n
            self.probe.beat()
        return total

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff("relay")
        while not stop.is_set():
            self.probe.beat()  # retrying is progress too: alive, if not ready
            try:
                with connect(self.database_url) as conn, connect(self.database_url, autocommit=True) as listen:
                    self.probe.ready(True)
                    if not self._lead(conn, stop):
                        return
                    self._check_session(conn)
                    outbox.listen(listen)
                    self.leading = True
                    log.info("relay.leader")
                    backoff.reset()
                    while not stop.is_set():
                        self.probe.beat()
                        if self.drain(conn, self.lead_key) == 0:
                            self._wait(listen, 0.5)
            except outbox.LeadershipLost as e:
                log.error("relay.leadership_lost", error=str(e)[:200])
                self._step_down()
            except (psycopg.OperationalError, pika.exceptions.AMQPError, OSError) as e:
                self._step_down()
                backoff.wait(stop, e)
        self._step_down()

    def _step_down(self) -> None:
        if self.leading:
            log.warning("relay.stepped_down")
        self.leading = False
        self.probe.ready(False)
        self.publisher.close()

    def _wait(self, listen, seconds: float) -> None:
        """Wait for a NOTIFY, servicing the broker connection meanwhile (pika's BlockingConnection only
        answers heartbeats while something drives its I/O loop)."""
        for _ in listen.notifies(timeout=seconds, stop_after=1):
            pass
        pump = getattr(self.publisher, "pump", None)
        if pump is not None:
            pump()

    def _lead(self, conn, stop: threading.Event) -> bool:
        while not stop.is_set():
            self.probe.beat()
            if outbox.try_lead(conn, self.lead_key):
                return True
            ping(conn)  # a standby's session is checked too: a dead database is noticed
            conn.commit()
            stop.wait(self.standby_poll)
        return False

    def _check_session(self, conn) -> None:
        """The lock we just took must be visible from the next transaction of this connection; behind
        a transaction-mode pooler that transaction runs on another server session, without it."""
        for _ in range(3):
            held = outbox.still_leads(conn, self.lead_key)
            conn.commit()
            if not held:
                raise LeadershipUnsafe(
                    "the relay's leader lock does not survive across transactions on this connection: "
                    "PgBouncer in transaction mode? The relay needs a session-mode connection "
                    "(deploy/README.md, 'PgBouncer')."
                )
