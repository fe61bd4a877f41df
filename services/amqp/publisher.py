"""Publishing to RabbitMQ in batches: one socket write and one AMQP transaction per batch.

The outbox relay (services.components.relay) and the load generator of the benches use it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any, Protocol

import pika
import pika.exceptions

from schemas import CONTENT_TYPE

Row = tuple[int, str, str, bytes, str | None, str]


class Publisher(Protocol):
    def publish(self, rows: list[Row]) -> None: ...
    def close(self) -> None: ...


def close_quietly(conn: pika.BlockingConnection | None) -> None:
    """Close a connection that may already be broken: whatever went wrong is being handled already."""
    if conn is not None and conn.is_open:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


@contextlib.contextmanager
def coalesced(conn: pika.BlockingConnection):
    """Publishes of a batch leave as one socket write instead of three sends and a poll-loop turn
    per message (pika's BlockingChannel flushes every frame at once): that per-message cost was
    most of the relay's CPU. Inside the block, `basic_publish` only marshals; frames are queued on
    the connection and written in order when the block ends, before `tx_commit` is sent.

    Uses pika's internal frame output (`Connection._output_marshaled_frames`, pika 1.x); the relay
    tests exercise it against the real broker, so an incompatible pika fails them, not production."""
    impl = conn._impl
    frames: list[bytes] = []
    impl._output_marshaled_frames = frames.extend  # instance attribute shadows the method
    try:
        yield
    finally:
        del impl._output_marshaled_frames
        if frames:
            type(impl)._output_marshaled_frames(impl, [b"".join(frames)])


class AmqpPublisher:
    """Publishes a batch inside an AMQP transaction: tx.commit-ok means the broker has routed and
    (for durable queues) stored every message of the batch, the same guarantee as a window of
    publisher confirms, at batch cost instead of one round trip per message."""

    def __init__(self, amqp_url: str):
        self.params = pika.URLParameters(amqp_url)
        self.conn: pika.BlockingConnection | None = None
        self.ch: Any = None

    def _channel(self) -> Any:
        if self.conn is None or self.conn.is_closed:
            self.conn = pika.BlockingConnection(self.params)
            self.ch = self.conn.channel()
            self.ch.tx_select()
        return self.ch

    def publish(self, rows: list[Row]) -> None:
        try:
            ch = self._channel()
            with coalesced(self.conn):
                for _, exchange, routing_key, body, headers, message_id in rows:
                    ch.basic_publish(
                        exchange,
                        routing_key,
                        bytes(body),
                        pika.BasicProperties(
                            content_type="application/cloudevents+json" if exchange else "application/json",
                            delivery_mode=2,
                            message_id=message_id,
                            headers=json.loads(headers) if isinstance(headers, str) else headers,
                        ),
                    )
            ch.tx_commit()
        except Exception:
            self.close()
            raise

    def pump(self) -> None:
        """Drive the connection's I/O for a moment: heartbeats answered while the relay waits on LISTEN."""
        if self.conn is not None and self.conn.is_open:
            try:
                self.conn.process_data_events(time_limit=0)
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        conn, self.conn, self.ch = self.conn, None, None
        close_quietly(conn)


class ConfirmedPublisher:
    """One message at a time with a publisher confirm, for the HTTP API's commands: the API answers
    202 only after the broker has taken the event. Thread-safe (the API's handlers run on a thread
    pool; a pika connection is not thread-safe, so one lock guards it). A connection the broker
    dropped (an idle one misses heartbeats) is reopened once per publish."""

    def __init__(self, amqp_url: str):
        self.params = pika.URLParameters(amqp_url)
        self.user = getattr(self.params.credentials, "username", None)
        self.lock = threading.Lock()
        self.conn: pika.BlockingConnection | None = None
        self.ch = None

    def _channel(self):
        if self.conn is None or self.conn.is_closed or self.ch is None or self.ch.is_closed:
            self._drop()
            conn = pika.BlockingConnection(self.params)
            ch = conn.channel()
            ch.confirm_delivery()
            self.conn, self.ch = conn, ch
        return self.ch

    def publish(self, exchange: str, routing_key: str, body: bytes, message_id: str) -> None:
        """Returns once the broker confirmed the message; raises if it could not be published."""
        # user_id: the broker user this connection authenticated as (RabbitMQ checks it), which is how a
        # deployment that restricts sources (TICKETFLOW_SOURCES) knows the API vouches for its commands
        props = pika.BasicProperties(
            content_type=CONTENT_TYPE, delivery_mode=2, message_id=message_id, user_id=self.user
        )
        with self.lock:
            for attempt in (1, 2):
                try:
                    self._channel().basic_publish(exchange, routing_key, body, props, mandatory=False)
                    return
                except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError):
                    self._drop()
                    if attempt == 2:
                        raise

    def ready(self) -> bool:
        """The broker answers (for /readyz)."""
        with self.lock:
            try:
                self._channel()
                assert self.conn is not None
                self.conn.process_data_events(0)
                return True
            except (pika.exceptions.AMQPError, OSError):
                self._drop()
                return False

    def _drop(self) -> None:
        conn, self.conn, self.ch = self.conn, None, None
        close_quietly(conn)

    def close(self) -> None:
        with self.lock:
            self._drop()
