"""`python -m services.api.openapi`: write the OpenAPI 3.1 document of the HTTP API to
schemas/generated/openapi.json (committed; tests/unit/test_api_openapi.py fails when it drifts).
`--check` writes nothing and exits 1 when the committed file differs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve().parents[2] / "schemas" / "generated" / "openapi.json"


def document() -> dict:
    from services.api.app import create_app
    from services.api.deps import ApiDeps

    nothing: Any = None  # the document needs no adapter: no route runs
    app = create_app(
        ApiDeps(
            pool=nothing, publisher=nothing, lifecycle=nothing, topology=nothing, clock=nothing, normalize_language=str
        )
    )
    return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        if not PATH.exists() or PATH.read_text(encoding="utf-8") != text:
            print(f"stale: {PATH} (run `python -m services.api.openapi`)", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
