"""Bytes <-> validated events: the only place inbound bytes are trusted or outbound ones built.

Rejection reasons follow the contract's closed list. CloudEvents' own required attributes
(specversion, id, source, type) make a message a CloudEvent at all, so their absence is
`malformed`; the contract's extra requirements (time with offset, subject, data shape) are
`invalid_data`, because by then we know which event was meant and can name it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from .envelope import MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_VALUES, CloudEvent
from .inbound import INBOUND
from .outbound import OUTBOUND
from .types import format_rfc3339


class Rejected(Exception):
    """An inbound message that cannot be accepted; carries what the contract publishes about it."""

    def __init__(
        self,
        reason: str,
        detail: str,
        event_id: str | None = None,
        subject: str | None = None,
        event_type: str | None = None,
    ):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.event_id, self.subject, self.event_type = (
            reason,
            detail,
            event_id,
            subject,
            event_type,
        )


@dataclass(frozen=True)
class Inbound:
    envelope: CloudEvent
    data: BaseModel

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def subject(self) -> str:
        return self.envelope.subject

    @property
    def time(self) -> datetime:
        return self.envelope.time


def _readable(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        parts.append(f"{prefix}{loc}: {e['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        return None
    try:
        value.encode("utf-8")  # a lone surrogate (legal in JSON escapes) could not be published back
    except UnicodeEncodeError:
        return None
    return value


def _limits(raw: Any, check_text: bool) -> str | None:
    """What breaks the structural limits, or None. Iterative (an explicit stack), so no nesting,
    however deep, can raise RecursionError here; it stops at the first excess, so its cost is bounded
    by MAX_VALUES whatever the input. With `check_text` it also finds NUL characters and unpaired
    UTF-16 surrogates (valid JSON escapes that PostgreSQL text cannot store)."""
    stack: list[tuple[Any, int]] = [(raw, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"more than {MAX_VALUES} JSON values"
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            for k, v in value.items():
                if check_text and (problem := _bad_text(k)):
                    return problem
                stack.append((v, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            stack.extend((v, depth + 1) for v in value)
        elif check_text and isinstance(value, str) and (problem := _bad_text(value)):
            return problem
    return None


def _bad_text(value: str) -> str | None:
    if "\x00" in value:
        return "text contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text contains an unpaired UTF-16 surrogate"
    return None


def decode(body: bytes) -> Inbound:
    """Validate one inbound message; raise Rejected with the contract's reason otherwise."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large", f"{len(body)} bytes, limit {MAX_MESSAGE_BYTES}")
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raw = _stdlib_loads(body)  # lone surrogates, nesting past 1024, numbers: stdlib's verdict and wording
    if not isinstance(raw, dict):
        raise Rejected("malformed", "not a JSON object")
    return _validate(raw, body)


def _stdlib_loads(body: bytes) -> Any:
    """The fallback parser. NaN, Infinity and numbers no 64-bit store or encoder can hold (1e400,
    10**400) are refused here: orjson refuses them too, and letting them through would fail later,
    in the batch's commit or the outbox encoder, instead of as a rejection."""
    try:
        return json.loads(body, parse_constant=_no_constant, parse_int=_int64, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as e:
        raise Rejected("malformed", f"not JSON: {str(e)[:80]}") from None
    except RecursionError:
        raise Rejected("malformed", "not JSON: nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _int64(text: str) -> int:
    if len(text) > 20 or not -(2**63) <= (value := int(text)) < 2**64:
        raise ValueError(f"integer {text[:20]}... out of range")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]} out of range")
    return value


def _validate(raw: dict, body: bytes) -> Inbound:
    event_id, subject, type_ = _text(raw.get("id")), _text(raw.get("subject")), _text(raw.get("type"))
    missing = [k for k in ("specversion", "id", "source", "type") if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise Rejected(
            "malformed", f"not a CloudEvent: missing or empty {', '.join(missing)}", event_id, subject, type_
        )
    if raw["specversion"] != "1.0":
        raise Rejected("malformed", f"specversion {raw['specversion'][:10]!r} is not 1.0", event_id, subject, type_)
    model = INBOUND.get(raw["type"])
    if model is None:
        raise Rejected("unknown_type", f"unknown event type {raw['type'][:60]!r}", event_id, subject, type_)
    # Limits before any recursive walk (pydantic's, the stdlib encoder's): a 1 KB message nested
    # 500 deep used to raise RecursionError and stop ingest. The text check runs only when the body
    # has the escapes that could produce NUL or a lone surrogate.
    check_text = b"\\u0000" in body or b"\\ud" in body.lower()
    # The walk is needed only when the bytes allow an excess: every value takes at least 2 bytes ("0,")
    # and every level a bracket, which C counts faster than Python walks (most messages skip it).
    could_exceed = len(body) >= 2 * MAX_VALUES or body.count(b"{") + body.count(b"[") > MAX_DEPTH
    problem = _limits(raw, check_text) if check_text or could_exceed else None
    if problem:
        raise Rejected("invalid_data", problem, event_id, subject, type_)
    try:
        envelope = CloudEvent.model_validate(raw)
    except ValidationError as e:
        raise Rejected("invalid_data", _readable(e), event_id, subject, type_) from None
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as e:
        raise Rejected("invalid_data", _readable(e, "data."), event_id, subject, type_) from None
    return Inbound(envelope, data)


def validate_outbound(type_: str, data: dict[str, Any] | BaseModel) -> BaseModel:
    """The contract's model of an outbound event's data; raises ValidationError when `data` breaks it."""
    model = OUTBOUND[type_]
    return data if data.__class__ is model else model.model_validate(data)


def encode_outbound(
    *, id: str, type: str, subject: str, time: datetime, data: dict[str, Any] | BaseModel, source: str = "ticketflow"
) -> bytes:
    """Build an outbound CloudEvent, validating its data against the contract's model first (a model
    already validated by `validate_outbound` is taken as is). Rendered by pydantic's and orjson's
    serialisers: this runs for every outbound event, and the stdlib encoder was a tenth of ingest."""
    payload = validate_outbound(type, data)
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": id,
            "source": source,
            "type": type,
            "time": format_rfc3339(time),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": orjson.Fragment(payload.model_dump_json(by_alias=True)),
        }
    )
