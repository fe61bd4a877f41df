"""The list queries of GET /v1/tickets on 100,000 tickets of one merchant: each sort of the default
(open) list, and the usual narrower views, read a page through an index, never by scanning and
sorting the merchant's tickets (EXPLAIN, after ANALYZE)."""

from __future__ import annotations

import json

import pytest

from services.core.ticket import OPEN_STATUSES
from services.store.db import connect
from services.store.ticket_reads import _LIST

pytestmark = pytest.mark.integration
N = 100_000


def _fill(conn) -> None:
    """100,000 tickets of m1 (a quarter open), 20,000 of others; state carries what filters read."""
    conn.execute(
        """
        insert into tickets (id, merchant_id, policy, status, category, urgent, urges, opened_at, updated_at,
                             due_at, order_id, state, waiting_since)
        select 't-' || i, case when i <= %s then 'm1' else 'm' || (i %% 50) end, 'wish',
               (array['awaiting_merchant','awaiting_customer','closed','closed','closed','closed','closed',
                      'user_confirming'])[1 + i %% 8],
               (array['order_status','item_problem','product_question'])[1 + i %% 3], i %% 97 = 0, i %% 5,
               timestamptz '2026-01-01' + i * interval '37 seconds', timestamptz '2026-01-02' + i * interval '41 seconds',
               case when i %% 8 = 0 then timestamptz '2026-03-01' + i * interval '13 seconds' end,
               'o-' || i, jsonb_build_object('group', 'order_support', 'labels', jsonb_build_array('l' || (i %% 20))),
               case when i %% 8 = 0 then timestamptz '2026-02-01' + i * interval '11 seconds' end
        from generate_series(1, %s) i
        """,
        (N, N + 20_000),
    )
    conn.execute("analyze tickets")
    conn.commit()


def _plan(conn, sort: str, **params) -> dict:
    base = {
        "merchant": "m1",
        "statuses": list(OPEN_STATUSES),
        "grp": None,
        "category": None,
        "channel": None,
        "label": None,
        "order_id": None,
        "urgent": None,
        "since": None,
        "until": None,
        "q": None,
        "k1": None,
        "k2": None,
        "k3": None,
        "limit": 51,
    }
    (row,) = conn.execute("explain (format json) " + _LIST[sort], base | params).fetchone()
    return row[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _describe(plan: dict) -> str:
    return json.dumps([(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in _nodes(plan)])


@pytest.fixture
def filled(database_url):
    with connect(database_url) as conn:
        _fill(conn)
        yield conn


@pytest.mark.parametrize(
    ("sort", "index"),
    [("priority", "tickets_open_priority"), ("waiting", "tickets_open_waiting"), ("newest", "tickets_open_newest")],
)
def test_each_sort_of_the_open_list_is_an_index_range_scan(filled, sort, index):
    for params in ({}, {"k1": -2, "k2": "2026-03-02T00:00:00+00:00", "k3": "t-500"}, {"category": "item_problem"}):
        if sort != "priority" and "k1" in params:
            params = {**params, "k1": None}
        plan = _plan(filled, sort, **params)
        nodes = list(_nodes(plan))
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), _describe(plan)
        assert not any(n["Node Type"] == "Sort" for n in nodes), _describe(plan)
        assert any(n.get("Index Name") == index for n in nodes), _describe(plan)


def test_closed_history_newest_first_uses_the_all_statuses_index(filled):
    plan = _plan(filled, "newest", statuses=["closed"])
    assert not any(n["Node Type"] in ("Seq Scan", "Sort") for n in _nodes(plan)), _describe(plan)


def test_an_order_id_lookup_uses_the_order_index(filled):
    plan = _plan(filled, "priority", order_id="o-777", statuses=["closed", *OPEN_STATUSES])
    assert not any(n["Node Type"] == "Seq Scan" for n in _nodes(plan)), _describe(plan)
    assert any(n.get("Index Name") == "tickets_by_order" for n in _nodes(plan)), _describe(plan)
