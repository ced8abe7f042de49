"""Air Quality Index per HJ 633-2012 (环境空气质量指数 AQI 技术规定（试行）).

Units: SO2, NO2, O3, PM10, PM2.5 in ug/m3; CO in mg/m3 (the units of analytics/vocabulary.py).

- IAQI (空气质量分指数) is linear between the breakpoints of HJ 633-2012 table 1:
  ``IAQI = (IAQI_hi - IAQI_lo) / (BP_hi - BP_lo) * (C - BP_lo) + IAQI_lo``, rounded UP to an
  integer (ceil), as CNEMC publishes it (checked against the 2017-01-01 national day file in
  ``tests/analytics/test_standards_aqi.py``).
- Above the top of a table: SO2 1h > 800 ug/m3 has no 1h IAQI and the 24h-based IAQI is reported
  instead; O3 8h > 800 ug/m3 has no 8h IAQI and the 1h-based IAQI is used (table 1 notes 2 and 3).
  Concentrations above the top of a full table (IAQI 500) give IAQI 500 (CNEMC caps there).
- AQI = max IAQI; primary pollutant (首要污染物) = the pollutant(s) whose IAQI equals the AQI when
  AQI > 50 (ties: all, comma-separated); none when AQI <= 50.

Breakpoint tables are data (:data:`BREAKPOINT_TABLES`). ``hj633_2012`` is the default. A revised
table with PM2.5 IAQI-100 at 60 ug/m3 and PM10 at 120 ug/m3 (everything else unchanged) circulates
in several public code copies labelled "HJ 633-2026"; its status is unverified here
(standards.md section 2), so it is available as ``hj633_revision`` and chosen by the ``table``
argument (the application passes its ``aqi_table`` setting, env ``ENVTRUST_AQI_TABLE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.vocabulary import AIR_POLLUTANTS

POLLUTANTS: tuple[str, ...] = AIR_POLLUTANTS
IAQI_POINTS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)
DEFAULT_TABLE = "hj633_2012"

# HJ 633-2012 table 1: concentration at IAQI 0, 50, 100, 150, 200, 300, 400, 500.
_HJ633_2012: dict[tuple[str, str], tuple[float, ...]] = {
    ("SO2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("SO2", "1h"): (0, 150, 500, 650, 800),  # note 2: no 1h IAQI above 800
    ("NO2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("NO2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("PM10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("CO", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("CO", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("O3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("O3", "8h"): (0, 100, 160, 215, 265, 800),  # note 3: no 8h IAQI above 800
    ("PM2.5", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
}

BREAKPOINT_TABLES: dict[str, dict[tuple[str, str], tuple[float, ...]]] = {
    "hj633_2012": _HJ633_2012,
    "hj633_revision": {
        **_HJ633_2012,
        ("PM10", "24h"): (0, 50, 120, 250, 350, 420, 500, 600),
        ("PM2.5", "24h"): (0, 35, 60, 115, 150, 250, 350, 500),
    },
}

# Which table applies to which hourly value in the real-time (hourly) AQI: CNEMC applies the 24h
# PM tables to hourly PM values (HJ 633 has no 1h PM table); gases use their 1h tables.
HOURLY_AVERAGING: dict[str, str] = {
    "PM2.5": "24h", "PM10": "24h", "SO2": "1h", "NO2": "1h", "CO": "1h", "O3": "1h",
}
# Daily AQI inputs: column name -> (pollutant, averaging).
DAILY_COLUMNS: dict[str, tuple[str, str]] = {
    "PM2.5": ("PM2.5", "24h"), "PM10": ("PM10", "24h"), "SO2": ("SO2", "24h"),
    "NO2": ("NO2", "24h"), "CO": ("CO", "24h"), "O3_8h": ("O3", "8h"), "O3_1h": ("O3", "1h"),
}


@dataclass(frozen=True)
class AqiLevel:
    """One AQI category of HJ 633-2012 table 2 with its annex colour."""

    level: int  # 1..6
    roman: str
    aqi_min: int
    aqi_max: int | None  # None = open-ended
    name_zh: str
    name_en: str
    colour_hex: str
    colour_name: str


# HJ 633-2012 table 2 and annex A colours (RGB 0,228,0 / 255,255,0 / 255,126,0 / 255,0,0 /
# 153,0,76 / 126,0,35). English names per the project glossary.
AQI_LEVELS: dict[int, AqiLevel] = {
    1: AqiLevel(1, "I", 0, 50, "优", "Excellent", "#00E400", "green"),
    2: AqiLevel(2, "II", 51, 100, "良", "Good", "#FFFF00", "yellow"),
    3: AqiLevel(3, "III", 101, 150, "轻度污染", "Lightly polluted", "#FF7E00", "orange"),
    4: AqiLevel(4, "IV", 151, 200, "中度污染", "Moderately polluted", "#FF0000", "red"),
    5: AqiLevel(5, "V", 201, 300, "重度污染", "Heavily polluted", "#99004C", "purple"),
    6: AqiLevel(6, "VI", 301, None, "严重污染", "Severely polluted", "#7E0023", "maroon"),
}


def resolve_table_name(table: str | None = None) -> str:
    """The breakpoint table to use (``None`` = :data:`DEFAULT_TABLE`); an unknown name fails loudly."""
    table = table or DEFAULT_TABLE
    if table not in BREAKPOINT_TABLES:
        raise ValueError(f"unknown AQI breakpoint table {table!r}; known: {', '.join(BREAKPOINT_TABLES)}")
    return table


def breakpoints(pollutant: str, averaging: str, table: str | None = None) -> tuple[float, ...]:
    """Concentrations at IAQI 0, 50, 100, ... for one pollutant and averaging period."""
    tab = BREAKPOINT_TABLES[resolve_table_name(table)]
    try:
        return tab[(pollutant, averaging)]
    except KeyError:
        known = ", ".join(f"{p} {a}" for p, a in tab)
        raise ValueError(f"no IAQI breakpoints for {pollutant!r} {averaging!r}; known: {known}") from None


def _ceil_int(x: np.ndarray) -> np.ndarray:
    """Ceil, robust to float noise (100.0000000001 -> 100)."""
    return np.ceil(np.round(x, 6))


def _iaqi_linear(conc: np.ndarray, bps: tuple[float, ...]) -> np.ndarray:
    """Piecewise-linear IAQI; NaN where conc is NaN, negative, or above the table top."""
    bp = np.asarray(bps, dtype=float)
    pts = np.asarray(IAQI_POINTS[: len(bp)], dtype=float)
    out = np.interp(conc, bp, pts)
    with np.errstate(invalid="ignore"):
        bad = np.isnan(conc) | (conc < 0) | (conc > bp[-1])
    return np.where(bad, np.nan, out)


def _iaqi_array(pollutant: str, conc: np.ndarray, averaging: str, fallback: np.ndarray | None,
                table: str) -> np.ndarray:
    bps = breakpoints(pollutant, averaging, table)
    out = _iaqi_linear(conc, bps)
    with np.errstate(invalid="ignore"):
        above = conc > bps[-1]
    if not above.any():
        return out
    if (pollutant, averaging) == ("SO2", "1h"):
        # HJ 633-2012 table 1 note 2: report the 24h-based IAQI instead.
        src = conc if fallback is None else fallback
        alt = _iaqi_array("SO2", src, "24h", None, table)
    elif (pollutant, averaging) == ("O3", "8h"):
        # HJ 633-2012 table 1 note 3: report the 1h-based IAQI instead.
        src = conc if fallback is None else fallback
        alt = _iaqi_array("O3", src, "1h", None, table)
    else:
        alt = np.full_like(out, float(IAQI_POINTS[len(bps) - 1]))  # cap at 500
    return np.where(above, alt, out)


def iaqi(pollutant: str, conc, averaging: str, *, fallback_conc=None, table: str | None = None,
         ceil: bool = True):
    """IAQI of concentrations (ug/m3; CO mg/m3) per HJ 633-2012 table 1, vectorised.

    ``averaging`` is "1h", "24h" or "8h" (O3 only). Scalars give a float, numpy arrays an array,
    pandas Series a Series with the same index. NaN and negative concentrations give NaN.
    ``fallback_conc`` (same shape) serves the above-table rules: for SO2 1h > 800 it is the SO2
    24h mean, for O3 8h > 800 the O3 1h value; when omitted the same concentration is evaluated
    on the other table (for O3 this is a lower bound, since the 1h maximum >= the 8h mean).
    ``ceil=False`` returns the unrounded linear value.
    """
    table = resolve_table_name(table)
    index = conc.index if isinstance(conc, pd.Series) else None
    arr = np.asarray(conc, dtype=float)
    fb = None if fallback_conc is None else np.broadcast_to(np.asarray(fallback_conc, dtype=float), arr.shape)
    out = _iaqi_array(pollutant, arr, averaging, fb, table)
    if ceil:
        out = _ceil_int(out)
    if index is not None:
        return pd.Series(out, index=index, name=f"iaqi_{pollutant}")
    if out.ndim == 0:
        return float(out)
    return out


def aqi_level(aqi):
    """AQI category 1..6 (HJ 633-2012 table 2) of an AQI value; NaN -> None (scalar) / <NA>.

    Non-integer AQI values are rounded up first (AQI is reported as an integer, ceil).
    """
    arr = np.asarray(aqi, dtype=float)
    a = _ceil_int(arr)
    level = np.digitize(a, [51, 101, 151, 201, 301]) + 1
    if arr.ndim == 0:
        return None if np.isnan(arr) else int(level)
    result = pd.arrays.IntegerArray(np.asarray(level, dtype=np.int64).ravel(), np.isnan(a).ravel())
    if isinstance(aqi, pd.Series):
        return pd.Series(result, index=aqi.index, name="level")
    return result


def _join_names(mask: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Per row, the comma-joined names where ``mask`` is True (None if none); vectorised via bit codes."""
    codes = mask.astype(np.int64) @ (np.int64(1) << np.arange(mask.shape[1], dtype=np.int64))
    uniq, inverse = np.unique(codes, return_inverse=True)
    labels = np.array([",".join(names[[(u >> i) & 1 == 1 for i in range(len(names))]]) or None for u in uniq],
                      dtype=object)
    return labels[inverse.reshape(-1)] if len(uniq) else np.array([], dtype=object)


def _aqi_from_iaqi(iaqis: pd.DataFrame) -> pd.DataFrame:
    """AQI, level and primary pollutant(s) from a frame of integer IAQI columns."""
    values = iaqis.to_numpy(dtype=float)
    all_nan = np.isnan(values).all(axis=1)
    filled = np.where(np.isnan(values), -np.inf, values)
    aqi = np.where(all_nan, np.nan, filled.max(axis=1))
    names = np.asarray(iaqis.columns, dtype=object)
    is_max = (filled == aqi[:, None]) & (aqi[:, None] > 50)
    primary = _join_names(is_max, names)
    out = pd.DataFrame({"aqi": aqi}, index=iaqis.index)
    out["level"] = aqi_level(out["aqi"])
    out["primary_pollutant"] = pd.Series(primary, index=iaqis.index, dtype=object)
    return out


SO2_OVER_800_RULES = ("24h", "omit")


def hourly_aqi(wide: pd.DataFrame, *, table: str | None = None, so2_24h: pd.Series | None = None,
               so2_over_800: str = "24h") -> pd.DataFrame:
    """Real-time (hourly) AQI from hourly concentrations, the way CNEMC publishes it.

    ``wide`` has one row per station-hour and any of the columns PM2.5, PM10, SO2, NO2, CO, O3
    (hourly values; other columns ignored). SO2, NO2, CO and O3 use their 1h tables. HJ 633 has
    no 1h table for particulates, so PM2.5 and PM10 hourly values are evaluated on the 24h table
    (CNEMC practice; reproduces the published AQI of the national day file). SO2 1h > 800 uses
    the 24h table, applied to ``so2_24h`` when given (same index), else to the hourly value
    (``so2_over_800="24h"``, HJ 633 table 1 note 2). CNEMC's published real-time AQI instead leaves
    SO2 out of the AQI in those hours (2 of 25,736 station-hours on 2017-01-01, both reproduced
    exactly with ``so2_over_800="omit"``).

    Returns, on the input index: ``aqi`` (float, integer-valued, NaN when no pollutant is
    present), ``level`` (Int64 1..6), ``primary_pollutant`` (str or None) and one
    ``iaqi_<pollutant>`` column per pollutant present.
    """
    table = resolve_table_name(table)
    present = [p for p in POLLUTANTS if p in wide.columns]
    if not present:
        raise ValueError(f"hourly_aqi needs at least one of the columns {', '.join(POLLUTANTS)}; got {list(wide.columns)}")
    if so2_over_800 not in SO2_OVER_800_RULES:
        raise ValueError(f"so2_over_800 must be one of {SO2_OVER_800_RULES}; got {so2_over_800!r}")
    iaqis = pd.DataFrame(index=wide.index)
    for p in present:
        conc = wide[p].to_numpy(dtype=float)
        fb = so2_24h.reindex(wide.index) if (p == "SO2" and so2_24h is not None) else None
        values = iaqi(p, conc, HOURLY_AVERAGING[p], fallback_conc=fb, table=table)
        if p == "SO2" and so2_over_800 == "omit":
            with np.errstate(invalid="ignore"):
                values = np.where(conc > breakpoints("SO2", "1h", table)[-1], np.nan, values)
        iaqis[p] = values
    out = _aqi_from_iaqi(iaqis)
    for p in present:
        out[f"iaqi_{p}"] = iaqis[p]
    return out


def aqi_from_readings(readings: pd.DataFrame, *, table: str | None = None, so2_over_800: str = "24h",
                      valid_flags: frozenset[str] = frozenset({"N"})) -> pd.DataFrame:
    """Hourly AQI from long readings (station_id, ts, parameter, value[, flag]).

    Only values with a valid HJ 212 flag count (default "N"); other parameters are ignored.
    Returns station_id, ts (same clock as the input), aqi, level, primary_pollutant and the
    ``iaqi_<pollutant>`` columns, one row per station-hour that has any pollutant value.
    """
    missing = {"station_id", "ts", "parameter", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns {sorted(missing)}")
    r = readings[readings["parameter"].isin(POLLUTANTS)]
    if "flag" in r.columns:
        r = r[r["flag"].fillna("N").isin(valid_flags)]
    r = r[r["value"].notna()]
    if r.empty:
        return pd.DataFrame(columns=["station_id", "ts", "aqi", "level", "primary_pollutant"])
    wide = r.pivot_table(index=["station_id", "ts"], columns="parameter", values="value", aggfunc="mean")
    out = hourly_aqi(wide, table=table, so2_over_800=so2_over_800)
    return out.reset_index()


def daily_aqi(daily: pd.DataFrame, *, table: str | None = None) -> pd.DataFrame:
    """Daily AQI (HJ 633-2012 5.2) from daily statistics, one row per station-day.

    Columns used: PM2.5, PM10, SO2, NO2, CO (24h means), O3_8h (daily maximum 8h mean), and
    optionally O3_1h (daily maximum 1h value; HJ 633 evaluates both O3 statistics). O3_8h > 800
    uses the 1h table applied to O3_1h when present. Primary pollutants are named by column
    (e.g. "PM2.5", "O3_8h"). Output as :func:`hourly_aqi`.
    """
    table = resolve_table_name(table)
    present = [c for c in DAILY_COLUMNS if c in daily.columns]
    if not present:
        raise ValueError(f"daily_aqi needs at least one of the columns {', '.join(DAILY_COLUMNS)}; got {list(daily.columns)}")
    iaqis = pd.DataFrame(index=daily.index)
    for col in present:
        pollutant, averaging = DAILY_COLUMNS[col]
        fb = None
        if col == "O3_8h" and "O3_1h" in daily.columns:
            fb = daily["O3_1h"].to_numpy(dtype=float)
        iaqis[col] = iaqi(pollutant, daily[col].to_numpy(dtype=float), averaging, fallback_conc=fb, table=table)
    out = _aqi_from_iaqi(iaqis)
    for col in present:
        out[f"iaqi_{col}"] = iaqis[col]
    return out


def exceeding_pollutants(iaqis: pd.DataFrame) -> pd.Series:
    """超标污染物: pollutants whose IAQI > 100 (comma-separated, None if none) - HJ 633 wording,
    unverified here (standards.md 2)."""
    names = np.asarray([c.removeprefix("iaqi_") for c in iaqis.columns], dtype=object)
    over = iaqis.to_numpy(dtype=float) > 100
    return pd.Series(_join_names(over, names), index=iaqis.index, dtype=object)
