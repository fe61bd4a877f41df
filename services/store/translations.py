"""The translation worker's rows: which message to translate, and the once-only record of its translation."""

from __future__ import annotations

from datetime import datetime

from services.store.queries import Q


def pending_input(
    conn, ticket_id: str, message_id: str
) -> tuple[str, datetime, str, str | None, str | None, str, str | None] | None:
    """(text, at, merchant, customer locale, merchant locale, author, customer language) of the message,
    or None when it is translated already (or unknown)."""
    return conn.execute(Q["translation_input"], (ticket_id, message_id)).fetchone()


def claim(
    cur,
    ticket_id: str,
    message_id: str,
    source_language: str,
    target_language: str,
    provider: str,
    translated: bool,
    text: str,
) -> bool:
    """Store the translation; False when one was stored first (a redelivered or concurrent task)."""
    row = cur.execute(
        Q["claim_translation"],
        (ticket_id, message_id, source_language, target_language, provider, translated, text),
    ).fetchone()
    return row is not None
