"""The refining worker through the exchanges (issue #17): `ticketflow run` with the `workers` component
reclassifies a ticket whose inline answer was `other` or unsure, with the real model.

Given tickets opened on `<ns>.in` (times = now, so the urgent deadline lies ahead) / When the pipeline
runs / I expect a second `ticket.classified` on `<ns>.out` naming the refining model, a shortened Douyin
deadline for a ticket it finds unsafe, nothing for a ticket a person classified, and the outcomes on
/metrics.
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timezone

import pytest

from .harness import Pipeline, event, tapped

pytestmark = pytest.mark.e2e

WISH = {"merchant_id": "m-refine", "policy": "wish", "customer": {"id": "c1", "locale": "en-GB"}}
DOUYIN = {"merchant_id": "m-refine", "policy": "douyin", "customer": {"id": "c2", "locale": "en-GB"}}


@pytest.fixture
def full(amqp_url, database_url, namespace):
    with tapped(amqp_url, database_url, namespace, components="ingest,workers,relay,exporter") as p:
        yield p


def opened(base, text, mid, **extra):
    return {**base, "message": {"message_id": mid, "text": text}, **extra}


def test_an_unsure_ticket_is_reclassified_by_the_refining_worker(full: Pipeline, tmp_path):
    full.start()
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    laptop = "Would this laptop run Photoshop smoothly?"  # inline: other (no lexicon cue)
    full.publish(event("ticket.opened", "RF-1", now, opened(WISH, laptop, "rf1")))
    full.publish(
        event("ticket.opened", "RF-2", now, opened(DOUYIN, "the lamp gets so hot the shade went brown", "rf2"))
    )
    full.publish(event("ticket.opened", "RF-3", now, opened(WISH, laptop, "rf3", category="other")))

    def refined(subject):
        return [e for e in full.of(subject, "ticket.classified") if e["data"]["source"] == "refined"]

    assert full.wait_for(lambda: refined("RF-1") and refined("RF-2"), max_s=180), full.log.read_text()[-3000:]

    first, second = full.of("RF-1", "ticket.classified")
    assert (first["data"]["category"], first["data"]["source"]) == ("other", "model")
    d = second["data"]
    assert (d["category"], d["group"], d["classifier"], d["previous_category"]) == (
        "product_question",
        "pre_purchase",
        "e5-refine-v1",
        "other",
    )
    assert "needs_review" not in d["labels"] and "refined" in d["labels"]

    # the Douyin ticket the model finds unsafe: urgent, 2 business hours from the opening
    d2 = refined("RF-2")[0]["data"]
    assert d2["urgent"] and d2["group"] == "post_purchase"
    activated = [e["data"]["due_at"] for e in full.of("RF-2", "sla.activated")]
    calendar = tmp_path / "douyin.json"
    week = {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar.write_text(json.dumps({"timezone": "Asia/Shanghai", "week": week}))
    r = full.cli("sla", "due", "--calendar", str(calendar), "--start", now, "--duration", "PT2H")
    assert r.returncode == 0, r.stderr
    urgent_due = datetime.fromisoformat(r.stdout.strip())
    assert len(activated) == 2 and datetime.fromisoformat(activated[1]) == urgent_due
    assert urgent_due < datetime.fromisoformat(activated[0])
    assert [e["type"] for e in full.of("RF-2")][-3:] == ["sla.activated", "sla.warning", "notification.requested"]

    # a person's category is never sent for refinement
    full.drain(quiet_s=2, max_s=10)
    assert [e["data"]["source"] for e in full.of("RF-3", "ticket.classified")] == ["upstream"]

    shown = full.cli("show", "RF-1")
    assert shown.returncode == 0, shown.stderr
    assert "pre_purchase / product_question" in shown.stdout and "by refined" in shown.stdout
    assert "classification.refined product_question" in shown.stdout

    body = urllib.request.urlopen(f"http://127.0.0.1:{full.metrics_port}/metrics", timeout=10).read().decode()
    applied = re.search(r'^ticketflow_refinements_total\{outcome="applied"\} (\S+)$', body, re.M)
    assert applied and float(applied.group(1)) == 2.0
    assert 'ticketflow_worker_messages_total{actor="refine",outcome="ok"}' in body
