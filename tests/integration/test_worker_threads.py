"""Refinement runs on threads of its own, at a lower OS priority, so translation never waits behind it
(issue #17), against the real RabbitMQ.

Given the workers of `build_workers` (refine on its own dramatiq Worker) / When refinements keep every
refine thread busy / I expect a translation to be done meanwhile, and the refine threads to run niced.
"""

from __future__ import annotations

import os
import threading
import time

import dramatiq
import pytest

from services.amqp.topology import Topology
from services.bootstrap import build_workers
from services.config import Settings
from workers import refine, translate
from workers.broker import make_broker
from workers.group import WorkerGroup

pytestmark = pytest.mark.integration


class Blocking:
    """A refine job that holds its thread until released, and notes the thread's nice value."""

    def __init__(self) -> None:
        self.release, self.started = threading.Event(), threading.Semaphore(0)
        self.nice: list[int] = []

    def run(self, ticket_id: str, message_id: str) -> None:
        self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        self.started.release()
        assert self.release.wait(30), "never released"


class Recording:
    def __init__(self) -> None:
        self.done = threading.Event()

    def run(self, ticket_id: str, message_id: str) -> None:
        self.done.set()


def test_build_workers_gives_refine_its_own_threads_and_queue(database_url, amqp_url, namespace, broker_cleanup):
    settings = Settings(
        amqp_url=amqp_url, database_url=database_url, namespace=namespace, worker_threads=3, refine_threads=2
    )
    _, group, close = build_workers(settings, amqp_url=amqp_url)
    try:
        t = Topology(namespace)
        refine_worker, others = group.by_name["refine"], group.by_name["workers"]
        assert (refine_worker.consumer_whitelist, refine_worker.worker_threads) == ({t.worker_queue("refine")}, 2)
        assert (others.consumer_whitelist, others.worker_threads) == ({t.worker_queue("translate")}, 3)
    finally:
        close()


def test_refine_threads_0_leaves_refinement_to_other_processes(database_url, amqp_url, namespace, broker_cleanup):
    """A workers process with TICKETFLOW_REFINE_THREADS=0 translates and never takes a refine task: on
    a deployment that refines on machines of its own, the tasks wait in <ns>.refine for those."""
    settings = Settings(
        amqp_url=amqp_url, database_url=database_url, namespace=namespace, worker_threads=2, refine_threads=0
    )
    broker, group, close = build_workers(settings, amqp_url=amqp_url)
    t = Topology(namespace)
    try:
        assert set(group.by_name) == {"workers"}
        assert group.by_name["workers"].consumer_whitelist == {t.worker_queue("translate")}
        group.start()
        broker.get_actor("refine").send("T-R0", "m-r0")
        deadline = time.time() + 3
        while time.time() < deadline:  # given the workers time to take it, had they consumed the queue
            time.sleep(0.2)
        channel = broker.channel
        assert channel.queue_declare(t.worker_queue("refine"), durable=True, passive=True).method.message_count == 1
    finally:
        close()


def test_a_translation_is_done_while_every_refine_thread_is_busy_and_those_threads_are_niced(
    amqp_url, namespace, broker_cleanup
):
    t = Topology(namespace)
    broker = make_broker(amqp_url)
    slow, fast = Blocking(), Recording()
    refine_actor = refine.register(broker, t.worker_queue("refine"), slow, nice=5)  # type: ignore[arg-type]
    translate_actor = translate.register(broker, t.worker_queue("translate"), fast)  # type: ignore[arg-type]
    group = WorkerGroup(
        {
            "workers": dramatiq.Worker(broker, queues={t.worker_queue("translate")}, worker_threads=1),
            "refine": dramatiq.Worker(broker, queues={t.worker_queue("refine")}, worker_threads=1),
        }
    )
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    group.start()
    try:
        # Given the one refine thread busy and more refinements queued behind it
        for i in range(3):
            refine_actor.send(f"T-{i}", f"m-{i}")
        assert slow.started.acquire(timeout=20)
        # When a translation arrives
        translate_actor.send("T-9", "m-9")
        # I expect it done while the refinements still wait
        assert fast.done.wait(20)
        assert len(slow.nice) == 1
        slow.release.set()
        for _ in range(2):
            assert slow.started.acquire(timeout=20)
        # and every refinement ran niced, the main thread untouched
        assert slow.nice == [min(19, base + 5)] * 3
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        slow.release.set()
        group.stop(timeout=5_000)
        broker.close()
