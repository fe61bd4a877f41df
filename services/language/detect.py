"""Language detection of customer messages, and BCP 47 code normalisation.

Why this shape:
- Support messages are short ("ok", "hol van?", "退款"), where statistical detectors are
  weakest. Scripts that identify a language on their own (Thai, Hangul, kana, Han) are
  decided from the characters; everything else goes to py3langid *restricted* to the
  languages marketplaces actually see, which was measured here at ~98 % on short
  support messages (the full 97-language model confuses them with Latin, Galician...).
- When a message is too short or the model is unsure, the customer's own locale is a
  better guess than the model's: we fall back to it and say so (``source="locale"``).
- Indonesian and Malay are nearly the same written language; a locale or a few marker
  words decide between them.
- Chinese is split into ``zh-Hans`` / ``zh-Hant`` (hanzidentifier) because merchants
  and translation engines treat them as different targets.

The py3langid model is loaded lazily, once per process (~1 s); call :func:`warm_up` at
worker start to pay that before the first message.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Detected",
    "detect_language",
    "normalize_language",
    "warm_up",
    "SUPPORTED_LANGUAGES",
    "UNDETERMINED",
]

#: Languages the restricted detector may answer (ISO 639-1, py3langid labels). The
#: marketplaces' customer languages plus close neighbours, so that a neighbour is not
#: forced onto one of ours (Dutch onto German, Ukrainian onto Russian...).
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en",
    "id",
    "ms",
    "zh",
    "hu",
    "es",
    "fr",
    "de",
    "pt",
    "it",
    "pl",
    "tr",
    "vi",
    "th",
    "nl",
    "ru",
    "uk",
    "ja",
    "ko",
    "ar",
    "tl",
    "cs",
    "sk",
    "ro",
    "sv",
    "da",
    "no",
    "fi",
    "el",
    "he",
    "hi",
    "bg",
    "hr",
    "ca",
)
#: BCP 47 "undetermined": no letters and no locale to fall back to.
UNDETERMINED = "und"
#: Fewer letters than this is "too short" for the statistical model.
MIN_LETTERS = 12
#: Below this normalised probability the model is "uncertain".
MIN_CONFIDENCE = 0.80
#: Confidence reported when the locale decides (the customer chose it, but we did not
#: read it in the text).
LOCALE_CONFIDENCE = 0.5
#: What detection reads of a message: the first 4,000 characters name its language as well as
#: all 32,000 would, at an eighth of the cost inside the ingest batch.
MAX_TEXT_CHARS = 4000

#: Without a locale, a model guess below this is noise ("Hi", "ok"): answer "und".
MIN_GUESS = 0.3

_ZH_HANT_REGIONS = frozenset({"tw", "hk", "mo"})
_ALIASES = {"in": "id", "iw": "he", "ji": "yi", "fil": "tl", "nb": "no", "nn": "no", "zsm": "ms", "jw": "jv"}

# Tokens that carry no language: links, e-mails, handles, order numbers, digits. ASCII
# only around digits: \w would swallow a whole run of Chinese glued to a number.
# Linear time on any input: an alternative that starts with a run of a class may only start
# where that run starts (the lookbehinds), so a long run is scanned from its first character
# only, not again from each of its characters (quadratic: 32,000 letters took ~7 s). A match
# that starts inside a run also matches from its start, so the matches are the same.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+"
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.]+"
    r"|[@#][A-Za-z0-9_.]+"
    r"|(?<![A-Za-z0-9_])[A-Za-z0-9_]*\d[A-Za-z0-9_-]*"
)

# Marker words: Malay vs Indonesian spelling/vocabulary (folded, lower case).
_MS_MARKERS = frozenset(
    "tak nak sahaja kerana wang percuma kedai hantar dihantar penghantaran encik cik jugak "
    "rosak tiada bungkusan tukar bayaran awak kat macam mengapa belanja".split()
)
_ID_MARKERS = frozenset(
    "tidak gak nggak enggak bisa saja karena uang gratis toko kapan kirim dikirim pengiriman "
    "gimana bagaimana udah dong sih kok kak gan pengembalian ganti paket resi kurir rusak "
    "mohon segera aja banget".split()
)


@dataclass(frozen=True)
class Detected:
    """The language of one message.

    ``language`` is a BCP 47 primary tag ("id", "hu", "en"...), ``zh-Hans``/``zh-Hant``
    for Chinese, or ``"und"`` when nothing could be determined. ``source`` says who
    decided: ``"model"`` (the text), ``"locale"`` (the customer's locale, because the
    text was too short or uncertain) or ``"default"`` (neither: ``language="und"``).
    """

    language: str
    confidence: float
    source: str


def normalize_language(tag: str | None) -> str:
    """Reduce a BCP 47 locale to the code this package works with.

    Primary subtag, lower case ("id-ID" -> "id", "pt_BR" -> "pt"), except Chinese, whose
    script matters: zh-CN/zh-SG/zh-Hans -> "zh-Hans", zh-TW/zh-HK/zh-MO/zh-Hant ->
    "zh-Hant", bare "zh" -> "zh-Hans". Empty or unusable tags give "und".
    """
    if not tag:
        return UNDETERMINED
    parts = [p for p in re.split(r"[-_]", tag.strip()) if p]
    if not parts or not parts[0].isalpha():
        return UNDETERMINED
    primary = parts[0].lower()
    primary = _ALIASES.get(primary, primary)
    if primary in ("zh", "cmn", "yue", "zho", "chi"):
        rest = [p.lower() for p in parts[1:]]
        if "hant" in rest or any(r in _ZH_HANT_REGIONS for r in rest) or primary == "yue":
            return "zh-Hant"
        return "zh-Hans"
    return primary


# --------------------------------------------------------------------------- scripts


def _script(ch: str) -> str | None:
    """Coarse script of one letter: the scripts that name a language by themselves."""
    o = ord(ch)
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9D:
        return "kana"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F:
        return "han"
    return None


def _letters_by_script(text: str) -> tuple[int, dict[str, int]]:
    letters = 0
    scripts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha() or unicodedata.category(ch) == "Mn":
            letters += 1
            if ch >= "\u0e00":  # every script _script names starts at or above Thai: skip the call for the rest
                s = _script(ch)
                if s:
                    scripts[s] = scripts.get(s, 0) + 1
    return letters, scripts


def _chinese_variant(text: str, locale_lang: str) -> str:
    """zh-Hans or zh-Hant from the characters; the locale settles text valid in both."""
    import hanzidentifier
    from hanzidentifier import helpers

    kind = hanzidentifier.identify(text)
    if kind == hanzidentifier.SIMPLIFIED:
        return "zh-Hans"
    if kind == hanzidentifier.TRADITIONAL:
        return "zh-Hant"
    if kind == hanzidentifier.MIXED:
        hanzi = helpers.get_hanzi(text)
        trad = len(hanzi - helpers.SIMPLIFIED_CHARACTERS)
        simp = len(hanzi - helpers.TRADITIONAL_CHARACTERS)
        if trad != simp:
            return "zh-Hant" if trad > simp else "zh-Hans"
    if locale_lang in ("zh-Hans", "zh-Hant"):
        return locale_lang
    return "zh-Hans"


# --------------------------------------------------------------------------- model

_identifier: Any = None
_identifier_lock = threading.Lock()


def _get_identifier() -> Any:
    """py3langid restricted to SUPPORTED_LANGUAGES; loaded once, thread-safe."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                ident.set_languages([lang for lang in SUPPORTED_LANGUAGES if lang in set(ident.labels)])
                _identifier = ident
    return _identifier


def warm_up() -> None:
    """Load the detection model now (about 1 s) instead of on the first message."""
    _get_identifier()


def _malay_or_indonesian(text: str) -> str | None:
    words = re.findall(r"[a-z]+", text.lower())
    ms = sum(w in _MS_MARKERS for w in words)
    idn = sum(w in _ID_MARKERS for w in words)
    if ms > idn:
        return "ms"
    if idn > ms:
        return "id"
    return None


#: Texts up to this long are remembered (with the locale) by :func:`detect_language`.
CACHED_CHARS = 160


def detect_language(text: str, fallback_locale: str | None = None) -> Detected:
    """Detect the language of one customer message.

    Short texts are answered from a bounded LRU cache: merchants reply from templates ("Shipped.",
    the seeds' scripts), so the same few hundred texts come back all day, and each detection costs
    20-45 us of a GIL-bound ingest loop. Detection is a pure function of (text, locale).

    Order of decision:
    1. Thai, Hangul, kana or Han letters making up most of the text decide the language
       by script (Chinese split into zh-Hans/zh-Hant).
    2. Otherwise py3langid, restricted to :data:`SUPPORTED_LANGUAGES`, on the text
       without links, handles and numbers. Indonesian vs Malay is settled by the
       locale, then by marker words.
    3. If the text has fewer than :data:`MIN_LETTERS` letters or the model's probability
       is under :data:`MIN_CONFIDENCE`, the customer's locale wins when given
       (``source="locale"``, confidence :data:`LOCALE_CONFIDENCE`); without a locale the
       model's guess is returned with its (low) confidence, unless it is below
       :data:`MIN_GUESS` or there are no letters at all: then ``Detected("und", 0.0,
       "default")``.
    """
    if text is not None and len(text) <= CACHED_CHARS:
        return _detect_cached(text, fallback_locale)
    return _detect(text, fallback_locale)


@lru_cache(maxsize=8192)
def _detect_cached(text: str, fallback_locale: str | None) -> Detected:
    return _detect(text, fallback_locale)


def _detect(text: str, fallback_locale: str | None) -> Detected:
    locale_lang = normalize_language(fallback_locale) if fallback_locale else UNDETERMINED
    cleaned = _NOISE.sub(" ", (text or "")[:MAX_TEXT_CHARS])  # a bounded prefix says the language
    letters, scripts = _letters_by_script(cleaned)

    def fallback(guess: str | None, confidence: float) -> Detected:
        if locale_lang != UNDETERMINED:
            if guess == locale_lang:
                return Detected(guess, confidence, "model")
            return Detected(locale_lang, LOCALE_CONFIDENCE, "locale")
        if guess is None or confidence < MIN_GUESS:
            return Detected(UNDETERMINED, 0.0, "default")
        return Detected(guess, confidence, "model")

    if letters == 0:
        return fallback(None, 0.0)

    # 1. scripts that name the language
    cjk = scripts.get("han", 0) + scripts.get("kana", 0)
    for script, lang in (("thai", "th"), ("hangul", "ko")):
        share = scripts.get(script, 0) / letters
        if share >= 0.5:
            return Detected(lang, round(share, 3), "model")
    if cjk / letters >= 0.5:
        share = round(cjk / letters, 3)
        if scripts.get("kana", 0):
            return Detected("ja", share, "model")
        return Detected(_chinese_variant(cleaned, locale_lang), share, "model")

    # 2. the statistical model
    ranked = _get_identifier().rank(cleaned)
    best, p_best = ranked[0]
    p_best = float(p_best)
    if best in ("id", "ms"):
        probs = dict(ranked[:5])
        p_best = float(probs.get("id", 0.0) + probs.get("ms", 0.0))
        if locale_lang in ("id", "ms"):
            best = locale_lang
        else:
            best = _malay_or_indonesian(cleaned) or best
    elif best == "zh":  # Han below half of the letters, but the model still says Chinese
        best = _chinese_variant(cleaned, locale_lang)
    p_best = round(p_best, 3)

    # 3. too short or uncertain: the locale is the better witness
    if letters < MIN_LETTERS or p_best < MIN_CONFIDENCE:
        return fallback(best, p_best)
    return Detected(best, p_best, "model")
