"""Ambient air: GB 3095-2012 limits, data-validity rules, daily statistics and exceedances.

Limits: GB 3095-2012 table 1 (basic items) and table 2 (other items), grade I (class 1 zones)
and grade II (class 2 zones); ug/m3, CO mg/m3 (standards.md 3.1, verified).

Validity (GB 3095-2012 table 4; standards.md 3.2 marks these UNVERIFIED against the official text,
so they are fields of :class:`ValidityRules`, not constants): a 24h mean needs >= 20 valid hourly
values; an 8h O3 mean needs >= 6 valid hourly values in its window; the daily maximum 8h O3 needs
>= 14 valid 8h means (HJ 663-2013, also unverified). A value is valid when it is present and its
HJ 212 flag is in ``valid_flags`` (default only "N": standards.md 1.8).

Clock: the store keeps naive UTC; GB 3095 days are natural days in China Standard Time, so the
functions shift by ``utc_offset_hours`` (default +8; pass 0 when ``ts`` is already CST). Hourly
values are labelled by the START of their hour; the 8h mean labelled h covers hours h-7..h; the
daily maximum 8h O3 takes the windows ending at local hours 07..23 (the 8:00-24:00 end times).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.vocabulary import AIR_POLLUTANTS

# GB 3095-2012 tables 1 and 2: (pollutant, averaging) -> (grade I, grade II).
# Averaging: "annual", "24h", "1h", "8h_max" (daily maximum 8h mean), "quarterly".
GB3095_LIMITS: dict[tuple[str, str], tuple[float, float]] = {
    ("SO2", "annual"): (20, 60), ("SO2", "24h"): (50, 150), ("SO2", "1h"): (150, 500),
    ("NO2", "annual"): (40, 40), ("NO2", "24h"): (80, 80), ("NO2", "1h"): (200, 200),
    ("CO", "24h"): (4, 4), ("CO", "1h"): (10, 10),
    ("O3", "8h_max"): (100, 160), ("O3", "1h"): (160, 200),
    ("PM10", "annual"): (40, 70), ("PM10", "24h"): (50, 150),
    ("PM2.5", "annual"): (15, 35), ("PM2.5", "24h"): (35, 75),
    ("TSP", "annual"): (80, 200), ("TSP", "24h"): (120, 300),
    ("NOx", "annual"): (50, 50), ("NOx", "24h"): (100, 100), ("NOx", "1h"): (250, 250),
    ("Pb", "annual"): (0.5, 0.5), ("Pb", "quarterly"): (1, 1),
    ("BaP", "annual"): (0.001, 0.001), ("BaP", "24h"): (0.0025, 0.0025),
}

DAILY_POLLUTANTS: tuple[str, ...] = AIR_POLLUTANTS
HOURS_PER_DAY = 24
O3_8H_WINDOW_END_HOURS: tuple[int, ...] = tuple(range(7, 24))  # 17 windows per day


@dataclass(frozen=True)
class ValidityRules:
    """Data-validity minimums (GB 3095-2012 table 4, HJ 663-2013); UNVERIFIED - see module doc."""

    min_hours_daily: int = 20
    min_hours_8h: int = 6
    min_8h_windows_daily: int = 14
    valid_flags: frozenset[str] = field(default_factory=lambda: frozenset({"N"}))


DEFAULT_VALIDITY = ValidityRules()


def gap_costing_a_valid_day_h(rules: ValidityRules = DEFAULT_VALIDITY) -> int:
    """Shortest run of missing hours [h] that can cost a station a valid day: a 24h mean needs
    ``min_hours_daily`` hourly values (GB 3095-2012 table 4, UNVERIFIED: standards.md 3.2), so
    24 - 20 + 1 = 5 missing hours inside one day leave too few."""
    return 24 - int(rules.min_hours_daily) + 1


def limit_ug_m3(pollutant: str, averaging: str, grade: int = 2) -> float:
    """GB 3095-2012 concentration limit (ug/m3; CO mg/m3) for grade 1 or 2."""
    if grade not in (1, 2):
        raise ValueError(f"grade must be 1 or 2 (GB 3095 class 1 / class 2 zones); got {grade!r}")
    try:
        return float(GB3095_LIMITS[(pollutant, averaging)][grade - 1])
    except KeyError:
        known = ", ".join(f"{p} {a}" for p, a in GB3095_LIMITS)
        raise ValueError(f"no GB 3095 limit for {pollutant!r} {averaging!r}; known: {known}") from None


def _check_readings(readings: pd.DataFrame) -> None:
    missing = {"station_id", "ts", "parameter", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns {sorted(missing)}; need station_id, ts, parameter, value[, flag]")


def valid_mask(readings: pd.DataFrame, rules: ValidityRules = DEFAULT_VALIDITY) -> pd.Series:
    """True where a reading counts for averaging: value present and flag in ``rules.valid_flags``
    (a missing ``flag`` column means every flag is "N")."""
    ok = readings["value"].notna()
    if "flag" in readings.columns:
        ok &= readings["flag"].fillna("N").isin(rules.valid_flags)
    elif "N" not in rules.valid_flags:
        ok &= False
    return ok


def _local_hours(readings: pd.DataFrame, utc_offset_hours: float) -> pd.Series:
    return (pd.to_datetime(readings["ts"]) + pd.Timedelta(hours=utc_offset_hours)).dt.floor("h")


def _daily_plain(r: pd.DataFrame, rules: ValidityRules) -> pd.DataFrame:
    grouped = r.groupby(["station_id", "date", "parameter"], sort=True)
    out = grouped.agg(value=("v", "mean"), n_valid=("v", "count")).reset_index()
    out["n_expected"] = HOURS_PER_DAY
    out["valid"] = out["n_valid"] >= rules.min_hours_daily
    out["averaging"] = "24h"
    return out


def _o3_grid(o3: pd.DataFrame) -> pd.DataFrame:
    """Station x local-hour grid of valid O3 hourly values (NaN = missing/invalid)."""
    hourly = o3.groupby(["local_hour", "station_id"])["v"].mean().unstack("station_id")
    start = hourly.index.min().normalize() - pd.Timedelta(hours=7)
    end = hourly.index.max().normalize() + pd.Timedelta(hours=23)
    return hourly.reindex(pd.date_range(start, end, freq="h"))


def _o3_8h_grid(grid: pd.DataFrame, rules: ValidityRules) -> pd.DataFrame:
    """8h moving means labelled by the last hour of the window (hours h-7..h), NaN below the minimum."""
    return grid.rolling(8, min_periods=rules.min_hours_8h).mean()


def o3_8h_moving_means(readings: pd.DataFrame, *, rules: ValidityRules = DEFAULT_VALIDITY,
                       utc_offset_hours: float = 8.0) -> pd.DataFrame:
    """O3 8h moving means (ug/m3) per station and local hour h over hours h-7..h.

    A mean needs ``rules.min_hours_8h`` valid hours. Returns station_id, local_hour, value
    (NaN rows dropped). Matches CNEMC's published ``O3_8h`` rows (tests).
    """
    _check_readings(readings)
    r = readings[readings["parameter"] == "O3"]
    if r.empty:
        return pd.DataFrame(columns=["station_id", "local_hour", "value"])
    ok = valid_mask(r, rules)
    o3 = pd.DataFrame({"station_id": r["station_id"].astype(str), "local_hour": _local_hours(r, utc_offset_hours),
                       "v": r["value"].astype(float).where(ok)})
    mean8 = _o3_8h_grid(_o3_grid(o3), rules)
    long = mean8.stack().rename("value").reset_index()
    long.columns = ["local_hour", "station_id", "value"]
    return long[["station_id", "local_hour", "value"]].sort_values(["station_id", "local_hour"], ignore_index=True)


def _daily_o3(o3: pd.DataFrame, rules: ValidityRules) -> pd.DataFrame:
    if o3.empty:
        return pd.DataFrame()
    grid = _o3_grid(o3)
    mean8 = _o3_8h_grid(grid, rules)
    mean8 = mean8[mean8.index.hour.isin(O3_8H_WINDOW_END_HOURS)]
    days = o3[["station_id", "date"]].drop_duplicates()

    def per_day(frame: pd.DataFrame, name: str, n_expected: int, min_valid: int) -> pd.DataFrame:
        long = frame.stack(future_stack=True).rename("v").reset_index()
        long.columns = ["local_hour", "station_id", "v"]
        long["date"] = long["local_hour"].dt.normalize()
        agg = long.groupby(["station_id", "date"]).agg(value=("v", "max"), n_valid=("v", "count")).reset_index()
        agg = days.merge(agg, on=["station_id", "date"], how="left")
        agg["n_valid"] = agg["n_valid"].fillna(0).astype(int)
        agg["parameter"] = name
        agg["n_expected"] = n_expected
        agg["valid"] = agg["n_valid"] >= min_valid
        return agg

    o3_8h = per_day(mean8, "O3_8h", len(O3_8H_WINDOW_END_HOURS), rules.min_8h_windows_daily)
    o3_8h["averaging"] = "8h_max"
    in_days = grid[grid.index.normalize().isin(days["date"].unique())]
    o3_1h = per_day(in_days, "O3_1h", HOURS_PER_DAY, rules.min_hours_daily)
    o3_1h["averaging"] = "1h_max"
    return pd.concat([o3_8h, o3_1h], ignore_index=True)


def daily_means(readings: pd.DataFrame, *, rules: ValidityRules = DEFAULT_VALIDITY, grade: int = 2,
                utc_offset_hours: float = 8.0,
                parameters: tuple[str, ...] = DAILY_POLLUTANTS) -> pd.DataFrame:
    """Daily statistics per station, local (CST) day and pollutant, with validity and exceedance.

    ``readings``: long format (station_id, ts, parameter, value[, flag]), hourly values.
    Returns one row per station-day-statistic with columns ``station_id, date`` (local midnight),
    ``parameter`` (PM2.5, PM10, SO2, NO2, CO: 24h mean; O3_8h: daily max 8h mean; O3_1h: daily
    max hourly value), ``averaging``, ``value`` (ug/m3, CO mg/m3; computed from the valid hours
    even when too few), ``n_valid``, ``n_expected`` (24 hours, or 17 8h windows),
    ``capture_rate`` (= n_valid / n_expected), ``valid`` (validity rule met), ``limit``
    (GB 3095 grade ``grade``) and ``exceedance`` (valid and value > limit).
    The frame has the columns :func:`daily_aqi <analytics.standards.aqi.daily_aqi>` needs after
    ``pivot(index=[station_id, date], columns=parameter, values=value)``.
    """
    _check_readings(readings)
    columns = ["station_id", "date", "parameter", "averaging", "value", "n_valid", "n_expected",
               "capture_rate", "valid", "limit", "exceedance"]
    r = readings[readings["parameter"].isin(parameters)]
    if r.empty:
        return pd.DataFrame(columns=columns)
    ok = valid_mask(r, rules)
    r = pd.DataFrame({
        "station_id": r["station_id"].astype(str),
        "parameter": r["parameter"],
        "local_hour": _local_hours(r, utc_offset_hours),
        "v": r["value"].astype(float).where(ok),
    })
    r["date"] = r["local_hour"].dt.normalize()
    plain = _daily_plain(r[r["parameter"] != "O3"], rules)
    o3 = _daily_o3(r[r["parameter"] == "O3"], rules)
    out = pd.concat([x for x in (plain, o3) if not x.empty], ignore_index=True)
    out["capture_rate"] = out["n_valid"] / out["n_expected"]
    limit_keys = {"O3_8h": ("O3", "8h_max"), "O3_1h": ("O3", "1h")}
    out["limit"] = [
        GB3095_LIMITS.get(limit_keys.get(p, (p, "24h")), (np.nan, np.nan))[grade - 1] for p in out["parameter"]
    ]
    with np.errstate(invalid="ignore"):
        out["exceedance"] = out["valid"] & (out["value"] > out["limit"])
    return out[columns].sort_values(["station_id", "date", "parameter"], ignore_index=True)


def hourly_exceedance(readings: pd.DataFrame, *, grade: int = 2,
                      rules: ValidityRules = DEFAULT_VALIDITY) -> pd.DataFrame:
    """Valid hourly values above the GB 3095 1h limit (SO2, NO2, CO, O3, NOx); other rows dropped.

    Returns the matching readings with added ``limit`` and ``exceedance`` (bool) columns.
    """
    _check_readings(readings)
    limits = {p: v[grade - 1] for (p, a), v in GB3095_LIMITS.items() if a == "1h"}
    r = readings[readings["parameter"].isin(limits)].copy()
    r["limit"] = r["parameter"].map(limits).astype(float)
    r["exceedance"] = valid_mask(r, rules) & (r["value"] > r["limit"])
    return r


def capture_rate(readings: pd.DataFrame, start, end, *, rules: ValidityRules = DEFAULT_VALIDITY) -> pd.DataFrame:
    """Data capture rate (数据有效率) per station and parameter over ``[start, end)``.

    = valid hourly values / expected hours in the period (hours between start and end, on the
    clock of ``ts``). Station-parameters with no reading at all do not appear (the caller knows
    which ones it expected). Returns station_id, parameter, n_valid, n_expected, capture_rate.
    """
    _check_readings(readings)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    n_expected = int((end - start) / pd.Timedelta(hours=1))
    if n_expected <= 0:
        raise ValueError(f"end ({end}) must be after start ({start})")
    ts = pd.to_datetime(readings["ts"])
    r = readings[(ts >= start) & (ts < end)]
    ok = valid_mask(r, rules)
    hours = pd.to_datetime(r["ts"]).dt.floor("h")
    tmp = pd.DataFrame({"station_id": r["station_id"], "parameter": r["parameter"], "hour": hours.where(ok)})
    out = tmp.groupby(["station_id", "parameter"])["hour"].nunique().rename("n_valid").reset_index()
    out["n_expected"] = n_expected
    out["capture_rate"] = out["n_valid"] / n_expected
    return out
