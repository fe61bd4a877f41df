"""TICKETFLOW_SOURCES: which source may publish which types, vouched for by which broker user."""

from __future__ import annotations

import json

import pytest

from schemas import Rejected, decode
from services.core.sources import Sources, SourcesError

MAP = {"shop": ["ticket.opened", "message.posted"], "api": {"user": "ticketflow-api", "types": ["*"]}}


def ev(source: str, type_: str = "ticket.urged") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{source}-{type_}",
            "source": source,
            "type": type_,
            "time": "2026-03-02T09:00:00Z",
            "subject": "T1",
            "data": {},
        }  # fmt: skip
    ).encode()


def test_a_listed_source_as_its_user_may_publish_its_types_only():
    s = Sources.parse(json.dumps(MAP))
    assert s.verdict("shop", "ticket.opened", "shop") is None
    assert s.verdict("shop", "ticket.refunded", "shop") == "source may not publish ticket.refunded"
    assert s.verdict("api", "survey.answered", "ticketflow-api") is None


def test_the_broker_user_must_vouch_for_the_source():
    s = Sources.parse(json.dumps(MAP))
    assert s.verdict("shop", "ticket.opened", "api") == "user_id does not match source"
    assert s.verdict("shop", "ticket.opened", None) == "source not vouched for by the broker user_id"
    assert s.verdict("elsewhere", "ticket.opened", "elsewhere") == "source not allowed to publish"


def test_screen_turns_what_is_not_allowed_into_forbidden_rejections_in_place():
    # Given a decoded batch: one allowed event, one of a type its source may not publish, one bad input
    s = Sources.parse(json.dumps(MAP))
    bodies = [ev("shop", "ticket.urged"), ev("api", "ticket.urged"), b"not json"]
    decoded = []
    for b in bodies:
        try:
            decoded.append((b, decode(b)))
        except Rejected as r:
            decoded.append((b, r))
    # When it is screened with the users that published them
    n = s.screen(decoded, ["shop", "ticketflow-api", None])
    # I expect the first forbidden, with its id, subject and type; the others untouched
    assert n == 1
    first = decoded[0][1]
    assert isinstance(first, Rejected) and first.reason == "forbidden"
    assert (first.event_id, first.subject, first.event_type) == ("shop-ticket.urged", "T1", "ticket.urged")
    assert not isinstance(decoded[1][1], Rejected)
    assert decoded[2][1].reason == "malformed"


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"a": "ticket.opened"}', '{"a": {"types": ["x"]}}', "{"])
def test_a_bad_map_is_a_clear_startup_error(text):
    with pytest.raises(SourcesError):
        Sources.parse(text)
