"""Translation of customer messages into the merchant's language.

Why this shape:
- One provider interface (:class:`TranslationProvider`), several engines behind it:
  **LibreTranslate** over HTTP for production quality, **Apertium** (Debian packages,
  offline, only some pairs: es/fr/pt/it -> en through Spanish, id <-> ms) as a degraded
  fallback, and **passthrough** (the original text, ``translated=False``) when nothing
  can translate the pair. A merchant always gets *something* to read.
- :class:`TranslatorChain` tries them in order with a bounded LRU cache keyed by
  (sha256(text), source, target), retries with backoff for transient errors, and a
  circuit breaker per provider, so an outage delays or degrades translations but never
  raises into the caller (the pipeline must not dead-letter a ticket because a
  translation server is down).
- A missing optional engine (no ``apertium`` binary, a missing pair package, a circuit
  that is open) is logged once per (provider, reason) and counted in
  :data:`PROVIDER_UNAVAILABLE` for Prometheus: degraded, never silently.
- Customer text is never logged: only provider, languages, lengths and error kinds.
- stdlib only (urllib, subprocess): no new dependency.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog

from services.language.detect import UNDETERMINED, normalize_language

__all__ = [
    "Translation",
    "TranslationProvider",
    "ProviderError",
    "ProviderUnavailable",
    "UnsupportedPair",
    "LibreTranslateProvider",
    "ApertiumProvider",
    "PassthroughProvider",
    "TranslatorChain",
    "CircuitBreaker",
    "build_translator",
    "strip_apertium_markers",
    "protect_tokens",
    "restore_tokens",
    "PROVIDER_UNAVAILABLE",
    "TRANSLATIONS",
]

log = structlog.get_logger(__name__)

#: (provider, reason) -> times a provider was skipped because it could not serve:
#: ``binary_missing``, ``pair_missing`` (Apertium installed without an expected pair),
#: ``circuit_open``, ``failed`` (retries exhausted). Export as a Prometheus counter
#: with labels provider and reason (both bounded).
PROVIDER_UNAVAILABLE: Counter[tuple[str, str]] = Counter()
#: (provider, outcome) -> translations served: outcome ``translated``, ``cached``,
#: ``identity`` (same language), ``untranslated`` (passthrough).
TRANSLATIONS: Counter[tuple[str, str]] = Counter()

_counter_lock = threading.Lock()
_logged_once: set[tuple[str, str]] = set()


def _unavailable(provider: str, reason: str, **fields: object) -> None:
    """Count every skip; log only the first of each (provider, reason)."""
    with _counter_lock:
        PROVIDER_UNAVAILABLE[(provider, reason)] += 1
        first = (provider, reason) not in _logged_once
        _logged_once.add((provider, reason))
    if first:
        log.warning("translation_provider_unavailable", provider=provider, reason=reason, **fields)


def _served(provider: str, outcome: str) -> None:
    with _counter_lock:
        TRANSLATIONS[(provider, outcome)] += 1


@dataclass(frozen=True)
class Translation:
    """A message as the merchant should read it.

    ``translated`` is True only when an engine produced ``text`` in ``target_language``.
    It is False for ``provider="identity"`` (source and target are the same language:
    ``text`` is the original) and for ``provider="passthrough"`` (no engine could
    translate: ``text`` is the original, the merchant sees it untranslated).
    Languages are normalised codes ("en", "id", "zh-Hans"...).
    """

    text: str
    source_language: str
    target_language: str
    provider: str
    translated: bool


@runtime_checkable
class TranslationProvider(Protocol):
    """One translation engine. ``translate`` may raise :class:`ProviderError`; the
    chain built by :func:`build_translator` never does."""

    name: str

    def translate(self, text: str, source: str, target: str) -> Translation: ...


class ProviderError(Exception):
    """An engine failed. ``retryable``: worth trying again (timeout, 429, 5xx).
    ``outage``: says the engine is unhealthy, so it counts towards opening its circuit
    (default: same as ``retryable``; a 403 is an outage that retrying will not fix, a
    400 is neither: the server is up and refused this one request)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        kind: str = "error",
        retry_after: float | None = None,
        outage: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.outage = retryable if outage is None else outage
        self.kind = kind
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """The engine is not installed or not configured: skip it, do not trip a breaker."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, retryable=False, kind=reason)
        self.reason = reason


class UnsupportedPair(ProviderError):
    """The engine works but cannot translate this language pair: try the next one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, kind="unsupported_pair")


# --------------------------------------------------------------------------- LibreTranslate

#: Our code -> codes a LibreTranslate server may use for it, most preferred first
#: (servers differ: older ones say "zh"/"zt", newer "zh-Hans"/"zh-Hant", "pb" for pt-BR).
_LT_ALIASES: dict[str, tuple[str, ...]] = {
    "zh-Hans": ("zh-Hans", "zh", "zh-CN"),
    "zh-Hant": ("zh-Hant", "zt", "zh-TW"),
    "pt": ("pt", "pt-BR", "pb"),
    "no": ("nb", "no"),
    "tl": ("tl", "fil"),
}


class LibreTranslateProvider:
    """LibreTranslate HTTP API: ``POST /translate {q, source, target, format}`` ->
    ``{"translatedText"}``, ``GET /languages``, errors as ``{"error"}`` with
    400/403/429/500. stdlib ``urllib``; ``timeout`` applies to connect and each read.
    """

    name = "libretranslate"

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 5.0,
        languages_ttl: float = 600.0,
        proxies: dict[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.languages_ttl = languages_ttl
        handlers: list[urllib.request.BaseHandler] = []
        if proxies is not None:
            handlers.append(urllib.request.ProxyHandler(proxies))
        self._opener = urllib.request.build_opener(*handlers)
        self._languages: dict[str, set[str]] | None = None
        self._languages_at = 0.0
        self._languages_failed_at: float | None = None
        self._lock = threading.Lock()

    # -- HTTP
    def _request(self, method: str, path: str, payload: dict[str, object] | None = None) -> object:
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (TimeoutError, OSError) as exc:  # URLError is an OSError; socket.timeout too
            reason = getattr(exc, "reason", exc)
            kind = "timeout" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else "connection"
            raise ProviderError(f"libretranslate {kind}", retryable=True, kind=kind) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ProviderError("libretranslate returned non-JSON", retryable=True, kind="bad_response") from None

    @staticmethod
    def _http_error(exc: urllib.error.HTTPError) -> ProviderError:
        try:
            message = str(json.loads(exc.read() or b"{}").get("error", ""))
        except (ValueError, AttributeError, OSError):
            message = ""
        status = exc.code
        retry_after: float | None = None
        if status == 429:
            try:
                retry_after = float(exc.headers.get("Retry-After", ""))
            except (TypeError, ValueError):
                retry_after = None
            return ProviderError(
                "libretranslate rate limited", retryable=True, kind="rate_limited", retry_after=retry_after
            )
        if status == 400 and "not supported" in message.lower():
            return UnsupportedPair(f"libretranslate: {message[:120]}")
        if status >= 500:
            return ProviderError(f"libretranslate HTTP {status}", retryable=True, kind=f"http_{status}")
        # 400 (bad request), 403 (bad or missing API key), other 4xx: repeating will not
        # help; a 403 will fail every message though, so it opens the circuit.
        return ProviderError(
            f"libretranslate HTTP {status}: {message[:120]}",
            retryable=False,
            kind=f"http_{status}",
            outage=status in (401, 403),
        )

    # -- languages
    def languages(self) -> dict[str, set[str]] | None:
        """Server's ``{source: {targets}}``, cached for ``languages_ttl``; None when the
        server cannot tell (we then send our codes and let it answer)."""
        now = time.monotonic()
        with self._lock:
            if self._languages is not None and now - self._languages_at < self.languages_ttl:
                return self._languages
            if self._languages_failed_at is not None and now - self._languages_failed_at < 30.0:
                return self._languages  # stale or None: do not pay a timeout per message
        try:
            raw = self._request("GET", "/languages")
        except ProviderError:
            with self._lock:
                self._languages_failed_at = now
            return self._languages
        langs: dict[str, set[str]] = {}
        if isinstance(raw, list):
            for item in raw:
                if isinstance(item, dict) and isinstance(item.get("code"), str):
                    langs[item["code"]] = set(item.get("targets") or [])
        with self._lock:
            self._languages, self._languages_at, self._languages_failed_at = langs, now, None
        return langs

    def _server_code(self, code: str, known: set[str] | None, *, source: bool) -> str | None:
        if source and code == UNDETERMINED:
            return "auto"
        candidates = _LT_ALIASES.get(code, (code,))
        if known is None:
            legacy = {"zh-Hans": "zh", "zh-Hant": "zt"}
            return legacy.get(code, candidates[0])
        return next((c for c in candidates if c in known), None)

    def translate(self, text: str, source: str, target: str) -> Translation:
        langs = self.languages()
        src = self._server_code(source, set(langs) if langs else None, source=True)
        tgt = self._server_code(target, set(langs) if langs else None, source=False)
        if src is None or tgt is None:
            raise UnsupportedPair(f"libretranslate has no {source}->{target}")
        if langs and src != "auto" and langs.get(src) and tgt not in langs[src]:
            raise UnsupportedPair(f"libretranslate has no {source}->{target}")
        payload: dict[str, object] = {"q": text, "source": src, "target": tgt, "format": "text"}
        if self.api_key:
            payload["api_key"] = self.api_key
        out = self._request("POST", "/translate", payload)
        translated = out.get("translatedText") if isinstance(out, dict) else None
        if not isinstance(translated, str) or (text.strip() and not translated.strip()):
            raise ProviderError("libretranslate returned no translatedText", retryable=True, kind="bad_response")
        return Translation(translated, source, target, self.name, True)


# --------------------------------------------------------------------------- Apertium

#: Apertium mode codes (ISO 639-3 in newer packages) -> our codes.
_ISO3 = {
    "eng": "en",
    "spa": "es",
    "fra": "fr",
    "fre": "fr",
    "por": "pt",
    "ita": "it",
    "ind": "id",
    "zlm": "ms",
    "msa": "ms",
    "cat": "ca",
    "glg": "gl",
    "ron": "ro",
    "rum": "ro",
    "deu": "de",
    "nld": "nl",
    "swe": "sv",
    "dan": "da",
    "nor": "no",
    "nob": "nb",
    "nno": "nn",
    "rus": "ru",
    "ukr": "uk",
    "pol": "pl",
    "isl": "is",
    "eus": "eu",
    "epo": "eo",
    "oci": "oc",
    "arg": "an",
    "ast": "ast",
    "srd": "sc",
    "hin": "hi",
    "urd": "ur",
    "mkd": "mk",
    "bul": "bg",
    "hbs": "sh",
}
#: Pairs Apertium is expected to serve here (install steps pull these packages); a
#: missing one is reported as ``pair_missing`` rather than silently unsupported.
EXPECTED_APERTIUM_PAIRS = frozenset(
    {
        ("es", "en"),
        ("en", "es"),
        ("fr", "en"),
        ("pt", "en"),
        ("it", "en"),
        ("id", "ms"),
        ("ms", "id"),
    }
)

# Tokens Apertium must not touch: links, e-mails, @handles, #hashtags and anything with
# a digit (order numbers, tracking codes, prices). Apertium translates "@shop_id" into
# "@shop_go" (Spanish "id" = "go") if it sees it, so they are masked before and put back
# after. ⟦n⟧ passes through every pair tested (spa-eng, fr-es, ita-spa, pt-es, ind-zlm).
_L = "A-Za-z0-9\u00c0-\u024f"
# Linear time: each run-led alternative starts only where its run starts (see detect._NOISE).
_PROTECT = re.compile(
    r"https?://\S+|www\.\S+"
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.]+"
    rf"|[@#][{_L}_./-]*[{_L}_]"
    rf"|(?<![{_L}_-])[{_L}_-]*\d[{_L}_/-]*"
)
_PLACEHOLDER = re.compile(r"⟦(\d+)⟧")


def protect_tokens(text: str) -> tuple[str, list[str]]:
    """Replace identifiers with ⟦n⟧ placeholders; returns (masked text, originals)."""
    saved: list[str] = []

    def keep(m: re.Match[str]) -> str:
        saved.append(m.group(0))
        return f"⟦{len(saved) - 1}⟧"

    return _PROTECT.sub(keep, text), saved


def restore_tokens(text: str, saved: Sequence[str]) -> str:
    """Put protected tokens back; any placeholder the engine dropped is appended, so an
    order number is never lost in translation."""
    used: set[int] = set()

    def put(m: re.Match[str]) -> str:
        i = int(m.group(1))
        if i < len(saved):
            used.add(i)
            return saved[i]
        return m.group(0)

    out = _PLACEHOLDER.sub(put, text)
    missing = [s for i, s in enumerate(saved) if i not in used]
    return out + (" " + " ".join(missing) if missing else "")


# Apertium marks: "*word" unknown word, "#word" generation error, "@word" transfer error,
# sometimes with a leaked tag ("#<prn>"). A marker is stripped only where it starts a
# word of letters: "#12345" (digits), "@shop_id" or "@store.eu" (handle characters) are
# left alone, and so is anything listed in ``protected``.
_TAG_AFTER_MARK = re.compile(r"(?<![\w@#*])[#@](?:<[\w-]+>)+")
_STAR = re.compile(r"(?:(?<![\w*])|(?<=_))\*+(?=\w)")
_MARK_WORD = re.compile(r"(?<![\w@#*])[#@]\*?(?=([^\W\d_]+)(?![\w.@#-]))")


def strip_apertium_markers(text: str, protected: Sequence[str] = ()) -> str:
    """Remove Apertium's ``*``/``#``/``@`` marks from its output, never touching order
    numbers (#12345), handles (@shop_id) or the ``protected`` tokens."""
    masked = text
    saved: list[str] = []
    for tok in sorted({t for t in protected if t}, key=len, reverse=True):
        if tok in masked:
            saved.append(tok)
            masked = masked.replace(tok, f"\x00{len(saved) - 1}\x00")
    masked = _TAG_AFTER_MARK.sub("", masked)
    masked = _MARK_WORD.sub("", masked)
    masked = _STAR.sub("", masked)
    for i, tok in enumerate(saved):
        masked = masked.replace(f"\x00{i}\x00", tok)
    return masked


class ApertiumProvider:
    """Apertium from Debian packages, run as ``apertium -u -f txt MODE`` per message.

    Finds its pairs with ``apertium -l`` (once) and chains two of them through a pivot
    (fr -> es -> en) where no direct mode exists. Slow to start per call (~0.1-0.5 s:
    it spawns a pipeline of processes), so it is a fallback, not the primary engine.
    """

    name = "apertium"

    def __init__(self, binary: str = "apertium", timeout: float = 10.0, pivots: Sequence[str] = ("es", "en")) -> None:
        self.binary = binary
        self.timeout = timeout
        self.pivots = tuple(pivots)
        self._modes: dict[tuple[str, str], str] | None = None
        self._lock = threading.Lock()

    def _path(self) -> str | None:
        return shutil.which(self.binary)

    def modes(self) -> dict[tuple[str, str], str]:
        """(source, target) -> installed mode name, e.g. ("es", "en") -> "spa-eng"."""
        with self._lock:
            if self._modes is not None:
                return self._modes
        binary = self._path()
        if binary is None:
            raise ProviderUnavailable("apertium binary not found", reason="binary_missing")
        try:
            out = subprocess.run(
                [binary, "-l"], capture_output=True, text=True, timeout=self.timeout, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise ProviderError(f"apertium -l failed: {type(exc).__name__}", retryable=True, kind="exec") from None
        modes: dict[tuple[str, str], str] = {}
        for line in out.split():
            parts = line.strip().split("-")
            if len(parts) != 2 or "_" in line:  # skip variants (spa-eng_US) and eco-/multi modes
                continue
            src, tgt = (_ISO3.get(p, p) for p in parts)
            modes.setdefault((src, tgt), line.strip())
        with self._lock:
            self._modes = modes
        return modes

    def route(self, source: str, target: str) -> list[str] | None:
        """Modes to run in order (one, or two through a pivot), or None."""
        modes = self.modes()
        if (source, target) in modes:
            return [modes[(source, target)]]
        for pivot in self.pivots:
            if (source, pivot) in modes and (pivot, target) in modes:
                return [modes[(source, pivot)], modes[(pivot, target)]]
        return None

    def _run(self, mode: str, text: str) -> str:
        binary = self._path()
        if binary is None:
            raise ProviderUnavailable("apertium binary not found", reason="binary_missing")
        proc = subprocess.Popen(
            [binary, "-u", "-f", "txt", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        try:
            out, _err = proc.communicate(text, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the pipeline's children too
            proc.communicate()
            # a local engine that times out is overloaded: retrying would add load
            raise ProviderError("apertium timed out", retryable=False, outage=True, kind="timeout") from None
        if proc.returncode != 0:
            raise ProviderError(f"apertium exited {proc.returncode}", retryable=False, outage=True, kind="exec")
        return out

    def translate(self, text: str, source: str, target: str) -> Translation:
        steps = self.route(source, target)
        if steps is None:
            if (source, target) in EXPECTED_APERTIUM_PAIRS:
                raise ProviderUnavailable(f"apertium pair {source}->{target} not installed", reason="pair_missing")
            raise UnsupportedPair(f"apertium has no {source}->{target}")
        masked, saved = protect_tokens(text)
        placeholders = [f"⟦{i}⟧" for i in range(len(saved))]
        out = masked
        for mode in steps:
            out = strip_apertium_markers(self._run(mode, out), placeholders).strip()
        if text.strip() and not out:
            raise ProviderError("apertium returned nothing", retryable=False, kind="empty")
        return Translation(restore_tokens(out, saved), source, target, self.name, True)


# --------------------------------------------------------------------------- passthrough


class PassthroughProvider:
    """The last resort: the original text, marked ``translated=False``."""

    name = "passthrough"

    def translate(self, text: str, source: str, target: str) -> Translation:
        return Translation(text, source, target, self.name, False)


# --------------------------------------------------------------------------- resilience


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; after ``reset_after``
    seconds one trial call is let through (half-open): success closes it, failure
    opens it again. Keeps a dead server from costing every message a full timeout."""

    def __init__(
        self, threshold: int = 5, reset_after: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at >= self.reset_after:
                return "half_open"
            return "open"

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.reset_after and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def release(self) -> None:
        """The call proved nothing either way (pair unsupported, engine not installed):
        give a half-open trial slot back without changing the state."""
        with self._lock:
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial = False


class _LRU:
    """Bounded, thread-safe LRU of Translation by (sha256(text), source, target)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str, str], Translation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> Translation | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple[str, str, str], value: Translation) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class TranslatorChain:
    """Providers in order, with cache, retries and a breaker each; never raises.

    Same source and target language -> the text unchanged, ``provider="identity"``,
    ``translated=False``. Nothing able to translate -> passthrough (``translated=False``).
    Only real translations are cached, so a passthrough during an outage is retried
    on the next message.
    """

    name = "chain"

    def __init__(
        self,
        providers: Sequence[TranslationProvider],
        *,
        cache_size: int = 10_000,
        retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        breaker_threshold: int = 5,
        breaker_reset: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.providers = [p for p in providers if not isinstance(p, PassthroughProvider)]
        self.fallback = PassthroughProvider()
        self.cache = _LRU(cache_size)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.breakers = {p.name: CircuitBreaker(breaker_threshold, breaker_reset, clock) for p in self.providers}
        self._sleep = sleep

    def translate(self, text: str, source: str, target: str) -> Translation:
        """Translate ``text`` from ``source`` to ``target`` (BCP 47, normalised here)."""
        src, tgt = normalize_language(source), normalize_language(target)
        if src == tgt or not (text or "").strip():
            _served("identity", "identity")
            return Translation(text, src, tgt, "identity", False)
        key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), src, tgt)
        hit = self.cache.get(key)
        if hit is not None:
            _served(hit.provider, "cached")
            return hit
        for provider in self.providers:
            result = self._try(provider, text, src, tgt)
            if result is not None:
                self.cache.put(key, result)
                _served(provider.name, "translated")
                return result
        _served(self.fallback.name, "untranslated")
        return self.fallback.translate(text, src, tgt)

    def _try(self, provider: TranslationProvider, text: str, src: str, tgt: str) -> Translation | None:
        breaker = self.breakers[provider.name]
        if not breaker.allow():
            _unavailable(provider.name, "circuit_open")
            return None
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                result = provider.translate(text, src, tgt)
            except ProviderUnavailable as exc:
                breaker.release()  # not installed or not configured: no news about its health
                _unavailable(provider.name, exc.reason, source=src, target=tgt)
                return None
            except UnsupportedPair:
                breaker.release()
                return None
            except ProviderError as exc:
                if exc.retryable and attempt < self.retries:
                    delay = min(
                        self.max_backoff,
                        exc.retry_after if exc.retry_after is not None else self.backoff * (2**attempt),
                    )
                    log.info(
                        "translation_retry",
                        provider=provider.name,
                        kind=exc.kind,
                        attempt=attempt + 1,
                        delay_s=round(delay, 3),
                        source=src,
                        target=tgt,
                    )
                    attempt += 1
                    self._sleep(delay)
                    continue
                if exc.outage:
                    breaker.failure()
                    _unavailable(provider.name, "failed", kind=exc.kind)
                else:
                    # it answered (a 400 for this one request): the engine is up
                    breaker.success()
                log.warning(
                    "translation_failed",
                    provider=provider.name,
                    kind=exc.kind,
                    attempts=attempt + 1,
                    source=src,
                    target=tgt,
                    text_len=len(text),
                    breaker=breaker.state,
                )
                return None
            except Exception as exc:  # noqa: BLE001 - a provider bug must not reach the pipeline
                breaker.failure()
                log.error(
                    "translation_provider_crashed",
                    provider=provider.name,
                    error=type(exc).__name__,
                    source=src,
                    target=tgt,
                    text_len=len(text),
                )
                return None
            breaker.success()
            log.debug(
                "translated",
                provider=provider.name,
                source=src,
                target=tgt,
                text_len=len(text),
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return result


def build_translator(
    libretranslate_url: str | None = None,
    use_apertium: bool = True,
    *,
    api_key: str | None = None,
    timeout: float = 5.0,
    cache_size: int = 10_000,
    retries: int = 2,
    breaker_threshold: int = 5,
    breaker_reset: float = 30.0,
    proxies: dict[str, str] | None = None,
) -> TranslatorChain:
    """The production chain: LibreTranslate (if a URL is given), then Apertium (if
    ``use_apertium``; skipped per message, logged once and counted, when the binary or
    the pair is missing), then passthrough. Never raises, at build or at use.

    ``timeout`` bounds each LibreTranslate connect/read (Apertium gets max(timeout, 10 s)
    per run); ``retries`` extra attempts follow transient errors (timeout, 429, 5xx)
    after 0.2 s, 0.4 s... (capped at 2 s, ``Retry-After`` honoured up to the cap). Worst
    case with the defaults and LibreTranslate down: ~16 s, then the circuit opens after
    ``breaker_threshold`` such messages and later ones skip it at once for
    ``breaker_reset`` seconds. Translate in a worker, not in the ingest transaction.
    ``proxies={}`` disables environment proxies (tests against 127.0.0.1).
    """
    providers: list[TranslationProvider] = []
    if libretranslate_url:
        providers.append(LibreTranslateProvider(libretranslate_url, api_key=api_key, timeout=timeout, proxies=proxies))
    if use_apertium:
        providers.append(ApertiumProvider(timeout=max(timeout, 10.0)))
    log.info("translator_built", providers=[p.name for p in providers] + ["passthrough"])
    return TranslatorChain(
        providers,
        cache_size=cache_size,
        retries=retries,
        breaker_threshold=breaker_threshold,
        breaker_reset=breaker_reset,
    )
