"""The refining worker's rows (issue #17): what to refine, and the once-only record of each answer."""

from __future__ import annotations

from datetime import datetime

from services.store.queries import Q


def pending_input(conn, ticket_id: str, message_id: str) -> tuple[str, str | None, str | None] | None:
    """(text, customer locale, language) of the opening message, or None when it was refined already."""
    return conn.execute(Q["refine_input"], (ticket_id, message_id)).fetchone()


def claim(
    cur,
    ticket_id: str,
    message_id: str,
    classifier: str,
    category: str,
    urgent: bool,
    confidence: float,
    outcome: str,
    at: datetime,
) -> bool:
    """Record the answer; False when a concurrent copy of the task recorded it first (inside the ticket lock)."""
    row = cur.execute(
        Q["claim_refinement"], (ticket_id, message_id, classifier, category, urgent, confidence, outcome, at)
    ).fetchone()
    return row is not None


def counts(conn) -> dict[str, int]:
    """Refine tasks by outcome so far (the demo's report; /metrics reads every counter)."""
    return {outcome: int(v) for outcome, v in conn.execute(Q["refinement_counts"]).fetchall()}
