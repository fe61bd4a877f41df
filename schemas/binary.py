"""CloudEvents AMQP *binary* content mode -> the same event in structured mode (CONTRACT "Wire format").

In binary mode the attributes travel as AMQP application properties `cloudEvents:<name>` (or
`cloudEvents_<name>`, the older AMQP binding spelling), `content_type` is the data's media type and
the body is `data` itself. Ingest turns such a message into the structured bytes of the same event
at the edge, so everything after it (dedupe keys, parking, the rejected queue, `decode`) sees one
form. `cloudEvents:` wins when both prefixes carry an attribute; `cloudEvents:time` may be an RFC 3339
string or an AMQP timestamp; a content type that is not JSON is `malformed`. A message without any
`cloudEvents` property, or whose content type says structured mode, is passed through untouched
(upstream apps that publish structured events keep working unchanged).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import orjson

from .codec import Rejected
from .envelope import MAX_MESSAGE_BYTES
from .types import format_rfc3339

PREFIXES = ("cloudEvents:", "cloudEvents_")  # in order of precedence
_MAX_ATTRIBUTES = 64


def is_binary(content_type: str | None, headers: dict | None) -> bool:
    if not headers or (content_type or "").lower().startswith("application/cloudevents"):
        return False
    return any(isinstance(k, str) and k.startswith(PREFIXES) for k in headers)


def structured(body: bytes, content_type: str | None = None, headers: dict | None = None) -> bytes:
    """The structured-mode bytes of the event `body`/`content_type`/`headers` carry; the body itself
    when the message is not in binary mode. Raises Rejected (`malformed`, `too_large`) otherwise."""
    if headers is None or not is_binary(content_type, headers):
        return body
    attrs = _attributes(headers)
    event_id, subject, type_ = (_short(attrs.get(k)) for k in ("id", "subject", "type"))
    if len(body) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large", f"{len(body)} bytes, limit {MAX_MESSAGE_BYTES}", event_id, subject, type_)
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Rejected("malformed", f"binary mode with non-JSON content_type {media[:60]!r}", event_id, subject, type_)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Rejected("malformed", "binary mode: the body is not JSON", event_id, subject, type_) from None
    event = {**attrs, "datacontenttype": media, "data": data}
    return orjson.dumps(event)


def _attributes(headers: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prefix in reversed(PREFIXES):  # the preferred prefix last, so it overwrites
        for key, value in headers.items():
            if isinstance(key, str) and key.startswith(prefix) and len(out) < _MAX_ATTRIBUTES:
                name = key[len(prefix) :]
                if name and name != "data":
                    out[name] = _value(value)
    return {k: v for k, v in out.items() if v is not None}


def _value(value: Any) -> Any:
    """AMQP field values as CloudEvents attribute values: timestamps to RFC 3339 (AMQP timestamps are
    UTC seconds), bytes to text; nested tables and arrays are not attribute types and are dropped."""
    if isinstance(value, datetime):
        return format_rfc3339(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str | int | float | bool):
        return value
    return None


def _short(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 256 else None
