"""`ticketflow export` through the CLI entry point against the real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from services.cli import export as export_mod
from services.cli.main import main
from services.store.db import connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
HEADER = [
    "ticket_id",
    "status",
    "category",
    "urgent",
    "opened_at",
    "updated_at",
    "due_at",
    "urges",
    "policy",
    "order_id",
    "channel",
    "waiting_since",
    "flags",
]


@pytest.fixture
def db(database_url, monkeypatch):
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("TICKETFLOW_LOG_FORMAT", "json")
    # cli.main() points structlog at the sys.stderr of the moment (capsys's here, closed after the
    # test): later tests that log would write to a closed file. Keep the session's set-up.
    monkeypatch.setattr("services.logs.configure", lambda *a, **k: None)
    with connect(database_url, autocommit=True) as c:
        yield c


def add(
    conn,
    id_,
    *,
    merchant="m1",
    status="awaiting_merchant",
    category="other",
    urgent=False,
    urges=0,
    opened=T0,
    updated=None,
    due=None,
    policy="wish",
    waiting=None,
    channel=None,
):
    conn.execute(
        "insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at, updated_at,"
        " due_at, state, waiting_since, channel) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            id_,
            merchant,
            policy,
            status,
            category,
            urgent,
            urges,
            opened,
            updated or opened,
            due,
            json.dumps({"id": id_, "secret": "customer text: my address is 1 Main St"}),
            waiting,
            channel,
        ),
    )
    conn.execute(
        "insert into messages (ticket_id, message_id, author, text, at) values (%s, 'm', 'customer',"
        " 'customer text: my address is 1 Main St', %s)",
        (id_, opened),
    )


def again(conn, merchant="m1"):
    """Pretend the last export was 61 s ago."""
    conn.execute(
        "update merchant_exports set last_at = last_at - interval '61 seconds' where merchant_id = %s", (merchant,)
    )


@pytest.fixture
def sample(db):
    # opened at T0 + i h; waiting longest = longest since entering awaiting_merchant (003: waiting for the
    # merchant); T-2, unchanged the longest, waits on the customer, so it ranks after those waiting for the merchant
    add(
        db,
        "T-1",
        updated=T0 + 5 * H,
        due=T0 + 48 * H,
        category="item_problem",
        urgent=True,
        urges=2,
        waiting=T0 + 4 * H,
        channel="tiktok_shop",
    )
    add(db, "T-2", opened=T0 + H, updated=T0 + 2 * H, status="awaiting_customer", category="order_status")
    add(db, "T-3", opened=T0 + 2 * H, updated=T0 + 3 * H, status="closed", category="item_problem")
    add(
        db,
        "T-4",
        opened=T0 + 3 * H,
        updated=T0 + 3 * H,
        due=T0 + 27 * H,
        policy="chat",
        waiting=T0 + 3 * H,
        channel="tokopedia",
    )
    add(db, "X-1", merchant="m2", updated=T0)
    return db


def run(capsys, *argv):
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_of_open_tickets_sorted_by_waiting_time(sample, capsys, tmp_path):
    # When I export m1 as CSV to a file
    path = tmp_path / "m1.csv"
    code, out, err = run(capsys, "--merchant", "m1", "--output", str(path))
    # I expect the open tickets, the one unchanged longest first, ticket columns only
    assert code == 0 and out == ""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows == [
        HEADER,
        [
            "T-4",
            "awaiting_merchant",
            "other",
            "false",
            "2026-03-02T12:00:00Z",
            "2026-03-02T12:00:00Z",
            "2026-03-03T12:00:00Z",
            "0",
            "chat",
            "",
            "tokopedia",
            "2026-03-02T12:00:00Z",
            "overdue unreplied",  # its 24 h passed long before the export ran
        ],
        [
            "T-1",
            "awaiting_merchant",
            "item_problem",
            "true",
            "2026-03-02T09:00:00Z",
            "2026-03-02T14:00:00Z",
            "2026-03-04T09:00:00Z",
            "2",
            "wish",
            "",
            "tiktok_shop",
            "2026-03-02T13:00:00Z",
            "overdue unreplied",
        ],
        [
            "T-2",
            "awaiting_customer",
            "order_status",
            "false",
            "2026-03-02T10:00:00Z",
            "2026-03-02T11:00:00Z",
            "",
            "0",
            "wish",
            "",
            "",
            "",
            "",
        ],
    ]
    assert "customer text" not in path.read_text()
    assert err.count("\n") == 1 and "3 ticket(s) of merchant m1" in err and "status open" in err


def test_jsonl_to_stdout_with_every_status(sample, capsys):
    code, out, err = run(capsys, "--merchant", "m1", "--status", "all", "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    # open tickets first (by waiting time), the closed one last
    assert [r["ticket_id"] for r in rows] == ["T-4", "T-1", "T-2", "T-3"]
    assert rows[1] == {
        "ticket_id": "T-1",
        "status": "awaiting_merchant",
        "category": "item_problem",
        "urgent": True,
        "opened_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T14:00:00Z",
        "due_at": "2026-03-04T09:00:00Z",
        "urges": 2,
        "policy": "wish",
        "order_id": None,
        "channel": "tiktok_shop",
        "waiting_since": "2026-03-02T13:00:00Z",
        "flags": ["overdue", "unreplied"],
    }
    assert rows[2]["flags"] == [] and rows[2]["waiting_since"] is None
    assert rows[3]["due_at"] is None and rows[3]["status"] == "closed"
    assert "customer text" not in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--status", "closed"], ["T-3"]),
        (["--status", "awaiting_merchant,closed"], ["T-4", "T-1", "T-3"]),
        (["--category", "item_problem"], ["T-1"]),
        (["--category", "item_problem", "--status", "all"], ["T-1", "T-3"]),
        (["--since", "2026-03-02T10:00:00Z"], ["T-4", "T-2"]),  # since is inclusive
        (["--until", "2026-03-02T12:00:00Z"], ["T-1", "T-2"]),  # until is exclusive
        (["--channel", "tokopedia"], ["T-4"]),
        (["--channel", "tokopedia,tiktok_shop", "--sort", "newest"], ["T-4", "T-1"]),
        (
            ["--since", "2026-03-02T11:00:00+01:00", "--until", "2026-03-02T13:00:00+01:00", "--status", "all"],
            ["T-2", "T-3"],
        ),
    ],
)
def test_filters(sample, capsys, argv, expected):
    code, out, _ = run(capsys, "--merchant", "m1", "--format", "jsonl", *argv)
    assert code == 0
    assert [json.loads(line)["ticket_id"] for line in out.splitlines()] == expected


def test_a_second_export_within_60_seconds_is_refused(sample, capsys, tmp_path):
    assert run(capsys, "--merchant", "m1", "--format", "jsonl")[0] == 0
    # When the same merchant is exported again at once (other filters, other format)
    second = tmp_path / "again.csv"
    code, out, err = run(capsys, "--merchant", "m1", "--status", "all", "--output", str(second))
    # I expect exit 1, one line naming when it is allowed again, and no file
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "m1" in err and "next is allowed from 2" in err
    assert not second.exists() and list(tmp_path.iterdir()) == []
    # another merchant is not affected
    assert run(capsys, "--merchant", "m2")[0] == 0
    # and once 60 s have passed (the recorded export moved 61 s back) it is allowed again
    again(sample)
    assert run(capsys, "--merchant", "m1", "--output", str(second))[0] == 0 and second.exists()


def test_the_refusal_names_the_instant_60_seconds_after_the_last_export(sample, capsys):
    run(capsys, "--merchant", "m1")
    last = sample.execute("select last_at from merchant_exports where merchant_id = 'm1'").fetchone()[0]
    _, _, err = run(capsys, "--merchant", "m1")
    from schemas import format_rfc3339

    assert format_rfc3339(last + timedelta(seconds=60)) in err


def test_at_most_max_rows_and_a_note_when_more_match(sample, capsys, monkeypatch):
    monkeypatch.setattr(export_mod, "MAX_ROWS", 2)
    code, out, err = run(capsys, "--merchant", "m1", "--format", "jsonl")
    assert code == 0
    assert [json.loads(line)["ticket_id"] for line in out.splitlines()] == ["T-4", "T-1"]
    assert "2 ticket(s)" in err and "more tickets match" in err and err.count("\n") == 1
    # exactly MAX_ROWS matching: no note
    again(sample)
    monkeypatch.setattr(export_mod, "MAX_ROWS", 3)
    code, out, err = run(capsys, "--merchant", "m1", "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 3 and "more tickets match" not in err


def test_the_cap_holds_at_50_000(db, capsys, tmp_path):
    db.execute(
        "insert into tickets (id, merchant_id, policy, status, category, urgent, opened_at, updated_at, state)"
        " select 'B-' || i, 'big', 'wish', 'awaiting_merchant', 'other', false,"
        " %s::timestamptz + i * interval '1 second', %s::timestamptz + i * interval '1 second', '{}'"
        " from generate_series(1, 50003) i",
        (T0, T0),
    )
    path = tmp_path / "big.csv"
    code, _, err = run(capsys, "--merchant", "big", "--output", str(path))
    lines = path.read_text().splitlines()
    assert code == 0 and len(lines) == 50_001 and lines[1].startswith("B-1,") and "more tickets match" in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--since", "yesterday"], "--since"),
        (["--until", "2026-03-02T10:00:00"], "--until"),  # no offset
        (["--since", "2026-03-03T00:00:00Z", "--until", "2026-03-02T00:00:00Z"], "before --until"),
        (["--status", "open,bogus"], "--status"),
        (["--category", "shoes"], "--category"),
    ],
)
def test_bad_options_exit_2_without_using_the_slot(sample, capsys, argv, fragment):
    code, out, err = run(capsys, "--merchant", "m1", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err
    assert run(capsys, "--merchant", "m1")[0] == 0


def test_an_unwritable_output_fails_before_claiming_the_slot(sample, capsys, tmp_path):
    code, _, err = run(capsys, "--merchant", "m1", "--output", str(tmp_path / "missing" / "x.csv"))
    assert code == 1 and err.count("\n") == 1
    assert run(capsys, "--merchant", "m1")[0] == 0


def test_a_merchant_without_tickets_exports_a_header(db, capsys):
    code, out, err = run(capsys, "--merchant", "nobody")
    assert code == 0 and out.splitlines() == [",".join(HEADER)] and "0 ticket(s)" in err


def test_filters_by_order_and_ticket_and_sorts_for_the_work_list(sample, capsys):
    sample.execute("update tickets set order_id = 'o-77' where id in ('T-2', 'T-4')")
    code, out, _ = run(capsys, "--merchant", "m1", "--order", "o-77", "--format", "jsonl")
    assert code == 0 and [json.loads(x)["ticket_id"] for x in out.splitlines()] == [
        "T-4",
        "T-2",
    ]  # T-4 waits for the merchant
    assert all(json.loads(x)["order_id"] == "o-77" for x in out.splitlines())
    again(sample)
    code, out, _ = run(capsys, "--merchant", "m1", "--ticket", "T-4", "--format", "jsonl")
    assert code == 0 and [json.loads(x)["ticket_id"] for x in out.splitlines()] == ["T-4"]
    # newest first (DOMAIN 003)
    again(sample)
    code, out, _ = run(capsys, "--merchant", "m1", "--sort", "newest", "--format", "jsonl")
    assert [json.loads(x)["ticket_id"] for x in out.splitlines()] == ["T-4", "T-2", "T-1"]
    # urges, then time left (DOMAIN 002): T-1 was urged twice; T-4 is due before T-2 (no deadline)
    again(sample)
    code, out, _ = run(capsys, "--merchant", "m1", "--sort", "priority", "--format", "jsonl")
    assert [json.loads(x)["ticket_id"] for x in out.splitlines()] == ["T-1", "T-4", "T-2"]
