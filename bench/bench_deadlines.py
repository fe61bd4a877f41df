"""Deadline throughput: services.core.business_time.Calendar.add vs the businesstimedelta package.

Run: python bench/bench_deadlines.py [--inputs N] [--seconds S]

Same calendars, same (start, duration) inputs, same process. Figures only, no
assertions; the mismatch count is there to show both sides computed the same deadlines.
"Cold" times a fresh Calendar (empty per-calendar day cache) on one pass over the
inputs; "warm" repeats passes on one Calendar, as a long-running worker would.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytz
from businesstimedelta import BusinessTimeDelta, HolidayRule, Rules, WorkDayRule

from services.core.business_time import Calendar, parse_duration

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Hungarian public holidays 2026-2028 (weekday ones matter for a Mon-Fri calendar).
HU_HOLIDAYS = [
    "2026-01-01",
    "2026-01-02",
    "2026-03-15",
    "2026-04-03",
    "2026-04-06",
    "2026-05-01",
    "2026-05-25",
    "2026-08-20",
    "2026-08-21",
    "2026-10-23",
    "2026-11-01",
    "2026-12-24",
    "2026-12-25",
    "2026-12-26",
    "2027-01-01",
    "2027-03-15",
    "2027-03-26",
    "2027-03-29",
    "2027-05-01",
    "2027-05-17",
    "2027-08-20",
    "2027-10-23",
    "2027-11-01",
    "2027-12-24",
    "2027-12-25",
    "2027-12-26",
    "2028-01-01",
    "2028-03-15",
    "2028-04-14",
    "2028-04-17",
    "2028-05-01",
    "2028-06-05",
    "2028-08-20",
    "2028-10-23",
    "2028-11-01",
    "2028-12-24",
    "2028-12-25",
    "2028-12-26",
]


def douyin() -> tuple[Callable[[], Calendar], Rules, list[str]]:
    def make() -> Calendar:
        return Calendar.from_mapping(
            {"timezone": "Asia/Shanghai", "week": {d: [["09:00", "21:00"]] for d in EVERY_DAY}}
        )

    rules = Rules(
        [
            WorkDayRule(
                start_time=dtime(9), end_time=dtime(21), working_days=list(range(7)), tz=pytz.timezone("Asia/Shanghai")
            )
        ]
    )
    return make, rules, ["PT2H", "PT12H", "PT24H", "PT48H", "P3D"]


def office() -> tuple[Callable[[], Calendar], Rules, list[str]]:
    def make() -> Calendar:
        return Calendar.from_mapping(
            {
                "timezone": "Europe/Budapest",
                "week": {d: [["09:00", "17:00"]] for d in EVERY_DAY[:5]},
                "holidays": HU_HOLIDAYS,
            }
        )

    tz = pytz.timezone("Europe/Budapest")
    rules = Rules(
        [
            WorkDayRule(start_time=dtime(9), end_time=dtime(17), working_days=[0, 1, 2, 3, 4], tz=tz),
            HolidayRule({date.fromisoformat(h) for h in HU_HOLIDAYS}, tz=tz),
        ]
    )
    return make, rules, ["PT1H", "PT4H", "PT8H", "PT24H", "P2D", "P5D", "P30D"]


def inputs(rng: random.Random, durations: list[str], n: int) -> list[tuple[datetime, timedelta]]:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    parsed = [parse_duration(d) for d in durations]
    return [(t0 + timedelta(seconds=rng.randrange(365 * 86400)), rng.choice(parsed)) for _ in range(n)]


def rate(fn: Callable[[], None], count: int, budget: float) -> tuple[float, int]:
    """Computations per second over as many passes as fit in ``budget`` seconds (at least one)."""
    passes, spent = 0, 0.0
    while passes == 0 or spent < budget:
        t = time.perf_counter()
        fn()
        spent += time.perf_counter() - t
        passes += 1
    return passes * count / spent, passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000, help="inputs per calendar (default 1000)")
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement (default 2)")
    args = ap.parse_args()
    rng = random.Random(20260302)

    print(f"{'calendar':<34} {'impl':<26} {'adds/s':>12} {'ratio':>8}")
    for name, (make, rules, durations) in {
        "douyin 09-21 daily Asia/Shanghai": douyin(),
        "weekdays 09-17 Budapest +holidays": office(),
    }.items():
        data = inputs(rng, durations, args.inputs)

        # businesstimedelta first: slower, so give it a subset if one pass would blow the budget.
        probe = data[: max(1, len(data) // 20)]
        t = time.perf_counter()
        for s, d in probe:
            s + BusinessTimeDelta(rules, timedelta=d)
        per = (time.perf_counter() - t) / len(probe)
        btd_data = data if per * len(data) <= args.seconds else data[: max(len(probe), int(args.seconds / per))]
        btd_results: list[datetime] = []

        def run_btd() -> None:
            btd_results[:] = [s + BusinessTimeDelta(rules, timedelta=d) for s, d in btd_data]

        btd_rate, _ = rate(run_btd, len(btd_data), args.seconds)

        cold_cal = make()
        t = time.perf_counter()
        ours = [cold_cal.add(s, d) for s, d in data]
        cold_rate = len(data) / (time.perf_counter() - t)
        warm_cal = make()
        warm_rate, _ = rate(lambda: [warm_cal.add(s, d) for s, d in data], len(data), args.seconds)

        mismatches = sum(1 for a, b in zip(ours, btd_results) if a != b)
        print(f"{name:<34} {'businesstimedelta':<26} {btd_rate:>12,.0f} {1.0:>8.1f}")
        print(f"{'':<34} {'Calendar.add (cold cache)':<26} {cold_rate:>12,.0f} {cold_rate / btd_rate:>8.1f}")
        print(f"{'':<34} {'Calendar.add (warm)':<26} {warm_rate:>12,.0f} {warm_rate / btd_rate:>8.1f}")
        print(
            f"{'':<34} inputs={len(data)} (businesstimedelta on {len(btd_data)}), durations={','.join(durations)}, "
            f"mismatches={mismatches}"
        )


if __name__ == "__main__":
    main()
