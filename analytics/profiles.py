"""openair-style summaries of one series: diurnal/weekly profiles, calendar daily means, polar bins.

Pure functions, DataFrame in and DataFrame out (no I/O). Inputs are long frames with a ``ts``
column (naive datetimes, already in the clock the user reads - local time for the dashboard)
and a ``value`` column (NaN = missing). These mirror the views of the openair R package
(Carslaw & Ropkins 2012): ``timeVariation`` (hour / weekday profiles with spread),
``calendarPlot`` (daily means on a calendar) and ``polarPlot`` (concentration by wind
direction and speed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Days needed for a daily mean to count; GB 3095-2012 section 8 asks for 20 valid hours.
MIN_HOURS_PER_DAY = 20


def _clean(df: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    if "ts" not in df.columns or value not in df.columns:
        raise ValueError(f"expected columns 'ts' and {value!r}, got {list(df.columns)}")
    out = df[["ts", value]].rename(columns={value: "value"}).copy()
    out["ts"] = pd.to_datetime(out["ts"])
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out.dropna(subset=["value"])


def _spread(grouped: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    return pd.DataFrame({
        "mean": grouped.mean(),
        "median": grouped.median(),
        "q25": grouped.quantile(0.25),
        "q75": grouped.quantile(0.75),
        "n": grouped.count(),
    })


def diurnal_profile(df: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Mean, median and inter-quartile range by hour of day (0..23; hours with no data are NaN, n=0)."""
    d = _clean(df, value)
    out = _spread(d.groupby(d["ts"].dt.hour)["value"]).reindex(range(24))
    out["n"] = out["n"].fillna(0).astype(int)
    return out.rename_axis("hour").reset_index()


def weekly_profile(df: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Mean by weekday (0 = Monday) and hour: 168 rows, ``weekday, hour, mean, median, q25, q75, n``.

    Why both keys: a weekday mean hides a weekday-only diurnal pattern (traffic, shifts) that an
    analyst compares against neighbours.
    """
    d = _clean(df, value)
    g = d.groupby([d["ts"].dt.day_of_week.rename("weekday"), d["ts"].dt.hour.rename("hour")])["value"]
    idx = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    out = _spread(g).reindex(idx)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def weekday_means(df: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Mean by weekday (0 = Monday .. 6 = Sunday) with spread."""
    d = _clean(df, value)
    out = _spread(d.groupby(d["ts"].dt.day_of_week)["value"]).reindex(range(7))
    out["n"] = out["n"].fillna(0).astype(int)
    return out.rename_axis("weekday").reset_index()


def calendar_daily_means(df: pd.DataFrame, value: str = "value",
                         min_hours: int = MIN_HOURS_PER_DAY) -> pd.DataFrame:
    """Daily means laid out for a calendar heatmap.

    Returns one row per day from the first to the last day (gaps included):
    ``date, mean, n_hours, valid, weekday (0=Mon), week`` where ``week`` counts calendar
    weeks from the first Monday on or before the first day, and ``mean`` is NaN unless the
    day has at least ``min_hours`` hours (GB 3095-2012 sec. 8 validity).
    """
    d = _clean(df, value)
    cols = ["date", "mean", "n_hours", "valid", "weekday", "week"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    day = d["ts"].dt.normalize()
    g = d.groupby(day)["value"]
    days = pd.date_range(day.min(), day.max(), freq="D")
    out = pd.DataFrame({"mean": g.mean(), "n_hours": g.count()}).reindex(days)
    out["n_hours"] = out["n_hours"].fillna(0).astype(int)
    out["valid"] = out["n_hours"] >= min_hours
    out.loc[~out["valid"], "mean"] = np.nan
    out = out.rename_axis("date").reset_index()
    out["weekday"] = out["date"].dt.day_of_week
    first_monday = days[0] - pd.Timedelta(days=int(days[0].day_of_week))
    out["week"] = ((out["date"] - first_monday).dt.days // 7).astype(int)
    return out[cols]


def polar_bins(df: pd.DataFrame, value: str = "value", ws: str = "WS", wd: str = "WD",
               sector_deg: float = 22.5, ws_step_m_s: float = 1.0, min_count: int = 3) -> pd.DataFrame:
    """Mean concentration by wind-direction sector and wind-speed band (openair ``polarPlot`` binned).

    ``wd`` is in degrees the wind blows FROM (0 = north, meteorological), ``ws`` in m/s.
    Sectors are centred on multiples of ``sector_deg`` (north sector spans 348.75..11.25 for
    22.5). Bins with fewer than ``min_count`` hours are dropped: a mean of one or two hours
    is noise. Returns ``wd_center_deg, ws_low_m_s, ws_high_m_s, mean, n``.
    """
    for col in (value, ws, wd):
        if col not in df.columns:
            raise ValueError(f"polar_bins needs column {col!r}; got {list(df.columns)}")
    if sector_deg <= 0 or 360 % sector_deg:
        raise ValueError(f"sector_deg must divide 360, got {sector_deg}")
    if ws_step_m_s <= 0:
        raise ValueError(f"ws_step_m_s must be positive, got {ws_step_m_s}")
    d = df[[value, ws, wd]].apply(pd.to_numeric, errors="coerce").dropna()
    d = d[(d[ws] >= 0) & (d[wd] >= 0) & (d[wd] <= 360)]
    cols = ["wd_center_deg", "ws_low_m_s", "ws_high_m_s", "mean", "n"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    n_sectors = int(round(360 / sector_deg))
    sector = np.floor(((d[wd].to_numpy() + sector_deg / 2) % 360) / sector_deg).astype(int) % n_sectors
    band = np.floor(d[ws].to_numpy() / ws_step_m_s).astype(int)
    g = pd.DataFrame({"sector": sector, "band": band, "v": d[value].to_numpy()}).groupby(["sector", "band"])["v"]
    out = pd.DataFrame({"mean": g.mean(), "n": g.count()}).reset_index()
    out = out[out["n"] >= min_count]
    out["wd_center_deg"] = out["sector"] * sector_deg
    out["ws_low_m_s"] = out["band"] * ws_step_m_s
    out["ws_high_m_s"] = out["ws_low_m_s"] + ws_step_m_s
    return out[cols].sort_values(["wd_center_deg", "ws_low_m_s"]).reset_index(drop=True)


def paired_values(a: pd.DataFrame, b: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Hour-matched values of two stations (``ts, x, y``), both present; for a scatter vs a neighbour."""
    x = _clean(a, value).drop_duplicates("ts").rename(columns={"value": "x"})
    y = _clean(b, value).drop_duplicates("ts").rename(columns={"value": "y"})
    return x.merge(y, on="ts", how="inner").sort_values("ts").reset_index(drop=True)


def linear_fit(pairs: pd.DataFrame) -> dict:
    """Least-squares line y = slope * x + intercept and Pearson r of paired values (NaN if < 3 pairs)."""
    if len(pairs) < 3 or pairs["x"].nunique() < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "r": float("nan"), "n": int(len(pairs))}
    slope, intercept = np.polyfit(pairs["x"].to_numpy(float), pairs["y"].to_numpy(float), 1)
    r = float(np.corrcoef(pairs["x"], pairs["y"])[0, 1]) if pairs["y"].nunique() > 1 else float("nan")
    return {"slope": float(slope), "intercept": float(intercept), "r": r, "n": int(len(pairs))}
