"""The closed vocabularies of the contract, each written once: statuses, ticket groups and their
categories (DOMAIN.md, seeds 000-003), merchant health states. The events' pydantic types and the
core's constants (services.core.ticket, taxonomy, metrics_math) are these, imported."""

from __future__ import annotations

from typing import Literal, get_args

Status = Literal["awaiting_merchant", "awaiting_customer", "user_confirming", "awaiting_platform", "closed"]
STATUSES: tuple[str, ...] = get_args(Status)

Group = Literal["pre_purchase", "post_purchase", "order_support", "other"]
Category = Literal[
    "product_question", "store_question",
    "refund_request", "item_problem",
    "change_item", "remove_item", "change_address", "order_status", "shipping_tracking",
    "other",
]  # fmt: skip
# Groups matter beyond reporting: Wish hands late *post-purchase* tickets to platform support.
GROUPS: dict[str, tuple[str, ...]] = {
    "pre_purchase": ("product_question", "store_question"),
    "post_purchase": ("refund_request", "item_problem"),
    "order_support": ("change_item", "remove_item", "change_address", "order_status", "shipping_tracking"),
    "other": ("other",),
}
CATEGORIES: tuple[str, ...] = get_args(Category)
if tuple(GROUPS) != get_args(Group) or tuple(c for cs in GROUPS.values() for c in cs) != CATEGORIES:
    raise AssertionError("schemas.vocabulary: GROUPS must list exactly the Group and Category literals, in order")

HealthState = Literal["normal", "warning", "restricted"]
HEALTH_STATES: tuple[str, ...] = get_args(HealthState)
