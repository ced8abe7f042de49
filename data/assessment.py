"""The assessment's SQL: what it reads (standard stations, air readings, confirmed interference,
accepted reasons for missing data) and where its results go (assessment_runs/_units/_contributors).

The computation is pure (:mod:`analytics.assessment`); the service is :mod:`envtrust.assessment`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import duckdb
import pandas as pd

from analytics.vocabulary import AIR_POLLUTANTS

Con = duckdb.DuckDBPyConnection
EXCUSE_REASONS: tuple[str, ...] = ("power", "maintenance", "calibration", "relocation", "other")


def assessment_stations(con: Con) -> pd.DataFrame:
    """Standard air stations with their admin codes and names (the assessable network)."""
    return con.execute(
        "SELECT station_id, name, kind, lon, lat, province_code, city_code, city, county_code, county, "
        "active_from, active_to FROM stations WHERE kind = 'air_station' ORDER BY station_id").df()


def air_readings(con: Con, utc_first: pd.Timestamp, utc_last: pd.Timestamp) -> pd.DataFrame:
    """Hourly readings of the six pollutants at standard stations, ``utc_first..utc_last`` inclusive."""
    marks = ", ".join("?" for _ in AIR_POLLUTANTS)
    return con.execute(
        "SELECT r.station_id, r.ts, r.parameter, r.value, r.flag FROM readings r "
        "JOIN stations s ON s.station_id = r.station_id AND s.kind = 'air_station' "
        f"WHERE r.parameter IN ({marks}) AND r.ts BETWEEN ? AND ?",
        [*AIR_POLLUTANTS, utc_first.to_pydatetime(), utc_last.to_pydatetime()]).df()


#: the decisions that confirm a case's finding, and those that undo or deny it (the newest one counts)
CONFIRMING_ACTIONS: tuple[str, ...] = ("decide_penalty", "transfer_police")
DENYING_ACTIONS: tuple[str, ...] = ("dismiss", "decide_no_penalty", "reopen")
#: legal types (环发〔2015〕175号 categories) that are not interference with the monitoring
NOT_INTERFERENCE_TYPES: tuple[str, ...] = ("exceedance", "other")


def confirmed_interference(con: Con, utc_first: pd.Timestamp, utc_last: pd.Timestamp) -> pd.DataFrame:
    """Intervals of confirmed interference overlapping the window: station_id, start, end, parameters, source.

    The one switch point for the assessment's interference trigger. Interference is confirmed by a
    case (issue 13): a case whose newest decision is a penalty (``decide_penalty``) or a transfer
    to the police (``transfer_police``) - not undone by a later false alarm, no-penalty decision or
    reopening - and whose legal type is not ``exceedance`` or ``other``. Its intervals are those of
    the engine events and alarms linked to it, at their stations (the case's station when the link
    has none), for their parameters (empty = all). A reviewer's verdict on an event alone does not
    penalise a city: that takes an enforcement decision.
    """
    confirming = ", ".join(f"'{a}'" for a in CONFIRMING_ACTIONS)
    decisive = ", ".join(f"'{a}'" for a in CONFIRMING_ACTIONS + DENYING_ACTIONS)
    excluded = ", ".join(f"'{t}'" for t in NOT_INTERFERENCE_TYPES)
    return con.execute(
        f"""
        WITH decided AS (
            SELECT case_id, arg_max(action, version) AS decision FROM case_events
            WHERE action IN ({decisive}) GROUP BY case_id
        ),
        confirmed AS (
            SELECT c.case_id, c.station_id FROM cases c JOIN decided d USING (case_id)
            WHERE d.decision IN ({confirming}) AND coalesce(c.legal_type, '') NOT IN ({excluded})
        ),
        spans AS (
            SELECT coalesce(e.station_id, k.station_id) AS station_id, e.start, e."end",
                   coalesce(e.parameters, '') AS parameters, k.case_id
            FROM confirmed k JOIN case_links l ON l.case_id = k.case_id AND l.kind = 'event'
            JOIN events e ON e.event_id = l.ref_id
            UNION ALL
            SELECT coalesce(a.station_id, k.station_id), a.episode_start, a.episode_end,
                   coalesce(a.parameter, ''), k.case_id
            FROM confirmed k JOIN case_links l ON l.case_id = k.case_id AND l.kind = 'alarm'
            JOIN alarms a ON a.alarm_id = l.ref_id
        )
        SELECT DISTINCT station_id, start, "end", parameters, 'case:' || case_id AS source FROM spans
        WHERE "end" >= ? AND start <= ?
        ORDER BY station_id, start, source
        """, [utc_first.to_pydatetime(), utc_last.to_pydatetime()]).df()


def add_excuse(con: Con, station_id: str, start, end, reason: str, approved_by: str, *,
               parameters: str = "", detail: str | None = None) -> int:
    """Record an accepted reason for missing data at a station (UTC hours, inclusive); returns its id."""
    if reason not in EXCUSE_REASONS:
        raise ValueError(f"unknown reason {reason!r}; known: {', '.join(EXCUSE_REASONS)}")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end < start:
        raise ValueError(f"excuse ends ({end}) before it starts ({start})")
    if not con.execute("SELECT count(*) FROM stations WHERE station_id = ?", [station_id]).fetchone()[0]:
        raise ValueError(f"unknown station {station_id!r}")
    now = datetime.now(UTC).replace(tzinfo=None)
    row = con.execute(
        'INSERT INTO assessment_excuses VALUES (nextval(\'assessment_excuse_seq\'), ?, ?, ?, ?, ?, ?, ?, ?) '
        'RETURNING excuse_id',
        [station_id, start.to_pydatetime(), end.to_pydatetime(), parameters, reason, detail, approved_by, now]
    ).fetchone()
    return int(row[0])


def accepted_reasons(con: Con, utc_first: pd.Timestamp, utc_last: pd.Timestamp) -> pd.DataFrame:
    """Excused intervals overlapping the window: station_id, start, end, parameters, reason."""
    return con.execute(
        'SELECT station_id, start, "end", parameters, reason FROM assessment_excuses '
        'WHERE "end" >= ? AND start <= ? ORDER BY station_id, start',
        [utc_first.to_pydatetime(), utc_last.to_pydatetime()]).df()


def save_assessment(con: Con, run_id: str, *, period: str, level: str, policy_id: str, policy_version: int,
                    policy_factor: float, policy_window: str, units: pd.DataFrame, contributors: pd.DataFrame,
                    created_by: str | None = None) -> None:
    """Store one assessment run (units table and contributing stations) in one transaction."""
    stat_cols = [c for c in units.columns if c.endswith("_raw") or c.endswith("_pen")]
    stat_cols = [c for c in stat_cols if not c.startswith(("index_", "rank_"))]
    frame = pd.DataFrame({
        "run_id": run_id, "unit": units["unit"].astype(str), "name": units["name"].astype(str),
        "n_stations": units["n_stations"], "capture_rate": units["capture_rate"],
        "valid_period": units["valid_period"].astype(bool), "index_raw": units["index_raw"],
        "index_pen": units["index_pen"], "rank_raw": units["rank_raw"], "rank_pen": units["rank_pen"],
        "rank_change": units["rank_change"], "substituted_hours": units["substituted_hours"],
        "statistics_json": [json.dumps({c: (None if pd.isna(v) else float(v)) for c, v in row.items()})
                            for row in units[stat_cols].to_dict("records")],
    })
    contrib = contributors.assign(run_id=run_id)[["run_id", "unit", "station_id", "substituted_hours",
                                                  "interference", "missing", "invalid_flag"]]
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO assessment_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, period, level, policy_id, policy_version, policy_factor, policy_window, now, created_by])
        con.register("_et_assess_units", frame)
        con.execute("INSERT INTO assessment_units SELECT * FROM _et_assess_units")
        con.register("_et_assess_contrib", contrib)
        con.execute("INSERT INTO assessment_contributors SELECT * FROM _et_assess_contrib")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for view in ("_et_assess_units", "_et_assess_contrib"):
            with contextlib.suppress(duckdb.Error):
                con.unregister(view)


def assessment_runs(con: Con) -> pd.DataFrame:
    """Stored runs, newest first."""
    return con.execute("SELECT * FROM assessment_runs ORDER BY created_at DESC, run_id DESC").df()


def assessment_units(con: Con, run_id: str) -> pd.DataFrame:
    """The units table of one run, by penalised rank, with unit coordinates (mean of member stations)."""
    return con.execute(
        """
        SELECT u.*, c.lon, c.lat FROM assessment_units u
        LEFT JOIN (
            SELECT coalesce(CASE WHEN r.level = 'city' THEN s.city_code ELSE s.county_code END, '') AS unit,
                   avg(s.lon) AS lon, avg(s.lat) AS lat
            FROM stations s, assessment_runs r
            WHERE r.run_id = ? AND s.kind = 'air_station'
            GROUP BY 1
        ) c ON c.unit = u.unit
        WHERE u.run_id = ? ORDER BY u.rank_pen NULLS LAST, u.unit
        """, [run_id, run_id]).df()


def assessment_contributors(con: Con, run_id: str) -> pd.DataFrame:
    """The stations whose substituted hours moved a unit, with station names."""
    return con.execute(
        "SELECT c.unit, c.station_id, s.name, c.substituted_hours, c.interference, c.missing, c.invalid_flag "
        "FROM assessment_contributors c LEFT JOIN stations s ON s.station_id = c.station_id "
        "WHERE c.run_id = ? ORDER BY c.unit, c.substituted_hours DESC", [run_id]).df()
