"""Translation chain: LibreTranslate against a fake server on 127.0.0.1, Apertium marker
stripping (and the real binary when installed), passthrough, cache, retries, breaker."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

from services.language import PROVIDER_UNAVAILABLE, Translation, build_translator
from services.language import translate as T

SECRET = "Meine Bestellung 4711 von Frau Müller ist kaputt"  # customer text: must never be logged


# --------------------------------------------------------------------------- fake server


@dataclass
class FakeLibreTranslate:
    """Scripted LibreTranslate: each POST /translate pops the next (status, body, delay)
    from ``script`` (default: a successful translation)."""

    languages: list[dict[str, object]] = field(
        default_factory=lambda: [
            {"code": "en", "name": "English", "targets": ["de", "es", "zh", "zt", "id"]},
            {"code": "de", "name": "German", "targets": ["en", "es"]},
            {"code": "es", "name": "Spanish", "targets": ["en", "de"]},
            {"code": "zh", "name": "Chinese", "targets": ["en"]},
            {"code": "zt", "name": "Chinese (traditional)", "targets": ["en"]},
            {"code": "id", "name": "Indonesian", "targets": ["en"]},
        ]
    )
    script: deque[tuple[int, dict[str, object], float]] = field(default_factory=deque)
    requests: list[dict[str, object]] = field(default_factory=list)
    url: str = ""

    def translations(self) -> list[dict[str, object]]:
        return [r for r in self.requests if r.get("path") == "/translate"]


@pytest.fixture
def lt() -> Iterator[FakeLibreTranslate]:
    fake = FakeLibreTranslate()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            fake.requests.append({"path": self.path})
            if self.path == "/languages":
                self._send(200, fake.languages)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, **body})
            status, reply, delay = (
                fake.script.popleft()
                if fake.script
                else (200, {"translatedText": f"[{body['target']}] {body['q']}"}, 0.0)
            )
            if delay:
                time.sleep(delay)
            headers = {"Retry-After": "0"} if status == 429 else None
            try:
                self._send(status, reply, headers)
            except OSError:  # the client gave up (timeout test)
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chain(
    url: str,
    *,
    timeout: float = 0.5,
    retries: int = 2,
    threshold: int = 3,
    reset: float = 30.0,
    clock: FakeClock | None = None,
    cache_size: int = 100,
) -> T.TranslatorChain:
    provider = T.LibreTranslateProvider(url, timeout=timeout, proxies={})
    return T.TranslatorChain(
        [provider],
        retries=retries,
        breaker_threshold=threshold,
        breaker_reset=reset,
        clock=clock or FakeClock(),
        sleep=lambda _s: None,
        cache_size=cache_size,
    )


# --------------------------------------------------------------------------- LibreTranslate


def test_success_posts_the_documented_request(lt: FakeLibreTranslate) -> None:
    got = chain(lt.url).translate("Wo ist mein Paket?", "de", "en-US")
    assert got == Translation("[en] Wo ist mein Paket?", "de", "en", "libretranslate", True)
    (req,) = lt.translations()
    assert {k: req[k] for k in ("q", "source", "target", "format")} == {
        "q": "Wo ist mein Paket?",
        "source": "de",
        "target": "en",
        "format": "text",
    }


def test_chinese_codes_follow_what_the_server_lists(lt: FakeLibreTranslate) -> None:
    c = chain(lt.url)
    c.translate("我的订单在哪里", "zh-CN", "en")
    c.translate("我的訂單在哪裡", "zh-TW", "en")
    assert [r["source"] for r in lt.translations()] == ["zh", "zt"]


def test_unknown_source_is_sent_as_auto(lt: FakeLibreTranslate) -> None:
    chain(lt.url).translate("hmm", "und", "en")
    assert lt.translations()[0]["source"] == "auto"


def test_bad_request_is_not_retried_and_degrades_to_passthrough(lt: FakeLibreTranslate) -> None:
    lt.script.append((400, {"error": "Invalid request: missing q parameter"}, 0.0))
    got = chain(lt.url).translate("Hola", "es", "en")
    assert got == Translation("Hola", "es", "en", "passthrough", False)
    assert len(lt.translations()) == 1


def test_pair_the_server_lacks_is_skipped_without_a_request(lt: FakeLibreTranslate) -> None:
    got = chain(lt.url).translate("Szia", "hu", "en")
    assert (got.provider, got.translated) == ("passthrough", False)
    assert lt.translations() == []


def test_rate_limit_is_retried(lt: FakeLibreTranslate) -> None:
    lt.script.append((429, {"error": "Slowdown: 1 per 1 second"}, 0.0))
    got = chain(lt.url).translate("Hola", "es", "en")
    assert (got.provider, got.text) == ("libretranslate", "[en] Hola")
    assert len(lt.translations()) == 2


def test_server_error_is_retried_then_counted_and_degraded(lt: FakeLibreTranslate) -> None:
    lt.script.extend([(500, {"error": "boom"}, 0.0)] * 3)
    before = PROVIDER_UNAVAILABLE[("libretranslate", "failed")]
    got = chain(lt.url, retries=2).translate("Hola", "es", "en")
    assert (got.provider, got.translated, got.text) == ("passthrough", False, "Hola")
    assert len(lt.translations()) == 3
    assert PROVIDER_UNAVAILABLE[("libretranslate", "failed")] == before + 1


def test_timeout_degrades_within_the_time_budget(lt: FakeLibreTranslate) -> None:
    lt.script.extend([(200, {"translatedText": "late"}, 1.0)] * 2)
    started = time.perf_counter()
    got = chain(lt.url, timeout=0.2, retries=1).translate("Hola", "es", "en")
    assert (got.provider, got.translated) == ("passthrough", False)
    assert time.perf_counter() - started < 1.5


def test_breaker_opens_after_repeated_outages_and_closes_after_a_good_trial(lt: FakeLibreTranslate) -> None:
    clock = FakeClock()
    c = chain(lt.url, retries=0, threshold=3, reset=30.0, clock=clock)
    lt.script.extend([(503, {"error": "down"}, 0.0)] * 3)
    for i in range(3):
        assert c.translate(f"Hola {i}", "es", "en").provider == "passthrough"
    assert c.breakers["libretranslate"].state == "open"
    sent = len(lt.translations())
    before = PROVIDER_UNAVAILABLE[("libretranslate", "circuit_open")]
    assert c.translate("Hola 4", "es", "en").provider == "passthrough"
    assert len(lt.translations()) == sent  # open: the server is left alone
    assert PROVIDER_UNAVAILABLE[("libretranslate", "circuit_open")] == before + 1
    clock.now += 31  # half-open: one trial goes through, succeeds, closes the circuit
    assert c.translate("Hola 5", "es", "en").provider == "libretranslate"
    assert c.breakers["libretranslate"].state == "closed"
    assert c.translate("Hola 6", "es", "en").provider == "libretranslate"


def test_failed_trial_reopens_the_breaker(lt: FakeLibreTranslate) -> None:
    clock = FakeClock()
    c = chain(lt.url, retries=0, threshold=1, reset=10.0, clock=clock)
    lt.script.extend([(500, {"error": "x"}, 0.0)] * 2)
    c.translate("a", "es", "en")
    assert c.breakers["libretranslate"].state == "open"
    clock.now += 11
    c.translate("b", "es", "en")  # the trial fails
    assert c.breakers["libretranslate"].state == "open"
    assert c.translate("c", "es", "en").provider == "passthrough"
    assert len(lt.translations()) == 2


def test_forbidden_counts_as_an_outage(lt: FakeLibreTranslate) -> None:
    lt.script.append((403, {"error": "Invalid API key"}, 0.0))
    c = chain(lt.url, threshold=1)
    assert c.translate("Hola", "es", "en").provider == "passthrough"
    assert c.breakers["libretranslate"].state == "open"


def test_cache_hits_by_text_hash_and_language_pair(lt: FakeLibreTranslate) -> None:
    c = chain(lt.url)
    first = c.translate(SECRET, "de", "en")
    again = c.translate(SECRET, "de", "en-GB")
    assert again == first and len(lt.translations()) == 1
    c.translate(SECRET, "de", "es")
    assert len(lt.translations()) == 2
    assert all(SECRET not in repr(key) for key in c.cache._data)  # keyed by sha256, not text


def test_cache_is_bounded(lt: FakeLibreTranslate) -> None:
    c = chain(lt.url, cache_size=2)
    for word in ("uno", "dos", "tres"):
        c.translate(word, "es", "en")
    assert len(c.cache) == 2
    c.translate("uno", "es", "en")  # evicted: asked again
    assert len(lt.translations()) == 4


def test_passthrough_results_are_not_cached(lt: FakeLibreTranslate) -> None:
    c = chain(lt.url, retries=0)
    lt.script.append((500, {"error": "x"}, 0.0))
    assert c.translate("Hola", "es", "en").provider == "passthrough"
    assert c.translate("Hola", "es", "en").provider == "libretranslate"


def test_customer_text_is_never_logged(lt: FakeLibreTranslate) -> None:
    lt.script.extend([(500, {"error": "x"}, 0.0)] * 3)
    with capture_logs() as logs:
        chain(lt.url).translate(SECRET, "de", "en")
    assert logs, "the failure should have been logged"
    assert SECRET not in repr(logs) and "Müller" not in repr(logs)


# --------------------------------------------------------------------------- chain rules


def test_same_language_is_identity_not_translated() -> None:
    got = build_translator(None, use_apertium=False).translate("Where is it?", "en", "en-US")
    assert got == Translation("Where is it?", "en", "en", "identity", False)
    assert build_translator(None, use_apertium=False).translate("你好", "zh-CN", "zh-SG").provider == "identity"
    assert build_translator(None, use_apertium=False).translate("你好", "zh-CN", "zh-TW").provider == "passthrough"


def test_nothing_available_is_passthrough_marked_untranslated() -> None:
    got = build_translator(None, use_apertium=False).translate("Szia, hol a csomagom?", "hu", "en")
    assert got == Translation("Szia, hol a csomagom?", "hu", "en", "passthrough", False)


def test_a_crashing_provider_never_reaches_the_caller() -> None:
    class Broken:
        name = "broken"

        def translate(self, text: str, source: str, target: str) -> Translation:
            raise ZeroDivisionError("bug")

    got = T.TranslatorChain([Broken()]).translate("Hola", "es", "en")
    assert (got.provider, got.translated) == ("passthrough", False)


def test_providers_are_tried_in_order() -> None:
    class Unsupported:
        name = "first"

        def translate(self, text: str, source: str, target: str) -> Translation:
            raise T.UnsupportedPair("no")

    class Works:
        name = "second"

        def translate(self, text: str, source: str, target: str) -> Translation:
            return Translation(text.upper(), source, target, self.name, True)

    got = T.TranslatorChain([Unsupported(), Works()]).translate("hola", "es", "en")
    assert (got.provider, got.text) == ("second", "HOLA")


# --------------------------------------------------------------------------- Apertium


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("The carrier #take smoke *xyzzyq.", "The carrier take smoke xyzzyq."),
        ("Where is my request #12345?", "Where is my request #12345?"),
        ("I wrote to @shop_id and @carrier", "I wrote to @shop_id and carrier"),
        ("mail me at ana@shop.com or @store.eu", "mail me at ana@shop.com or @store.eu"),
        ("**shop_*go answered", "shop_go answered"),
        ("x ⟦0⟧ #<prn> ⟦12⟧.", "x ⟦0⟧  ⟦12⟧."),
        ("order #A12B and #ORD-2024-77 are fine", "order #A12B and #ORD-2024-77 are fine"),
        ("5 * 3 = 15, rated 4* *", "5 * 3 = 15, rated 4* *"),
    ],
)
def test_apertium_markers_are_stripped_but_identifiers_kept(raw: str, clean: str) -> None:
    assert T.strip_apertium_markers(raw) == clean


def test_protected_tokens_survive_stripping() -> None:
    assert T.strip_apertium_markers("ask @mike or @*unknown", protected=["@mike"]) == "ask @mike or unknown"


def test_identifiers_are_masked_before_apertium_and_restored_after() -> None:
    text = "Pedido #12345 y ABC-123/4: escribí a @shop_id (ana.p@mail.com) https://x.co/a?b=1"
    masked, saved = T.protect_tokens(text)
    assert "#12345" not in masked and "@shop_id" not in masked and "⟦0⟧" in masked
    assert T.restore_tokens(masked, saved) == text
    assert T.restore_tokens("lost it", ["#1"]) == "lost it #1"  # a dropped placeholder is appended


def test_missing_apertium_binary_is_skipped_logged_once_and_counted() -> None:
    provider = T.ApertiumProvider(binary="apertium-not-installed-here")
    c = T.TranslatorChain([provider])
    before = PROVIDER_UNAVAILABLE[("apertium", "binary_missing")]
    T._logged_once.discard(("apertium", "binary_missing"))
    with capture_logs() as logs:
        for _ in range(3):
            assert c.translate("Hola", "es", "en").provider == "passthrough"
    assert PROVIDER_UNAVAILABLE[("apertium", "binary_missing")] == before + 3
    warnings = [e for e in logs if e["event"] == "translation_provider_unavailable"]
    assert len(warnings) == 1 and warnings[0]["provider"] == "apertium"


def test_missing_expected_pair_is_reported_other_pairs_are_just_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = T.ApertiumProvider()
    monkeypatch.setattr(provider, "modes", lambda: {("es", "en"): "spa-eng"})
    with pytest.raises(T.ProviderUnavailable) as missing:
        provider.translate("Ciao", "it", "en")  # expected (it -> es -> en) but ita-spa absent
    assert missing.value.reason == "pair_missing"
    with pytest.raises(T.UnsupportedPair):
        provider.translate("Szia", "hu", "en")
    assert provider.route("es", "en") == ["spa-eng"]


def test_apertium_routes_through_a_pivot(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = T.ApertiumProvider()
    monkeypatch.setattr(provider, "modes", lambda: {("fr", "es"): "fr-es", ("es", "en"): "spa-eng"})
    assert provider.route("fr", "en") == ["fr-es", "spa-eng"]


APERTIUM = shutil.which("apertium")


@pytest.mark.skipif(
    APERTIUM is None,
    reason="apertium binary not installed "
    "(apt-get install apertium apertium-eng-spa apertium-ind-zlm to run this test)",
)
def test_real_apertium_keeps_order_numbers_and_handles() -> None:
    provider = T.ApertiumProvider()
    modes = provider.modes()
    assert ("es", "en") in modes, "apertium is installed without the es->en pair (apertium-eng-spa)"
    got = T.TranslatorChain([provider]).translate(
        "¿Dónde está mi pedido #12345? Escribí a @shop_id y no contestan, xyzzyq.", "es", "en"
    )
    assert (got.provider, got.translated) == ("apertium", True)
    assert "#12345" in got.text and "@shop_id" in got.text
    assert "*" not in got.text and "@*" not in got.text
    assert "xyzzyq" in got.text  # unknown word kept, its marker gone
    if ("id", "ms") in modes:
        im = provider.translate("Pesanan #12345 belum sampai, hubungi @toko_abc", "id", "ms")
        assert "#12345" in im.text and "@toko_abc" in im.text


def test_an_unsupported_pair_proves_nothing_about_an_open_circuit() -> None:
    clock = FakeClock()
    breaker = T.CircuitBreaker(threshold=1, reset_after=5.0, clock=clock)
    breaker.failure()
    clock.now += 6
    assert breaker.allow()  # the half-open trial slot
    breaker.release()  # ...spent on a pair the engine does not have
    assert breaker.state == "half_open"
    assert breaker.allow()  # the next message still gets the trial
    breaker.success()
    assert breaker.state == "closed"
