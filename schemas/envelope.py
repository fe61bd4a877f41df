"""The CloudEvents 1.0 envelope (structured JSON mode) every message in and out wears."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .types import Id, Instant

MAX_MESSAGE_BYTES = 256 * 1024
# Structural limits, checked before any recursive walk: the deepest legitimate event is ~6 levels
# (data.order.items[].item_id), and 20,000 values is ~20 x the largest legitimate one (500 order items).
MAX_DEPTH = 32
MAX_VALUES = 20_000
CONTENT_TYPE = "application/cloudevents+json"


class CloudEvent(BaseModel):
    """Required attributes of the contract; CloudEvents extensions are kept, not rejected."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Id
    source: str = Field(min_length=1, max_length=1024)
    type: str = Field(min_length=1, max_length=128)
    time: Instant
    subject: Id
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]
