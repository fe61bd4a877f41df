"""Every statement the store runs, by name, from the `.sql` files beside this module.

procrastinate's way: SQL stays SQL (readable, greppable, highlighted), each block headed by
`-- name: <name>` and loaded once at import. A reader answers "which SQL runs here" by the
names a module uses; a test checks that every name is used and every use is defined.
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.M)


def _load() -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted(resources.files(__package__).iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".sql"):
            continue
        parts = _HEADER.split(f.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in out:
                raise ValueError(f"{f.name}: query {name!r} defined twice")
            lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
            out[name] = "\n".join(lines).strip()
    return out


Q: dict[str, str] = _load()
