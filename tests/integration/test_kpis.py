"""services.store.kpis against the real PostgreSQL: facts in through `record` (one transaction per call,
as Engine._persist does), figures out through the readers, each hand-computed here."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from schemas.outbound import HealthChanged
from services.cli.merchant import demo_summary, merchant_report
from services.core.policies import BUILTIN, HealthThresholds
from services.core.ticket import Fact
from services.store import kpis
from services.store.db import connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def conn(database_url):
    with connect(database_url) as c:
        yield c


def rec(conn, *facts, policies=BUILTIN):
    with conn.transaction(), conn.cursor() as cur:
        changes = kpis.record(cur, list(facts), policies)
    for subject, data in changes:  # every change is a valid contract event, subject = merchant
        assert HealthChanged.model_validate(data).merchant_id == subject
    return changes


def opened(m, at, policy="wish"):
    return Fact("opened", m, policy, at)


def first(m, opened_at, after, policy="wish"):
    return Fact("first_response", m, policy, opened_at + after, value=after.total_seconds(), opened_at=opened_at)


def response(m, at, late=False, policy="wish"):
    return Fact("response", m, policy, at, late=late)


def rating(m, at, value, policy="wish"):
    return Fact("rating", m, policy, at, value=float(value))


def states(changes):
    return [(m, d["previous"], d["state"]) for m, d in changes]


# -- figures ------------------------------------------------------------------------------------------
def test_csat_late_ratio_24h_rate_and_first_response_time(conn):
    # Given 4 tickets on 2 March: three answered within 24 h (1 h, 2 h, exactly 24 h), one at 25 h
    tickets = [T0, T0 + H, T0 + 2 * H, T0 + 3 * H]
    for t in tickets:
        rec(conn, opened("m1", t))
    rec(conn, first("m1", tickets[0], 1 * H))
    rec(conn, first("m1", tickets[1], 2 * H))
    rec(conn, first("m1", tickets[2], 24 * H))
    rec(conn, first("m1", tickets[3], 25 * H))
    # 10 responses, 1 late; ratings 5, 4, 3, 5
    for i in range(10):
        rec(conn, response("m1", T0 + (i + 1) * H, late=(i == 3)))
    for i, r in enumerate((5, 4, 3, 5)):
        rec(conn, rating("m1", T0 + (30 + i) * H, r))
    # When I read the merchant's KPIs at the watermark (the newest event: T0 + 33 h)
    assert kpis.watermark(conn) == T0 + 33 * H
    k = kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))
    # I expect CSAT 3/4, late 1/10, 24 h rate 3/4, mean first response (1 + 2 + 24 + 25) h / 4
    for days in (7, 30):
        assert k[days].csat == 0.75
        assert k[days].late_response_ratio == 0.1
        assert k[days].response_24h_ratio == 0.75
        assert k[days].first_response_mean_seconds == 13 * 3600
    # and the same platform-wide, the only merchant
    snap = kpis.platform_snapshot(conn, datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert snap == {
        "csat_ratio": 0.75,
        "late_response_ratio": 0.1,
        "response_24h_ratio": 0.75,
        "merchants": {"normal": 0, "warning": 1, "restricted": 0},
    }  # 75 % CSAT, 10 % late: warning


def test_platform_snapshot_sums_merchants_and_counts_states(conn):
    # Given m1 with 2 of 2 satisfied ratings, m2 with 1 of 2, and m3 with only an opened ticket
    rec(conn, rating("m1", T0, 5))
    rec(conn, rating("m1", T0, 4))
    rec(conn, rating("m2", T0, 5))
    rec(conn, rating("m2", T0, 1))
    rec(conn, opened("m3", T0 - 2 * D))
    # When the exporter asks
    snap = kpis.platform_snapshot(conn, T0)
    # I expect CSAT 3/4 platform-wide, no responses -> None, m3's ticket 2 days old and unanswered -> 0/1
    assert snap["csat_ratio"] == 0.75
    assert snap["late_response_ratio"] is None
    assert snap["response_24h_ratio"] == 0.0
    # m1 normal (100 %), m2 restricted (50 % < 60 %), m3 normal (nothing rated)
    assert snap["merchants"] == {"normal": 2, "warning": 0, "restricted": 1}


def test_platform_snapshot_falls_back_to_now_before_any_fact(conn):
    assert kpis.watermark(conn) is None
    assert kpis.platform_snapshot(conn, T0) == {
        "csat_ratio": None,
        "late_response_ratio": None,
        "response_24h_ratio": None,
        "merchants": {"normal": 0, "warning": 0, "restricted": 0},
    }


# -- windows --------------------------------------------------------------------------------------------
def test_windows_drop_old_buckets_as_the_watermark_moves(conn):
    # Given a satisfied rating on 2 March and an unsatisfied one on 5 March
    rec(conn, rating("m1", T0, 5))
    rec(conn, rating("m1", T0 + 3 * D, 1))
    snap = lambda: kpis.platform_snapshot(conn, T0)["csat_ratio"]
    assert snap() == 0.5
    # When another merchant's event moves the watermark to 8 March 23:59 (7 days: 2-8 March)
    rec(conn, opened("other", datetime(2026, 3, 8, 23, 59, tzinfo=timezone.utc)))
    assert snap() == 0.5
    # and then to 9 March 00:00: 2 March leaves the 7-day window, stays in the 30-day one
    rec(conn, opened("other", datetime(2026, 3, 9, 0, 0, tzinfo=timezone.utc)))
    assert snap() == 0.0
    k = kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))
    assert (k[7].csat, k[7].rated, k[30].csat, k[30].rated) == (0.0, 1, 0.5, 2)
    # and on 1 April (30 days: 3 March - 1 April) only the 5 March rating is left
    rec(conn, opened("other", datetime(2026, 4, 1, 12, tzinfo=timezone.utc)))
    k = kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))
    assert (k[7].csat, k[30].csat, k[30].rated) == (None, 0.0, 1)
    assert snap() is None


def test_backfilled_old_facts_count_in_their_day_without_moving_the_watermark(conn):
    rec(conn, rating("m1", T0 + 10 * D, 5))
    rec(conn, rating("m1", T0 + 9 * D, 1))  # older than the watermark, still inside 7 days
    rec(conn, rating("m1", T0, 1))  # 10 days old: in the 30 days only
    assert kpis.watermark(conn) == T0 + 10 * D
    k = kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))
    assert (k[7].rated, k[7].csat, k[30].rated) == (2, 0.5, 3)


def test_replay_in_another_order_gives_the_same_figures(conn):
    # Given the same history for two merchants, fed in opposite orders
    def history(m):
        t1, t2, t3 = T0, T0 + 5 * H, T0 + 30 * H
        return [
            opened(m, t1),
            opened(m, t2),
            opened(m, t3),
            first(m, t1, 3 * H),
            first(m, t2, 26 * H),
            response(m, t1 + 3 * H),
            response(m, t2 + 26 * H, late=True),
            rating(m, t3, 4),
            rating(m, t3, 2),
        ]

    for f in history("a"):
        rec(conn, f)
    h = history("b")  # ratings and the last ticket first; each ticket still opens before its answer
    for f in (h[7], h[8], h[2], h[1], h[6], h[4], h[0], h[5], h[3]):
        rec(conn, f)
    at = kpis.watermark(conn)
    ka, kb = kpis.merchant_kpis(conn, "a", at), kpis.merchant_kpis(conn, "b", at)
    # I expect identical figures: t3 is 1 h old and unanswered (pending), t1 answered in time, t2 not
    assert ka == kb
    assert (ka[30].response_24h_ratio, ka[30].tickets_counted_24h, ka[30].pending_24h) == (0.5, 2, 1)


# -- the 24 h rate and young tickets -------------------------------------------------------------------
def test_young_unanswered_tickets_are_pending_then_count_as_not_answered(conn):
    # Given a ticket opened at T0, unanswered
    rec(conn, opened("m1", T0))
    k = lambda: kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))[7]
    # I expect it pending while under 24 h old: no figure yet
    assert (k().response_24h_ratio, k().pending_24h) == (None, 1)
    # When a second ticket opens 23 h later and is answered within the hour
    rec(conn, opened("m1", T0 + 23 * H))
    rec(conn, first("m1", T0 + 23 * H, 30 * timedelta(minutes=1)))
    # I expect the answered one to count at once: 1/1 with the first still pending
    assert (k().response_24h_ratio, k().pending_24h) == (1.0, 1)
    # When the watermark passes T0 + 24 h (exactly 24 h old is still young: "answered within 24 h")
    rec(conn, rating("elsewhere", T0 + 24 * H, 5))
    assert k().pending_24h == 1
    rec(conn, rating("elsewhere", T0 + 24 * H + timedelta(seconds=1), 5))
    # I expect the unanswered first ticket to count as not answered: 1/2
    assert (k().response_24h_ratio, k().pending_24h) == (0.5, 0)
    # and a late first response afterwards changes nothing
    rec(conn, first("m1", T0, 30 * H))
    assert k().response_24h_ratio == 0.5
    # and the pending row of the matured ticket is pruned when the merchant is touched
    assert conn.execute("select count(*) from kpi_pending_24h where merchant_id = 'm1'").fetchone()[0] == 0


def test_a_ticket_already_24h_old_when_it_arrives_is_never_pending(conn):
    rec(conn, rating("elsewhere", T0 + 3 * D, 5))
    rec(conn, opened("m1", T0))  # backfilled: already 3 days old at the watermark
    assert conn.execute("select count(*) from kpi_pending_24h").fetchone()[0] == 0
    assert kpis.merchant_kpis(conn, "m1", kpis.watermark(conn))[7].response_24h_ratio == 0.0


# -- health ---------------------------------------------------------------------------------------------
def test_health_goes_normal_warning_restricted_and_back_publishing_only_changes(conn):
    # Given a new merchant with 19 on-time responses: normal, which is where it starts -> no event
    for i in range(19):
        assert rec(conn, response("m1", T0 + i * H)) == []
    # When 1 late response makes it 1/20 = 5 % ("under 5 %" no longer holds)
    ch = rec(conn, response("m1", T0 + 20 * H, late=True))
    assert states(ch) == [("m1", "normal", "warning")]
    assert ch[0][1] == {
        "merchant_id": "m1",
        "csat": None,
        "late_response_ratio": 0.05,
        "response_24h_ratio": None,
        "state": "warning",
        "previous": "normal",
    }
    # and one more on-time response keeps it 1/21 < 5 %... back to normal
    assert states(rec(conn, response("m1", T0 + 21 * H))) == [("m1", "warning", "normal")]
    # When a rating of 1 makes CSAT 0/1 < 60 %
    assert states(rec(conn, rating("m1", T0 + 22 * H, 1))) == [("m1", "normal", "restricted")]
    # then a 5: 1/2 = 50 % still restricted -> no event
    assert rec(conn, rating("m1", T0 + 23 * H, 5)) == []
    # then another 5: 2/3 >= 60 % -> warning
    assert states(rec(conn, rating("m1", T0 + 24 * H, 5))) == [("m1", "restricted", "warning")]
    # then 3 more 5s: 5/6 = 83.3 % still warning; a 6th: 6/7 = 85.7 % > 85 % -> normal
    for i in range(3):
        assert rec(conn, rating("m1", T0 + (25 + i) * H, 5)) == []
    ch = rec(conn, rating("m1", T0 + 28 * H, 5))
    assert states(ch) == [("m1", "warning", "normal")]
    assert ch[0][1]["csat"] == pytest.approx(6 / 7) and ch[0][1]["late_response_ratio"] == pytest.approx(1 / 21)
    # and a late ratio over 45 % restricts: 18 late more -> 19/39 = 48.7 %
    changes = [rec(conn, response("m1", T0 + (30 + i) * H, late=True)) for i in range(18)]
    assert [s for c in changes for s in states(c)] == [("m1", "normal", "warning"), ("m1", "warning", "restricted")]
    # the stored state and the counts agree
    assert kpis.merchants_by_health(conn) == {"normal": 0, "warning": 0, "restricted": 1}


def test_exactly_45_percent_late_is_warning_and_exactly_60_percent_csat_is_not_restricted(conn):
    for i in range(11):
        rec(conn, response("m1", T0 + i * H))
    changes = [rec(conn, response("m1", T0 + (20 + i) * H, late=True)) for i in range(9)]  # 9/20 = 45 %
    assert [s for c in changes for s in states(c)] == [("m1", "normal", "warning")]
    assert states(rec(conn, response("m1", T0 + 40 * H, late=True))) == [("m1", "warning", "restricted")]  # 10/21
    for v in (5, 5, 5, 1, 1):  # CSAT 3/5 = 60 %: not restricted
        rec(conn, rating("m2", T0, v))
    assert conn.execute("select state from kpi_merchants where merchant_id = 'm2'").fetchone()[0] == "warning"


def test_health_uses_the_thresholds_of_the_merchants_policy(conn):
    # Given a policy whose merchants are normal down to 70 % CSAT and restricted only under 30 %
    lenient = replace(
        BUILTIN["wish"],
        name="lenient",
        health=HealthThresholds(csat_normal=0.70, late_normal=0.05, csat_restricted=0.30, late_restricted=0.45),
    )
    policies = {**BUILTIN, "lenient": lenient}
    # When two merchants get the same ratings (3 of 4 satisfied, then 2 of 5)
    for m, policy in (("strict", "wish"), ("easy", "lenient")):
        for v in (5, 5, 5, 1):
            rec(conn, rating(m, T0, v, policy=policy), policies=policies)
    got = dict(conn.execute("select merchant_id, state from kpi_merchants").fetchall())
    # I expect 75 %: warning under wish, normal under the lenient policy
    assert got == {"strict": "warning", "easy": "normal"}
    ch_strict = rec(conn, rating("strict", T0, 1), policies=policies)
    ch_easy = rec(conn, rating("easy", T0, 1, policy="lenient"), policies=policies)
    # and 60 %: still warning under wish (no event); under lenient 60 % < 70 % -> warning
    assert ch_strict == [] and states(ch_easy) == [("easy", "normal", "warning")]


def test_old_buckets_leave_the_health_window(conn):
    # Given a merchant restricted by a bad rating on 2 March
    assert states(rec(conn, rating("m1", T0, 1))) == [("m1", "normal", "restricted")]
    # When its next fact comes 30 days later (1 April), the 2 March bucket is out of the 30 days
    ch = rec(conn, rating("m1", T0 + 30 * D, 5))
    assert states(ch) == [("m1", "restricted", "normal")] and ch[0][1]["csat"] == 1.0


def test_refresh_stale_reevaluates_merchants_without_new_facts(conn):
    rec(conn, response("m1", T0, late=True))
    assert conn.execute("select state from kpi_merchants where merchant_id = 'm1'").fetchone()[0] == "restricted"
    # When only other merchants' events move the watermark 31 days on
    rec(conn, rating("other", T0 + 31 * D, 5))
    with conn.transaction(), conn.cursor() as cur:
        changes = kpis.refresh_stale(cur, BUILTIN)
    # I expect m1 re-evaluated on an empty window: normal again; a second sweep finds nothing to do
    assert states(changes) == [("m1", "restricted", "normal")]
    with conn.transaction(), conn.cursor() as cur:
        assert kpis.refresh_stale(cur, BUILTIN) == []
    assert kpis.merchants_by_health(conn) == {"normal": 2, "warning": 0, "restricted": 0}


def test_concurrent_transactions_never_wait_on_each_other_and_publish_a_change_once(database_url):
    # Given two open transactions touching m1 and m2 in opposite orders (a deadlock with row locks);
    # one thread drives both, so any wait would hit the statement timeout instead of passing
    with connect(database_url) as a, connect(database_url) as b:
        for c in (a, b):
            c.execute("set statement_timeout = '3s'")
            c.commit()
        with a.transaction(), a.cursor() as ca, b.transaction(), b.cursor() as cb:
            got_a1 = kpis.record(ca, [rating("m1", T0, 1)], BUILTIN)  # a holds m1
            got_b2 = kpis.record(cb, [rating("m2", T0, 5)], BUILTIN)  # b holds m2
            got_b1 = kpis.record(cb, [rating("m1", T0 + H, 1)], BUILTIN)  # m1 is a's: overflow
            got_a2 = kpis.record(ca, [rating("m2", T0 + H, 1)], BUILTIN)  # m2 is b's: overflow
        # I expect m1's change once, from the transaction holding it, and nothing from the overflow writes
        assert states(got_a1) == [("m1", "normal", "restricted")]
        assert got_b2 == got_b1 == got_a2 == []
        # and every reader counts the overflow at once: m1 0/2, m2 1/2
        at = kpis.watermark(a)
        assert (kpis.merchant_kpis(a, "m1", at)[30].rated, kpis.merchant_kpis(a, "m2", at)[30].csat) == (2, 0.5)
        assert kpis.platform_snapshot(a, at)["csat_ratio"] == 0.25
        # m2 was evaluated without a's rating; its next fact folds the overflow in and catches up
        assert kpis.merchants_by_health(a) == {"normal": 1, "warning": 0, "restricted": 1}
        with a.transaction(), a.cursor() as ca:
            assert states(kpis.record(ca, [opened("m2", T0 + 2 * H)], BUILTIN)) == [("m2", "normal", "restricted")]
        assert a.execute("select count(*) from kpi_merchant_overflow where merchant_id = 'm2'").fetchone()[0] == 0
        assert kpis.merchant_kpis(a, "m2", at)[30].csat == 0.5


def test_pending_tickets_of_a_held_merchant_go_through_the_overflow(database_url):
    with connect(database_url) as a, connect(database_url) as b:
        with a.transaction(), a.cursor() as ca, b.transaction(), b.cursor() as cb:
            kpis.record(ca, [opened("m1", T0)], BUILTIN)
            kpis.record(cb, [opened("m1", T0 + H)], BUILTIN)  # overflow: pending +1
            kpis.record(cb, [first("m1", T0, 2 * H)], BUILTIN)  # overflow: pending -1 for T0
        k = kpis.merchant_kpis(a, "m1", kpis.watermark(a))[7]
        assert (k.pending_24h, k.response_24h_ratio) == (1, 1.0)  # T0 + 1 h pending, T0 answered
        with a.transaction(), a.cursor() as ca:
            kpis.record(ca, [rating("m1", T0 + 3 * H, 5)], BUILTIN)  # folds the overflow
        assert a.execute("select count(*) from kpi_merchant_overflow").fetchone()[0] == 0
        assert a.execute("select opened_at, n from kpi_pending_24h").fetchall() == [(T0 + H, 1)]
        assert kpis.merchant_kpis(a, "m1", kpis.watermark(a))[7] == k.__class__(
            **{**k.as_dict(), "csat": 1.0, "rated": 1}
        )


def test_merchants_start_normal_and_are_counted_once(conn):
    for m in ("a", "b", "c"):
        assert rec(conn, opened(m, T0)) == []
        rec(conn, opened(m, T0 + H))
    assert kpis.merchants_by_health(conn) == {"normal": 3, "warning": 0, "restricted": 0}
    assert rec(conn, opened("d", T0), rating("a", T0, 1)) == [
        (
            "a",
            {
                "merchant_id": "a",
                "csat": 0.0,
                "late_response_ratio": None,
                "response_24h_ratio": None,
                "state": "restricted",
                "previous": "normal",
            },
        )
    ]
    assert kpis.merchants_by_health(conn) == {"normal": 3, "warning": 0, "restricted": 1}


# -- through the engine, and the readers -------------------------------------------------------------------
def _event(id_, type_, subject, at, data):
    import json

    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "test",
            "type": type_,
            "time": at.isoformat(),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


def _engine():
    from services.amqp.topology import Topology
    from services.core.clock import FixedClock
    from services.core.lifecycle import Lifecycle
    from services.store.engine import Engine
    from tests.fakes import fake_classify

    return Engine(Topology("tftkpis"), Lifecycle(BUILTIN), fake_classify, BUILTIN, FixedClock(T0))


def test_engine_publishes_health_changed_with_the_merchant_as_subject(conn):
    import json

    engine = _engine()

    def msg(i, author=None):
        return {"message_id": f"msg-{i}", "text": "hello", **({"author": author} if author else {})}

    # Given a wish ticket answered on time, then rated 1 by the customer
    engine.ingest(
        conn, [_event("e1", "ticket.opened", "W-1", T0, {"merchant_id": "m-e2e", "policy": "wish", "message": msg(1)})]
    )
    engine.ingest(conn, [_event("e2", "message.posted", "W-1", T0 + H, {"message": msg(2, "merchant")})])
    engine.ingest(conn, [_event("e3", "survey.answered", "W-1", T0 + 2 * H, {"rating": 1})])
    # I expect one merchant.health_changed in the outbox: subject = merchant, normal -> restricted
    rows = conn.execute("select body from outbox where routing_key = 'merchant.health_changed'").fetchall()
    assert len(rows) == 1
    ev = json.loads(bytes(rows[0][0]))
    assert ev["subject"] == "m-e2e"
    assert ev["data"] == {
        "merchant_id": "m-e2e",
        "csat": 0.0,
        "late_response_ratio": 0.0,
        "response_24h_ratio": 1.0,
        "state": "restricted",
        "previous": "normal",
    }
    # and a redelivered survey answer counts nothing twice
    engine.ingest(conn, [_event("e3", "survey.answered", "W-1", T0 + 2 * H, {"rating": 1})])
    assert kpis.merchant_kpis(conn, "m-e2e", kpis.watermark(conn))[30].rated == 1


def test_merchant_report_text_and_json(database_url, conn):
    import io
    import json

    from services.config import Settings
    from services.core.clock import FixedClock

    # Given facts and open tickets for m1
    rec(conn, opened("m1", T0), opened("m1", T0 + H))
    rec(conn, first("m1", T0, 2 * H), response("m1", T0 + 2 * H, late=True))
    rec(conn, rating("m1", T0 + 3 * H, 5))
    with conn.transaction():
        for id_, status, due in (
            ("T-1", "awaiting_merchant", T0 + 48 * H),
            ("T-2", "awaiting_merchant", T0 + 30 * H),
            ("T-3", "awaiting_customer", None),
            ("T-4", "closed", None),
        ):
            conn.execute(
                "insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at,"
                " updated_at, due_at, state) values (%s, 'm1', 'wish', %s, 'other', %s, 1, %s, %s, %s, '{}')",
                (id_, status, id_ == "T-2", T0, T0, due),
            )
    settings = Settings(database_url=database_url)
    clock = FixedClock(T0 + 29 * H)
    # When I ask for the JSON report
    out = io.StringIO()
    assert merchant_report(settings, "m1", as_json=True, clock=clock, out=out) == 0
    r = json.loads(out.getvalue())
    # I expect the 7- and 30-day KPIs, the state, open tickets by status, least time left first
    assert r["health"]["state"] == "restricted" and r["health"]["since"] == "2026-03-02T11:00:00Z"
    assert r["as_of"] == "2026-03-02T12:00:00Z"
    for window in ("7d", "30d"):
        k = r["kpis"][window]
        assert (k["csat"], k["late_response_ratio"], k["response_24h_ratio"], k["pending_24h"]) == (1.0, 1.0, 1.0, 1)
    assert r["open_tickets"] == {"awaiting_merchant": 2, "awaiting_customer": 1}
    assert [(t["ticket_id"], t["seconds_left"]) for t in r["least_time_left"]] == [("T-2", 3600), ("T-1", 19 * 3600)]
    # and the text report says the same for a person
    out = io.StringIO()
    assert merchant_report(settings, "m1", clock=clock, out=out) == 0
    text = out.getvalue()
    assert "health    restricted since 2026-03-02T11:00:00Z" in text
    assert "100.0% (1 rated)" in text and "awaiting_merchant 2" in text
    assert text.index("T-2") < text.index("T-1") and "in 1h 0m  URGENT" in text


def test_merchant_report_of_an_unknown_merchant_fails(database_url, capsys):
    from services.config import Settings

    assert merchant_report(Settings(database_url=database_url), "nobody") == 1
    assert "no merchant 'nobody'" in capsys.readouterr().err


def test_demo_summary(conn):
    rec(conn, rating("m1", T0, 5), rating("m2", T0, 1), response("m2", T0, late=True))
    s = demo_summary(conn)
    assert s["csat_ratio"].startswith("50.0%") and s["late_response_ratio"].startswith("100.0%")
    assert s["merchants by health"] == "normal 1, warning 0, restricted 1"
