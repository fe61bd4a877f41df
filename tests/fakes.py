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
