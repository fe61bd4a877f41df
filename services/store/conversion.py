"""Chat conversion (003: "revenue from orders by buyers within 7 days after you answered their chat").

Two append-only facts, joined when read: the chat answers (merchant, customer, time) that ingest
records from the core's `chat_answered` facts, and the orders of `order.placed`. Deciding at read
time makes the answer independent of arrival order (an order may be processed before the reply
it follows) and needs no lock. Event time throughout: the 7 days are before the order's `time`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from schemas import Inbound
from schemas.inbound import OrderPlaced
from services.store.queries import Q

WINDOW = timedelta(days=7)  # 003: orders within 7 days after the answer; revenue over the last 7 days


def record_answers(cur, facts) -> None:
    rows = [(f.merchant_id, f.customer_id, f.at) for f in facts if f.customer_id]
    if rows:
        cur.execute(Q["insert_chat_answers"], [list(c) for c in zip(*rows)])


def place_order(cur, ev: Inbound) -> None:
    """Keep one `order.placed` (its subject is the order id); whether it converted is read later."""
    d: OrderPlaced = ev.data  # type: ignore[assignment]
    cur.execute(Q["insert_order"], (ev.subject, d.merchant_id, d.customer_id, d.amount, d.currency, ev.time, ev.id))


def _revenue(rows) -> dict[str, dict]:
    return {cur: {"orders": int(n), "revenue": format(Decimal(total).normalize(), "f")} for cur, n, total in rows}


def as_of(conn, watermark: datetime | None, now: datetime) -> datetime:
    """Where the 7 days end: the newest event time seen (KPI facts or orders), as every KPI window here;
    `now` only before anything was seen."""
    newest = conn.execute(Q["newest_order"]).fetchone()[0]
    seen = [t for t in (watermark, newest) if t is not None]
    return max(seen) if seen else now


def merchant_revenue(conn, merchant_id: str, at: datetime) -> dict[str, dict]:
    """{currency: {orders, revenue}} of the merchant's converted orders in the 7 days up to `at`."""
    rows = conn.execute(Q["merchant_conversion"], {"m": merchant_id, "since": at - WINDOW, "until": at}).fetchall()
    return _revenue(rows)


def platform_revenue(conn, at: datetime) -> dict[str, float]:
    """{currency: revenue} platform-wide over the 7 days up to `at`: the `conversion_revenue` gauge."""
    rows = conn.execute(Q["platform_conversion"], {"since": at - WINDOW, "until": at}).fetchall()
    return {cur: float(total) for cur, _n, total in rows}
