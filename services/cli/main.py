"""`ticketflow`: the command line of CONTRACT.md. Exit 0 success, 1 failure, 2 usage error;
every error is one clear line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from services.cli.errors import Failure
from services.config import Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message on two lines; we promise one
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ticketflow", description="Marketplace support tickets: lifecycle, SLA clocks, surveys, metrics.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("migrate", help="create or upgrade the database schema and declare the broker topology")
    r = sub.add_parser("run", help="run the pipeline until SIGTERM/SIGINT")
    r.add_argument(
        "--components",
        default="ingest,workers,scheduler,relay,exporter",
        help="comma-separated subset of ingest,workers,scheduler,relay,exporter,api (api: the HTTP API on "
        "TICKETFLOW_API_PORT; not in the default set)",
    )
    d = sub.add_parser("demo", help="replay the bundled scenario through the real pipeline, no servers needed")
    d.add_argument("--scenario", help="a JSON Lines file of CloudEvents instead of the bundled one")
    d.add_argument("--json", action="store_true", help="print every outbound event as JSON Lines too")
    pub = sub.add_parser("publish", help="publish CloudEvents (JSON Lines; - for stdin) to <ns>.in")
    pub.add_argument("file")
    t = sub.add_parser("tick", help="fire every timer due at or before TIME, then exit")
    t.add_argument("--now", required=True, metavar="TIME", help="RFC 3339 instant with offset")
    sla = sub.add_parser("sla", help="business-time calculations")
    sla_sub = sla.add_subparsers(dest="sla_command", required=True, parser_class=_Parser)
    due = sla_sub.add_parser("due", help="print the due instant of a business-time duration")
    due.add_argument("--calendar", required=True, help="calendar JSON file")
    due.add_argument("--start", required=True, help="RFC 3339 instant with offset")
    due.add_argument("--duration", required=True, help="ISO 8601 duration, e.g. PT12H")
    s = sub.add_parser("show", help="one ticket: status, deadlines, classification, timeline")
    s.add_argument("ticket_id", nargs="?")
    s.add_argument("--merchant", help="a merchant's KPIs, health and open tickets instead")
    s.add_argument("--json", action="store_true")
    e = sub.add_parser("export", help="export a merchant's tickets (at most 50 000 rows, once a minute)")
    e.add_argument("--merchant", required=True)
    e.add_argument("--status")
    e.add_argument("--category")
    e.add_argument("--since")
    e.add_argument("--until")
    e.add_argument("--order", help="only tickets about this order id")
    e.add_argument("--ticket", help="only this ticket id")
    e.add_argument("--channel", help="only tickets from this storefront channel (or a comma list)")
    e.add_argument(
        "--sort",
        choices=("waiting", "newest", "priority"),
        default="waiting",
        help="waiting: longest waiting for the merchant first (default; tickets waiting on someone else "
        "after them); newest: newest first; priority: most urged, then least time left",
    )
    e.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    e.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    u = sub.add_parser("users", help="users of a merchant's account and their API tokens")
    u_sub = u.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    ua = u_sub.add_parser("add", help="create a user; prints user_id and its token (shown once)")
    ua.add_argument("--merchant", required=True)
    ua.add_argument("--role", required=True, choices=("owner", "agent", "viewer"))
    ua.add_argument("--name", required=True)
    ul = u_sub.add_parser("list", help="the users of a merchant's account")
    ul.add_argument("--merchant", required=True)
    ul.add_argument("--json", action="store_true")
    ur = u_sub.add_parser("revoke", help="revoke a user and its token")
    ur.add_argument("user_id")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as e:  # a bad TICKETFLOW_* value: one line, exit 1
        print(f"ticketflow {args.command}: {e}", file=sys.stderr)
        return 1
    from services.logs import configure

    configure(settings.log_format)
    from services.bootstrap import configure_database

    configure_database(settings)
    try:
        return COMMANDS[args.command](args, settings) or 0
    except Failure as e:
        print(f"ticketflow {args.command}: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        # PolicyError and CalendarError: a configuration the operator can fix, named precisely; no traceback
        from services.core.business_time import CalendarError
        from services.core.policies import PolicyError
        from services.core.sources import SourcesError

        if isinstance(e, SourcesError):
            print(f"ticketflow {args.command}: {e}", file=sys.stderr)
            return 1
        if not isinstance(e, (PolicyError, CalendarError)):
            raise
        where = (
            f"{settings.policies_path}: "
            if settings.policies_path and str(settings.policies_path) not in str(e)
            else ""
        )
        print(f"ticketflow {args.command}: TICKETFLOW_POLICIES: {where}{e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, the details go to the structured log
        from services.logs import log

        log.exception("command.failed", command=args.command)
        print(
            f"ticketflow {args.command}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            file=sys.stderr,
        )
        return 1


def _instant(text: str, what: str):
    from schemas import parse_rfc3339

    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise _Usage(f"{what}: {e}") from None


class _Usage(Exception):
    pass


def cmd_migrate(args, settings: Settings) -> int:
    import psycopg

    from services.bootstrap import declare_topology
    from services.store.db import cost_notes, migrate

    try:
        applied = migrate(settings.database_url)
    except psycopg.Error as e:
        raise Failure(f"database: {str(e).strip().splitlines()[0]}") from None
    import logging

    pika_log = logging.getLogger("pika")
    level, pika_log.level = pika_log.level, logging.CRITICAL  # its warning would repeat our one line
    try:
        declare_topology(settings)
    except Exception as e:  # noqa: BLE001
        hint = (
            f" (queue arguments cannot change: TICKETFLOW_QUEUE_TYPE={settings.queue_type} differs from the"
            " existing queues'; use a new namespace, or drain and delete them)"
            if "PRECONDITION_FAILED" in str(e)
            else ""
        )
        raise Failure(f"broker topology: {type(e).__name__} {str(e)[:200]}{hint}") from None
    finally:
        pika_log.setLevel(level)
    print(
        f"migrated: {', '.join(applied) if applied else 'schema up to date'}; topology declared for "
        f"namespace {settings.namespace!r}"
    )
    for name in applied:
        notes = cost_notes(name)
        if notes:
            print(f"{name}: " + " ".join(notes))
    return 0


def cmd_run(args, settings: Settings) -> int:
    from services.cli.run import COMPONENTS, run

    components = [c.strip() for c in args.components.split(",") if c.strip()]
    bad = [c for c in components if c not in COMPONENTS]
    if bad or not components:
        print(
            f"ticketflow run: error: unknown component(s) {', '.join(bad) or '(none)'}; "
            f"choose from {','.join(COMPONENTS)}",
            file=sys.stderr,
        )
        return 2
    return run(settings, components)


def cmd_demo(args, settings: Settings) -> int:
    from services.cli.demo import run_demo

    return run_demo(scenario=args.scenario, as_json=args.json)


def cmd_publish(args, settings: Settings) -> int:
    from services.cli.publish import publish_lines

    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as e:
        raise Failure(f"{args.file}: {e.strerror}") from None
    with stream:
        n = publish_lines(settings, stream)
    print(f"published {n} event(s) to {settings.namespace}.in")
    return 0


def cmd_tick(args, settings: Settings) -> int:
    try:
        until = _instant(args.now, "--now")
    except _Usage as e:
        print(f"ticketflow tick: error: {e}", file=sys.stderr)
        return 2
    from services.bootstrap import build_engine
    from services.cli.run import refuse_missing_policies
    from services.core.clock import SystemClock
    from services.store.db import connect

    engine = build_engine(settings, SystemClock())
    with connect(settings.database_url) as conn:
        refuse_missing_policies(conn, settings.policies_path, engine.policies)
        fired = engine.fire_all(conn, until)
    print(f"fired {fired} timer(s) due at or before {args.now}")
    return 0


def cmd_sla(args, settings: Settings) -> int:
    from schemas import format_rfc3339
    from services.core.business_time import Calendar, CalendarError, parse_duration

    try:
        start = _instant(args.start, "--start")
        duration: timedelta = parse_duration(args.duration)
    except (_Usage, ValueError) as e:
        print(f"ticketflow sla due: error: {e}", file=sys.stderr)
        return 2
    try:
        calendar = Calendar.from_file(args.calendar)
        due = calendar.add(start, duration)
    except CalendarError as e:
        raise Failure(f"{args.calendar}: {e}") from None
    print(format_rfc3339(due))
    return 0


def cmd_show(args, settings: Settings) -> int:
    from services.cli.show import show_merchant, show_ticket

    if args.merchant:
        return show_merchant(settings, args.merchant, as_json=args.json)
    if not args.ticket_id:
        print("ticketflow show: error: give a TICKET_ID or --merchant ID", file=sys.stderr)
        return 2
    return show_ticket(settings, args.ticket_id, as_json=args.json)


def cmd_export(args, settings: Settings) -> int:
    from services.cli.export import export

    return export(settings, args)


def cmd_users(args, settings: Settings) -> int:
    from services.cli.users import users_command

    return users_command(args, settings)


COMMANDS = {
    "users": cmd_users,
    "migrate": cmd_migrate,
    "run": cmd_run,
    "demo": cmd_demo,
    "publish": cmd_publish,
    "tick": cmd_tick,
    "sla": cmd_sla,
    "show": cmd_show,
    "export": cmd_export,
}


if __name__ == "__main__":
    sys.exit(main())
