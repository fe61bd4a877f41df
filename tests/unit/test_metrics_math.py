"""services.core.metrics_math: ratios, health classification, windows, folding facts. No I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core import metrics_math as mm
from services.core.policies import HealthThresholds
from services.core.ticket import Fact

T = HealthThresholds()  # 85 % / 5 % normal, 60 % / 45 % restricted
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
counts = st.integers(min_value=0, max_value=10_000)


# -- ratio ---------------------------------------------------------------------------------------
def test_ratio_is_none_when_nothing_was_counted():
    assert mm.ratio(0, 0) is None
    assert mm.ratio(3, 0) is None


def test_ratio_divides():
    assert mm.ratio(17, 20) == 0.85
    assert mm.ratio(0, 5) == 0.0
    assert mm.ratio(5, 5) == 1.0


@given(counts, st.integers(min_value=1, max_value=10_000))
def test_ratio_stays_between_0_and_1(num, den):
    r = mm.ratio(min(num, den), den)
    assert r is not None and 0.0 <= r <= 1.0


# -- classify: boundaries ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "csat, late, expected",
    [
        # nothing rated, no responses: a new merchant is normal
        (None, None, "normal"),
        # CSAT boundaries (late fine)
        (0.86, 0.0, "normal"),
        (0.85, 0.0, "warning"),  # "over 85 %" is exclusive
        (0.60, 0.0, "warning"),  # "under 60 %" is exclusive: exactly 60 % is not restricted
        (0.5999, 0.0, "restricted"),
        (0.0, None, "restricted"),
        # late boundaries (CSAT fine)
        (0.9, 0.0499, "normal"),
        (0.9, 0.05, "warning"),  # "under 5 %" is exclusive
        (0.9, 0.45, "warning"),  # "over 45 %" is exclusive: exactly 45 % is not restricted
        (0.9, 0.4501, "restricted"),
        (0.9, 1.0, "restricted"),
        # one side unknown
        (None, 0.0, "normal"),  # nothing rated counts as good CSAT
        (None, 0.05, "warning"),
        (None, 0.46, "restricted"),
        (1.0, None, "normal"),  # no responses at all: late ratio unknown, treated as fine
        (0.85, None, "warning"),
        (0.59, None, "restricted"),
        # restricted wins over normal-looking other side
        (1.0, 0.9, "restricted"),
        (0.1, 0.0, "restricted"),
    ],
)
def test_classify_boundaries(csat, late, expected):
    assert mm.classify(csat, late, T) == expected


@pytest.mark.parametrize(
    "satisfied, rated, expected",
    [
        (17, 20, "warning"),
        (18, 20, "normal"),
        (12, 20, "warning"),
        (11, 20, "restricted"),
        (34, 40, "warning"),
        (6, 10, "warning"),
    ],
)
def test_classify_exact_fractions_from_counts(satisfied, rated, expected):
    # Given ratios computed from counts, exactly 85 % and exactly 60 % land on the boundary
    assert mm.classify(mm.ratio(satisfied, rated), 0.0, T) == expected


@pytest.mark.parametrize(
    "late, responses, expected", [(1, 20, "warning"), (1, 21, "normal"), (9, 20, "warning"), (10, 21, "restricted")]
)
def test_classify_exact_late_fractions_from_counts(late, responses, expected):
    assert mm.classify(1.0, mm.ratio(late, responses), T) == expected


def test_classify_uses_the_given_thresholds():
    lenient = replace(T, csat_normal=0.7, late_normal=0.2, csat_restricted=0.3, late_restricted=0.8)
    assert mm.classify(0.75, 0.1, lenient) == "normal"
    assert mm.classify(0.75, 0.1, T) == "warning"
    assert mm.classify(0.5, 0.5, lenient) == "warning"
    assert mm.classify(0.5, 0.5, T) == "restricted"


ratios = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))


@given(ratios, ratios)
def test_classify_matches_the_contract_sentence(csat, late):
    state = mm.classify(csat, late, T)
    restricted = (late is not None and late > 0.45) or (csat is not None and csat < 0.60)
    normal = (csat is None or csat > 0.85) and (late is None or late < 0.05)
    assert state == ("restricted" if restricted else "normal" if normal else "warning")


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_classify_is_monotonic_in_csat(csat, late, more):
    order = {"restricted": 0, "warning": 1, "normal": 2}
    better = min(1.0, csat + more)
    assert order[mm.classify(better, late, T)] >= order[mm.classify(csat, late, T)]


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_classify_is_monotonic_in_late_ratio(csat, late, more):
    order = {"restricted": 0, "warning": 1, "normal": 2}
    worse = min(1.0, late + more)
    assert order[mm.classify(csat, worse, T)] <= order[mm.classify(csat, late, T)]


# -- windows -------------------------------------------------------------------------------------
def test_window_is_the_watermark_day_and_the_days_before():
    w = datetime(2026, 3, 9, 7, 0, tzinfo=timezone.utc)
    assert mm.window(w, 7) == (date(2026, 3, 3), date(2026, 3, 9))
    assert mm.window(w, 30) == (date(2026, 2, 8), date(2026, 3, 9))
    assert mm.window(w, 1) == (date(2026, 3, 9), date(2026, 3, 9))


def test_window_uses_the_utc_day_of_an_offset_instant():
    w = datetime(2026, 3, 9, 1, 0, tzinfo=timezone(timedelta(hours=8)))  # 2026-03-08T17:00Z
    assert mm.window(w, 7)[1] == date(2026, 3, 8)


def test_window_rejects_naive_times_and_empty_windows():
    with pytest.raises(ValueError):
        mm.utc_day(datetime(2026, 3, 9))
    with pytest.raises(ValueError):
        mm.window(T0, 0)


def test_in_window_drops_the_eighth_day():
    w = datetime(2026, 3, 9, 23, 59, tzinfo=timezone.utc)
    assert mm.in_window(date(2026, 3, 3), w, 7)
    assert not mm.in_window(date(2026, 3, 2), w, 7)
    assert not mm.in_window(date(2026, 3, 10), w, 7)  # a day after the watermark is not "last"


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    st.integers(min_value=1, max_value=60),
)
def test_window_spans_exactly_n_days_ending_on_the_watermark_day(w, n):
    first, last = mm.window(w, n)
    assert last == w.date()
    assert (last - first).days == n - 1
    assert mm.in_window(first, w, n) and not mm.in_window(first - timedelta(days=1), w, n)


def test_young_from_is_24_hours_before_the_watermark():
    assert mm.young_from(T0) == T0 - timedelta(hours=24)


def test_answered_in_time_includes_exactly_24_hours():
    assert mm.answered_in_time(0)
    assert mm.answered_in_time(86_400)
    assert not mm.answered_in_time(86_400.001)


# -- kpis from counters -------------------------------------------------------------------------
def test_kpis_of_empty_counters_are_undefined():
    k = mm.kpis(mm.Counters())
    assert (k.csat, k.late_response_ratio, k.response_24h_ratio, k.first_response_mean_seconds) == (None,) * 4


def test_kpis_leave_pending_young_tickets_out_of_the_24h_rate():
    c = mm.Counters(opened=10, answered_24h=6)
    assert mm.kpis(c).response_24h_ratio == 0.6
    k = mm.kpis(c, pending_young=2)  # 2 unanswered and under 24 h old: not counted yet
    assert k.response_24h_ratio == 6 / 8 and k.tickets_counted_24h == 8 and k.pending_24h == 2
    assert mm.kpis(mm.Counters(opened=3), pending_young=3).response_24h_ratio is None


def test_kpis_ratios_and_mean():
    c = mm.Counters(rated=4, satisfied=3, responses=5, late=1, first_responses=2, first_response_seconds=300.0)
    k = mm.kpis(c)
    assert (k.csat, k.late_response_ratio, k.first_response_mean_seconds) == (0.75, 0.2, 150.0)


@given(*(counts for _ in range(4)))
def test_counters_add_fieldwise(a, b, c, d):
    x, y = mm.Counters(rated=a, satisfied=b), mm.Counters(rated=c, late=d)
    s = x + y
    assert (s.rated, s.satisfied, s.late, s.responses) == (a + c, b, d, 0)
    assert bool(s) == bool(a or b or c or d)


# -- fold ------------------------------------------------------------------------------------------
def test_fold_puts_each_fact_in_its_day_and_the_24h_answer_in_the_opening_day():
    opened = T0.replace(hour=23)  # opened late on 2 March
    answered = opened + timedelta(hours=2)  # answered on 3 March, within 24 h
    f = mm.fold(
        [
            Fact("opened", "m1", "wish", opened),
            Fact("first_response", "m1", "wish", answered, value=7200.0, opened_at=opened),
            Fact("response", "m1", "wish", answered, late=False),
            Fact("rating", "m2", "chat", answered, value=4.0),
            Fact("rating", "m2", "chat", answered, value=3.0),
        ]
    )
    d2, d3 = date(2026, 3, 2), date(2026, 3, 3)
    assert f.merchant_days[("m1", d2)] == mm.Counters(opened=1, answered_24h=1)
    assert f.merchant_days[("m1", d3)] == mm.Counters(responses=1, first_responses=1, first_response_seconds=7200.0)
    assert f.merchant_days[("m2", d3)] == mm.Counters(rated=2, satisfied=1)
    assert f.platform_days[d3] == mm.Counters(
        rated=2, satisfied=1, responses=1, first_responses=1, first_response_seconds=7200.0
    )
    assert f.pending == {}  # opened and answered: nothing pending
    assert f.policies == {"m1": "wish", "m2": "chat"}
    assert f.newest == answered


def test_fold_late_first_response_does_not_count_as_answered():
    f = mm.fold([Fact("first_response", "m1", "wish", T0 + timedelta(hours=25), value=90_000.0, opened_at=T0)])
    assert ("m1", T0.date()) not in f.merchant_days  # nothing added to the opening day
    assert f.merchant_days[("m1", date(2026, 3, 3))] == mm.Counters(first_responses=1, first_response_seconds=90_000.0)
    assert f.pending == {("m1", T0): -1}


def test_fold_breach_response_is_late():
    f = mm.fold([Fact("response", "m1", "wish", T0, late=True)])
    assert f.merchant_days[("m1", T0.date())] == mm.Counters(responses=1, late=1)


def test_fold_opened_is_pending_until_answered():
    f = mm.fold([Fact("opened", "m1", "wish", T0), Fact("opened", "m1", "wish", T0)])
    assert f.pending == {("m1", T0): 2}


def test_fold_normalises_offsets_to_utc():
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    f = mm.fold([Fact("opened", "m1", "wish", local)])
    assert f.pending == {("m1", T0): 1} and f.newest == T0


def test_fold_rejects_unknown_kinds():
    with pytest.raises(ValueError):
        mm.fold([Fact("nonsense", "m1", "wish", T0)])  # type: ignore[arg-type]


kinds = st.sampled_from(["opened", "first_response", "response", "rating"])
facts = st.lists(
    st.builds(
        lambda kind, m, minutes, value, late: Fact(
            kind,
            m,
            "wish",
            T0 + timedelta(minutes=minutes),
            value=value,
            late=late,
            opened_at=T0 if kind == "first_response" else None,
        ),
        kinds,
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 60 * 24 * 40),
        st.integers(0, 200_000).map(float),
        st.booleans(),
    ),
    max_size=60,
)


@given(facts)
def test_fold_platform_days_are_the_sum_of_merchant_days(fs):
    f = mm.fold(fs)
    by_day: dict[date, mm.Counters] = {}
    for (_, d), c in f.merchant_days.items():
        by_day[d] = by_day.get(d, mm.Counters()) + c
    assert by_day == f.platform_days
    total = sum(f.platform_days.values(), mm.Counters())
    assert total.opened == sum(x.kind == "opened" for x in fs)
    assert total.rated == sum(x.kind == "rating" for x in fs)
    assert total.responses == sum(x.kind == "response" for x in fs)
    assert total.first_responses == sum(x.kind == "first_response" for x in fs)
    assert 0 <= total.satisfied <= total.rated and 0 <= total.late <= total.responses
    assert f.newest == (max(x.at for x in fs) if fs else None)


@given(facts, st.randoms())
def test_fold_does_not_depend_on_fact_order(fs, rnd):
    shuffled = list(fs)
    rnd.shuffle(shuffled)
    a, b = mm.fold(fs), mm.fold(shuffled)
    assert (a.merchant_days, a.platform_days, a.pending, a.newest) == (
        b.merchant_days,
        b.platform_days,
        b.pending,
        b.newest,
    )
