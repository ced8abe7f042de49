"""HJ 663-2013 statistics, composite index, ranking and GB 3095 table 4 period validity (hand-derived values)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.standards.hj663 import (
    composite_index,
    hj663_percentile,
    period_statistic,
    period_validity,
    rank_ascending,
    required_valid_days,
)


def test_percentile_follows_the_hj663_interpolation_rule():
    # 1..10, p = 95: k = 1 + 9 * 0.95 = 9.55 -> X9 + 0.55 (X10 - X9) = 9.55
    assert hj663_percentile(range(1, 11), 95) == pytest.approx(9.55)
    # p = 90 of (3, 1, 2): sorted 1, 2, 3; k = 1 + 2 * 0.9 = 2.8 -> 2 + 0.8 = 2.8
    assert hj663_percentile([3, 1, np.nan, 2], 90) == pytest.approx(2.8)
    assert hj663_percentile([7.0], 95) == 7.0 and np.isnan(hj663_percentile([], 95))
    assert hj663_percentile(range(1, 11), 95) == pytest.approx(np.percentile(np.arange(1, 11), 95))


def test_period_statistics_and_index():
    assert period_statistic([10, 20, np.nan], "PM2.5") == 15
    assert period_statistic(range(1, 21), "CO") == pytest.approx(19.05)  # k = 1 + 19 * .95 = 19.05
    # grade II limits: PM2.5 35, PM10 70, SO2 60, NO2 40 (annual), CO 4 (24h), O3 160 (8h)
    stats = {"PM2.5": 35, "PM10": 70, "SO2": 60, "NO2": 40, "CO": 4, "O3_8h": 160}
    assert composite_index(stats) == pytest.approx(6.0)
    assert np.isnan(composite_index({**stats, "CO": np.nan}))
    with pytest.raises(ValueError, match="known"):
        period_statistic([1], "TSP")


def test_rank_ascending_shares_ties_and_skips_nan():
    r = rank_ascending(pd.Series([5.0, 4.0, 5.0, np.nan]))
    assert r.tolist()[:3] == [2.0, 1.0, 2.0] and np.isnan(r.iloc[3])


def test_period_validity_year_month_and_short_periods():
    need = required_valid_days("2016-01-01", "2017-01-01")
    assert need["period"] == 324 and need["2016-02"] == 25 and need["2016-03"] == 27 and len(need) == 13
    days = pd.date_range("2016-01-01", "2016-12-31")
    ok, why = period_validity(days, "2016-01-01", "2017-01-01")
    assert ok and why == ""
    short = days[~((days.month == 2) & (days.day > 24))]   # February keeps 24 days
    ok, why = period_validity(short, "2016-01-01", "2017-01-01")
    assert not ok and "2016-02: 24<25" in why
    # 2016-12-01..2017-01-10: December is a whole month (27), January partial; 27 days needed
    assert required_valid_days("2016-12-01", "2017-01-11") == {"2016-12": 27, "period": 27}
    assert required_valid_days("2016-12-01", "2016-12-03") == {"period": 2}
    assert period_validity([pd.Timestamp("2016-12-01")], "2016-12-01", "2016-12-03")[0] is False


def test_gbt8170_rounding_half_to_even():
    """GB/T 8170-2008's own examples and the ties that tell half-to-even from half-up."""
    from analytics.standards.hj663 import round_gbt8170

    assert round_gbt8170(12.1498, 0) == 12 and round_gbt8170(12.1498, 1) == 12.1
    assert round_gbt8170(10.5002, 0) == 11
    assert round_gbt8170(1.050, 1) == 1.0 and round_gbt8170(0.35, 1) == 0.4
    assert (round_gbt8170(2.5, 0), round_gbt8170(3.5, 0), round_gbt8170(-0.0365, 3)) == (2, 4, -0.036)
    assert round_gbt8170(5.711905, 2) == 5.71 and math.isnan(round_gbt8170(float("nan"), 0))


def test_statistics_and_index_are_rounded_only_when_asked():
    from analytics.standards.hj663 import round_index, round_statistic

    assert (round_statistic(66.875, "PM2.5"), round_statistic(1.45, "CO"), round_statistic(66.875, "PM2.5", None)) \
        == (67, 1.4, 66.875)
    assert (round_index(5.685714), round_index(5.685714, None)) == (5.69, 5.685714)
