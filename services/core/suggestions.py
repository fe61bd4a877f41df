"""Reply suggestions for a ticket from templates (000, 001, 002, 003: templates in several languages).

Pure: which templates fit (the ticket's category), which language each is shown in (the
customer's, else the merchant's, else English, the first one the template has a text for), and
the order id filled in where a text has the `{order_id}` placeholder. A text needing an order
id on a ticket without one is left out of the suggestions rather than sent half-filled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PLACEHOLDER = "{order_id}"
FALLBACK_LANGUAGE = "en"


def languages_to_try(customer: str | None, merchant: str | None) -> list[str]:
    """Preference order of languages, without repeats or unknowns ('und')."""
    out: list[str] = []
    for lang in (customer, merchant, FALLBACK_LANGUAGE):
        if lang and lang != "und" and lang not in out:
            out.append(lang)
    return out


def pick_text(texts: dict[str, str], preferred: list[str]) -> tuple[str, str] | None:
    """(language, text) in the first preferred language the template has; a regional key (pt-BR)
    matches its primary language (pt) when the exact one is missing."""
    by_primary: dict[str, str] = {}
    for k in texts:
        by_primary.setdefault(k.split("-")[0].lower(), k)
    for lang in preferred:
        if lang in texts:
            return lang, texts[lang]
        regional = by_primary.get(lang.split("-")[0].lower())
        if regional is not None:
            return regional, texts[regional]
    return None


def suggest(
    templates: Iterable[dict[str, Any]],
    category: str,
    customer_language: str | None,
    merchant_language: str | None,
    order_id: str | None,
) -> list[dict[str, str]]:
    """Templates of the ticket's category, each as {name, source, language, text}, in the given order."""
    preferred = languages_to_try(customer_language, merchant_language)
    out = []
    for tpl in templates:
        if tpl["category"] != category:
            continue
        got = pick_text(tpl["texts"], preferred)
        if got is None:
            continue
        language, text = got
        if PLACEHOLDER in text:
            if not order_id:
                continue
            text = text.replace(PLACEHOLDER, order_id)
        out.append({"name": tpl["name"], "source": tpl.get("source", "merchant"), "language": language, "text": text})
    return out
