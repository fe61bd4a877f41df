"""The ingest consumer: partition queues (or `<ns>.in.ingest`) -> Engine (prepare, stage, commit) in
batches -> ack after commit.

Batches close at `batch` messages or `linger` seconds, whichever first: big enough to amortise
the commit, short enough to keep latency low at moderate rates. One batch is staged and committed
on a helper thread while the next one is received and prepared (decoded, classified): PostgreSQL's
share of a batch then overlaps with Python's instead of adding to it, and while a batch waits on a
lock this thread keeps servicing the broker connection (heartbeats), bounded by the database's
lock and statement timeouts (services.store.db).

Which queues this process reads is settled with the broker (services.amqp.partitions): each
source queue is consumed exclusively, so a ticket's events are applied by one process at a time
and in order; every `rebalance_every` seconds a process takes free partitions up to its fair
share (partitions / live ingest processes) or hands back what is over it. Without partitions
(`TICKETFLOW_INGEST_PARTITIONS=0`) the one source is `<ns>.in.ingest`, and a second process
waits as a hot standby.
"""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pika
import psycopg

from services.amqp.partitions import USER_HEADER, Partitions
from services.amqp.topology import Topology
from services.components.backoff import Backoff
from services.components.health import Probe
from services.core.sources import Sources
from services.logs import log
from services.store.db import connect
from services.store.engine import Engine
from services.store.outbox import add_counters


@dataclass
class _Delivery:
    channel: Any  # pika BlockingChannel
    tag: int
    properties: pika.BasicProperties
    body: bytes

    @property
    def user_id(self) -> str | None:
        """The broker-checked user who published it: the AMQP user_id, or, behind the router (which
        cannot republish under another user), the header the router set from it."""
        if self.properties.user_id:
            return self.properties.user_id
        value = (self.properties.headers or {}).get(USER_HEADER)
        return value if isinstance(value, str) and value else None


class IngestConsumer:
    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        topology: Topology,
        engine: Engine,
        *,
        partitions: Partitions | None = None,
        batch: int = 200,
        prefetch: int = 500,
        linger: float = 0.02,
        expire_every: float = 5.0,
        rebalance_every: float = 2.0,
        settle_poll: float = 0.2,
        probe: Probe | None = None,
        sources: Sources | None = None,
    ):
        self.params = pika.URLParameters(amqp_url)
        if self.params.heartbeat is None:
            self.params.heartbeat = 10  # a dead process's partitions are freed within a few heartbeats
        self.database_url, self.topology, self.engine, self.partitions = database_url, topology, engine, partitions
        self.batch, self.prefetch, self.linger, self.expire_every = batch, prefetch, linger, expire_every
        self.rebalance_every, self.settle_poll = rebalance_every, settle_poll
        self.queues = partitions.queues if partitions else [topology.ingest_queue]
        self.probe = probe or Probe("ingest")
        self.sources = sources

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff("ingest")
        while not stop.is_set():
            self.probe.beat()  # retrying is progress too: alive, if not ready
            try:
                with connect(self.database_url) as db:
                    conn = pika.BlockingConnection(self.params)
                    try:
                        self._consume(conn, db, stop)
                    finally:
                        if conn.is_open:
                            conn.close()
                backoff.reset()
            except pika.exceptions.ChannelClosedByBroker as e:
                if e.reply_code == 406:  # PRECONDITION_FAILED: our queues exist with other arguments
                    raise RuntimeError(
                        f"{self.topology.ingest_queue} exists with other arguments than TICKETFLOW_QUEUE_TYPE="
                        f"{self.topology.queue_type} declares (queue arguments cannot change): {e.reply_text[:200]}"
                    ) from None
                self.probe.ready(False)
                backoff.wait(stop, e)
            except (psycopg.OperationalError, pika.exceptions.AMQPError, OSError) as e:
                self.probe.ready(False)
                backoff.wait(stop, e)

    def _consume(self, conn: pika.BlockingConnection, db, stop: threading.Event) -> None:
        self.conn = conn
        control = conn.channel()
        self.topology.declare(control)
        if self.partitions:
            self.partitions.declare(conn, self.topology.failed_queue)
            control.basic_consume(self.partitions.members, on_message_callback=lambda *_: None)
        log.info("ingest.consuming", queues=len(self.queues), partitioned=self.partitions is not None)
        self.held: dict[str, Any] = {}
        self.inbox: list[_Delivery] = []
        pending: list[_Delivery] = []
        opened_at = 0.0
        next_expiry = next_rebalance = time.monotonic()
        committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-commit")
        inflight: _InFlight | None = None
        self.probe.ready(True)
        try:
            while True:
                self.probe.beat()
                waiting = len(self.inbox)
                conn.process_data_events(time_limit=0.005 if not self.inbox else 0)
                idle = len(self.inbox) == waiting  # nothing arrived for 5 ms: close the batch now
                if self.inbox and len(pending) < self.batch:  # a batch never grows past `batch`
                    if not pending:
                        opened_at = time.monotonic()
                    room = self.batch - len(pending)
                    pending.extend(self.inbox[:room])
                    del self.inbox[:room]
                now = time.monotonic()
                # A pause in the stream closes the batch only when the committer is free: while it is busy the
                # batch would only wait in _settle, so it keeps growing instead (up to `linger`). At 250
                # events/s per process (two on 500/s) closing on every pause made ~3-message transactions
                # and queued them behind each other: p99 130-167 ms against 65-82 with one process.
                free = inflight is None or inflight.done.done()
                if pending and (len(pending) >= self.batch or now - opened_at >= self.linger or (idle and free)):
                    prepared = self.engine.prepare([d.body for d in pending], [d.properties for d in pending])
                    if self.sources is not None:
                        self.sources.screen(prepared.decoded, prepared.kept([d.user_id for d in pending]))
                    self._settle(db, inflight)  # the batch in flight commits while this one was prepared
                    inflight = self._start(db, committer, pending, prepared)
                    pending = []
                elif inflight is not None and inflight.done.done():
                    self._settle(db, inflight)
                    inflight = None
                if now >= next_expiry:
                    self._settle(db, inflight)
                    inflight = None
                    self.engine.expire_parked(db)
                    next_expiry = now + self.expire_every
                if now >= next_rebalance:
                    pending = self._rebalance(conn, control, db, inflight, pending)
                    inflight = None
                    next_rebalance = now + self.rebalance_every
                if stop.is_set() and not pending:
                    self._settle(db, inflight)
                    inflight = None
                    break
        finally:
            committer.shutdown(wait=True)  # a commit under way finishes; its batch is acked only if settled
            for ch in self.held.values():
                try:
                    ch.close()  # unacked deliveries go back to their queue, in order
                except Exception:  # noqa: BLE001 - the channel may already be gone
                    pass

    # -- which queues this process reads ---------------------------------------------------
    def _rebalance(self, conn, control, db, inflight, pending: list[_Delivery]) -> list[_Delivery]:
        """Take free sources up to the fair share, give back what is over it. Settles the batch in
        flight first; returns what is left of `pending` (a released queue's deliveries go back)."""
        self._settle(db, inflight)
        for name, ch in list(self.held.items()):
            if not ch.is_open:
                del self.held[name]
        if self.partitions:
            live = max(1, control.queue_declare(self.partitions.members, passive=True).method.consumer_count)
            share = math.ceil(len(self.queues) / live)
        else:
            share = 1
        while len(self.held) > share:
            name = sorted(self.held)[-1]
            ch = self.held.pop(name)
            pending = [d for d in pending if d.channel is not ch]
            self.inbox = [d for d in self.inbox if d.channel is not ch]
            ch.close()
            log.info("ingest.released", queue=name, share=share)
        if len(self.held) < share:
            start = random.randrange(len(self.queues))
            for name in self.queues[start:] + self.queues[:start]:
                if len(self.held) >= share:
                    break
                if name in self.held or control.queue_declare(name, passive=True).method.consumer_count:
                    continue
                ch = self._take(conn, name)
                if ch is not None:
                    self.held[name] = ch
                    log.info("ingest.partition_taken", queue=name, share=share)
        return pending

    def _take(self, conn, name: str):
        ch = conn.channel()
        ch.basic_qos(prefetch_count=max(25, self.prefetch // len(self.queues)))  # `prefetch` over all sources

        def deliver(channel, method, properties, body):
            self.inbox.append(_Delivery(channel, method.delivery_tag, properties, body))

        try:
            ch.basic_consume(name, on_message_callback=deliver, exclusive=True)
        except pika.exceptions.ChannelClosedByBroker as e:
            if e.reply_code == 403:  # another process took it first
                return None
            raise
        return ch

    # -- batches ---------------------------------------------------------------------------
    def _start(self, db, committer: ThreadPoolExecutor, batch: list[_Delivery], prepared) -> _InFlight:
        """Stage and commit the batch on the committer thread: while PostgreSQL locks, writes and
        commits, this thread goes back to the broker (heartbeats, the next deliveries) and prepares
        the next batch. One batch in flight at most, so transactions stay in delivery order and the
        connection is never used by two threads. A failure surfaces in `_settle`."""
        failed = [batch[i] for i, _ in prepared.failed]  # preparation raised: dead-lettered once committed
        done = committer.submit(self._stage_and_commit, db, prepared)
        done.add_done_callback(self._wake)
        return _InFlight(batch, done, failed)

    def _wake(self, _done: Future) -> None:
        """Ends a `_settle` wait the moment the commit is done. Without it that wait sat in the broker
        poll until its time limit (or the next frame): with every prefetched delivery unacked no frame
        comes, and each batch lost up to the whole limit (measured: ingest idle ~70 % of the time)."""
        try:
            self.conn.add_callback_threadsafe(_nothing)  # the one thread-safe call of a BlockingConnection
        except pika.exceptions.ConnectionWrongStateError:
            pass  # closing: _settle is not waiting any more

    def _stage_and_commit(self, db, prepared) -> None:
        self.engine.commit(db, self.engine.stage(db, prepared))

    def _settle(self, db, inflight: _InFlight | None) -> None:
        """Wait for the batch in flight; ack it after its commit, or isolate what broke it."""
        if inflight is None:
            return
        while not inflight.done.done():  # a slow commit (a held lock): keep answering broker heartbeats
            self.conn.process_data_events(time_limit=self.settle_poll)  # returns early: see _wake
            self.probe.beat()
        try:
            inflight.done.result()
        except psycopg.OperationalError:
            raise  # the database is away: reconnect; the broker redelivers everything unacked
        except Exception:  # noqa: BLE001
            log.exception("ingest.batch_failed", size=len(inflight.batch))
            self._one_by_one(db, inflight.batch)
            return
        failed = {id(d) for d in inflight.failed}
        for d in inflight.failed:  # counted in the batch just committed; nacked before the acks cover them
            log.error("ingest.message_failed", delivery_tag=d.tag)
            d.channel.basic_nack(d.tag, requeue=False)
        last: dict[int, _Delivery] = {}
        for d in inflight.batch:
            if id(d) not in failed:
                last[id(d.channel)] = d
        for d in last.values():
            d.channel.basic_ack(d.tag, multiple=True)

    def _one_by_one(self, db, batch: list[_Delivery]) -> None:
        """After a failed batch: each message in a transaction of its own, so only the one that
        triggers the bug is dead-lettered (to <ns>.in.failed, kept for an operator)."""
        for d in batch:
            try:
                prepared = self.engine.prepare([d.body], [d.properties])
                if prepared.failed:
                    raise prepared.failed[0][1]
                if self.sources is not None:
                    self.sources.screen(prepared.decoded, [d.user_id])
                self.engine.commit(db, self.engine.stage(db, prepared))
                d.channel.basic_ack(d.tag)
            except psycopg.OperationalError:
                raise
            except Exception:  # noqa: BLE001
                db.rollback()
                log.exception("ingest.message_failed", delivery_tag=d.tag)
                d.channel.basic_nack(d.tag, requeue=False)
                with db.transaction(), db.cursor() as cur:
                    add_counters(cur, [("dead_letters_total", {"queue": self.topology.failed_queue}, 1)])


def _nothing() -> None:
    pass


@dataclass
class _InFlight:
    batch: list[_Delivery]
    done: Future
    failed: list[_Delivery] = field(default_factory=list)  # deliveries whose preparation raised: dead letters
