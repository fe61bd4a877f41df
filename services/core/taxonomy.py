"""The ticket taxonomy of DOMAIN.md (seeds 000-003): categories and the group each belongs to.

Groups matter beyond reporting: Wish hands late *post-purchase* tickets to platform support.
"""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "pre_purchase": ("product_question", "store_question"),
    "post_purchase": ("refund_request", "item_problem"),
    "order_support": ("change_item", "remove_item", "change_address", "order_status", "shipping_tracking"),
    "other": ("other",),
}
GROUP_OF: dict[str, str] = {c: g for g, cs in GROUPS.items() for c in cs}
CATEGORIES: tuple[str, ...] = tuple(GROUP_OF)
