"""Data of every outbound event type on `<ns>.out`: what downstream services may rely on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .types import Id, Instant, Ratio
from .vocabulary import Category, Group, HealthState, Status

ClockName = Literal["merchant_response", "user_confirmation", "chat_inactivity"]
EscalationReason = Literal["merchant_late", "appeal", "unresolved", "unsatisfied", "confirmation_timeout"]
NotificationKind = Literal["new_request", "status_changed", "platform_rejected", "deadline_soon"]
RejectReason = Literal[
    "malformed",
    "unknown_type",
    "invalid_data",
    "too_large",
    "invalid_transition",
    "unknown_ticket",
    "missing_evidence",
    "forbidden",
]
ReminderRejectReason = Literal["quiet_hours", "too_soon", "limit_reached", "already_answered", "not_confirming"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    merchant_id: str | None


class StatusChanged(_Out):
    from_: Status | None = Field(alias="from")
    to: Status
    reason: str
    caused_by: str
    permanently: bool = False
    note: str | None = Field(default=None, max_length=2000)  # the cause's reason or note, as given (cut)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class Classified(_Out):
    group: Group
    category: Category
    urgent: bool
    language: str
    confidence: Ratio
    classifier: str
    labels: list[str] = Field(default_factory=list)
    source: Literal["upstream", "model", "refined"] = "model"
    model_category: Category | None = None
    model_confidence: Ratio | None = None
    previous_category: Category | None = None  # source "refined": the category it replaces


class Translated(_Out):
    message_id: Id
    source_language: str
    target_language: str
    text: str
    provider: str
    translated: bool = True


class SlaClock(_Out):
    clock: ClockName
    due_at: Instant
    policy: str
    late: bool | None = None


class SurveyDispatched(_Out):
    attempt: int = Field(ge=0, le=2)
    sent_at: Instant


class ReminderRejected(_Out):
    reason: ReminderRejectReason


class Escalated(_Out):
    reason: EscalationReason
    detail: str | None = Field(default=None, max_length=2000)  # the merchant's reason or the customer's comment


class NotificationRequested(_Out):
    kind: NotificationKind
    status: Status | None = None


class HealthChanged(_Out):
    csat: Ratio | None
    late_response_ratio: Ratio | None
    response_24h_ratio: Ratio | None
    state: HealthState
    previous: HealthState | None = None


class EventRejected(_Out):
    event_id: str | None
    reason: RejectReason
    detail: str | None = None


OUTBOUND: dict[str, type[_Out]] = {
    "ticket.status_changed": StatusChanged,
    "ticket.classified": Classified,
    "message.translated": Translated,
    "sla.activated": SlaClock,
    "sla.warning": SlaClock,
    "sla.breached": SlaClock,
    "sla.fulfilled": SlaClock,
    "sla.cancelled": SlaClock,
    "survey.dispatched": SurveyDispatched,
    "survey.reminder_rejected": ReminderRejected,
    "ticket.escalated": Escalated,
    "notification.requested": NotificationRequested,
    "merchant.health_changed": HealthChanged,
    "event.rejected": EventRejected,
}
