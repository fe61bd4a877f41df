"""The closed vocabularies of the contract, each written once: statuses, ticket groups and their
categories (DOMAIN.md, seeds 000-003), merchant health states. The pydantic `Literal` types of the
events and the core's constants (services.core.ticket, taxonomy, metrics_math) are derived from these."""

from __future__ import annotations

from typing import Literal

STATUSES = ("awaiting_merchant", "awaiting_customer", "user_confirming", "awaiting_platform", "closed")

# Groups matter beyond reporting: Wish hands late *post-purchase* tickets to platform support.
GROUPS: dict[str, tuple[str, ...]] = {
    "pre_purchase": ("product_question", "store_question"),
    "post_purchase": ("refund_request", "item_problem"),
    "order_support": ("change_item", "remove_item", "change_address", "order_status", "shipping_tracking"),
    "other": ("other",),
}
CATEGORIES: tuple[str, ...] = tuple(c for cs in GROUPS.values() for c in cs)

HEALTH_STATES = ("normal", "warning", "restricted")

# Literal[("a", "b")] is Literal["a", "b"]: the types follow the tuples above.
Status = Literal[STATUSES]  # type: ignore[valid-type]
Group = Literal[tuple(GROUPS)]  # type: ignore[valid-type]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
HealthState = Literal[HEALTH_STATES]  # type: ignore[valid-type]
