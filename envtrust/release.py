"""The official release channel: what is published, with which status, and every change after.

Statuses (two-tier release as AirNow/AQS, OpenAQ's users asked to keep them apart):

- ``preliminary``: real time, automatic checks only (an official station or section, a valid HJ 212
  flag, a value). :func:`publish_preliminary` publishes every such reading not yet released;
- ``audited``: after the analysts' review; :func:`audit_period` promotes preliminary values of a period
  and withholds those inside a confirmed interference event (``withheld``, no value);
- ``final``: :func:`finalize_period` closes an audited period;
- a value changed after release (:func:`correct_value`) gets a new version with a change note (who, when,
  why); the earlier version stays and is readable with the API's ``history`` scope.

Each step is one transaction and one audit record. The CLI (``envtrust release``), the demo and
the tests call these functions.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from analytics.standards.air_quality import daily_means
from analytics.standards.aqi import daily_aqi
from analytics.vocabulary import AIR_POLLUTANTS, CST_UTC_OFFSET_H, VALID_FLAGS, WATER_PARAMETERS
from data import audit as audit_trail
from data import release as sql

AUTO_ACTOR = "auto"
#: licence of every released value, in the API's meta, the bulk files and the data description page
DATA_LICENCE = "CC-BY-4.0"
DATA_LICENCE_TEXT = ("Creative Commons Attribution 4.0 (CC BY 4.0): reuse freely, name the source "
                     "(envtrust official release channel) and the release status of the values.")
DATA_LICENCE_TEXT_ZH = ("知识共享署名 4.0 国际许可协议（CC BY 4.0）：可自由使用、转载和再加工，须注明数据来源"
                        "（envtrust 官方发布渠道）及数据的发布状态。")
STATUS_ORDER: dict[str, int] = {"preliminary": 1, "audited": 2, "final": 3}
RELEASED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "air_station": AIR_POLLUTANTS,
    "water_section": WATER_PARAMETERS,
}


class ReleaseError(ValueError):
    """A release step that the rules do not allow (unknown value, backwards step, missing reason)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_period(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end < start:
        raise ReleaseError(f"the period ends ({end}) before it starts ({start})")
    return start, end


def publish_preliminary(con: duckdb.DuckDBPyConnection, start, end, actor: str = AUTO_ACTOR) -> int:
    """Publish every valid reading of an official station in [start, end] (naive UTC) that has no
    release record yet, as 'preliminary'; return how many values were published."""
    start, end = _check_period(start, end)
    n = sql.insert_preliminary(con, start, end, RELEASED_PARAMETERS, tuple(sorted(VALID_FLAGS)), actor, _now())
    audit_trail.append(con, actor, "release_preliminary", subject=f"{start}..{end}", detail={"values": n})
    return n


def audit_period(con: duckdb.DuckDBPyConnection, start, end, actor: str, note: str = "audited",
          station_ids: list[str] | None = None) -> dict[str, int]:
    """Promote the preliminary values of [start, end] to 'audited'; values inside a confirmed
    interference event become 'withheld'. Returns counts per new status."""
    start, end = _check_period(start, end)
    counts = sql.step_status(con, "preliminary", "audited", start, end, station_ids, actor, note, _now(),
                             withhold_confirmed=True)
    _log_step(con, actor, "release_audit", start, end, counts)
    return counts


def finalize_period(con: duckdb.DuckDBPyConnection, start, end, actor: str, note: str = "final",
             station_ids: list[str] | None = None) -> dict[str, int]:
    """Close the audited values of [start, end] as 'final'. Preliminary values are left alone: a
    value is audited before it is final."""
    start, end = _check_period(start, end)
    counts = sql.step_status(con, "audited", "final", start, end, station_ids, actor, note, _now())
    _log_step(con, actor, "release_final", start, end, counts)
    return counts


def _log_step(con: duckdb.DuckDBPyConnection, actor: str, action: str, start, end,
                   counts: dict[str, int]) -> None:
    audit_trail.append(con, actor, action, subject=f"{start}..{end}", detail=counts)


def correct_value(con: duckdb.DuckDBPyConnection, station_id: str, ts, parameter: str, value: float | None,
            actor: str, reason: str, status: str | None = None) -> int:
    """Change a released value (or its status) with a reason; return the new version number.

    The earlier version stays in the store with its value. ``status`` defaults to the current one;
    it may move forward or to 'withheld' (then ``value`` must be None), never back.
    """
    if not reason or not reason.strip():
        raise ReleaseError("a change after release needs a reason (the change note)")
    current = sql.current_version(con, station_id, ts, parameter)
    if current is None:
        raise ReleaseError(f"{station_id} {pd.Timestamp(ts)} {parameter} was never released; nothing to change")
    new_status = status or current["status"]
    if new_status not in sql.RELEASE_STATUSES:
        raise ReleaseError(f"status must be one of {', '.join(sql.RELEASE_STATUSES)}, not {new_status!r}")
    old_rank, new_rank = STATUS_ORDER.get(current["status"], 0), STATUS_ORDER.get(new_status, 0)
    if new_status != "withheld" and new_rank < old_rank:
        raise ReleaseError(f"status cannot go back from {current['status']} to {new_status}")
    if (new_status == "withheld") != (value is None):
        raise ReleaseError("a withheld value has no value, and only a withheld value may lack one")
    version = sql.insert_version(con, station_id, ts, parameter, value, new_status, actor, reason.strip(), _now())
    audit_trail.append(con, actor, "release_correct", subject=f"{station_id}/{pd.Timestamp(ts)}/{parameter}",
                 detail={"version": version, "status": new_status, "value": value,
                         "previous_value": None if pd.isna(current["value"]) else float(current["value"]),
                         "reason": reason.strip()})
    return version


def set_section_target(con: duckdb.DuckDBPyConnection, station_id: str, target_class: int, basis: str,
                       actor: str) -> None:
    """Set the GB 3838 target class (1..5 = I..V) of an official water section, with its basis
    (the water-function zoning or assessment plan it comes from); one audit record."""
    if not basis or not basis.strip():
        raise ReleaseError("a target class needs its basis (the plan or zoning it comes from)")
    if not 1 <= int(target_class) <= 5:
        raise ReleaseError(f"the target class is 1..5 (I..V), not {target_class}")
    kinds = sql.location_rows(con, ("water_section",), station_ids=[station_id])
    if kinds.empty:
        raise ReleaseError(f"{station_id} is not an official water section")
    sql.upsert_section_target(con, station_id, int(target_class), basis.strip(), actor, _now())
    audit_trail.append(con, actor, "section_target", subject=station_id,
                       detail={"target_class": int(target_class), "basis": basis.strip()})


#: the demo's target classes: drinking-water sources class II (GB 3838 class II: first-grade source
#: protection), every other section class III - an assumption of the demo, not a real plan
DEMO_TARGETS: dict[str | None, int] = {"drinking_source": 2}
DEMO_DEFAULT_TARGET = 3
DEMO_TARGET_BASIS = "demo assumption: drinking sources II, other sections III"


def set_demo_targets(con: duckdb.DuckDBPyConnection, actor: str = "demo") -> int:
    """Target classes for the demo's water sections (see :data:`DEMO_TARGETS`); how many were set."""
    roles = sql.water_section_roles(con)
    for row in roles.itertuples(index=False):
        target = DEMO_TARGETS.get(row.section_role, DEMO_DEFAULT_TARGET)
        set_section_target(con, row.station_id, target, DEMO_TARGET_BASIS, actor)
    return len(roles)


DEMO_AUDIT_LAG = pd.Timedelta(days=7)
DEMO_FINAL_LAG = pd.Timedelta(days=30)


def has_release(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(sql.release_count(con))


def release_demo(con: duckdb.DuckDBPyConnection, actor: str = "demo") -> dict[str, int]:
    """The demo's release history: everything valid published, audited up to a week before the
    newest hour, final up to a month before (as a bureau that audits weekly and closes monthly)."""
    published = publish_preliminary(con, "1970-01-01", "2100-01-01")
    set_demo_targets(con, actor)
    newest = sql.newest_release_ts(con)
    if newest is None:
        return {"preliminary": 0}
    audit_period(con, "1970-01-01", newest - DEMO_AUDIT_LAG, actor, note="demo: weekly audit")
    finalize_period(con, "1970-01-01", newest - DEMO_FINAL_LAG, actor, note="demo: monthly closing")
    return {"published": published, **sql.status_counts(con)}


RANKING_COLUMNS: tuple[str, ...] = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3_8h")
RANKING_ORDERS: tuple[str, ...] = ("aqi", "composite_index")


def day_bounds_utc(day) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last UTC hour of a China Standard Time day."""
    start = pd.Timestamp(day).normalize() - pd.Timedelta(hours=CST_UTC_OFFSET_H)
    return start, start + pd.Timedelta(hours=23)


def _codes(values: pd.Series) -> tuple[list, np.ndarray]:
    """(distinct values, code of each row): a per-row lookup done once per distinct value."""
    codes, uniques = pd.factorize(values)
    return list(uniques), codes


def least_advanced_by_city(hours: pd.DataFrame, city_of: pd.Series) -> pd.Series:
    """The least advanced release status of each city's hours (``hours``: station_id, status;
    ``city_of``: city by station_id), vectorised: a day of all stations is ~300,000 hours."""
    stations, station_codes = _codes(hours["station_id"])
    statuses, status_codes = _codes(hours["status"])
    ranked = pd.DataFrame({"city": city_of.reindex(stations).to_numpy()[station_codes],
                           "rank": np.array([sql.STATUS_RANK[s] for s in statuses])[status_codes]})
    least = ranked.groupby("city")["rank"].min()
    return least.map(lambda rank: sql.RELEASE_STATUSES[int(rank) - 1])


def city_ranking(con: duckdb.DuckDBPyConnection, day, by: str = "aqi", kinds: tuple[str, ...] = ("air_station",)
                 ) -> pd.DataFrame:
    """Cities of one CST day ranked by daily AQI or composite index (lowest = best = rank 1),
    computed from released hourly values only.

    Per station the GB 3095 daily statistics (24-h means, O3 daily maximum 8-h mean) of the released
    hours; per city the mean of its stations' valid statistics; the city's AQI from those (HJ 633
    5.2), and its composite index = sum over the six statistics of value / GB 3095 grade-2 limit of
    the same averaging. ``status`` is the least advanced release status of the hours used.
    Columns: rank, city, province, aqi, level, primary_pollutant, composite_index, stations, status.
    """
    if by not in RANKING_ORDERS:
        raise ReleaseError(f"order must be one of {', '.join(RANKING_ORDERS)}, not {by!r}")
    columns = ["rank", "city", "province", "aqi", "level", "primary_pollutant", "composite_index",
               "stations", "status"]
    stations = sql.location_rows(con, kinds)
    stations = stations[stations["city"].notna()]
    start, end = day_bounds_utc(day)
    hours = sql.current_long(con, stations["station_id"].tolist(), list(AIR_POLLUTANTS), start, end)
    if hours.empty:
        return pd.DataFrame(columns=columns)
    stats = daily_means(hours, utc_offset_hours=CST_UTC_OFFSET_H)
    stats = stats[stats["valid"] & stats["parameter"].isin(RANKING_COLUMNS)]
    stats = stats.merge(stations[["station_id", "city", "province"]], on="station_id")
    if stats.empty:
        return pd.DataFrame(columns=columns)
    city = stats.groupby(["city", "province", "parameter"], as_index=False).agg(
        value=("value", "mean"), limit=("limit", "first"))
    wide = city.pivot(index=["city", "province"], columns="parameter", values="value")
    aqi = daily_aqi(wide)
    ratio = city.assign(r=city["value"] / city["limit"]).groupby(["city", "province"])["r"].sum()
    hour_status = least_advanced_by_city(hours, stations.set_index("station_id")["city"])
    out = pd.DataFrame({
        "city": [c for c, _ in wide.index], "province": [p for _, p in wide.index],
        "aqi": aqi["aqi"].to_numpy(dtype=float), "level": aqi["level"].to_numpy(),
        "primary_pollutant": aqi["primary_pollutant"].to_numpy(),
        "composite_index": np.round(ratio.reindex(wide.index).to_numpy(dtype=float), 2),
        "stations": stats.groupby(["city", "province"])["station_id"].nunique().reindex(wide.index).to_numpy(),
    })
    out["status"] = out["city"].map(hour_status)
    out = out.sort_values([by, "city"], ignore_index=True, na_position="last")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[columns]
