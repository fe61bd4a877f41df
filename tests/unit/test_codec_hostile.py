"""`schemas.decode` on hostile input: whatever the bytes, the answer is an event or `Rejected` with a
contract reason, never another exception (which would stop ingest on one message)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Rejected, decode
from schemas.envelope import MAX_DEPTH, MAX_VALUES

REASONS = {"malformed", "unknown_type", "invalid_data", "too_large"}

HEAD = {
    "specversion": "1.0",
    "id": "e1",
    "source": "test",
    "type": "ticket.opened",
    "time": "2026-03-02T09:00:00Z",
    "subject": "T-1",
}
DATA = {"merchant_id": "m1", "policy": "wish", "message": {"message_id": "m", "text": "hello"}}


def _outcome(body: bytes) -> str:
    try:
        decode(body)
    except Rejected as r:
        assert r.reason in REASONS
        return r.reason
    return "accepted"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_an_event_or_a_rejection(body):
    _outcome(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values, st.sampled_from(["data", "ext", "id", "subject", "time", "type", "specversion"]))
def test_any_json_in_any_attribute_is_an_event_or_a_rejection(value, attribute):
    body = {**HEAD, "data": DATA, attribute: value}
    _outcome(json.dumps(body).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=200))
def test_any_message_text_with_escapes_is_an_event_or_a_rejection(text):
    # ensure_ascii: every non-ASCII character (lone surrogates included) travels as a \\u escape
    body = json.dumps({**HEAD, "data": {**DATA, "message": {"message_id": "m", "text": text}}}, ensure_ascii=True)
    _outcome(body.encode())


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 999, 1023, 1025, 5000, 100_000])
def test_nesting_of_any_depth_is_rejected_without_recursion(depth):
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        nested = opener * depth + b"1" + closer * depth
        body = orjson.dumps({**HEAD, "data": DATA})[:-1] + b',"ext":' + nested + b"}"
        assert _outcome(body) in {"malformed", "invalid_data", "too_large"}


def test_the_value_count_limit_holds_at_the_boundary():
    # ~20 values in the envelope and data, plus the extension's list and its elements
    ok = orjson.dumps({**HEAD, "data": DATA, "ext": [0] * (MAX_VALUES - 100)})
    over = orjson.dumps({**HEAD, "data": DATA, "ext": [0] * MAX_VALUES})
    assert _outcome(ok) == "accepted"
    assert _outcome(over) == "invalid_data"
