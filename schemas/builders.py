"""Building inbound CloudEvents (structured mode): one builder for the tests, the benches, the demo's
scenario tools and any producer written in Python, so the envelope is spelled in one place."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from .types import format_rfc3339


def cloudevent(type_: str, subject: str, time: datetime | str, data: dict[str, Any], *, id: str | None = None,
               source: str = "ticketflow/tests", **attributes: Any) -> dict[str, Any]:  # fmt: skip
    """An inbound CloudEvent as a JSON object; `time` an aware datetime or RFC 3339 text as given."""
    return {
        "specversion": "1.0",
        "id": id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": format_rfc3339(time) if isinstance(time, datetime) else time,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
        **attributes,
    }


def cloudevent_bytes(type_: str, subject: str, time: datetime | str, data: dict[str, Any], **kw: Any) -> bytes:
    """The same, as the bytes a producer publishes."""
    return orjson.dumps(cloudevent(type_, subject, time, data, **kw))
