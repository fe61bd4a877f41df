"""The inline classifier's cost per message, this checkout against another (e.g. before a lexicon change),
alternating in one run: each pass classifies the held-out texts made unique (no cache hits), best of 5.
    git worktree add /tmp/before <rev>   # or: mkdir /tmp/before && git archive <rev> | tar -x -C /tmp/before
    python bench/bench_inline_cost.py /tmp/before
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from services.bootstrap import inline_classifier
c = inline_classifier()
texts = [json.loads(line)["text"] + f" #{i}" for i, line in enumerate(open(sys.argv[2], encoding="utf-8"))]
for t in texts[:50]:
    c(t, None)
best = 1e9
for k in range(5):
    batch = [f"{t}{k}" for t in texts]
    t0 = time.perf_counter()
    for t in batch:
        c(t, None)
    best = min(best, (time.perf_counter() - t0) / len(batch))
print(best * 1e6)
"""


def cost(checkout: Path) -> float:
    eval_file = ROOT / "services/language/data/eval.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), str(eval_file)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    other = Path(sys.argv[1]).resolve()
    pairs = [(cost(other), cost(ROOT)) for _ in range(3)]
    for before, now in pairs:
        print(
            f"inline classification: {other.name} {before:.0f} us, this checkout {now:.0f} us, ratio {now / before:.2f}"
        )


if __name__ == "__main__":
    main()
