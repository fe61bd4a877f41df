"""CloudEvents AMQP binary content mode -> the structured event (CONTRACT "Wire format")."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from schemas import Rejected, decode, structured

DATA = {"merchant_id": "m1", "policy": "wish", "message": {"message_id": "m-1", "text": "hello"}}


def _headers(prefix="cloudEvents:", **over):
    attrs = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "upstream",
        "type": "ticket.opened",
        "time": "2026-03-02T09:00:00Z",
        "subject": "T-1",
    }
    attrs.update(over)
    return {f"{prefix}{k}": v for k, v in attrs.items()}


@pytest.mark.parametrize("prefix", ["cloudEvents:", "cloudEvents_"])
def test_a_binary_message_decodes_like_its_structured_twin(prefix):
    # Given a ticket.opened whose attributes are application properties and whose body is the data
    body = json.dumps(DATA).encode()
    # When it is turned into its structured form and decoded
    ev = decode(structured(body, "application/json", _headers(prefix)))
    # I expect the same event as the structured mode would give
    assert (ev.id, ev.type, ev.subject, ev.time.isoformat()) == (
        "e-1",
        "ticket.opened",
        "T-1",
        "2026-03-02T09:00:00+00:00",
    )
    assert ev.data.merchant_id == "m1"


def test_cloudevents_colon_wins_over_underscore_and_an_amqp_timestamp_is_a_time():
    headers = {**_headers("cloudEvents_", id="loser"), **_headers("cloudEvents:", id="winner")}
    headers["cloudEvents:time"] = datetime(2026, 3, 2, 9, 30)  # pika's decoding of an AMQP timestamp (UTC)
    ev = decode(structured(json.dumps(DATA).encode(), "application/json; charset=utf-8", headers))
    assert ev.id == "winner"
    assert ev.time.isoformat() == "2026-03-02T09:30:00+00:00"


def test_a_binary_message_whose_content_type_is_not_json_is_malformed():
    with pytest.raises(Rejected) as r:
        structured(b"<xml/>", "application/xml", _headers())
    assert (r.value.reason, r.value.event_id, r.value.subject) == ("malformed", "e-1", "T-1")


def test_a_binary_message_whose_body_is_not_json_is_malformed():
    with pytest.raises(Rejected) as r:
        structured(b"{not json", "application/json", _headers())
    assert r.value.reason == "malformed"


def test_structured_messages_pass_untouched_whatever_their_headers():
    body = b'{"specversion": "1.0"}'
    assert structured(body, "application/cloudevents+json", _headers()) is body
    assert structured(body, "application/json", {"x-other": "1"}) is body
    assert structured(body, None, None) is body
