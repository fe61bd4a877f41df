"""Built-in reply templates: the seeds' own wording as data (000 asks for reply templates in several
languages; 001 lists Wish's eight pre-shipment templates; 002 gives Douyin's after-sales scripts).

The wording lives in `data/builtin.json`, each template with its source named; the HTTP API serves
them through `builtin_templates()` (a fresh copy per call, so a caller may change what it gets).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources

__all__ = ["builtin_templates"]


@cache
def _load() -> tuple[dict, ...]:
    doc = json.loads(resources.files(__package__).joinpath("data/builtin.json").read_text(encoding="utf-8"))
    return tuple(
        {"name": t["name"], "category": t["category"], "source": t["source"], "texts": dict(t["texts"])}
        for t in doc["templates"]
    )


def builtin_templates() -> list[dict]:
    """Every built-in template as `{"name", "category", "source", "texts": {language: text}}`."""
    return copy.deepcopy(list(_load()))
