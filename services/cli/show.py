"""`ticketflow show`: one ticket (or one merchant) for a person at a terminal."""

from __future__ import annotations

import json
import sys

from services.config import Settings
from services.core.ticket import Ticket
from services.store import parking, tickets
from services.store import routing as desks
from services.store.db import connect


def show_ticket(settings: Settings, ticket_id: str, *, as_json: bool = False) -> int:
    with connect(settings.database_url) as conn:
        t = tickets.load(conn, ticket_id)
        if t is None:
            parked = parking.waiting_for(conn, ticket_id)
            hint = f" ({parked} event(s) parked, waiting for its ticket.opened)" if parked else ""
            print(f"ticketflow show: no ticket {ticket_id!r}{hint}", file=sys.stderr)
            return 1
        timers, timeline = tickets.timers_of(conn, ticket_id), tickets.timeline_of(conn, ticket_id)
        chat = desks.assignment(conn, t.merchant_id, ticket_id)
    if as_json:
        print(
            json.dumps(
                {
                    "ticket": t.model_dump(mode="json"),
                    "routing": chat,
                    "timers": [{"kind": k, "due_at": d.isoformat()} for k, d in timers],
                    "timeline": [
                        {"at": a.isoformat(), "kind": k, "type": ty, "event_id": e, "detail": d}
                        for a, k, ty, e, d in timeline
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(render_ticket(t, timers, timeline, chat))
    return 0


def render_ticket(t: Ticket, timers, timeline, chat: dict | None = None) -> str:
    lines = [
        f"ticket    {t.id}   merchant {t.merchant_id}   policy {t.policy}",
        f"status    {t.status}{' (permanently)' if t.permanently_closed else ''}",
        f"class     {t.group} / {t.category}{'  URGENT' if t.urgent else ''}   language {t.language}"
        f"   labels {', '.join(t.labels) or '-'}",
    ]
    if t.order:
        items = ", ".join(f"{i.get('item_id')} x{i.get('quantity', 1)}" for i in t.order.get("items") or [])
        lines.append(f"order     {t.order_id}{'  (' + items + ')' if items else ''}")
    if t.refund:
        lines.append(
            f"refund    {t.refund.get('amount') or '-'} {t.refund.get('currency') or ''} for "
            f"{', '.join(i['item_id'] for i in t.refund.get('items', []))}"
        )
    if t.clock:
        lines.append(
            f"deadline  merchant_response due {t.clock.due_at.isoformat()}{'  BREACHED' if t.clock.breached else ''}"
        )
    if t.confirmation_due_at:
        lines.append(f"deadline  user_confirmation due {t.confirmation_due_at.isoformat()}")
    if t.inactivity_due_at:
        lines.append(f"deadline  chat_inactivity closes {t.inactivity_due_at.isoformat()}")
    s = t.survey
    if s.cycle:
        sent = s.first_sent_at.isoformat() if s.first_sent_at else f"deferred to {s.scheduled_for}"
        lines.append(f"survey    sent {sent}, reminders {s.reminders}, answered {s.answered}, rating {t.rating}")
    if t.urges:
        lines.append(f"urged     {t.urges} time(s)")
    if chat is not None:
        waiting = f", waiting since {chat['waiting_since']}" if chat["waiting_since"] else ""
        if chat["assignee"]:
            lines.append(f"assignee  {chat['assignee']}{waiting}")
        elif chat["queue_position"]:
            lines.append(
                f"assignee  none: queued, position {chat['queue_position']} of {chat['queue_length']}{waiting}"
            )
        else:
            lines.append("assignee  none")
    for kind, due in timers:
        lines.append(f"timer     {kind} at {due.isoformat()}")
    lines.append("timeline")
    for at, kind, type_, _, detail in timeline:
        extra = ""
        if type_ == "ticket.status_changed":
            extra = f" {detail.get('from')} -> {detail.get('to')} ({detail.get('reason')})"
        elif type_ == "chat.assigned":
            extra = f" to {detail.get('agent_id')} ({detail.get('reason')})"
        elif type_ == "chat.unassigned":
            extra = f" from {detail.get('agent_id')} ({detail.get('reason')})"
        elif type_ == "chat.queued":
            extra = f" position {detail.get('position')}"
        elif "reason" in detail:
            extra = f" {detail['reason']}"
        elif "due_at" in detail and kind == "out":
            extra = f" {detail.get('clock', '')} due {detail['due_at']}"
        arrow = {"in": "<-", "out": "->", "timer": "@@", "rejected": "xx"}.get(kind, "  ")
        lines.append(f"  {at.isoformat()}  {arrow} {type_}{extra}")
    return "\n".join(lines)


def show_merchant(settings: Settings, merchant_id: str, *, as_json: bool = False) -> int:
    from services.cli.merchant import merchant_report

    return merchant_report(settings, merchant_id, as_json=as_json)
