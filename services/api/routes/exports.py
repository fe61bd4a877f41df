"""GET /v1/exports: the account's tickets as CSV or JSON Lines, exactly as `ticketflow export`
(same columns, filters and limits: at most 50 000 rows; a second export of the account within
60 s is refused, here with 429 and Retry-After). Every role may export (viewers included)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.api.deps import AnyUser, Conn
from services.api.problems import Problem, responses
from services.store import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=responses(401, 422, 429))
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get(
    "",
    response_class=Response,
    responses={
        200: {
            "description": "the rows; `X-Ticketflow-Truncated: true` when more tickets matched than were written",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
def export_tickets(
    user: AnyUser,
    conn: Conn,
    format: Literal["csv", "jsonl"] = "csv",
    status: Annotated[str | None, Query(max_length=200, description="a status, a comma list, open or all")] = None,
    category: Annotated[str | None, Query(max_length=400, description="a category or a comma list")] = None,
    since: Annotated[str | None, Query(max_length=40, description="RFC 3339: opened at or after")] = None,
    until: Annotated[str | None, Query(max_length=40, description="RFC 3339: opened before")] = None,
    sort: Literal["waiting", "newest", "priority"] = "waiting",
) -> Response:
    args = SimpleNamespace(
        merchant=user.merchant_id, status=status, category=category, since=since, until=until, sort=sort
    )
    try:
        q = exports.query(args)
    except exports.Usage as e:
        raise Problem(422, str(e).replace("--", "")) from None
    conn.rollback()
    refused = exports.claim(conn, user.merchant_id, q["filters"])
    if refused:
        raise Problem(429, refused[0], headers={"Retry-After": str(refused[1])})
    sink = io.StringIO()
    written, more = exports.write(conn, q, format, sink)
    exports.finished(conn, user.merchant_id, written)
    return Response(
        sink.getvalue(),
        media_type=MEDIA[format],
        headers={"X-Ticketflow-Rows": str(written), "X-Ticketflow-Truncated": "true" if more else "false"},
    )
