"""Assessment of cities or counties over a period: capture rates, GB 3095 validity, HJ 663 statistics,
composite index and ranking - raw and with a substitution (penalty) policy, side by side.

Pure: readings, stations and trigger intervals in; tables out. The service
(:mod:`envtrust.assessment`) reads them from the store.

Order of computation (docs/assessment.md):

1. the grid of expected station-hours: every standard station (kind ``air_station``) of the units,
   every UTC hour of the period, the six pollutants; readings fill it, absent hours are missing;
2. :func:`analytics.standards.penalty.substitute_hours` marks triggers and substitutes (provenance
   code per hour);
3. daily statistics per station (:func:`analytics.standards.air_quality.daily_means`, GB 3095
   table 4 daily validity) from the measured values (raw) and from the assessed values (penalised);
4. the unit's daily value = mean of its stations' valid daily values (HJ 663: the arithmetic mean
   over the unit's stations); its period statistic (HJ 663) and period validity (GB 3095 table 4);
5. the one-way rule (40 CFR 50 App. N: missing data never help the assessed party): a penalised
   statistic below its raw value is held at the raw value (flag ``held_at_raw``), so substitution
   can never improve a unit's index;
6. composite index and rank, raw and penalised; rank change; the stations whose hours were
   substituted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.standards.air_quality import daily_means
from analytics.standards.hj663 import (
    DEFAULT_ROUNDING,
    INDEX_STATISTICS,
    RoundingRules,
    composite_index,
    period_statistic,
    period_validity,
    rank_ascending,
    round_index,
    round_statistic,
)
from analytics.standards.penalty import Provenance, SubstitutionPolicy, substitute_hours
from analytics.vocabulary import AIR_POLLUTANTS

CST_HOURS = 8.0
LEVELS: dict[str, tuple[str, str]] = {"city": ("city_code", "city"), "county": ("county_code", "county")}


@dataclass(frozen=True)
class Period:
    """An assessment period in local (CST) dates, ``end`` exclusive."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def utc_hours(self) -> pd.DatetimeIndex:
        """Every UTC hour label of the period."""
        return pd.date_range(self.start - pd.Timedelta(hours=CST_HOURS), self.end - pd.Timedelta(hours=CST_HOURS),
                             freq="h", inclusive="left")


def parse_period(text: str) -> Period:
    """``2016`` (a year), ``2016-12`` (a month) or ``2016-12-01..2016-12-07`` (days, both included)."""
    text = str(text).strip()
    if re.fullmatch(r"\d{4}", text):
        start = pd.Timestamp(f"{text}-01-01")
        return Period(text, start, start + pd.DateOffset(years=1))
    if re.fullmatch(r"\d{4}-\d{2}", text):
        start = pd.Timestamp(f"{text}-01")
        return Period(text, start, start + pd.DateOffset(months=1))
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text)
    if m:
        start, last = pd.Timestamp(m.group(1)), pd.Timestamp(m.group(2))
        if last < start:
            raise ValueError(f"period {text!r}: the last day is before the first")
        return Period(text, start, last + pd.Timedelta(days=1))
    raise ValueError(f"period {text!r}: expected YYYY, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")


@dataclass
class AssessmentResult:
    """Everything an assessment produced; ``units`` is the table leaders read."""

    period: Period
    level: str
    policy: SubstitutionPolicy
    hours: pd.DataFrame          # station-hours with trigger, assessed value, provenance
    stations: pd.DataFrame       # per station and daily statistic: capture rate, valid days, validity
    statistics: pd.DataFrame     # per unit and statistic: raw, penalised, held_at_raw, validity
    units: pd.DataFrame          # per unit: index and rank raw and penalised, rank change, substituted hours
    contributors: pd.DataFrame   # per unit and station: substituted hours by trigger


def interval_mask(grid: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.Series:
    """True for grid rows (station_id, ts, parameter) inside any interval (station_id, start, end
    inclusive, parameters: comma-separated, empty = all)."""
    mask = pd.Series(False, index=grid.index)
    if intervals is None or intervals.empty:
        return mask
    by_station = grid.groupby("station_id").groups
    ts = pd.to_datetime(grid["ts"])
    for row in intervals.itertuples(index=False):
        idx = by_station.get(row.station_id)
        if idx is None:
            continue
        params = [p.strip() for p in str(getattr(row, "parameters", "") or "").split(",") if p.strip()]
        sel = (ts.loc[idx] >= pd.Timestamp(row.start)) & (ts.loc[idx] <= pd.Timestamp(row.end))
        if params:
            sel &= grid.loc[idx, "parameter"].isin(params)
        mask.loc[sel[sel].index] = True
    return mask


def expected_grid(readings: pd.DataFrame, members: pd.DataFrame, period: Period,
                  parameters: tuple[str, ...] = AIR_POLLUTANTS) -> pd.DataFrame:
    """Every (member station, UTC hour, pollutant) of the period with its reading, if any."""
    hours = period.utc_hours
    grid = pd.MultiIndex.from_product([members["station_id"], hours, parameters],
                                      names=["station_id", "ts", "parameter"]).to_frame(index=False)
    grid = grid.merge(members[["station_id", "city", "unit"]], on="station_id")
    cols = ["station_id", "ts", "parameter", "value"] + (["flag"] if "flag" in readings.columns else [])
    r = readings[cols].copy()
    r["ts"] = pd.to_datetime(r["ts"])
    r = r.drop_duplicates(["station_id", "ts", "parameter"], keep="last")
    out = grid.merge(r, on=["station_id", "ts", "parameter"], how="left")
    if "flag" not in out.columns:
        out["flag"] = "N"
    return out


def _as_readings(hours: pd.DataFrame, column: str, keep: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"station_id": hours["station_id"], "ts": hours["ts"], "parameter": hours["parameter"],
                         "value": hours[column].where(keep), "flag": "N"})


def _unit_daily(daily: pd.DataFrame, unit_of: pd.Series) -> pd.DataFrame:
    d = daily[daily["valid"] & daily["parameter"].isin(INDEX_STATISTICS)].copy()
    d["unit"] = d["station_id"].map(unit_of)
    return d.groupby(["unit", "date", "parameter"], as_index=False)["value"].mean()


def _unit_statistics(unit_daily: pd.DataFrame, units: list[str], period: Period,
                     rounding: RoundingRules | None = DEFAULT_ROUNDING) -> pd.DataFrame:
    groups = {key: d for key, d in unit_daily.groupby(["unit", "parameter"])}
    empty = unit_daily.iloc[0:0]
    rows = []
    for unit in units:
        for stat in INDEX_STATISTICS:
            d = groups.get((unit, stat), empty)
            ok, why = period_validity(d["date"], period.start, period.end)
            value = round_statistic(period_statistic(d["value"], stat), stat, rounding)
            rows.append({"unit": unit, "statistic": stat, "value": value,
                         "n_days": len(d), "valid": ok, "why_invalid": why})
    return pd.DataFrame(rows)


def _station_table(hours: pd.DataFrame, daily: pd.DataFrame, period: Period) -> pd.DataFrame:
    h = hours[["station_id", "unit", "parameter", "valid"]].assign(
        substituted=hours["provenance"].isin([Provenance.CITY_MAX.value, Provenance.HISTORIC_MAX.value]),
        interference=hours["trigger"] == "interference")
    cap = h.groupby(["station_id", "unit", "parameter"]).agg(
        n_expected=("valid", "size"), n_valid=("valid", "sum"), n_substituted=("substituted", "sum"),
        n_interference=("interference", "sum")).reset_index()
    cap["capture_rate"] = cap["n_valid"] / cap["n_expected"]
    rows = []
    for (sid, stat), d in daily[daily["parameter"].isin(INDEX_STATISTICS)].groupby(["station_id", "parameter"]):
        ok, why = period_validity(d.loc[d["valid"], "date"], period.start, period.end)
        rows.append({"station_id": sid, "statistic": stat, "n_valid_days": int(d["valid"].sum()),
                     "valid": ok, "why_invalid": why})
    valid = pd.DataFrame(rows, columns=["station_id", "statistic", "n_valid_days", "valid", "why_invalid"])
    valid["parameter"] = valid["statistic"].str.replace("_8h", "", regex=False)
    return cap.merge(valid, on=["station_id", "parameter"], how="left")


def assess(readings: pd.DataFrame, stations: pd.DataFrame, period: Period, policy: SubstitutionPolicy, *,
           level: str = "city", interference: pd.DataFrame | None = None,
           excused: pd.DataFrame | None = None, grade: int = 2,
           rounding: RoundingRules | None = DEFAULT_ROUNDING) -> AssessmentResult:
    """Assess every unit (city or county) that has standard stations with readings in the period.

    ``readings``: long hourly readings (station_id, ts UTC, parameter, value, flag). ``stations``:
    station_id, kind, city_code, the level's code column and optionally its name column, active_from,
    active_to. Member stations: kind ``air_station`` with a code at the level, active in the period
    (when active dates are given) and with at least one reading in it (a station that never reported
    in the period is outside that period's network). ``interference`` / ``excused``: intervals
    (station_id, start, end UTC inclusive, parameters) of confirmed interference and of accepted
    reasons for missing data. ``rounding``: the reported digits of the statistics and the index (HJ 663,
    GB/T 8170; None = unrounded).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    code_col, name_col = LEVELS[level]
    for col in ("station_id", "city_code", code_col):
        if col not in stations.columns:
            raise ValueError(f"stations need a {col!r} column (fill it with geo.admin.assign_admin)")
    m = stations[stations.get("kind", pd.Series("air_station", index=stations.index)) == "air_station"]
    m = m.dropna(subset=["city_code", code_col])
    reporting = set(readings.loc[readings["parameter"].isin(AIR_POLLUTANTS), "station_id"].astype(str))
    m = m[m["station_id"].astype(str).isin(reporting)]
    utc_lo, utc_hi = period.utc_hours[0], period.utc_hours[-1]
    if "active_from" in m.columns:
        m = m[m["active_from"].isna() | (pd.to_datetime(m["active_from"]) <= utc_hi)]
    if "active_to" in m.columns:
        m = m[m["active_to"].isna() | (pd.to_datetime(m["active_to"]) >= utc_lo)]
    members = pd.DataFrame({"station_id": m["station_id"].astype(str), "city": m["city_code"].astype(str),
                            "unit": m[code_col].astype(str)})
    names = (m.set_index(m[code_col].astype(str))[name_col].groupby(level=0).first()
             if name_col in m.columns else pd.Series(dtype=str))

    if members.empty:
        raise ValueError(f"no standard station with a {code_col} reported in {period.label}; nothing to assess "
                         "(admin codes come from geo.admin.assign_admin)")
    grid = expected_grid(readings, members, period)
    grid["interference"] = interval_mask(grid, interference)
    grid["excused"] = interval_mask(grid, excused)
    hours = substitute_hours(grid, policy)

    unit_of = members.set_index("station_id")["unit"]
    raw_daily = daily_means(_as_readings(hours, "value", hours["valid"]), grade=grade)
    pen_daily = daily_means(_as_readings(hours, "assessed_value", hours["assessed_value"].notna()), grade=grade)
    units = sorted(members["unit"].unique())
    raw = _unit_statistics(_unit_daily(raw_daily, unit_of), units, period, rounding)
    pen = _unit_statistics(_unit_daily(pen_daily, unit_of), units, period, rounding)
    stats = raw.merge(pen, on=["unit", "statistic"], suffixes=("_raw", "_sub"))
    held = stats["value_sub"].isna() | (stats["value_sub"] < stats["value_raw"])
    stats["held_at_raw"] = held & stats["value_raw"].notna()
    stats["value_pen"] = np.where(stats["held_at_raw"], stats["value_raw"], stats["value_sub"])

    table = _unit_table(stats, hours, names, members, rounding)
    return AssessmentResult(period, level, policy, hours, _station_table(hours, raw_daily, period),
                            stats, table, contributors(hours, members))


def _unit_table(stats: pd.DataFrame, hours: pd.DataFrame, names: pd.Series, members: pd.DataFrame,
                rounding: RoundingRules | None = DEFAULT_ROUNDING) -> pd.DataFrame:
    wide_raw = stats.pivot(index="unit", columns="statistic", values="value_raw")
    wide_pen = stats.pivot(index="unit", columns="statistic", values="value_pen")
    out = pd.DataFrame(index=wide_raw.index)
    out["name"] = [names.get(u, u) for u in out.index]
    out["n_stations"] = members.groupby("unit").size().reindex(out.index).fillna(0).astype(int)
    capture = hours.groupby("unit")["valid"].mean()
    out["capture_rate"] = capture.reindex(out.index)
    out["valid_period"] = stats.groupby("unit")["valid_raw"].all().reindex(out.index)
    out["index_raw"] = wide_raw.apply(lambda r: round_index(composite_index(r), rounding), axis=1)
    out["index_pen"] = wide_pen.apply(lambda r: round_index(composite_index(r), rounding), axis=1)
    out["rank_raw"] = rank_ascending(out["index_raw"])
    out["rank_pen"] = rank_ascending(out["index_pen"])
    out["rank_change"] = out["rank_pen"] - out["rank_raw"]  # > 0: fell (worse) places
    subst = hours["provenance"].isin([Provenance.CITY_MAX.value, Provenance.HISTORIC_MAX.value])
    out["substituted_hours"] = subst.groupby(hours["unit"]).sum().reindex(out.index).fillna(0).astype(int)
    for stat in INDEX_STATISTICS:
        out[f"{stat}_raw"] = wide_raw.get(stat)
        out[f"{stat}_pen"] = wide_pen.get(stat)
    return out.reset_index().sort_values(["rank_pen", "unit"], na_position="last", ignore_index=True)


def contributors(hours: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Per unit and station: substituted hours in total and by trigger (the stations behind a rank change)."""
    subst = hours[hours["provenance"].isin([Provenance.CITY_MAX.value, Provenance.HISTORIC_MAX.value])]
    cols = ["unit", "station_id", "substituted_hours", "interference", "missing", "invalid_flag"]
    if subst.empty:
        return pd.DataFrame(columns=cols)
    wide = subst.groupby(["unit", "station_id", "trigger"]).size().unstack("trigger", fill_value=0)
    for t in ("interference", "missing", "invalid_flag"):
        if t not in wide.columns:
            wide[t] = 0
    wide["substituted_hours"] = wide[["interference", "missing", "invalid_flag"]].sum(axis=1)
    out = wide.reset_index()[cols]
    return out.sort_values(["unit", "substituted_hours"], ascending=[True, False], ignore_index=True)
