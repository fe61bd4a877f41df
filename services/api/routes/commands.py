"""Commands: each becomes the matching inbound CloudEvent on `<ns>.in` (source `ticketflow-api`,
`data.actor_user_id`), published with a confirm, answered 202 {event_id, status_url}. The pipeline
stays the one authority: the quick pre-checks here (404, 403, 422, and 409 when the core, applied
to the ticket as it is now, refuses the event) only spare a round trip; `GET /v1/commands/{id}`
says what the pipeline decided.

An `Idempotency-Key` makes the event id a function of (user, key), so a retried command is the
same event and the pipeline's dedupe gives it no second effect.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from schemas import INBOUND, Rejected, decode, format_rfc3339
from services.api import models as m
from services.api.deps import AnyUser, Commander, Conn, Deps, Owner
from services.api.problems import Problem, responses
from services.api.routes.tickets import load_ticket
from services.core.lifecycle import HANDLERS
from services.store import commands
from services.store.users import User

SOURCE = "ticketflow-api"
_IDS = uuid.UUID("6f1c3a52-5b7e-4d8e-9a4f-1e2d3c4b5a69")
REFUSALS = {"invalid_transition", "missing_evidence", "unknown_ticket"}

router = APIRouter(tags=["commands"], responses=responses(400, 401, 403, 404, 409, 422, 429, 503))
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": m.Accepted,
        "description": "published on <ns>.in; follow status_url",
        "links": {  # OpenAPI links: what a client (and the stateful tests) does next
            "CommandStatus": {
                "operationId": "command_status",
                "parameters": {"event_id": "$response.body#/event_id"},
            },
        },
    }
}
TICKET_LINK = {
    "Ticket": {
        "operationId": "get_ticket",
        "parameters": {"ticket_id": "$request.path.ticket_id"},
    }
}
ON_TICKET: dict[int | str, dict[str, Any]] = {
    202: {**ACCEPTED[202], "links": {**ACCEPTED[202]["links"], **TICKET_LINK}}
}


def _event_id(user: User, key: str | None) -> str:
    return str(uuid.uuid5(_IDS, f"{user.id}\x00{key}")) if key else str(uuid.uuid4())


def submit(
    conn, deps, user: User, subject: str, type_: str, data: dict[str, Any], key: str | None, ticket=None
) -> JSONResponse:
    """Validate the event as the pipeline will, pre-check it against the ticket, record, publish, 202."""
    event_id = _event_id(user, key)
    if key:
        sent = commands.by_key(conn, user.id, key)
        if sent is not None:
            if (sent.ticket_id, sent.type) != (subject, type_):
                raise Problem(422, "this Idempotency-Key was used for another command")
            if not sent.seen_by_pipeline:  # the first publish may have failed: the same event again
                _publish(deps, type_, sent.body, sent.event_id)
            return _accepted(sent.event_id)
    now = deps.clock.now()
    body = orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": SOURCE,
            "type": type_,
            "time": format_rfc3339(now),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": {**data, "actor_user_id": user.id},
        }
    )
    if type_ in INBOUND:  # types the contract's schemas know: validated exactly as the pipeline will
        try:
            ev = decode(body)
        except Rejected as r:
            raise Problem(422, f"the event would be rejected: {r.detail}", reason=r.reason) from None
        if ticket is not None and HANDLERS.get(type_) is not None:  # and pre-checked by the lifecycle
            o = deps.lifecycle.apply(ticket, ev)
            if o.rejection and o.rejection[0] in REFUSALS:
                raise Problem(409, f"not possible now: {o.rejection[1]}", reason=o.rejection[0])
    conn.rollback()
    commands.record(conn, event_id, user.id, user.merchant_id, subject, type_, key, body)
    _publish(deps, type_, body, event_id)
    return _accepted(event_id)


def _publish(deps, type_: str, body: bytes, event_id: str) -> None:
    """With a broker confirm; a duplicate is harmless (the pipeline dedupes on the event id)."""
    try:
        deps.publisher.publish(deps.topology.inbound, type_, body, event_id)
    except Exception as e:  # noqa: BLE001 - the broker is down: say so, a retry with the key is the same event
        raise Problem(503, f"the broker did not take the command ({type(e).__name__}); retry") from None


def _accepted(event_id: str) -> JSONResponse:
    return JSONResponse(
        {"event_id": event_id, "status_url": f"/v1/commands/{event_id}"},
        status_code=202,
        headers={"Location": f"/v1/commands/{event_id}"},
    )


def _message(event_id: str, text: str, attachments) -> dict[str, Any]:
    return {
        "message_id": f"api-{event_id}",
        "author": "merchant",
        "text": text,
        "attachments": [a.model_dump(exclude_none=True) for a in attachments],
    }


def _ticket_command(conn, deps, user, ticket_id: str, type_: str, data: dict, key: str | None) -> JSONResponse:
    t = load_ticket(conn, ticket_id, user.merchant_id)
    return submit(conn, deps, user, t.id, type_, data, key, ticket=t)


@router.post("/v1/tickets/{ticket_id}/replies", status_code=202, responses=ON_TICKET)
def reply(ticket_id: str, body: m.ReplyIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    """A merchant message; with `resolve: true`, reply and resolve in one event."""
    message = _message(_event_id(user, key), body.text, body.attachments)
    if body.resolve:
        return _ticket_command(
            conn, deps, user, ticket_id, "ticket.resolved", {"message": message, "agreed": body.agreed}, key
        )
    return _ticket_command(conn, deps, user, ticket_id, "message.posted", {"message": message}, key)


@router.post("/v1/tickets/{ticket_id}/resolve", status_code=202, responses=ON_TICKET)
def resolve(
    ticket_id: str, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None, body: m.ResolveIn | None = None
):
    data: dict[str, Any] = {"agreed": bool(body and body.agreed)}
    if body and body.text:
        data["message"] = _message(_event_id(user, key), body.text, body.attachments)
    return _ticket_command(conn, deps, user, ticket_id, "ticket.resolved", data, key)


@router.post("/v1/tickets/{ticket_id}/unresolved", status_code=202, responses=ON_TICKET)
def unresolved(ticket_id: str, body: m.ReasonIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    return _ticket_command(conn, deps, user, ticket_id, "ticket.unresolved", {"reason": body.reason}, key)


@router.post("/v1/tickets/{ticket_id}/appeal", status_code=202, responses=ON_TICKET)
def appeal(ticket_id: str, body: m.ReasonIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    return _ticket_command(conn, deps, user, ticket_id, "ticket.appealed", {"reason": body.reason}, key)


@router.post("/v1/tickets/{ticket_id}/refund", status_code=202, responses=ON_TICKET)
def refund(ticket_id: str, body: m.RefundIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    data = body.model_dump(mode="json", exclude_none=True)
    if body.amount is not None:
        data["amount"] = round(body.amount, 4)  # the event's amount: at most 4 decimal places
    return _ticket_command(conn, deps, user, ticket_id, "ticket.refunded", data, key)


@router.post("/v1/tickets/{ticket_id}/survey-reminders", status_code=202, responses=ON_TICKET)
def survey_reminder(ticket_id: str, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    return _ticket_command(conn, deps, user, ticket_id, "survey.reminder_requested", {}, key)


@router.post("/v1/tickets/{ticket_id}/reopen", status_code=202, responses=ON_TICKET)
def reopen(
    ticket_id: str,
    user: Owner,
    conn: Conn,
    deps: Deps,
    key: IdempotencyKey = None,
    body: m.OptionalReasonIn | None = None,
):
    data = {"reason": body.reason} if body and body.reason else {}
    return _ticket_command(conn, deps, user, ticket_id, "ticket.reopened", data, key)


@router.post("/v1/tickets/{ticket_id}/transfer", status_code=202, responses=ON_TICKET)
def transfer(ticket_id: str, body: m.TransferIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    """`chat.transfer_requested` (chat routing, 003): one chat, or every open chat of `from_agent_id`
    (default: the calling user's own)."""
    data = body.model_dump(mode="json", exclude_none=True)
    if body.scope == "all" and not body.from_agent_id:
        data["from_agent_id"] = user.id  # "all of mine": the calling agent's chats
    return _ticket_command(conn, deps, user, ticket_id, "chat.transfer_requested", data, key)


@router.put("/v1/agents/me/availability", status_code=202, responses=ACCEPTED)
def availability(body: m.AvailabilityIn, user: Commander, conn: Conn, deps: Deps, key: IdempotencyKey = None):
    """`agent.availability_changed` for the calling user (subject = the user id)."""
    data: dict[str, Any] = {
        "merchant_id": user.merchant_id,
        "state": body.state,
        "role": "manager" if user.role == "owner" else "agent",
    }
    if body.max_open_chats is not None:
        data["max_open_chats"] = body.max_open_chats
    return submit(conn, deps, user, user.id, "agent.availability_changed", data, key)


@router.get("/v1/commands/{event_id}", response_model=m.CommandStatus)
def command_status(event_id: str, user: AnyUser, conn: Conn) -> m.CommandStatus:
    """`pending` until the pipeline has decided, then `applied` or `rejected` with the reason."""
    s = commands.status(conn, event_id, user.merchant_id) if len(event_id) <= 128 else None
    if s is None:
        raise Problem(404, "no command with this id in this account")
    return m.CommandStatus(
        event_id=event_id,
        type=s.type,
        ticket_id=s.ticket_id,
        accepted_at=s.accepted_at,
        status=s.state,
        reason=s.reason,
    )
