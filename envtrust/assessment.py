"""Assessment service: rank cities or counties over a period, raw and with the substitution policy.

Plain functions over a store connection, called by ``envtrust assess``, the dashboard's assessment
page and (later) the API. The rules live in :mod:`analytics.assessment` and
:mod:`analytics.standards`; the SQL in :mod:`data.assessment`.
"""

from __future__ import annotations

import uuid

import duckdb
import pandas as pd

from analytics.assessment import AssessmentResult, assess, parse_period
from analytics.standards.penalty import SubstitutionPolicy, resolve_policy
from data.assessment import (
    accepted_reasons,
    air_readings,
    assessment_contributors,
    assessment_runs,
    assessment_stations,
    assessment_units,
    confirmed_interference,
    save_assessment,
)
from envtrust.settings import Settings


def policy_from_settings(settings: Settings, policy_id: str | None = None,
                         window: str | None = None) -> SubstitutionPolicy:
    """The substitution policy chosen in settings (or by name), with the settings' penalty factor."""
    return resolve_policy(policy_id or settings.substitution_policy, factor=settings.penalty_factor, window=window)


def run_assessment(con: duckdb.DuckDBPyConnection, period: str, level: str, policy: SubstitutionPolicy, *,
                   save: bool = True, by: str | None = None) -> tuple[str, AssessmentResult]:
    """Assess ``period`` at ``level`` with ``policy``; store the result (unless ``save=False``).

    Returns (run_id, result).
    """
    p = parse_period(period)
    hours = p.utc_hours
    first, last = hours[0], hours[-1]
    readings = air_readings(con, first, last)
    stations = assessment_stations(con)
    result = assess(readings, stations, p, policy, level=level,
                    interference=confirmed_interference(con, first, last),
                    excused=accepted_reasons(con, first, last))
    run_id = f"assess-{p.label}-{level}-{policy.policy_id}-{uuid.uuid4().hex[:8]}"
    if save:
        save_assessment(con, run_id, period=p.label, level=level, policy_id=policy.policy_id,
                        policy_version=policy.version, policy_factor=policy.factor, policy_window=policy.window,
                        units=result.units, contributors=result.contributors, created_by=by)
    return run_id, result


def latest_run(con: duckdb.DuckDBPyConnection, level: str | None = None) -> pd.Series | None:
    """The newest stored run (optionally of one level), or None."""
    runs = assessment_runs(con)
    if level is not None:
        runs = runs[runs["level"] == level]
    return None if runs.empty else runs.iloc[0]


def stored_run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(units, contributing stations) of a stored run."""
    return assessment_units(con, run_id), assessment_contributors(con, run_id)


def units_export(units: pd.DataFrame) -> pd.DataFrame:
    """The exported table (CSV): one row per unit, raw and penalised side by side."""
    first = ["unit", "name", "n_stations", "capture_rate", "valid_period", "index_raw", "rank_raw",
             "index_pen", "rank_pen", "rank_change", "substituted_hours"]
    rest = [c for c in units.columns if c not in first and c not in ("lon", "lat", "run_id", "statistics_json")]
    return units[first + rest]
