"""Composition root: the one place that wires settings, policies, the core and its adapters."""

from __future__ import annotations

from functools import lru_cache

from services.amqp.topology import Topology
from services.config import Settings
from services.core.clock import Clock, SystemClock
from services.core.lifecycle import Lifecycle
from services.core.policies import Policy, load_policies
from services.store.engine import Engine


def classify_message(text: str, locale: str | None):
    """Detect the language, then classify in it; what the core calls at ticket.opened."""
    from services.language import default_classifier, detect_language

    detected = detect_language(text, locale)
    return default_classifier().classify(text, detected.language)


class DetectedLanguages:
    """The core's Languages port, backed by services.language."""

    def detect(self, text: str, locale: str | None) -> str:
        from services.language import detect_language

        return detect_language(text, locale).language

    def normalize(self, locale: str) -> str:
        from services.language import normalize_language

        return normalize_language(locale)


@lru_cache(maxsize=8)
def _policies(path: str | None) -> dict[str, Policy]:
    return load_policies(path)


def build_engine(settings: Settings, clock: Clock | None = None) -> Engine:
    policies = _policies(settings.policies_path)
    return Engine(
        Topology(settings.namespace),
        Lifecycle(policies, classify_message, DetectedLanguages()),
        policies,
        clock or SystemClock(),
        parking_limit=settings.parking_limit,
        parking_seconds=settings.parking_seconds,
    )
