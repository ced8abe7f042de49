"""HJ 663-2013 ambient air quality evaluation: period statistics, the composite index, the ranking,
and the GB 3095-2012 table 4 period-validity rule per station and pollutant.

Period statistics (HJ 663-2013 table 2; standards.md 3.2): SO2, NO2, PM10, PM2.5 are evaluated by
the mean of the daily means; CO by the 95th percentile of the 24h means; O3 by the 90th percentile
of the daily maximum 8h means (the CO 95th / O3 90th are verified from a city bulletin; the rest
is UNVERIFIED against the official text). Percentiles follow HJ 663's own rule: sort ascending,
k = 1 + (n - 1) * p / 100, X_p = X_s + (X_s+1 - X_s) * (k - s) with s the integer part of k
(1-based), which is the "linear" percentile of numpy.

Composite index (综合指数): I_sum = sum over the six pollutants of statistic / grade II limit, the
limits being the annual limits for SO2, NO2, PM10, PM2.5, the 24h limit for CO and the 8h limit for
O3 (GB 3095-2012 table 1). Ranking: ascending index, rank 1 = cleanest; ties share the best rank.

Rounding (数值修约, UNVERIFIED: standards.md does not hold the text): each period statistic is
rounded to whole ug/m3 (CO to 0.1 mg/m3) and the composite index to two decimals before ranking,
half to even as GB/T 8170 prescribes (四舍六入五成双; the rule is in the corpus, the digits are our
reading of HJ 663-2013 and the MEE city ranking rules, which cite GB/T 8170). The digits are fields of
:class:`RoundingRules`; ``None`` keeps the unrounded arithmetic.

Period validity (GB 3095-2012 table 4, UNVERIFIED, standards.md 3.2): a year needs >= 324 valid
daily values and every month >= 27 (>= 25 in February). For a period shorter than a year only the
monthly rule applies, to every whole calendar month inside the period; a period shorter than a
month needs every day valid (our choice, there is no rule for it).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from analytics.standards.air_quality import GB3095_LIMITS

#: daily statistic (as :func:`analytics.standards.air_quality.daily_means` names it) -> (statistic, percentile)
PERIOD_STATISTIC: dict[str, tuple[str, float | None]] = {
    "PM2.5": ("mean", None), "PM10": ("mean", None), "SO2": ("mean", None), "NO2": ("mean", None),
    "CO": ("percentile", 95.0), "O3_8h": ("percentile", 90.0),
}
#: the GB 3095 grade II limit each period statistic is divided by in the composite index
INDEX_LIMIT_KEYS: dict[str, tuple[str, str]] = {
    "PM2.5": ("PM2.5", "annual"), "PM10": ("PM10", "annual"), "SO2": ("SO2", "annual"),
    "NO2": ("NO2", "annual"), "CO": ("CO", "24h"), "O3_8h": ("O3", "8h_max"),
}
INDEX_STATISTICS: tuple[str, ...] = tuple(PERIOD_STATISTIC)


@dataclass(frozen=True)
class PeriodValidityRules:
    """GB 3095-2012 table 4 minimum counts of valid daily values (UNVERIFIED; see module doc)."""

    min_days_year: int = 324
    min_days_month: int = 27
    min_days_february: int = 25


DEFAULT_PERIOD_VALIDITY = PeriodValidityRules()


@dataclass(frozen=True)
class RoundingRules:
    """Decimals of each period statistic and of the composite index (UNVERIFIED; see module doc)."""

    statistic_decimals: dict[str, int] = field(default_factory=lambda: {
        "PM2.5": 0, "PM10": 0, "SO2": 0, "NO2": 0, "CO": 1, "O3_8h": 0})
    index_decimals: int = 2


DEFAULT_ROUNDING = RoundingRules()


def round_gbt8170(value: float, decimals: int) -> float:
    """``value`` rounded to ``decimals`` half to even (GB/T 8170-2008), on its shortest decimal text so
    that 0.35 -> 0.4 as the standard's example says (binary 0.35 is a hair below); NaN stays NaN."""
    if value is None or math.isnan(value):
        return float("nan")
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))


def round_statistic(value: float, statistic: str, rules: RoundingRules | None = DEFAULT_ROUNDING) -> float:
    """A period statistic as reported: rounded by ``rules`` (unchanged when ``rules`` is None)."""
    return value if rules is None else round_gbt8170(value, rules.statistic_decimals[statistic])


def round_index(value: float, rules: RoundingRules | None = DEFAULT_ROUNDING) -> float:
    """The composite index as ranked: rounded by ``rules`` (unchanged when ``rules`` is None)."""
    return value if rules is None else round_gbt8170(value, rules.index_decimals)


def hj663_percentile(values, p: float) -> float:
    """The p-th percentile by HJ 663-2013's interpolation rule (NaN values ignored; NaN if none)."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100; got {p}")
    k = 1 + (x.size - 1) * p / 100.0
    s = int(math.floor(k))
    if s >= x.size:
        return float(x[-1])
    return float(x[s - 1] + (x[s] - x[s - 1]) * (k - s))


def period_statistic(daily_values, statistic: str) -> float:
    """The HJ 663 period statistic of one daily statistic's values (mean or percentile)."""
    try:
        kind, p = PERIOD_STATISTIC[statistic]
    except KeyError:
        raise ValueError(f"no HJ 663 period statistic for {statistic!r}; known: {', '.join(PERIOD_STATISTIC)}") from None
    x = np.asarray(daily_values, dtype=float)
    if kind == "mean":
        x = x[~np.isnan(x)]
        return float(x.mean()) if x.size else float("nan")
    return hj663_percentile(x, float(p))


def index_limit(statistic: str) -> float:
    """The grade II limit a statistic is divided by in the composite index (ug/m3; CO mg/m3)."""
    return float(GB3095_LIMITS[INDEX_LIMIT_KEYS[statistic]][1])


def composite_index(stats: dict[str, float] | pd.Series) -> float:
    """HJ 663 composite index: sum of statistic / limit over the six pollutants; NaN if one is missing."""
    total = 0.0
    for name in INDEX_STATISTICS:
        value = float(stats.get(name, float("nan")))
        if math.isnan(value):
            return float("nan")
        total += value / index_limit(name)
    return total


def rank_ascending(index: pd.Series) -> pd.Series:
    """Rank 1 = lowest (cleanest) index; ties share the best rank; NaN index -> NaN rank (not ranked)."""
    return index.rank(method="min", ascending=True)


def required_valid_days(start, end, rules: PeriodValidityRules = DEFAULT_PERIOD_VALIDITY) -> dict[str, int]:
    """Minimum valid days per calendar month ('YYYY-MM') and for the whole period ('period').

    ``start``/``end``: local dates, ``end`` exclusive.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    n_days = int((end - start).days)
    if n_days <= 0:
        raise ValueError(f"period end ({end.date()}) must be after its start ({start.date()})")
    need: dict[str, int] = {}
    month = start.to_period("M")
    while month.start_time < end:
        m_start, m_end = month.start_time, (month + 1).start_time
        if m_start >= start and m_end <= end:
            need[str(month)] = rules.min_days_february if month.month == 2 else rules.min_days_month
        month += 1
    is_year = start.month == 1 and start.day == 1 and end == start + pd.DateOffset(years=1)
    if is_year:
        need["period"] = rules.min_days_year
    elif not need:
        need["period"] = n_days
    else:
        need["period"] = sum(need.values())
    return need


def period_validity(valid_dates, start, end, rules: PeriodValidityRules = DEFAULT_PERIOD_VALIDITY) -> tuple[bool, str]:
    """Whether a series of valid daily values covers the period (GB 3095 table 4) and, if not, why.

    ``valid_dates``: the local dates that have a valid daily value.
    """
    dates = pd.DatetimeIndex(np.asarray(valid_dates, dtype="datetime64[ns]")).normalize()
    start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    dates = dates[(dates >= start_ts) & (dates < end_ts)].unique()
    need = _required_cached(start_ts, end_ts, rules)
    months = dict(zip(*np.unique(dates.strftime("%Y-%m"), return_counts=True), strict=True)) if len(dates) else {}
    short = [f"{m}: {int(months.get(m, 0))}<{n}" for m, n in need.items() if m != "period" and months.get(m, 0) < n]
    if len(dates) < need["period"]:
        short.insert(0, f"period: {len(dates)}<{need['period']}")
    return (not short, "; ".join(short))


@functools.lru_cache(maxsize=64)
def _required_cached(start: pd.Timestamp, end: pd.Timestamp, rules: PeriodValidityRules) -> dict[str, int]:
    return required_valid_days(start, end, rules)
