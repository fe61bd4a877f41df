"""The broker users shipped in deploy/ hold: loaded into a private RabbitMQ node (with passwords from
scripts/gen-secrets), an upstream may publish its own types only, and only as itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pika
import pytest

from tests.private import PrivateRabbit

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _publish(url: str, routing_key: str, user_id: str | None) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("ticketflow.in", routing_key, b"{}", pika.BasicProperties(user_id=user_id))
    finally:
        if conn.is_open:
            conn.close()


def test_an_upstream_may_publish_only_its_types_and_only_as_itself(tmp_path):
    # Given the deploy/ definitions, with passwords generated into .env and .secrets/
    (tmp_path / "deploy/rabbitmq").mkdir(parents=True)
    shutil.copy(ROOT / "deploy/rabbitmq/definitions.json", tmp_path / "deploy/rabbitmq/definitions.json")
    subprocess.run([str(ROOT / "scripts/gen-secrets"), "--root", str(tmp_path)], check=True, capture_output=True)
    env = _env(tmp_path / ".env")
    assert json.loads((tmp_path / ".secrets/rabbitmq-definitions.json").read_text())["users"][0]["password_hash"]
    with PrivateRabbit(definitions=str(tmp_path / ".secrets/rabbitmq-definitions.json")) as rmq:
        base = f"127.0.0.1:{rmq.port}/%2F"
        owner = pika.BlockingConnection(pika.URLParameters(f"amqp://ticketflow:{env['RABBITMQ_PASSWORD']}@{base}"))
        owner.channel().exchange_declare("ticketflow.in", "topic", durable=True)
        owner.close()
        survey = f"amqp://survey-app:{env['RABBITMQ_SURVEY_APP_PASSWORD']}@{base}"
        # When survey-app publishes its own type as itself, I expect the broker to take it
        _publish(survey, "survey.answered", "survey-app")
        # and to refuse another type (topic permission) and a forged user_id
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            _publish(survey, "ticket.opened", "survey-app")
        assert refused.value.reply_code == 403
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as forged:
            _publish(survey, "survey.answered", "shop-app")
        assert forged.value.reply_code == 406
        # and nobody to log in as guest
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{base}"))
