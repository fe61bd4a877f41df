"""Health that tells the truth, and who may say what, seen from outside: HTTP probes of `run`,
`component_up` on `/metrics`, and `forbidden` rejections through the exchanges."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import delete_namespace, run_env

from .harness import BIN, Pipeline, _free_port, event

pytestmark = pytest.mark.e2e


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _component_up(metrics: str) -> dict[str, float]:
    return {m[0]: float(m[1]) for m in re.findall(r'ticketflow_component_up\{component="(\w+)"\} (\S+)', metrics)}


def test_every_component_reports_live_ready_and_up(amqp_url, database_url, namespace):
    # Given the whole pipeline in one process, exporter included
    p = Pipeline(amqp_url, database_url, namespace, components="ingest,workers,scheduler,relay,exporter")
    p.migrate_and_tap()
    try:
        p.start()
        # When an operator's probes ask its metrics port
        # I expect every component live and ready, by name
        code, body = _get(p.metrics_port, "/healthz")
        assert code == 200, body
        assert set(json.loads(body)) == {"ingest", "workers", "scheduler", "relay", "exporter"}
        assert all(s["live"] for s in json.loads(body).values())
        code, body = _get(p.metrics_port, "/readyz")
        assert code == 200, body
        # and component_up 1 for each, from the heartbeats every process writes
        up: dict[str, float] = {}
        end = time.time() + 20
        while time.time() < end:
            up = _component_up(_get(p.metrics_port, "/metrics")[1])
            if up and all(v == 1 for v in up.values()):
                break
            time.sleep(1)
        assert up == {"ingest": 1, "workers": 1, "scheduler": 1, "relay": 1, "exporter": 1}

        # When the pipeline stops, I expect its components to go down on /metrics of another exporter
        p.stop()
        port = _free_port()
        exporter = subprocess.Popen(
            [str(BIN), "run", "--components", "exporter"],
            env=dict(p.env, TICKETFLOW_METRICS_PORT=str(port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.time() + 30
            while time.time() < end:
                try:
                    up = _component_up(_get(port, "/metrics")[1])
                except OSError:
                    up = {}
                if up.get("exporter") == 1:
                    break
                time.sleep(0.5)
            assert up == {"ingest": 0, "workers": 0, "scheduler": 0, "relay": 0, "exporter": 1}
        finally:
            exporter.terminate()
            exporter.wait(timeout=30)
    finally:
        p.close()
        delete_namespace(amqp_url, namespace)


def test_a_component_without_its_broker_is_alive_but_not_ready(database_url, namespace):
    # Given ingest pointed at a broker port nobody listens on, with a health port of its own
    port, dead = _free_port(), _free_port()
    env = run_env(f"amqp://guest:guest@127.0.0.1:{dead}/%2F", database_url, namespace, TICKETFLOW_HEALTH_PORT=str(port))
    proc = subprocess.Popen(
        [str(BIN), "run", "--components", "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        states: dict = {}
        end = time.time() + 60
        while time.time() < end:
            try:
                code, body = _get(port, "/readyz")
                live, _ = _get(port, "/healthz")
                states = json.loads(body)
                break
            except OSError:
                time.sleep(0.5)
        # I expect /healthz 200 (its loop keeps retrying) and /readyz 503 naming ingest
        assert live == 200
        assert code == 503 and states["ingest"] == {**states["ingest"], "live": True, "ready": False}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SOURCES = {
    "tests/upstream": {"user": "guest", "types": ["*"]},
    "survey-app": {"user": "survey-app", "types": ["survey.answered"]},
    "shop-app": {"user": "guest", "types": ["ticket.opened"]},
}


def test_a_source_may_publish_only_its_types_as_its_broker_user(amqp_url, database_url, namespace):
    # Given TICKETFLOW_SOURCES: tests/upstream may say anything as `guest`, shop-app only open tickets,
    # survey-app only answer surveys and only as the broker user `survey-app`
    p = Pipeline(
        amqp_url, database_url, namespace, extra_env={"TICKETFLOW_SOURCES": json.dumps(SOURCES)}, user_id="guest"
    )
    p.migrate_and_tap()
    try:
        p.start()
        opened = event(
            "ticket.opened",
            "F1",
            "2026-03-02T09:00:00Z",
            {"merchant_id": "m1", "policy": "wish", "message": {"message_id": "f1", "text": "where is my parcel"}},
        )
        p.publish(opened)
        bad = {
            "forged-survey": dict(
                event("survey.answered", "F1", "2026-03-02T10:00:00Z", {"rating": 1}, id_="forged-survey"),
                source="survey-app",
            ),
            "shop-refund": dict(
                event("ticket.refunded", "F1", "2026-03-02T10:00:00Z", {"items": [{"item_id": "i1"}]}, "shop-refund"),
                source="shop-app",
            ),
            "stranger": dict(
                event("ticket.urged", "F1", "2026-03-02T10:00:00Z", {}, id_="stranger"), source="somebody-else"
            ),
        }
        for ev in bad.values():
            p.publish(ev)
        unvouched = event("ticket.urged", "F1", "2026-03-02T10:00:00Z", {}, id_="unvouched")
        p.ch.basic_publish(f"{namespace}.in", "ticket.urged", json.dumps(unvouched).encode())  # no user_id

        # I expect the allowed ticket applied, and each of the others rejected `forbidden` and kept
        assert p.wait_for(lambda: len([e for e in p.seen if e["type"] == "event.rejected"]) >= 4)
        assert p.statuses("F1") == ["awaiting_merchant"]
        rejected = {e["data"]["event_id"]: e["data"]["reason"] for e in p.seen if e["type"] == "event.rejected"}
        assert rejected == {"forged-survey": "forbidden", "shop-refund": "forbidden", "stranger": "forbidden",
                            "unvouched": "forbidden"}  # fmt: skip
        assert p.wait_for(lambda: p.depth(f"{namespace}.in.rejected") == 4)
    finally:
        p.close()
        delete_namespace(amqp_url, namespace)
