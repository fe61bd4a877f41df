"""The partition router: `<ns>.in.ingest` -> the ticket's partition queue `<ns>.in.pNN`, adding the
ticket id as a header.

One router is active at a time: it holds an exclusive consumer on `<ns>.in.ingest`, so it reads the
inbound stream in order, and every ingest process runs one that waits for its turn (a refused
consumer retries every `retry` seconds; a dead holder's consumer vanishes with its connection).
A batch is published inside an AMQP transaction and acked only after tx.commit-ok: a crash in
between routes the batch twice, in the same order, and ingest dedupes on the event id.
"""

from __future__ import annotations

import os
import threading
import time

import pika

from services.amqp.partitions import HASH_HEADER, USER_HEADER, Partitions, subject_of
from services.amqp.publisher import close_quietly, coalesced
from services.amqp.topology import Topology
from services.logs import log


class Router:
    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        partitions: Partitions,
        *,
        batch: int = 500,
        linger: float = 0.005,
        retry: float = 2.0,
    ):
        self.params = pika.URLParameters(amqp_url)
        self.params.heartbeat = 10  # a dead router's queue is freed within a few heartbeats
        self.topology, self.partitions = topology, partitions
        self.batch, self.linger, self.retry = batch, linger, retry

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            conn = None
            try:
                conn = pika.BlockingConnection(self.params)
                if self._route(conn, stop) is False:
                    stop.wait(self.retry)
            except (pika.exceptions.AMQPError, OSError) as e:
                log.warning("router.retry", error=str(e)[:200])
                stop.wait(self.retry)
            finally:
                close_quietly(conn)

    def _route(self, conn: pika.BlockingConnection, stop: threading.Event) -> bool:
        """Route until stopped; False when another router holds the queue."""
        self.partitions.declare(conn, self.topology.failed_queue)
        src, out = conn.channel(), conn.channel()
        src.basic_qos(prefetch_count=self.batch * 2)
        out.tx_select()
        inbox: list[tuple[int, pika.BasicProperties, bytes]] = []
        try:
            src.basic_consume(
                self.topology.ingest_queue,
                on_message_callback=lambda _ch, m, p, b: inbox.append((m.delivery_tag, p, b)),
                exclusive=True,
            )
        except pika.exceptions.ChannelClosedByBroker as e:
            if e.reply_code == 403:  # ACCESS_REFUSED: another router is active
                return False
            raise
        log.info("router.active", queue=self.topology.ingest_queue, partitions=self.partitions.count)
        opened_at = None
        while not stop.is_set():
            waiting = len(inbox)
            conn.process_data_events(time_limit=self.linger)
            if not inbox:
                continue
            opened_at = opened_at or time.monotonic()
            arriving = len(inbox) > waiting  # forward at once when the stream pauses, else up to `linger`
            if arriving and len(inbox) < self.batch and time.monotonic() - opened_at < self.linger:
                continue
            self._forward(conn, out, inbox)
            src.basic_ack(inbox[-1][0], multiple=True)
            inbox.clear()
            opened_at = None
        return True

    def _forward(self, conn, out, inbox) -> None:
        with coalesced(conn):
            for _, props, body in inbox:
                headers = dict(props.headers or {})
                headers[HASH_HEADER] = subject = subject_of(props, body)
                headers.pop(USER_HEADER, None)  # only the broker-checked user_id may set it
                if props.user_id:
                    headers[USER_HEADER] = props.user_id
                out.basic_publish(
                    "",
                    self.partitions.queue_for(subject),
                    body,
                    pika.BasicProperties(
                        content_type=props.content_type,
                        content_encoding=props.content_encoding,
                        delivery_mode=2,
                        message_id=props.message_id,
                        timestamp=props.timestamp,
                        type=props.type,
                        app_id=props.app_id,
                        correlation_id=props.correlation_id,
                        headers=headers,
                    ),
                )
        out.tx_commit()


def start_process(amqp_url: str, namespace: str, count: int, log_format: str = "auto"):
    """The router in a child process of its own, so its many small socket waits never queue behind
    ingest's CPU-bound thread for the GIL (as a thread it added hundreds of ms of latency at
    400 events/s). The child stops on SIGTERM (also what a process-group kill sends), or when its
    parent is gone. Returns a function that stops and joins it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent; the child stays small
    proc = ctx.Process(target=_child, args=(amqp_url, namespace, count, os.getpid(), log_format), daemon=True)
    proc.start()

    def close() -> None:
        if proc.is_alive():
            proc.terminate()
        proc.join(15)
        if proc.is_alive():
            proc.kill()

    return close


def _child(amqp_url: str, namespace: str, count: int, parent: int, log_format: str) -> None:
    import signal

    from services.logs import configure

    configure(log_format)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us

    def watch() -> None:
        while not done.wait(1.0):
            if os.getppid() != parent:
                done.set()

    threading.Thread(target=watch, daemon=True).start()
    Router(amqp_url, Topology(namespace), Partitions(namespace, count)).run(done)
