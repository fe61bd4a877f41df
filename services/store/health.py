"""Merchant health changes out of a unit of work: KPI facts recorded once per batch, and the
periodic re-evaluation of merchants whose 30-day window moved on without a fact of their own."""

from __future__ import annotations

from services.amqp.topology import Topology
from services.core.policies import Policy
from services.core.ticket import KPI_FACTS
from services.store import conversion, kpis
from services.store.outbox import Writes


def record_facts(w: Writes, cur, policies: dict[str, Policy]) -> None:
    """One KPI update per batch (facts fold into per-day buckets): a round trip per event would
    cost more than the rest of ingest. Health changes are published with the merchant as subject."""
    taken = w.take_facts()
    conversion.record_answers(cur, [f for f in taken if f.kind == "chat_answered"])
    facts = [f for f in taken if f.kind in KPI_FACTS]
    if not facts:
        return
    at = max(f.at for f in facts)
    for merchant_id, data in kpis.record(cur, facts, policies):
        w.event(
            cause=f"health:{merchant_id}:{at.isoformat()}:{data['previous']}>{data['state']}",
            n=0,
            type_="merchant.health_changed",
            subject=merchant_id,
            at=at,
            data=data,
        )


def refresh(conn, topology: Topology, policies: dict[str, Policy], limit: int = 500) -> int:
    """Re-evaluate stale merchants, so one whose bad days aged out does not stay `restricted` until
    its next ticket; returns how many changed state."""
    with conn.transaction(), conn.cursor() as cur:
        changes = kpis.refresh_stale(cur, policies, limit)
        if changes:
            at = kpis.watermark(conn)
            assert at is not None  # a merchant to re-evaluate implies facts, hence a watermark
            w = Writes(topology)
            for merchant_id, data in changes:
                w.event(
                    cause=f"health-refresh:{merchant_id}:{at.isoformat()}:{data['state']}",
                    n=0,
                    type_="merchant.health_changed",
                    subject=merchant_id,
                    at=at,
                    data=data,
                )
            w.flush(cur)
    return len(changes)
