"""Merchant KPIs, incrementally maintained from the core's facts (placeholder until #6 lands)."""
from __future__ import annotations


def record(cur, facts, policies) -> list[tuple[str, dict]]:
    """Store facts; return (merchant_id, data) for each merchant.health_changed to publish."""
    return []


def platform_snapshot(conn, now) -> dict:
    """Platform-wide ratios over the last 7 days and merchants by health (placeholder until #6)."""
    return {"merchants": {}}


def demo_summary(conn) -> dict:
    """KPIs printed at the end of the demo (placeholder until #6)."""
    return {}
