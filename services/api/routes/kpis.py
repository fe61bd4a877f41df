"""GET /v1/kpis: the account's KPIs (7 and 30 days), health and open tickets, as `show --merchant`."""

from __future__ import annotations

from fastapi import APIRouter

from services.api import models as m
from services.api.deps import AnyUser, Conn, Deps
from services.api.problems import responses
from services.core.ticket import OPEN_STATUSES
from services.store import kpis

router = APIRouter(prefix="/v1/kpis", tags=["kpis"], responses=responses(401, 429))


@router.get("", response_model=m.Kpis)
def get_kpis(user: AnyUser, conn: Conn, deps: Deps) -> m.Kpis:
    seen = kpis.merchant_overview(conn, user.merchant_id, 0) or {"health": None, "by_status": {}}
    at = kpis.watermark(conn)
    windows = kpis.merchant_kpis(conn, user.merchant_id, at or deps.clock.now())
    _, state, since = seen["health"] or (None, "normal", None)
    return m.Kpis(
        merchant_id=user.merchant_id,
        health=state,
        health_since=since,
        as_of=at,
        windows={f"{d}d": k.as_dict() for d, k in windows.items()},
        open_tickets={s: seen["by_status"].get(s, 0) for s in OPEN_STATUSES},
    )
