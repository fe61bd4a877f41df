"""Publishing to RabbitMQ in batches: one socket write and one AMQP transaction per batch.

The outbox relay (services.components.relay) and the load generator of the benches use it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Protocol

import pika

Row = tuple[int, str, str, bytes, str | None, str]


class Publisher(Protocol):
    def publish(self, rows: list[Row]) -> None: ...
    def close(self) -> None: ...


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
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
