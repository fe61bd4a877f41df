"""The API's pure pieces: reply suggestions (language fallback, placeholder), the rate limiter's
token bucket (on an injected clock), and the list cursor."""

from __future__ import annotations

import pytest

from services.api.ops import RateLimiter, retry_after
from services.api.problems import Problem
from services.api.routes.tickets import decode_cursor, encode_cursor
from services.core.suggestions import languages_to_try, pick_text, suggest

SHIPPED = {
    "name": "shipped",
    "category": "order_status",
    "texts": {
        "en": "Order {order_id} shipped",
        "id": "Pesanan {order_id} dikirim",
        "pt-BR": "Pedido {order_id} enviado",
    },
}
HELLO = {"name": "hello", "category": "order_status", "texts": {"en": "Hello"}, "source": "builtin"}
REFUND = {"name": "refund", "category": "refund_request", "texts": {"en": "Refunded"}}


def test_languages_are_tried_customer_then_merchant_then_english_without_repeats():
    assert languages_to_try("id", "zh-Hans") == ["id", "zh-Hans", "en"]
    assert languages_to_try("en", "en") == ["en"]
    assert languages_to_try("und", None) == ["en"]


def test_a_regional_text_serves_its_primary_language():
    assert pick_text(SHIPPED["texts"], ["pt"]) == ("pt-BR", "Pedido {order_id} enviado")
    assert pick_text({"fr": "x"}, ["de", "en"]) is None


def test_suggestions_keep_the_category_fill_the_order_id_and_drop_what_cannot_be_filled():
    got = suggest([SHIPPED, HELLO, REFUND], "order_status", "id", "en", "INV-1")
    assert got == [
        {"name": "shipped", "source": "merchant", "language": "id", "text": "Pesanan INV-1 dikirim"},
        {"name": "hello", "source": "builtin", "language": "en", "text": "Hello"},
    ]
    assert [s["name"] for s in suggest([SHIPPED, HELLO], "order_status", "id", "en", None)] == ["hello"]


def test_the_bucket_allows_a_burst_then_refills_at_the_rate():
    now = [0.0]
    rl = RateLimiter(rate=2.0, burst=3, monotonic=lambda: now[0])
    assert [rl.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = rl.take("u")
    assert wait == pytest.approx(0.5) and retry_after(wait) == "1"
    assert rl.take("other") == 0.0  # per token
    now[0] += 0.5
    assert rl.take("u") == 0.0


def test_a_cursor_round_trips_and_refuses_another_sort_or_garbage():
    c = encode_cursor("priority", (-2, "2026-03-02T09:00:00+00:00", "t-1"))
    assert decode_cursor(c, "priority") == (-2, "2026-03-02T09:00:00+00:00", "t-1")
    for bad, sort in ((c, "newest"), ("x", "priority"), (encode_cursor("newest", (None, "not a time", "t")), "newest")):
        with pytest.raises(Problem) as e:
            decode_cursor(bad, sort)
        assert e.value.status == 422
