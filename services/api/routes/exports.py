"""GET /v1/exports: the account's tickets as CSV or JSON Lines, exactly as `ticketflow export`
(same columns, filters and limits: at most 50 000 rows; a second export of the account within
60 s is refused, here with 429 and Retry-After). Every role may export (viewers included)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from schemas import format_rfc3339
from schemas.types import Instant
from services.api.deps import AnyUser, Conn
from services.api.problems import Problem, responses
from services.core.taxonomy import CATEGORIES
from services.core.ticket import STATUSES
from services.store import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=responses(401, 422, 429))
_ONE_STATUS = "|".join(STATUSES)
_STATUS_LIST = rf"^(open|all|({_ONE_STATUS})(,({_ONE_STATUS}))*)$"
_ONE_CATEGORY = "|".join(CATEGORIES)
_CATEGORY_LIST = rf"^({_ONE_CATEGORY})(,({_ONE_CATEGORY}))*$"
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
    status: Annotated[
        str | None, Query(pattern=_STATUS_LIST, description="a status, a comma list of them, `open` or `all`")
    ] = None,
    category: Annotated[str | None, Query(pattern=_CATEGORY_LIST, description="a category or a comma list")] = None,
    channel: Annotated[
        str | None, Query(pattern=r"^[^,\s][^,]{0,31}(,[^,\s][^,]{0,31})*$", description="a channel or a comma list")
    ] = None,
    since: Annotated[Instant | None, Query(description="RFC 3339: opened at or after")] = None,
    until: Annotated[Instant | None, Query(description="RFC 3339: opened before")] = None,
    sort: Literal["waiting", "newest", "priority"] = "waiting",
) -> Response:
    args = SimpleNamespace(
        merchant=user.merchant_id,
        status=status,
        category=category,
        channel=channel,
        since=format_rfc3339(since) if since else None,
        until=format_rfc3339(until) if until else None,
        sort=sort,
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
