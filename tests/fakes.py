"""Test doubles for the core's ports (the classifier); never used by the product."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FakeClassification:
    category: str = "other"
    urgent: bool = False
    language: str = "en"
    confidence: float = 0.9
    classifier: str = "fake"
    labels: tuple[str, ...] = ()


def fake_classify(text: str, locale: str | None) -> FakeClassification:
    """Deterministic: 'URGENT' in the text makes it urgent; 'category:<name>' picks the category."""
    category = "other"
    for word in text.split():
        if word.startswith("category:"):
            category = word.split(":", 1)[1]
    return FakeClassification(category=category, urgent="URGENT" in text)


class ClassifyingLifecycle:
    """The core as the engine drives it: each `ticket.opened` classified first (by `classify`), the
    answer handed to `Lifecycle.apply` as data. Everything else is the wrapped Lifecycle's."""

    def __init__(self, lifecycle, classify=fake_classify):
        self.lifecycle, self.classify = lifecycle, classify

    def apply(self, ticket, ev):
        from services.core.lifecycle import classification_key

        key = classification_key(ev)
        return self.lifecycle.apply(ticket, ev, None if key is None else self.classify(*key))

    def __getattr__(self, name):
        return getattr(self.lifecycle, name)
