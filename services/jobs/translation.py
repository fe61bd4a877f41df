"""Translate one stored message exactly once: a customer's into the merchant's language, a
merchant's into the customer's (000: answer customers in their own language).

The provider call happens outside any transaction (it may take seconds); the write is
idempotent on (ticket, message), so a retried or redelivered task publishes nothing twice.
"""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from services.amqp.topology import Topology
from services.language import PROVIDER_UNAVAILABLE, TranslationProvider, detect_language
from services.language.detect import UNDETERMINED, normalize_language
from services.logs import log
from services.store import translations
from services.store.outbox import Writes


class TranslationJob:
    def __init__(self, pool: ConnectionPool, topology: Topology, translator: TranslationProvider):
        self.pool, self.topology, self.translator = pool, topology, translator
        self._reported: dict[str, int] = {}
        self._lock = threading.Lock()

    def _unavailable_deltas(self, w: Writes) -> None:
        """Carry the providers' in-process outage counts into the shared counters the exporter reads."""
        with self._lock:
            totals: dict[str, int] = {}
            for (provider, _reason), n in PROVIDER_UNAVAILABLE.items():
                totals[provider] = totals.get(provider, 0) + n
            for provider, n in totals.items():
                delta = n - self._reported.get(provider, 0)
                if delta > 0:
                    w.count("translation_provider_unavailable_total", delta, provider=provider)
                    self._reported[provider] = n

    def run(self, ticket_id: str, message_id: str) -> None:
        with self.pool.connection() as conn:
            row = translations.pending_input(conn, ticket_id, message_id)
        if row is None:
            return  # already translated (a redelivery), or nothing to translate
        text, at, merchant_id, customer_locale, merchant_locale, author, customer_language = row
        if author == "merchant":
            target = normalize_language(customer_locale) if customer_locale else (customer_language or "und")
            detected = detect_language(text, merchant_locale or "en")
            if target == UNDETERMINED or detected.language == target:
                return  # the customer reads it as written (or nothing says what they read)
            tr = self.translator.translate(text, detected.language, target)
        else:
            detected = detect_language(text, customer_locale)
            tr = self.translator.translate(text, detected.language, merchant_locale or "en")
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if not translations.claim(
                cur, ticket_id, message_id, tr.source_language, tr.target_language, tr.provider, tr.translated, tr.text
            ):
                return
            w = Writes(self.topology)
            self._unavailable_deltas(w)
            w.event(
                cause=f"translate:{ticket_id}:{message_id}",
                n=0,
                type_="message.translated",
                subject=ticket_id,
                at=at,
                data={
                    "merchant_id": merchant_id,
                    "message_id": message_id,
                    "source_language": tr.source_language,
                    "target_language": tr.target_language,
                    "text": tr.text,
                    "provider": tr.provider,
                    "translated": tr.translated,
                },
            )
            w.flush(cur)
        log.info(
            "message.translated",
            ticket_id=ticket_id,
            message_id=message_id,
            provider=tr.provider,
            source=tr.source_language,
            target=tr.target_language,
            translated=tr.translated,
        )
