"""Merchant KPIs and health, maintained incrementally in PostgreSQL from the core's facts.

`record` runs inside the ingest/timer transaction (Engine._persist): it folds the facts into
per-(merchant, UTC day) and per-(platform day, shard) counter rows, moves the event-time
watermark, re-reads the touched merchants' last 30 days (<= 30 rows each) and returns one
`merchant.health_changed` per merchant whose state changed. One statement per call (the SQL
function kpi_record, whose plans are cached server-side), a second only when a state changes;
nothing reads more than a merchant's 30 days. No write waits for a row lock (see 002_kpis.sql),
so the per-event calls of concurrent ingest and scheduler transactions cannot deadlock here.
The price: a merchant another in-flight transaction is writing is evaluated by that one, so its
state may lag by one fact under concurrency (every figure read is exact at once).

"Now" is the WATERMARK: the newest event time any fact carried (never the wall clock), so a
replay or a backfill of the same events ends with the same figures. The maths (windows, the
24 h rate's pending tickets, thresholds) is in `services.core.metrics_math`; tables in 002_kpis.sql.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from services.core import metrics_math as mm
from services.core.policies import HealthThresholds
from services.store.queries import Q

_C = mm.COUNTER_COLUMNS  # the order the KPI queries (queries/kpis.sql) list the counter columns in
_DEFAULT_THRESHOLDS = HealthThresholds()


def _counters(values) -> mm.Counters:
    return mm.Counters(*(float(v) if c == "first_response_seconds" else int(v) for c, v in zip(_C, values)))  # type: ignore[arg-type]


def _thresholds(policies: Mapping, policy: str | None):
    p = policies.get(policy) if policy else None
    return p.health if p is not None else _DEFAULT_THRESHOLDS


# -- writing -------------------------------------------------------------------------------------
def record(cur, facts, policies) -> list[tuple[str, dict]]:
    """Store facts; return (merchant_id, data) for each merchant.health_changed to publish."""
    facts = list(facts)
    if not facts:
        return []
    f = mm.fold(facts, lambda name: _counts_toward_health(policies, name))
    _add_policy_days(cur, f.policy_days)
    merchants = [{"m": m, "policy": f.policies[m]} for m in sorted(f.policies)]
    md = [{"m": m, "day": d, **vars(c)} for (m, d), c in sorted(f.merchant_days.items())]  # flat: vars, not asdict
    pd = [{"day": d, **vars(c)} for d, c in sorted(f.platform_days.items())]
    pending = [{"m": m, "at": at, "n": n} for (m, at), n in sorted(f.pending.items())]
    rows = cur.execute(
        Q["kpi_record"],
        (f.newest, _json(merchants), _json(md), _json(pd), _json(pending), mm.HEALTH_WINDOW_DAYS),
    ).fetchall()
    # Rows come back only for the merchants this transaction holds; one another in-flight
    # transaction holds is evaluated by that one (or at its next fact): its deltas wait in the
    # overflow, which every reader counts.
    return _decide(cur, rows, policies)


def _counts_toward_health(policies: Mapping, name: str) -> bool:
    p = policies.get(name)
    return p.counts_toward_health if p is not None else True


def _add_policy_days(cur, days: Mapping) -> None:
    rows = [(m, p, d, *vars(c).values()) for (m, p, d), c in sorted(days.items()) if c]
    if rows:
        cur.execute(Q["add_policy_days"], [list(c) for c in zip(*rows)])


def _json(rows: list[dict]) -> str:
    return orjson.dumps(rows).decode()  # dates and aware datetimes as ISO 8601, which PostgreSQL reads


def _reevaluate(cur, merchants: list[str], policies: Mapping) -> list[tuple[str, dict]]:
    if not merchants:
        return []
    rows = cur.execute(Q["kpi_evaluate"], (merchants, mm.HEALTH_WINDOW_DAYS)).fetchall()
    return _decide(cur, rows, policies)


def _decide(cur, rows, policies: Mapping) -> list[tuple[str, dict]]:
    """Classify each evaluated merchant; store and return the state changes."""
    changes: list[tuple[str, dict]] = []
    at = None
    for merchant_id, policy, state, at, *rest in rows:  # noqa: B007 - `at`: the batch watermark, used below
        k = mm.kpis(_counters(rest[:-1]), int(rest[-1]))
        new = mm.classify(k.csat, k.late_response_ratio, _thresholds(policies, policy))
        if new != state:
            changes.append(
                (
                    merchant_id,
                    {
                        "merchant_id": merchant_id,
                        "csat": k.csat,
                        "late_response_ratio": k.late_response_ratio,
                        "response_24h_ratio": k.response_24h_ratio,
                        "state": new,
                        "previous": state,
                    },
                )
            )
    if changes:
        done = {
            r[0]
            for r in cur.execute(
                Q["change_kpi_health"],
                {
                    "m": [m for m, _ in changes],
                    "prev": [d["previous"] for _, d in changes],
                    "state": [d["state"] for _, d in changes],
                    "at": at,
                },
            ).fetchall()
        }
        changes = [c for c in changes if c[0] in done]
    return changes


def refresh_stale(cur, policies, limit: int = 500) -> list[tuple[str, dict]]:
    """Re-evaluate up to `limit` merchants last evaluated on an earlier watermark day than today's,
    so a state also changes when old buckets leave the 30 days and no new fact arrives. For a
    periodic caller (the scheduler) inside a transaction; returns health changes like `record`."""
    candidates = [r[0] for r in cur.execute(Q["stale_kpi_merchants"], (limit,))]
    held = sorted(r[0] for r in cur.execute(Q["try_lock_kpi_merchants"], (candidates,)))
    if not held:
        return []
    cur.execute(Q["mark_kpi_merchants_evaluated"], (held,))
    return _reevaluate(cur, held, policies)


# -- reading -------------------------------------------------------------------------------------
def watermark(conn) -> datetime | None:
    """The newest event time seen (None before the first fact)."""
    return conn.execute(Q["kpi_watermark"]).fetchone()[0]


def platform_kpis(conn, now: datetime, days: int = mm.PLATFORM_WINDOW_DAYS) -> tuple[datetime, mm.Kpis]:
    row = conn.execute(Q["platform_kpis"], {"now": now, "days": days}).fetchone()
    return row[0], mm.kpis(_counters(row[1:-1]), int(row[-1]))


def merchants_by_health(conn) -> dict[str, int]:
    counts = dict(conn.execute(Q["merchants_by_health"]).fetchall())
    return {s: int(counts.get(s) or 0) for s in mm.HEALTH_STATES}


def platform_snapshot(conn, now) -> dict:
    """Platform-wide ratios over the last 7 days at the watermark (`now` until anything was seen),
    and merchants by stored health state: <= 7 x 32 + 96 small rows and one index range per scrape."""
    _, k = platform_kpis(conn, now)
    return {
        "csat_ratio": k.csat,
        "late_response_ratio": k.late_response_ratio,
        "response_24h_ratio": k.response_24h_ratio,
        "merchants": merchants_by_health(conn),
    }


def merchant_kpis(conn, merchant_id: str, at: datetime) -> dict[int, mm.Kpis]:
    """A merchant's KPIs over the last 7 and 30 days at `at` (one read of <= 30 bucket rows)."""
    first, last = mm.window(at, mm.HEALTH_WINDOW_DAYS)
    rows = conn.execute(Q["merchant_kpi_rows"], {"merchants": [merchant_id], "first": first, "last": last}).fetchall()
    pending = dict(
        conn.execute(Q["merchant_pending_24h"], {"merchants": [merchant_id], "young": mm.young_from(at)}).fetchall()
    ).get(merchant_id, 0)
    out = {}
    for days in (mm.PLATFORM_WINDOW_DAYS, mm.HEALTH_WINDOW_DAYS):
        total = mm.Counters()
        for _m, day, *vals in rows:
            if mm.in_window(day, at, days):
                total = total + _counters(vals)
        out[days] = mm.kpis(total, int(pending))
    return out


def merchant_policy_days(conn, merchant_id: str, at: datetime, days: int = mm.HEALTH_WINDOW_DAYS):
    """{policy: {day: Counters}} of the last `days` days at `at`: every policy, health-counting or not
    (the KPIs still show Douyin per merchant; only health leaves it out)."""
    first, last = mm.window(at, days)
    out: dict[str, dict] = {}
    for policy, day, *vals in conn.execute(
        Q["merchant_policy_days"], {"m": merchant_id, "first": first, "last": last}
    ).fetchall():
        out.setdefault(policy, {})[day] = _counters(vals)
    return out


def merchant_overview(conn, merchant_id: str, limit: int = 10) -> dict | None:
    """What `show --merchant` reads about one merchant: health row, open tickets by status, the open
    tickets with the least time left; None when the merchant is unknown (no tickets, no KPI facts)."""
    health = conn.execute(Q["merchant_health"], (merchant_id,)).fetchone()
    by_status = dict(conn.execute(Q["merchant_open_by_status"], (merchant_id,)).fetchall())
    known = health is not None or conn.execute(Q["merchant_has_tickets"], (merchant_id,)).fetchone()[0]
    if not known:
        return None
    soonest = conn.execute(Q["merchant_soonest_tickets"], (merchant_id, limit)).fetchall()
    return {"health": health, "by_status": by_status, "soonest": soonest}


__all__ = [
    "record",
    "refresh_stale",
    "platform_snapshot",
    "merchant_kpis",
    "merchant_policy_days",
    "merchant_overview",
    "platform_kpis",
    "merchants_by_health",
    "watermark",
]
