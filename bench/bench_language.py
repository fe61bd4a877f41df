"""Benchmark of services.language: what the inline classifier costs and how right it is.

Prints: classifier and detector load time, classification msgs/s and p50/p99 latency
(language given, and with detection), RSS, accuracy per language on the held-out sets,
urgent recall and false alarms, detection accuracy, translation latency per provider
available on this machine.

    python bench/bench_language.py                 # fast: default classifier, ~15 s
    python bench/bench_language.py --cv            # + cross-validated confidence gate table
    python bench/bench_language.py --e5            # + the optional e5 backend (~1-2 min)
    python bench/bench_language.py --libretranslate http://127.0.0.1:5000
    python bench/bench_language.py --refine        # + the refining worker's classifier (issue #17), ~2 min
    python bench/bench_language.py --refine --blind  # + its blind set: measured once, for the record
    python bench/bench_language.py --refine --blind2 # + blind set 2 (second #17 session): measured once

With --refine: accuracy per language and per category on each held-out set before refinement (inline)
and after it (inline answer sent when `other` or below the core's REFINE_BELOW, replaced when the
refiner answers another category at >= the job's ACCEPT, ACCEPT_FROM_OTHER over an inline `other`), how
much of what is sent the refiner embeds (its cascade: the lexicon model alone when sure), the refiner's
cost per message on what is sent (one at a time with the cascade and with every text embedded, and in
batches), and its p50/p99 per task, the cascade off and on in turn, at the pipeline bench's rate (500
events/s, half of them openings, the share sent for refinement measured here; or --refine-rate) with the
refine worker's own threads (TICKETFLOW_REFINE_THREADS' default), next to the inline classifier's in the same run.

Held-out sets in services/language/data/eval.jsonl (ids tell them apart):
  eval-   blind set 1: common and less common scenarios; it was looked at during
          development, so its numbers are optimistic now;
  eval2-  blind set 2: rarer scenarios, written after the last category tuning;
  eval3-  urgent-only list (+ look-alikes), written after the last safety-lexicon change
          except for a handful of terms added after its first run (see the report).
  blind-  (blind_refine.jsonl, issue #17) store/product-use/indirect change and status questions and
          urgent reports, 15 languages, written before the refiner's training data, measured once.
  blind2- (blind_refine2.jsonl, #17 second session) 15 languages x (10 categories + a hazard-word
          look-alike + 3 urgent reports), written before that session's changes, measured once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from services.language import classify as C
from services.language import detect as D
from services.language import translate as T


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency(fn, items, repeat: int = 3) -> tuple[float, float, float]:
    """(msgs/s, p50 ms, p99 ms) over ``items`` run ``repeat`` times."""
    for item in items[:50]:
        fn(*item)
    times = []
    for _ in range(repeat):
        for item in items:
            t0 = time.perf_counter()
            fn(*item)
            times.append(time.perf_counter() - t0)
    return len(times) / sum(times), pct(times, 50) * 1000, pct(times, 99) * 1000


def report(title: str, clf: C.Classifier, examples: list[C.Example], seen: set[str]) -> None:
    print(f"\n## {title}")
    for label, subset in (
        ("trained languages", [e for e in examples if e.lang in seen]),
        ("languages without training data", [e for e in examples if e.lang not in seen]),
    ):
        if not subset:
            continue
        r = C.evaluate(clf, subset)
        kept = r.total - r.needs_review
        wrong_kept = sum(1 for _, exp, got in r.errors if got != "other" or exp == "other")
        print(f"### {label}")
        print(r.format())
        if kept:
            print(f"precision of published (not needs_review) categories: {(kept - wrong_kept) / kept:.1%} ({kept})")


def cv_gate_table(train: list[C.Example]) -> None:
    """Leave-one-language-out: what each confidence gate would publish (chosen here, not
    on the held-out sets)."""
    clf = C.LexLinearClassifier.__new__(C.LexLinearClassifier)
    clf._concepts, clf._safety = C._lexicon("categories"), C._lexicon("safety")
    X = [clf._vector(e.text)[0] for e in train]
    preds = []
    for lang in sorted({e.lang for e in train}):
        tr = [i for i, e in enumerate(train) if e.lang != lang]
        m = C._SoftmaxRegression(C.CATEGORIES, epochs=6, batch=32).fit(
            [X[i] for i in tr], [train[i].category for i in tr]
        )
        for i, e in enumerate(train):
            if e.lang == lang:
                p = m.proba(X[i])
                k = int(p.argmax())
                preds.append((m.classes[k], float(p[k]), e.category))
    print("\n## confidence gate, leave-one-language-out on the training data")
    print(f"{'gate':>5} {'review':>7} {'precision kept':>15} {'published acc':>14}")
    for gate in (0.0, 0.3, 0.4, 0.5, 0.6):
        kept = [(a, c) for a, p, c in preds if p >= gate]
        pub = sum((a if p >= gate else "other") == c for a, p, c in preds) / len(preds)
        prec = sum(a == c for a, c in kept) / max(1, len(kept))
        print(f"{gate:5.2f} {1 - len(kept) / len(preds):7.1%} {prec:15.1%} {pub:14.1%}")
    acc = sum(a == c for a, _, c in preds) / len(preds)
    print(f"leave-one-language-out accuracy (no gate): {acc:.1%}, n={len(preds)}")


def bench_translation(libretranslate: str | None) -> None:
    print("\n## translation latency per provider (this machine)")
    text = "¿Dónde está mi pedido #12345? Escribí a @shop_id y no contestan."
    chain = T.TranslatorChain([], cache_size=0)
    _, p50, _ = latency(lambda: chain.translate(text, "es", "es"), [()] * 200)
    print(f"identity                  p50 {p50:8.3f} ms")
    _, p50, _ = latency(lambda: chain.translate(text, "hu", "en"), [()] * 200)
    print(f"passthrough               p50 {p50:8.3f} ms")
    cached = T.TranslatorChain([T.PassthroughProvider()])
    if shutil.which("apertium"):
        ap = T.ApertiumProvider()
        modes = ap.modes()
        print(f"apertium modes: {sorted(f'{s}-{t}' for s, t in modes)}")
        samples = [
            ("es", "en", text),
            ("fr", "en", "Ma commande #12345 n'est pas arrivée, le chargeur a pris feu."),
            ("pt", "en", "O carregador pegou fogo, pedido 998-221."),
            ("it", "en", "Il mio ordine 55120 non è ancora arrivato."),
            ("id", "ms", "Pesanan saya #12345 belum sampai, tolong hubungi @toko_abc"),
            ("ms", "id", "Barang saya belum sampai lagi, bila nak hantar?"),
        ]
        for src, tgt, sample in samples:
            if ap.route(src, tgt) is None:
                print(f"apertium {src}->{tgt:3}           not installed")
                continue
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                out = ap.translate(sample, src, tgt)
                times.append(time.perf_counter() - t0)
            print(
                f"apertium {src}->{tgt:3} ({len(ap.route(src, tgt))} hop) p50 {statistics.median(times) * 1000:8.1f} ms  "
                f"{out.text[:70]!r}"
            )
        c = T.TranslatorChain([ap])
        c.translate(text, "es", "en")
        _, p50, _ = latency(lambda: c.translate(text, "es", "en"), [()] * 200)
        print(f"cache hit                 p50 {p50:8.3f} ms")
    else:
        print("apertium                  not installed (apt-get install apertium apertium-eng-spa ...)")
    del cached
    if libretranslate:
        lt = T.LibreTranslateProvider(libretranslate)
        times = []
        for i in range(20):
            t0 = time.perf_counter()
            try:
                lt.translate(f"{text} {i}", "es", "en")
            except T.ProviderError as exc:
                print(f"libretranslate error: {exc.kind}")
                break
            times.append(time.perf_counter() - t0)
        if times:
            print(f"libretranslate            p50 {pct(times, 50) * 1000:8.1f} ms  p99 {pct(times, 99) * 1000:8.1f} ms")
    else:
        print("libretranslate            no server given (--libretranslate URL)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cv", action="store_true", help="cross-validated confidence-gate table (~10 s)")
    ap.add_argument("--e5", action="store_true", help="also evaluate the optional e5 backend (slow)")
    ap.add_argument("--libretranslate", default=os.environ.get("TICKETFLOW_LIBRETRANSLATE_URL"))
    ap.add_argument("--refine", action="store_true", help="the refining worker's classifier (issue #17)")
    ap.add_argument("--blind", action="store_true", help="with --refine: also the #17 blind set (measure it once)")
    ap.add_argument("--blind2", action="store_true", help="with --refine: also blind set 2 (measure it once)")
    ap.add_argument("--refine-rate", type=float, default=None, help="tasks/s for the worker latency phase")
    ap.add_argument("--refine-threads", type=int, default=None, help="worker threads (default: the setting's)")
    args = ap.parse_args()

    rss0 = rss_mb()
    t0 = time.perf_counter()
    D.warm_up()
    detect_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf = C.LexLinearClassifier()
    load = time.perf_counter() - t0
    print("# services.language benchmark")
    print(f"cpu cores {os.cpu_count()}, python {sys.version.split()[0]}")
    print(
        f"detector load {detect_load:.2f} s; classifier load (train from JSONL) {load:.2f} s "
        f"on {clf.trained_on} examples; RSS {rss0:.0f} -> {rss_mb():.0f} MB"
    )

    train = C.load_examples(C.TRAIN_FILE)
    held = C.load_examples(C.EVAL_FILE)
    items = [(e.text, e.lang) for e in held + train]
    rate, p50, p99 = latency(clf.classify, items)
    print(f"classify, language given:   {rate:8.0f} msgs/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms  (n={len(items) * 3})")
    rate, p50, p99 = latency(lambda text, _lang: clf.classify(text), items, repeat=1)
    print(f"classify + detect language: {rate:8.0f} msgs/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    rate, p50, p99 = latency(lambda text, _lang: D.detect_language(text), items, repeat=1)
    print(f"detect only:                {rate:8.0f} msgs/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    print(f"RSS after {len(items) * 5} calls: {rss_mb():.0f} MB")

    per = defaultdict(lambda: [0, 0])
    for e in held + train:
        per[e.lang][0] += D.detect_language(e.text).language == e.lang
        per[e.lang][1] += 1
    total = sum(c for c, _ in per.values()) / sum(n for _, n in per.values())
    print(f"\n## language detection without locale: {total:.1%} over {sum(n for _, n in per.values())} messages")
    print("  " + ", ".join(f"{k} {c / n:.0%}" for k, (c, n) in sorted(per.items())))

    seen = {e.lang for e in train}
    for prefix, title in (
        ("eval-", "held-out set 1 (looked at during development: optimistic)"),
        ("eval2-", "held-out set 2 (rarer scenarios, blind to category tuning)"),
        ("eval3-", "held-out urgent list"),
    ):
        report(f"{clf.name}: {title}", clf, [e for e in held if e.id.startswith(prefix)], seen)
    report(f"{clf.name}: all held-out sets together", clf, held, seen)

    if args.cv:
        cv_gate_table(train)

    if args.e5:
        try:
            t0 = time.perf_counter()
            e5 = C.E5Classifier()
            print(f"\n# e5 backend: load {time.perf_counter() - t0:.1f} s (embeds {e5.trained_on} examples)")
            rate, p50, p99 = latency(e5.classify, items[:100], repeat=1)
            print(f"e5 classify: {rate:.0f} msgs/s  p50 {p50:.1f} ms  p99 {p99:.1f} ms; RSS {rss_mb():.0f} MB")
            for prefix in ("eval-", "eval2-", "eval3-"):
                report(f"{e5.name}: {prefix}", e5, [e for e in held if e.id.startswith(prefix)], seen)
        except C.ClassifierUnavailable as exc:
            print(f"\n# e5 backend unavailable: {exc}")

    if args.refine:
        bench_refine(clf, held, args.refine_rate, args.blind, args.blind2, args.refine_threads)

    bench_translation(args.libretranslate)


def _table(title: str, rows: list[tuple[str, bool, bool]]) -> None:
    """rows: (key, right before, right after) -> accuracy per key, before and after."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, before, after in rows:
        per[key][0] += before
        per[key][1] += after
        per[key][2] += 1
    print(f"{title:18} {'before':>7} {'after':>7} {'n':>4}")
    for key in sorted(per):
        b, a, n = per[key]
        print(f"{key:18} {b / n:7.1%} {a / n:7.1%} {n:4d}")
    b, a, n = (sum(v[i] for v in per.values()) for i in range(3))
    print(f"{'overall':18} {b / n:7.1%} {a / n:7.1%} {n:4d}")


def bench_refine(
    inline: C.Classifier,
    held: list[C.Example],
    rate: float | None,
    with_blind: bool,
    with_blind2: bool = False,
    threads: int | None = None,
) -> None:
    from services.config import Settings
    from services.core.lifecycle import REFINE_BELOW
    from services.jobs.refine import ACCEPT, ACCEPT_FROM_OTHER, replaces
    from services.language.refine import BLIND2_FILE, BLIND_FILE, RefiningClassifier

    threads = threads or Settings().refine_threads

    try:
        t0 = time.perf_counter()
        refiner = RefiningClassifier(cache_size=0)
    except C.ClassifierUnavailable as exc:
        print(f"\n# refining classifier unavailable: {exc}")
        return
    print(f"\n# refining classifier {refiner.name}: load {time.perf_counter() - t0:.1f} s; RSS {rss_mb():.0f} MB")
    print(
        f"inline answers sent when `other` or confidence < {REFINE_BELOW}; refined answer kept at >= {ACCEPT} "
        f"(>= {ACCEPT_FROM_OTHER} over an inline `other`)"
    )
    blind = C.load_examples(BLIND_FILE)
    sent_total = n_total = embedded_total = 0
    pool: list[C.Example] = []  # what the inline classifier sends of the held-out sets: the worker's mix
    for _prefix, title, examples in (
        ("eval-", "familiar phrasing (set 1, looked at: optimistic)", [e for e in held if e.id.startswith("eval-")]),
        ("eval2-", "rarer scenarios (set 2)", [e for e in held if e.id.startswith("eval2-")]),
        ("eval3-", "urgent list (set 3)", [e for e in held if e.id.startswith("eval3-")]),
        *((("blind-", "blind set (#17, measured once)", blind),) if with_blind else ()),
        *(
            (("blind2-", "blind set 2 (#17 second session, measured once)", C.load_examples(BLIND2_FILE)),)
            if with_blind2
            else ()
        ),
    ):
        before = [inline.classify(e.text, e.lang) for e in examples]
        sent = [b.category == "other" or b.confidence < REFINE_BELOW for b in before]
        answers: list = [None] * len(examples)
        for want in (True, False):  # what is sent apart, to count how much of it the cascade embeds
            idx = [i for i, s in enumerate(sent) if s == want]
            e0 = refiner.embedded
            got = refiner.classify_many([examples[i].text for i in idx], [examples[i].lang for i in idx])
            for i, a in zip(idx, got, strict=True):
                answers[i] = a
            if want:
                embedded = refiner.embedded - e0
                embedded_total += embedded
                if _prefix.startswith("eval"):
                    pool.extend(examples[i] for i in idx)
        alone = sum(a.category == e.category for a, e in zip(answers, examples)) / len(examples)
        after_cat, after_urgent = [], []
        for b, a, s in zip(before, answers, sent):
            take = s and replaces(b.category, a)
            after_cat.append(a.category if take else b.category)
            after_urgent.append(b.urgent or (s and a.urgent))
        sent_total += sum(sent)
        n_total += len(examples)
        print(
            f"\n## {title}: {sum(sent)}/{len(examples)} sent for refinement, {embedded} of those embedded "
            f"(the rest answered by the lexicon model alone, >= {refiner.lexicon_alone}); refiner alone {alone:.1%}"
        )
        _table(
            "language",
            [(e.lang, b.category == e.category, c == e.category) for e, b, c in zip(examples, before, after_cat)],
        )
        _table(
            "category",
            [(e.category, b.category == e.category, c == e.category) for e, b, c in zip(examples, before, after_cat)],
        )
        urgent = [(e.urgent, b.urgent, u) for e, b, u in zip(examples, before, after_urgent)]
        pos = [x for x in urgent if x[0]]
        neg = [x for x in urgent if not x[0]]
        if pos:
            print(
                f"urgent recall inline {sum(x[1] for x in pos)}/{len(pos)} ({sum(x[1] for x in pos) / len(pos):.1%}), "
                f"after {sum(x[2] for x in pos)}/{len(pos)}; false alarms inline {sum(x[1] for x in neg)}/{len(neg)} "
                f"({sum(x[1] for x in neg) / max(1, len(neg)):.1%}), after {sum(x[2] for x in neg)}/{len(neg)}"
            )
    share = sent_total / n_total
    print(f"\nembedded: {embedded_total}/{sent_total} of what was sent ({embedded_total / sent_total:.1%})")

    # cost per message, on what the inline classifier sends (the worker's mix), as written: the refiner
    # here has no cache (cache_size=0), so a repeated text is embedded again (a suffix to make texts
    # unique added ~6 tokens to ~18.5 and overstated the cost by ~30 %); the inline baseline's texts are
    # made unique (its language detection keeps an LRU of short texts): one at a time with the cascade
    # and with every text embedded, and in batches of 16
    texts = [(e.text, e.lang) for e in pool]
    held_texts = [(f"{e.text} #{i}", e.lang) for i, e in enumerate(held)]
    _, p50, p99 = latency(inline.classify, held_texts[:300], repeat=1)
    print(f"\n## cost per message (the {len(texts)} sent of sets 1-3)")
    print(f"inline (baseline, all held-out) p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    cascade = refiner.lexicon_alone
    for label, alone in (("every text embedded", 1.01), (f"cascade at {cascade}", cascade)):
        refiner.lexicon_alone = alone
        e0, c0 = refiner.embedded, time.process_time()
        _, r50, r99 = latency(refiner.classify, texts, repeat=1)
        cpu = (time.process_time() - c0) / len(texts) * 1000
        print(
            f"refiner, one at a time, {label:20} p50 {r50:7.2f} ms  p99 {r99:7.2f} ms  ({r50 / p50:.0f}x inline at "
            f"p50), {cpu:.1f} ms CPU/message, {(refiner.embedded - e0) / (len(texts) + 50):.0%} embedded"
        )
    refiner.lexicon_alone = 1.01
    batch = [t for t, _ in texts[:224]]
    t0 = time.perf_counter()
    for i in range(0, len(batch), 16):
        refiner.classify_many(batch[i : i + 16], ["en"] * len(batch[i : i + 16]))
    print(
        f"refiner, batches of 16, every text embedded {(time.perf_counter() - t0) / len(batch) * 1000:7.2f} ms/message"
    )

    # the worker at the pipeline bench's rate (and a quarter and half of it): arrivals on a schedule,
    # the refine worker's own threads, no cache, the cascade off and on in turn
    full = rate or 500 / 2 * share
    print("\n## the refine worker: arrival to answer per task")
    for r in (full / 4, full / 2, full) if rate is None else (rate,):
        for alone in (1.01, cascade):
            refiner.lexicon_alone = alone
            _worker_phase(refiner, texts, r, share, p99, threads)
    refiner.lexicon_alone = cascade


def _worker_phase(
    refiner, texts: list[tuple[str, str]], rate: float, share: float, inline_p99: float, threads: int
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    n = int(min(400, rate * 15))
    lat: list[float] = []
    lock = threading.Lock()

    def task(text: str, lang: str, due: float) -> None:
        refiner.classify(text, lang)
        with lock:
            lat.append(time.perf_counter() - due)

    start = time.perf_counter() + 0.1
    cpu0, e0 = time.process_time(), refiner.embedded
    with ThreadPoolExecutor(threads) as pool:
        for i in range(n):
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            text, lang = texts[i % len(texts)]
            pool.submit(task, text, lang, due)
    wall = time.perf_counter() - start
    cpu = (time.process_time() - cpu0) / n * 1000
    embedded = (refiner.embedded - e0) / n
    print(
        f"{'cascade' if refiner.lexicon_alone <= 1 else 'all embedded'}, {embedded:4.0%} embedded: "
        f"refine worker at {rate:5.0f} tasks/s ({share:.0%} of the pipeline bench's 250 openings/s at full), "
        f"{threads} threads, {n} tasks: p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:7.1f} ms  "
        f"({n / wall:.0f} tasks/s done, {cpu:.1f} ms CPU/task; classifier only); inline p99 {inline_p99:.2f} ms "
        f"in the same run; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
