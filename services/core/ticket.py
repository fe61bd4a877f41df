"""The state of one ticket as the core sees it, and what applying something to it produces.

State is a plain model serialised to one JSONB column: the core needs no ORM, and a
migration never has to touch per-field columns for a rule that only the core reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from schemas.vocabulary import STATUSES as STATUSES

AWAITING_MERCHANT, AWAITING_CUSTOMER, USER_CONFIRMING, AWAITING_PLATFORM, CLOSED = STATUSES
OPEN_STATUSES = STATUSES[:-1]

# Timer kinds: one pending timer per (ticket, kind), moved or dropped as the ticket changes.
T_WARNING = "merchant_response.warning"
T_BREACH = "merchant_response.breach"
T_SURVEY = "survey.dispatch"
T_CONFIRMATION = "user_confirmation"
T_INACTIVITY = "chat_inactivity"
TIMER_KINDS = (T_WARNING, T_BREACH, T_SURVEY, T_CONFIRMATION, T_INACTIVITY)


class MerchantClock(BaseModel):
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None = None
    breached: bool = False


class Survey(BaseModel):
    cycle: int = 0
    scheduled_for: datetime | None = None  # deferred first send (quiet hours)
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    reminders: int = 0
    answered: bool = False


class Ticket(BaseModel):
    model_config = ConfigDict(validate_assignment=False)

    id: str
    merchant_id: str
    policy: str
    status: str
    permanently_closed: bool = False
    opened_at: datetime
    updated_at: datetime
    customer_timezone: str | None = None
    customer_locale: str | None = None
    merchant_locale: str = "en"
    group: str = "other"
    category: str = "other"
    urgent: bool = False
    language: str | None = None
    labels: list[str] = []
    # Who set the category and the urgent flag: "upstream" (a person: never reclassified), "model" (the
    # inline classifier) or "refined" (the refining worker, issue #17). Older rows read as "model".
    category_source: str = "model"
    urgent_source: str = "model"
    response_hours: float | None = None
    clock: MerchantClock | None = None
    confirmation_due_at: datetime | None = None
    inactivity_due_at: datetime | None = None
    survey: Survey = Survey()
    rating: int | None = None
    urges: int = 0
    first_response_at: datetime | None = None
    responses: int = 0
    late_responses: int = 0
    refund: dict[str, Any] | None = None  # the latest refund (items, amount, currency, at, event_id)
    refunds: list[dict[str, Any]] = []  # every refund, in the order applied (Douyin keeps the ticket open)
    order: dict[str, Any] | None = None  # the order the ticket is about, as upstream sent it
    channel: str | None = None  # the storefront the customer used (003: tokopedia, tiktok_shop)
    customer_id: str | None = None  # conversion (003) joins a customer's orders to the chats answered
    # What the events said, kept as given: reasons, platform notes, survey comments
    # ({at, event_id, type, field, text}) and every message's attachments ({message_id, url, ...}).
    notes: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []

    @property
    def waiting_since(self) -> datetime | None:
        """When the ticket last entered `awaiting_merchant`, while it waits for the merchant."""
        return self.clock.started_at if self.status == AWAITING_MERCHANT and self.clock else None

    @property
    def order_id(self) -> str | None:
        return self.order.get("order_id") if self.order else None

    @property
    def is_open(self) -> bool:
        return self.status != CLOSED

    def clone(self) -> Ticket:
        """A copy the core may mutate: the nested models hold scalars only, so copying them one level
        deep is a full copy, at a fraction of `model_copy(deep=True)`'s cost on the hot path."""
        return self.model_copy(
            update={
                "clock": self.clock.model_copy() if self.clock else None,
                "survey": self.survey.model_copy(),
                "labels": list(self.labels),
                "refund": dict(self.refund) if self.refund else None,
                "refunds": list(self.refunds),
                "notes": list(self.notes),
                "attachments": list(self.attachments),
                "order": dict(self.order) if self.order else None,
            }
        )


FactKind = Literal["opened", "first_response", "response", "rating", "chat_answered"]
KPI_FACTS = frozenset({"opened", "first_response", "response", "rating"})  # the rest are not health KPIs


@dataclass(frozen=True)
class Fact:
    """Something a KPI counts, stamped with the event time it happened at (never the wall clock)."""

    kind: FactKind
    merchant_id: str
    policy: str
    at: datetime
    value: float | None = None  # first_response: seconds; rating: 1-5
    late: bool | None = None  # response: was the merchant late
    opened_at: datetime | None = None  # first_response: when the ticket opened
    customer_id: str | None = None  # chat_answered: whose chat the merchant answered (conversion, 003)


@dataclass(frozen=True)
class Emit:
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Task:
    """Work for a dramatiq worker: small, ids only (the worker reads the rest from the database)."""

    actor: str
    kwargs: dict[str, Any]


@dataclass
class Outcome:
    ticket: Ticket | None
    emits: list[Emit] = field(default_factory=list)
    timers: dict[str, datetime | None] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    rejection: tuple[str, str] | None = None  # (reason, detail)
    messages: list[dict[str, Any]] = field(default_factory=list)  # messages to store (text stays in the DB)
    detail: dict[str, Any] = field(default_factory=dict)  # what the cause said, for its timeline row

    def emit(self, type_: str, **data: Any) -> None:
        data.setdefault("merchant_id", self.ticket.merchant_id if self.ticket else None)
        self.emits.append(Emit(type_, data))
