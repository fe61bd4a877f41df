"""`ticketflow publish`: JSON Lines of CloudEvents to `<ns>.in`, each confirmed by the broker."""

from __future__ import annotations

import json
from typing import TextIO

import pika

from schemas import CONTENT_TYPE
from services.amqp.topology import Topology
from services.config import Settings


def publish_lines(settings: Settings, stream: TextIO) -> int:
    """Lines are sent as they are (bad ones too: rejecting them is the pipeline's job, and it
    keeps them); the routing key is the event type when the line names one."""
    exchange = Topology(settings.namespace).inbound
    conn = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        n = 0
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                rk = str(json.loads(line).get("type") or "unknown")
            except (ValueError, AttributeError):
                rk = "unknown"
            ch.basic_publish(
                exchange,
                rk,
                line.encode(),
                pika.BasicProperties(content_type=CONTENT_TYPE, delivery_mode=2),
                mandatory=False,
            )
            n += 1
        return n
    finally:
        conn.close()
