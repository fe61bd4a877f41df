"""GET /v1/tickets (the working list), GET /v1/tickets/{ticket_id}, GET .../suggestions."""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Query

from schemas import parse_rfc3339
from schemas.inbound import Category
from schemas.outbound import Group, Status
from schemas.types import Instant
from services.api import models as m
from services.api.deps import AnyUser, Conn, Deps
from services.api.problems import Problem, responses
from services.core import suggestions
from services.core.lifecycle import pending_timers
from services.core.ticket import OPEN_STATUSES, T_BREACH, T_CONFIRMATION, T_INACTIVITY, Ticket
from services.store import routing, templates, ticket_reads, tickets
from services.store.ticket_reads import ListFilter

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=responses(401, 422, 429))


def encode_cursor(sort: str, key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, *key], separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        got_sort, k1, k2, k3 = raw
        ok = (
            got_sort == sort
            and (k1 is None or (isinstance(k1, int) and not isinstance(k1, bool)))
            and isinstance(k3, str)
            and isinstance(k2, str)
        )
        if ok and k2 != "infinity":
            parse_rfc3339(k2)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise Problem(422, "cursor: not a cursor of this list and sort (use next_cursor as given)")
    return (k1, k2, k3)


@router.get("", response_model=m.TicketList, summary="The account's tickets (default: the open ones)")
def list_tickets(
    user: AnyUser,
    conn: Conn,
    status: Annotated[list[Status] | None, Query(description="repeatable; default: every open status")] = None,
    group: Group | None = None,
    category: Category | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    label: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    urgent: bool | None = None,
    created_since: Annotated[Instant | None, Query(description="RFC 3339; opened at or after")] = None,
    created_until: Annotated[Instant | None, Query(description="RFC 3339; opened before")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="ticket id, order id or words")] = None,
    sort: m.Sort = "priority",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the previous page")
    ] = None,
) -> m.TicketList:
    f = ListFilter(
        merchant_id=user.merchant_id,
        statuses=tuple(dict.fromkeys(status)) if status else OPEN_STATUSES,
        group=group,
        category=category,
        channel=channel,
        label=label,
        order_id=order_id,
        urgent=urgent,
        created_since=created_since,
        created_until=created_until,
        q=q,
    )
    after = decode_cursor(cursor, sort) if cursor else None
    rows = ticket_reads.page(conn, f, sort, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    return m.TicketList(
        items=[m.TicketSummary(**r.__dict__) for r in rows],
        next_cursor=encode_cursor(sort, rows[-1].key(sort)) if more else None,
    )


def load_ticket(conn, ticket_id: str, merchant_id: str) -> Ticket:
    """The ticket of the caller's account, or 404 (another account's ticket is not found, not forbidden)."""
    t = ticket_reads.ticket_of(conn, ticket_id, merchant_id) if len(ticket_id) <= 128 else None
    if t is None:
        raise Problem(404, f"no ticket {ticket_id[:128]!r} in this account")
    return t


@router.get("/{ticket_id}", response_model=m.TicketDetail, responses=responses(404))
def get_ticket(ticket_id: str, user: AnyUser, conn: Conn) -> m.TicketDetail:
    t = load_ticket(conn, ticket_id, user.merchant_id)
    translations = {
        r[0]: m.TranslationOut(**dict(zip(m.TranslationOut.model_fields, r[1:], strict=True)))
        for r in ticket_reads.translations_of(conn, t.id)
    }
    attachments: dict[str, list[dict]] = {}
    for a in t.attachments:  # kept on the ticket by the lifecycle, with their message id
        attachments.setdefault(str(a.get("message_id")), []).append({k: v for k, v in a.items() if k != "message_id"})
    messages = [
        m.MessageOut(
            message_id=mid,
            author=author,
            text=text,
            at=at,
            attachments=attachments.get(mid, []),
            translation=translations.get(mid),
        )
        for mid, author, text, at in ticket_reads.messages_of(conn, t.id)
    ]
    timeline = [
        m.TimelineEntry(at=a, kind=k, type=ty, event_id=e, detail=d)
        for a, k, ty, e, d in tickets.timeline_of(conn, t.id)
    ]
    return m.TicketDetail(
        **_summary(t).__dict__,
        permanently_closed=t.permanently_closed,
        language=t.language,
        customer_locale=t.customer_locale,
        customer_timezone=t.customer_timezone,
        merchant_locale=t.merchant_locale,
        clocks=_clocks(t),
        survey=_survey(t),
        assignee=(routing.assignment(conn, user.merchant_id, t.id) or {}).get("assignee"),  # routed chats (003)
        refund=t.refund,
        refunds=t.refunds,
        notes=t.notes,  # what the events said: reasons, platform notes, survey comments
        order=t.order,
        messages=messages,
        timeline=timeline,
    )


def _summary(t: Ticket) -> ticket_reads.Row:
    return ticket_reads.Row(
        id=t.id,
        status=t.status,
        policy=t.policy,
        group=t.group,
        category=t.category,
        urgent=t.urgent,
        urges=t.urges,
        opened_at=t.opened_at,
        updated_at=t.updated_at,
        due_at=t.clock.due_at if t.clock and t.is_open else None,
        order_id=t.order_id,
        channel=t.channel,
        waiting_since=t.waiting_since,
        labels=list(t.labels),
    )


def _clocks(t: Ticket) -> list[m.ClockOut]:
    pending = pending_timers(t)
    out = []
    if T_BREACH in pending and t.clock is not None:
        out.append(m.ClockOut(clock="merchant_response", due_at=t.clock.due_at, warn_at=t.clock.warn_at))
    elif t.clock is not None and t.clock.breached and t.is_open:
        out.append(m.ClockOut(clock="merchant_response", due_at=t.clock.due_at, warn_at=t.clock.warn_at, breached=True))
    if T_CONFIRMATION in pending:
        out.append(m.ClockOut(clock="user_confirmation", due_at=pending[T_CONFIRMATION]))
    if T_INACTIVITY in pending:
        out.append(m.ClockOut(clock="chat_inactivity", due_at=pending[T_INACTIVITY]))
    return out


def _survey(t: Ticket) -> m.SurveyOut | None:
    s = t.survey
    if not s.cycle:
        return None
    return m.SurveyOut(
        sent_at=s.first_sent_at,
        deferred_to=s.scheduled_for,
        reminders=s.reminders,
        answered=s.answered,
        rating=t.rating,
    )


@router.get("/{ticket_id}/suggestions", response_model=m.Suggestions, responses=responses(404))
def get_suggestions(ticket_id: str, user: AnyUser, conn: Conn, deps: Deps) -> m.Suggestions:
    """Templates of the ticket's category in the customer's language (else the merchant's, else en),
    with the order id filled in."""
    t = load_ticket(conn, ticket_id, user.merchant_id)
    # the customer's stated locale first; the language detected in the messages when none was given
    customer = deps.normalize_language(t.customer_locale) if t.customer_locale else t.language
    merchant = deps.normalize_language(t.merchant_locale)
    every = templates.of_merchant(conn, user.merchant_id)
    if deps.builtin_templates is not None:
        every += [{**tpl, "source": "builtin"} for tpl in deps.builtin_templates()]
    items = suggestions.suggest(every, t.category, customer, merchant, t.order_id)
    return m.Suggestions(
        ticket_id=t.id,
        category=t.category,
        languages=suggestions.languages_to_try(customer, merchant),
        items=[m.Suggestion(**i) for i in items],
    )
