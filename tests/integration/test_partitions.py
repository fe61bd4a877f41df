"""The partition router on the real broker: every event of a ticket lands in one partition queue, in
the order it was published, whatever the content mode; one router is active at a time."""

from __future__ import annotations

import json
import threading
import time

import pika
import pytest

from services.amqp.partitions import HASH_HEADER, Partitions
from services.amqp.topology import Topology
from services.components.router import Router
from tests.integration.test_engine import merchant_msg, opened

pytestmark = pytest.mark.integration


def _drain(ch, queues: list[str]) -> dict[str, list[tuple[dict, bytes]]]:
    out: dict[str, list[tuple[dict, bytes]]] = {}
    for q in queues:
        while True:
            m, props, body = ch.basic_get(q, auto_ack=True)
            if m is None:
                break
            out.setdefault(q, []).append((props.headers or {}, body))
    return out


def test_a_tickets_events_land_in_one_partition_in_order(amqp_url, namespace, broker_cleanup):
    # Given the topology, four partitions and two routers (one of which must stand by)
    topology, parts = Topology(namespace), Partitions(namespace, 4)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    topology.declare(ch)
    parts.declare(conn, topology.failed_queue)
    stop = threading.Event()
    routers = [threading.Thread(target=Router(amqp_url, topology, parts).run, args=(stop,)) for _ in range(2)]
    for r in routers:
        r.start()
    try:
        # When 20 tickets publish an opening and two replies each, structured, and one in binary mode
        sent: dict[str, list[str]] = {}
        for i in range(20):
            s = f"T{i}"
            for body in (opened(s, f"{s}-o"), merchant_msg(s, f"{s}-r1", "2026-03-02T09:10:00Z")):
                ch.basic_publish(topology.inbound, json.loads(body)["type"], body)
                sent.setdefault(s, []).append(json.loads(body)["id"])
            ch.basic_publish(
                topology.inbound,
                "message.posted",
                b'{"message": {"message_id": "x", "author": "customer", "text": "hi"}}',
                pika.BasicProperties(
                    content_type="application/json",
                    headers={"cloudEvents_subject": s, "cloudEvents_id": f"{s}-r2", "cloudEvents_type": "m"},
                ),
            )
            sent[s].append(f"{s}-r2")
        end = time.time() + 20
        total = 0
        while time.time() < end and total < 60:
            total = sum(ch.queue_declare(q, passive=True).method.message_count for q in parts.queues)
            time.sleep(0.1)
        got = _drain(ch, parts.queues)
    finally:
        stop.set()
        for r in routers:
            r.join(15)
    # I expect each ticket's three events in one partition, in publication order, each once
    where: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    for q, msgs in got.items():
        for headers, body in msgs:
            s = headers[HASH_HEADER]
            where.setdefault(s, set()).add(q)
            order.setdefault(s, []).append(headers.get("cloudEvents_id") or json.loads(body)["id"])
    assert order == sent
    assert all(len(qs) == 1 for qs in where.values())
    assert len(got) > 1  # and the tickets spread over more than one partition


def test_partitions_need_no_broker_plugin(amqp_url, namespace, broker_cleanup):
    # Given the partitions declared on this broker
    parts = Partitions(namespace, 2)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        parts.declare(conn, f"{namespace}.in.failed")
        ch = conn.channel()
        # I expect plain durable queues and no exchange of their own (a stock RabbitMQ has no
        # consistent-hash exchange; the router publishes through the default exchange)
        for q in parts.queues + [parts.members]:
            assert ch.queue_declare(q, passive=True).method.queue == q
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            ch.exchange_declare(f"{namespace}.in.partitioned", passive=True)
    finally:
        if conn.is_open:
            conn.close()
