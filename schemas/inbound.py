"""Data of every inbound event type on `<ns>.in`: what upstream apps may send us."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .types import Id, Instant, Label, Locale, MessageText, ShortText, TimeZoneName
from .vocabulary import Category

Author = Literal["customer", "merchant", "platform"]


class _Data(BaseModel):
    # Tolerant reader: fields added upstream later are ignored, never a rejection.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Attachment(_Data):
    url: str = Field(min_length=1, max_length=2048)
    content_type: str | None = Field(default=None, max_length=128)
    size_bytes: StrictInt | None = Field(default=None, ge=0)


class Message(_Data):
    message_id: Id
    text: MessageText
    author: Author | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class PostedMessage(Message):
    author: Author


class Customer(_Data):
    id: Id | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None


class OrderItem(_Data):
    item_id: Id
    sku: str | None = Field(default=None, max_length=128)
    quantity: StrictInt = Field(default=1, ge=1)


class Order(_Data):
    order_id: Id
    transaction_id: Id | None = None
    purchased_at: Instant | None = None
    is_gift: StrictBool | None = None
    items: list[OrderItem] = Field(default_factory=list, max_length=500)


class TicketOpened(_Data):
    merchant_id: Id
    policy: str = Field(min_length=1, max_length=64)
    message: Message
    customer: Customer | None = None
    merchant_locale: Locale = "en"
    category: Category | None = None
    urgent: StrictBool | None = None
    response_hours: float | None = Field(default=None, ge=2, le=24 * 365, strict=True)
    order: Order | None = None
    labels: list[Label] = Field(default_factory=list, max_length=50)
    channel: str | None = Field(default=None, min_length=1, max_length=32)  # the storefront (003)


class MessagePosted(_Data):
    message: PostedMessage


class TicketResolved(_Data):
    message: Message | None = None
    agreed: StrictBool = False  # settled with the customer outside the ticket (002: evidence required)


class TicketUnresolved(_Data):
    reason: ShortText = Field(min_length=1)


class RefundedItem(_Data):
    item_id: Id
    quantity: StrictInt = Field(default=1, ge=1)


class TicketRefunded(_Data):
    items: list[RefundedItem | Id] = Field(min_length=1, max_length=500)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class TicketAppealed(_Data):
    reason: ShortText | None = None


class PlatformDecided(_Data):
    decision: Literal["approved", "rejected"]
    note: ShortText | None = None
    response_hours: float | None = Field(default=None, ge=2, le=24 * 365, strict=True)


class SurveyAnswered(_Data):
    rating: StrictInt = Field(ge=1, le=5)
    comment: MessageText | None = None


class ReminderRequested(_Data):
    pass


class TicketUrged(_Data):
    pass


class TicketReopened(_Data):
    reason: ShortText | None = None


class TicketWithdrawn(_Data):
    reason: ShortText | None = None


class TicketClosed(_Data):
    by: str | None = Field(default=None, max_length=64)
    permanently: StrictBool = False


class OrderPlaced(_Data):
    """Not a ticket event: the subject is the order id (003 conversion)."""

    merchant_id: Id
    customer_id: Id
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


INBOUND: dict[str, type[_Data]] = {
    "ticket.opened": TicketOpened,
    "message.posted": MessagePosted,
    "ticket.resolved": TicketResolved,
    "ticket.unresolved": TicketUnresolved,
    "ticket.refunded": TicketRefunded,
    "ticket.appealed": TicketAppealed,
    "ticket.platform_decided": PlatformDecided,
    "survey.answered": SurveyAnswered,
    "survey.reminder_requested": ReminderRequested,
    "ticket.urged": TicketUrged,
    "ticket.reopened": TicketReopened,
    "ticket.withdrawn": TicketWithdrawn,
    "ticket.closed": TicketClosed,
    "order.placed": OrderPlaced,
}
# Inbound types whose subject is not a ticket: never parked, never locked as tickets.
NOT_TICKET_EVENTS = frozenset({"order.placed"})
