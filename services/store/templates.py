"""A merchant's reply templates, with their texts per language (000, 001, 002, 003)."""

from __future__ import annotations

import json

from services.store.queries import Q


def of_merchant(conn, merchant_id: str) -> list[dict]:
    return [
        {"name": n, "category": c, "texts": t, "source": "merchant"}
        for n, c, t in conn.execute(Q["list_templates"], (merchant_id,)).fetchall()
    ]


def save(conn, merchant_id: str, name: str, category: str, texts: dict[str, str]) -> None:
    """Create or replace the merchant's template of that name."""
    with conn.transaction():
        conn.execute(Q["upsert_template"], (merchant_id, name, category, json.dumps(texts, ensure_ascii=False)))
