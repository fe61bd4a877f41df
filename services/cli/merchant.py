"""`ticketflow show --merchant` and the demo's KPI summary: a merchant's KPIs, health and work
list, rendered for a person at a terminal (the figures come from services.store.kpis)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from schemas import format_rfc3339
from services.config import Settings
from services.core import metrics_math as mm
from services.core.chat_state import chat_flags
from services.core.clock import SystemClock
from services.core.ticket import OPEN_STATUSES
from services.store import conversion, kpis
from services.store.db import connect


def merchant_report(
    settings: Settings, merchant_id: str, *, as_json: bool = False, clock=None, limit: int = 10, out=None
) -> int:
    """`ticketflow show --merchant ID`: KPIs (7 and 30 days), health, open tickets by status and
    the open tickets with the least time left. Exit 0, or 1 when the merchant is unknown."""
    out = out or sys.stdout
    now = (clock or SystemClock()).now()
    with connect(settings.database_url) as conn:
        seen = kpis.merchant_overview(conn, merchant_id, limit)
        if seen is None:
            print(f"ticketflow show: no merchant {merchant_id!r} (no tickets and no KPI facts)", file=sys.stderr)
            return 1
        at = kpis.watermark(conn) or now
        windows = kpis.merchant_kpis(conn, merchant_id, at)
        per_policy = kpis.merchant_policy_days(conn, merchant_id, at)
        revenue = conversion.merchant_revenue(conn, merchant_id, conversion.as_of(conn, at, now))
    health, by_status, soonest = seen["health"], seen["by_status"], seen["soonest"]
    policy, state, changed_at = health if health else (None, "normal", None)
    report = {
        "merchant_id": merchant_id,
        "policy": policy,
        "health": {"state": state, "since": _iso(changed_at), "window_days": mm.HEALTH_WINDOW_DAYS},
        "as_of": _iso(at),
        "as_of_meaning": "newest event time seen (the KPI windows end on its UTC day)",
        "kpis": {f"{d}d": k.as_dict() for d, k in windows.items()},
        "health_counts": "policies that count toward health only (not douyin: 002); kpis_by_policy has every policy",
        "kpis_by_policy": _by_policy(per_policy, at),
        "csat_by_day": _csat_by_day(per_policy, at),
        "conversion_7d": revenue,
        "open_tickets": {s: by_status.get(s, 0) for s in OPEN_STATUSES if by_status.get(s)},
        "least_time_left": [
            {
                "ticket_id": i,
                "status": s,
                "category": c,
                "urgent": u,
                "urges": n,
                "due_at": _iso(due),
                "seconds_left": round((due - now).total_seconds()),
                "flags": chat_flags(s, due, now),
            }
            for i, s, c, u, n, due in soonest
        ],
        "now": _iso(now),
    }
    if as_json:
        out.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(render_merchant(report) + "\n")
    return 0


def render_merchant(r: dict) -> str:
    h = r["health"]
    lines = [
        f"merchant  {r['merchant_id']}   policy {r['policy'] or '-'}",
        f"health    {h['state']}"
        + (f" since {h['since']}" if h["since"] else " (never changed)")
        + f"   (last {h['window_days']} days)",
        f"as of     {r['as_of']} (newest event time seen)",
        f"{'KPIs (health)':<22}{'last 7 days':<28}last 30 days",
    ]
    k7, k30 = r["kpis"]["7d"], r["kpis"]["30d"]

    def row(label, fn):
        lines.append(f"  {label:<20}{fn(k7):<28}{fn(k30)}")

    row("CSAT", lambda k: _pct(k["csat"], f"{k['rated']} rated"))
    row("late responses", lambda k: _pct(k["late_response_ratio"], f"{k['responses']} responses"))
    row("24 h response rate", lambda k: _pct(k["response_24h_ratio"], f"{k['tickets_counted_24h']} tickets"))
    row("first response", lambda k: _duration(k["first_response_mean_seconds"]) + " mean")
    if k7["pending_24h"]:
        lines.append(f"  ({k7['pending_24h']} unanswered ticket(s) under 24 h old not counted in the 24 h rate yet)")
    if r["kpis_by_policy"]:
        lines.append("  by policy (every policy, also those outside health such as douyin)")
    for policy, figures in r["kpis_by_policy"].items():
        k7, k30 = figures["7d"], figures["30d"]
        lines.append(f"  {policy:<20}" + "".join(f"{_policy_line(k):<28}" for k in (k7, k30)).rstrip())
    if r["csat_by_day"]:
        days = "  ".join(f"{d[5:]} {_pct(v['csat'], str(v['rated']))}" for d, v in r["csat_by_day"].items())
        lines.append(f"  CSAT per day (7 d)  {days}")
    conv = r["conversion_7d"]
    revenue = ", ".join(f"{v['revenue']} {c} ({v['orders']} order(s))" for c, v in conv.items()) or "none"
    lines.append(f"  conversion (7 d)    {revenue}")
    opened = ", ".join(f"{s} {n}" for s, n in r["open_tickets"].items()) or "none"
    lines.append(f"open      {sum(r['open_tickets'].values())} ticket(s): {opened}")
    if r["least_time_left"]:
        lines.append(f"least time left (at {r['now']})")
        for t in r["least_time_left"]:
            left = t["seconds_left"]
            when = f"in {_duration(left)}" if left >= 0 else f"OVERDUE by {_duration(-left)}"
            flags = ("  URGENT" if t["urgent"] else "") + (f"  urged {t['urges']}x" if t["urges"] else "")
            flags += "".join(f"  {f}" for f in t["flags"] if f != "unreplied")
            lines.append(f"  {t['ticket_id']:<16} {t['status']:<18} due {t['due_at']}  {when}{flags}")
    return "\n".join(lines)


def _by_policy(per_policy: dict, at: datetime) -> dict:
    """Each policy's figures over 7 and 30 days (the 24 h rate is left out: its young-ticket refinement is
    kept for health only, so a per-policy figure would count unanswered young tickets as missed)."""
    out: dict[str, dict] = {}
    for policy, days in sorted(per_policy.items()):
        out[policy] = {}
        for window in (mm.PLATFORM_WINDOW_DAYS, mm.HEALTH_WINDOW_DAYS):
            total = mm.Counters()
            for day, c in days.items():
                if mm.in_window(day, at, window):
                    total = total + c
            k = mm.kpis(total).as_dict()
            out[policy][f"{window}d"] = {
                key: k[key]
                for key in ("csat", "rated", "late_response_ratio", "responses", "first_response_mean_seconds")
            } | {"opened": total.opened}
    return out


def _csat_by_day(per_policy: dict, at: datetime) -> dict:
    """003 reports satisfaction per day: satisfied / rated of each UTC day of the last 7 (every policy)."""
    first, last = mm.window(at, mm.PLATFORM_WINDOW_DAYS)
    days: dict = {}
    for by_day in per_policy.values():
        for day, c in by_day.items():
            if first <= day <= last and c.rated:
                rated, satisfied = days.get(day, (0, 0))
                days[day] = (rated + c.rated, satisfied + c.satisfied)
    return {d.isoformat(): {"csat": mm.ratio(s, r), "rated": r} for d, (r, s) in sorted(days.items())}


def _policy_line(k: dict) -> str:
    return f"{k['opened']} opened, late {_pct(k['late_response_ratio'], str(k['responses']))}"


def _pct(v: float | None, of: str) -> str:
    return ("-" if v is None else f"{v:.1%}") + f" ({of})"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d}d"] if d else []
    if h or d:
        parts.append(f"{h}h")
    parts.append(f"{m}m" if (m or h or d) else f"{s}s")
    return " ".join(parts)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else format_rfc3339(at)


def demo_summary(conn) -> dict:
    """KPIs printed at the end of the demo."""
    at, k = kpis.platform_kpis(conn, SystemClock().now())  # `now` only matters before the first fact
    pct = lambda v: "-" if v is None else f"{v:.1%}"
    health = kpis.merchants_by_health(conn)
    return {
        "as of (newest event time)": _iso(at) if kpis.watermark(conn) else "-",
        "csat_ratio": pct(k.csat) + f" of {k.rated} rated",
        "late_response_ratio": pct(k.late_response_ratio) + f" of {k.responses} responses",
        "response_24h_ratio": pct(k.response_24h_ratio)
        + f" of {k.tickets_counted_24h} tickets"
        + (f" ({k.pending_24h} unanswered under 24 h old, not counted yet)" if k.pending_24h else ""),
        "first response (mean)": _duration(k.first_response_mean_seconds),
        "merchants by health": ", ".join(f"{s} {health[s]}" for s in mm.HEALTH_STATES),
        "conversion revenue (7 d)": ", ".join(
            f"{v:g} {c}"
            for c, v in conversion.platform_revenue(conn, conversion.as_of(conn, kpis.watermark(conn), at)).items()
        )
        or "-",
    }
