"""Request and response bodies of the HTTP API. Where they overlap with the events, they use the
contract's own types from `schemas/` (attachments, refund items, categories, statuses, identifiers,
text limits), so a body the API accepts is one the pipeline accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from schemas.inbound import Attachment, Author, Category, RefundedItem
from schemas.outbound import Group, Status
from schemas.types import Id, Label, MessageText, ShortText

Role = Literal["owner", "agent", "viewer"]
Sort = Literal["priority", "waiting", "newest"]


def _no_nul(value: Any, depth: int = 0) -> None:
    """PostgreSQL text cannot hold NUL, and no contract text needs it: refuse it up front (422)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif depth < 8 and isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k, depth + 1)
            _no_nul(v, depth + 1)
    elif depth < 8 and isinstance(value, list):
        for v in value:
            _no_nul(v, depth + 1)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _refuse_nul(self):
        _no_nul(self.model_dump())  # the fields kept: an ignored extra key never reaches anything
        return self


class AttachmentIn(Attachment):
    """The event's attachment; `size_bytes` read as JSON Schema's integer (2048.0 is 2048), since a
    JSON body gives no other way to tell; the event published carries the integer."""

    size_bytes: int | None = Field(default=None, ge=0, le=2**53)


class RefundedItemIn(RefundedItem):
    quantity: int = Field(default=1, ge=1, le=1_000_000)


class ReplyIn(_In):
    text: MessageText = Field(min_length=1)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    resolve: StrictBool = False
    agreed: StrictBool = False


class ResolveIn(_In):
    text: MessageText | None = Field(default=None, min_length=1)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    agreed: StrictBool = False


class ReasonIn(_In):
    reason: ShortText = Field(min_length=1)


class OptionalReasonIn(_In):
    reason: ShortText | None = None


class RefundIn(_In):
    items: list[RefundedItemIn] = Field(min_length=1, max_length=500)
    amount: float | None = Field(
        default=None, ge=0, lt=1e14, allow_inf_nan=False, description="a JSON number; kept to 4 decimal places"
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class TransferIn(_In):
    to_agent_id: Id
    scope: Literal["one", "all"] = "one"
    from_agent_id: Id | None = None


class AvailabilityIn(_In):
    state: Literal["accepting", "transfer_only", "offline"]
    max_open_chats: int | None = Field(default=None, ge=1, le=10_000)


class TemplateIn(_In):
    name: str = Field(min_length=1, max_length=128)
    category: Category
    texts: dict[str, MessageText] = Field(min_length=1, max_length=50)


class Accepted(BaseModel):
    event_id: str
    status_url: str


class CommandStatus(BaseModel):
    event_id: str
    type: str
    ticket_id: str
    accepted_at: datetime
    status: Literal["pending", "applied", "rejected"]
    reason: str | None = None


class TicketSummary(BaseModel):
    id: str
    status: Status
    policy: str
    group: Group | None
    category: Category
    urgent: bool
    urges: int
    opened_at: datetime
    updated_at: datetime
    due_at: datetime | None
    order_id: str | None
    channel: str | None
    waiting_since: datetime | None = Field(description="when it entered awaiting_merchant, while it waits there")
    labels: list[Label]


class TicketList(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None


class ClockOut(BaseModel):
    clock: Literal["merchant_response", "user_confirmation", "chat_inactivity"]
    due_at: datetime
    warn_at: datetime | None = None
    breached: bool = False


class SurveyOut(BaseModel):
    sent_at: datetime | None
    deferred_to: datetime | None
    reminders: int
    answered: bool
    rating: int | None


class TranslationOut(BaseModel):
    source_language: str
    target_language: str
    provider: str
    translated: bool
    text: str


class MessageOut(BaseModel):
    message_id: str
    author: Author
    text: str
    at: datetime
    attachments: list[Attachment]
    translation: TranslationOut | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    type: str
    event_id: str | None
    detail: dict[str, Any]


class TicketDetail(TicketSummary):
    permanently_closed: bool
    language: str | None
    customer_locale: str | None
    customer_timezone: str | None
    merchant_locale: str
    clocks: list[ClockOut]
    survey: SurveyOut | None
    assignee: str | None
    refund: dict[str, Any] | None
    refunds: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    order: dict[str, Any] | None
    messages: list[MessageOut]
    timeline: list[TimelineEntry]


class TemplateOut(BaseModel):
    name: str
    category: Category
    source: Literal["merchant", "builtin"]
    texts: dict[str, str]


class Suggestion(BaseModel):
    name: str
    source: Literal["merchant", "builtin"]
    language: str
    text: str


class Suggestions(BaseModel):
    ticket_id: str
    category: Category
    languages: list[str]
    items: list[Suggestion]


class Kpis(BaseModel):
    merchant_id: str
    health: Literal["normal", "warning", "restricted"]
    health_since: datetime | None
    as_of: datetime | None
    windows: dict[str, dict[str, Any]]
    open_tickets: dict[str, int]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = {}
