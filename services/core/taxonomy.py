"""The ticket taxonomy of DOMAIN.md (seeds 000-003): categories and the group each belongs to,
as the contract spells them (schemas.vocabulary), with the lookup the core needs."""

from __future__ import annotations

from schemas.vocabulary import CATEGORIES, GROUPS

GROUP_OF: dict[str, str] = {c: g for g, cs in GROUPS.items() for c in cs}

__all__ = ["CATEGORIES", "GROUPS", "GROUP_OF"]
