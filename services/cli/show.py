"""`ticketflow show`: one ticket (or one merchant) for a person at a terminal."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from services.config import Settings
from services.core.chat_state import chat_flags
from services.core.clock import SystemClock
from services.core.ticket import AWAITING_MERCHANT, Ticket
from services.store import parking, tickets
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
    now = SystemClock().now()
    if as_json:
        print(
            json.dumps(
                {
                    "ticket": t.model_dump(mode="json"),
                    "flags": chat_flags(t.status, t.clock.due_at if t.clock else None, now),
                    "waiting_since": t.waiting_since.isoformat() if t.waiting_since else None,
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
    print(render_ticket(t, timers, timeline, now=now))
    return 0


def render_ticket(t: Ticket, timers, timeline, *, now: datetime | None = None) -> str:
    lines = [
        f"ticket    {t.id}   merchant {t.merchant_id}   policy {t.policy}",
        f"status    {t.status}{' (permanently)' if t.permanently_closed else ''}",
        f"class     {t.group} / {t.category}{'  URGENT' if t.urgent else ''}   language {t.language}"
        f"   labels {', '.join(t.labels) or '-'}   by {t.category_source}",
    ]
    flags = chat_flags(t.status, t.clock.due_at if t.clock else None, now) if now else []
    if t.channel or flags or t.waiting_since:
        waiting = f"   waiting for the merchant since {t.waiting_since.isoformat()}" if t.waiting_since else ""
        lines.append(f"work      channel {t.channel or '-'}   flags {' '.join(flags) or '-'}{waiting}")
    if t.order:
        items = ", ".join(f"{i.get('item_id')} x{i.get('quantity', 1)}" for i in t.order.get("items") or [])
        lines.append(f"order     {t.order_id}{'  (' + items + ')' if items else ''}")
        bought = t.order.get("purchased_at")
        about = [f"transaction {t.order['transaction_id']}"] if t.order.get("transaction_id") else []
        if bought:  # 001: the purchase date and the time since it; whether it was a gift
            since = (now - datetime.fromisoformat(bought.replace("Z", "+00:00"))).days if now else None
            about.append(f"purchased {bought}" + (f" ({since} days ago)" if since is not None else ""))
        if t.order.get("is_gift") is not None:
            about.append(f"gift {'yes' if t.order['is_gift'] else 'no'}")
        if about:
            lines.append(f"          {'   '.join(about)}")
    for r in t.refunds or ([t.refund] if t.refund else []):
        items = ", ".join(f"{i['item_id']} x{i.get('quantity', 1)}" for i in r.get("items", []))
        lines.append(f"refund    {r.get('amount') or '-'} {r.get('currency') or ''} for {items}   at {r.get('at')}")
    for n in t.notes:
        said = next((f"{k} {n[k]!r}" for k in ("reason", "note", "comment") if k in n), "")
        lines.append(f"said      {n['at']}  {n['type']}: {said}")
    for a in t.attachments:
        size = f", {a['size_bytes']} bytes" if a.get("size_bytes") is not None else ""
        lines.append(
            f"attached  {a['message_id']} ({a['author']}): {a['url']} [{a.get('content_type') or 'unknown type'}{size}]"
        )
    if t.clock:
        lines.append(
            f"deadline  merchant_response due {t.clock.due_at.isoformat()}{'  BREACHED' if t.clock.breached else ''}"
        )
    if t.confirmation_due_at:
        lines.append(f"deadline  user_confirmation due {t.confirmation_due_at.isoformat()}")
    if t.inactivity_due_at and t.status == AWAITING_MERCHANT:
        lines.append(f"deadline  chat_inactivity closes {t.inactivity_due_at.isoformat()}")
    s = t.survey
    if s.cycle:
        sent = s.first_sent_at.isoformat() if s.first_sent_at else f"deferred to {s.scheduled_for}"
        lines.append(f"survey    sent {sent}, reminders {s.reminders}, answered {s.answered}, rating {t.rating}")
    if t.urges:
        lines.append(f"urged     {t.urges} time(s)")
    for kind, due in timers:
        lines.append(f"timer     {kind} at {due.isoformat()}")
    lines.append("timeline")
    for at, kind, type_, _, detail in timeline:
        extra = ""
        if type_ == "ticket.status_changed":
            extra = f" {detail.get('from')} -> {detail.get('to')} ({detail.get('reason')})"
            if detail.get("note"):
                extra += f" note: {detail['note'][:200]!r}"
        elif type_ == "classification.refined":  # the refining worker's answer (issue #17)
            extra = f" {detail.get('category')} at {detail.get('confidence', 0):.2f} by {detail.get('classifier')}"
            extra += f" ({detail.get('outcome')})"
        elif "reason" in detail:
            extra = f" {detail['reason']}" + (f" detail: {detail['detail'][:200]!r}" if detail.get("detail") else "")
        elif kind == "in" and detail.get("items"):
            extra = f" {detail.get('amount') or '-'} {detail.get('currency') or ''}"
        elif kind == "in" and detail.get("attachments"):
            extra = f" with {len(detail['attachments'])} attachment(s)"
        elif "due_at" in detail and kind == "out":
            extra = f" {detail.get('clock', '')} due {detail['due_at']}"
        arrow = {"in": "<-", "out": "->", "timer": "@@", "rejected": "xx", "refine": "~~"}.get(kind, "  ")
        lines.append(f"  {at.isoformat()}  {arrow} {type_}{extra}")
    return "\n".join(lines)


def show_merchant(settings: Settings, merchant_id: str, *, as_json: bool = False) -> int:
    from services.cli.merchant import merchant_report

    return merchant_report(settings, merchant_id, as_json=as_json)
