"""Language services for ticketflow: detection, classification, translation.

Everything here runs offline on a small CPU: no model hub at run time, only what PyPI
or Debian packages ship. Importing this package does no I/O; models load lazily, once
per process (call :func:`warm_up` at worker start to pay that before the first message).

- :func:`detect_language` -> :class:`Detected` (py3langid restricted + hanzidentifier,
  falling back to the customer's locale on short or uncertain text).
- :func:`default_classifier` -> the inline :class:`Classifier` (<1 ms/message):
  group, category, urgent flag, confidence, labels (:class:`Classification`).
- :func:`build_translator` -> a :class:`TranslationProvider` chain (LibreTranslate,
  Apertium, passthrough) with cache, retries and circuit breakers; never raises.
"""

from __future__ import annotations

from services.language.classify import (
    CATEGORIES,
    CLASSIFIER_UNAVAILABLE,
    GROUP_OF,
    NEEDS_REVIEW,
    Classification,
    Classifier,
    ClassifierUnavailable,
    E5Classifier,
    LexLinearClassifier,
    default_classifier,
    get_classifier,
)
from services.language.detect import Detected, detect_language, normalize_language
from services.language.translate import (
    PROVIDER_UNAVAILABLE,
    TRANSLATIONS,
    ProviderError,
    Translation,
    TranslationProvider,
    build_translator,
)

__all__ = [
    "Detected",
    "detect_language",
    "normalize_language",
    "Classification",
    "Classifier",
    "ClassifierUnavailable",
    "LexLinearClassifier",
    "E5Classifier",
    "default_classifier",
    "get_classifier",
    "GROUP_OF",
    "CATEGORIES",
    "NEEDS_REVIEW",
    "CLASSIFIER_UNAVAILABLE",
    "Translation",
    "TranslationProvider",
    "ProviderError",
    "build_translator",
    "PROVIDER_UNAVAILABLE",
    "TRANSLATIONS",
    "warm_up",
]


def warm_up() -> None:
    """Load the detector and the default classifier now (~1-2 s together) so the first
    ticket does not pay for it inside the ingest transaction."""
    from services.language.detect import warm_up as _warm_detect

    _warm_detect()
    default_classifier()
