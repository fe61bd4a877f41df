"""Benchmark: the text functions on 32,000-character adversarial inputs, as ratios against ordinary
32,000-character prose measured in the same run (issue #11, linear-time text handling).

A linear function stays near 1x on every input; a quadratic one reaches hundreds or thousands
(before the fix, `detect_language` on 32,000 letters took ~6.5 s against ~15 ms for prose). Each
figure is the best of 5 runs.

    python bench/bench_text.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench import _support  # noqa: F401 - quiet logs
from services.language import default_classifier, detect_language
from services.language.translate import protect_tokens, strip_apertium_markers
from tests.unit.test_text_linear_time import ADVERSARIAL, N

PROSE = ("My order 4711 arrived broken, please refund me or send a new one. " * 600)[:N]


def best_ms(fn, text: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn(text)
        best = min(best, (time.perf_counter() - t) * 1000)
    return best


def main() -> None:
    clf = default_classifier()
    functions = {
        "detect_language": lambda t: detect_language(t, None),
        "classify": lambda t: clf.classify(t),
        "protect_tokens": protect_tokens,
        "strip_apertium_markers": strip_apertium_markers,
    }
    for fn in functions.values():
        fn("warm up 4711 你好")
    print(f"{'function':24} {'prose ms':>9} {'worst input':>22} {'worst ms':>9} {'ratio':>7}")
    for name, fn in functions.items():
        base = best_ms(fn, PROSE)
        worst_case, worst = max(((case, best_ms(fn, text)) for case, text in ADVERSARIAL.items()), key=lambda x: x[1])
        print(f"{name:24} {base:9.2f} {worst_case:>22} {worst:9.2f} {worst / base:6.1f}x")


if __name__ == "__main__":
    main()
