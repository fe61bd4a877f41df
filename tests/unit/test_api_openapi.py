"""The OpenAPI 3.1 document of the HTTP API: committed, up to date, and complete per the contract."""

from __future__ import annotations

import json

from services.api import openapi

CONTRACT_ROUTES = {
    ("get", "/v1/tickets"),
    ("get", "/v1/tickets/{ticket_id}"),
    ("post", "/v1/tickets/{ticket_id}/replies"),
    ("post", "/v1/tickets/{ticket_id}/resolve"),
    ("post", "/v1/tickets/{ticket_id}/unresolved"),
    ("post", "/v1/tickets/{ticket_id}/appeal"),
    ("post", "/v1/tickets/{ticket_id}/refund"),
    ("post", "/v1/tickets/{ticket_id}/survey-reminders"),
    ("post", "/v1/tickets/{ticket_id}/reopen"),
    ("post", "/v1/tickets/{ticket_id}/transfer"),
    ("get", "/v1/commands/{event_id}"),
    ("put", "/v1/agents/me/availability"),
    ("get", "/v1/templates"),
    ("post", "/v1/templates"),
    ("get", "/v1/tickets/{ticket_id}/suggestions"),
    ("get", "/v1/kpis"),
    ("get", "/v1/exports"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}


def test_the_committed_document_matches_the_app():
    assert openapi.PATH.exists(), "run `python -m services.api.openapi` and commit schemas/generated/openapi.json"
    assert openapi.PATH.read_text(encoding="utf-8") == openapi.render(), (
        "schemas/generated/openapi.json is out of date: run `python -m services.api.openapi` and commit it"
    )


def test_the_document_is_openapi_3_1_with_every_contract_route():
    doc = json.loads(openapi.render())
    assert doc["openapi"].startswith("3.1")
    routes = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert CONTRACT_ROUTES <= routes, CONTRACT_ROUTES - routes


def test_request_bodies_reuse_the_contracts_types():
    schemas = json.loads(openapi.render())["components"]["schemas"]
    # the event's own attachment and refund item models, not look-alikes
    from schemas.inbound import Attachment, RefundedItem
    from services.api.models import AttachmentIn, RefundedItemIn

    assert issubclass(AttachmentIn, Attachment) and issubclass(RefundedItemIn, RefundedItem)
    assert schemas["ReplyIn"]["properties"]["attachments"]["items"] == {"$ref": "#/components/schemas/AttachmentIn"}


def test_every_error_is_documented_as_problem_json():
    doc = json.loads(openapi.render())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code.startswith("4") and code != "422" or code == "401":
                    assert "application/problem+json" in resp["content"], (method, path, code)
