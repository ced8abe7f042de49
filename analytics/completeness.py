"""Data completeness: the one run finder for "data missing" (数据缺失/传输中断).

The engine's data-completeness alarms (``analytics.events.completeness_gaps``, over a scored panel)
and the enforcement rule ``data_missing`` (``envtrust.alarms.missing_runs``, over the store) both
find their gaps here, with one threshold: the shortest gap that can cost a valid day
(``analytics.standards.air_quality.gap_costing_a_valid_day_h``, GB 3095-2012 table 4).

Pure functions over hour indices (integers, one per hour); they read nothing and import nothing
above ``analytics``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: gaps of one station closer than this many hours of data are one episode for an officer: a feed
#: that comes back for a few hours and drops again on the same day is one fault, not several
GAP_EPISODE_MERGE_H = 24

EPISODE_COLUMNS = ["station_id", "start", "end", "hours", "gaps", "ongoing"]


def missing_runs_h(have_h: np.ndarray, min_h: int, until_h: int | None = None) -> list[tuple[int, int]]:
    """(first, last hour inclusive) of every run of at least ``min_h`` hours without data.

    ``have_h``: sorted hour indices with data at one station. The reporting period starts at the
    first hour with data (nothing before commissioning) and ends at the last one, or at ``until_h``
    (inclusive) when given: the last hour the station is still expected to report (a feed that stops
    for good leaves a trailing run up to it; pass the registry's end of service and the newest hour
    of its data source, not the newest hour of the whole store)."""
    have_h = np.asarray(have_h, dtype=np.int64)
    if have_h.size == 0:
        return []
    min_h = max(1, int(min_h))
    run_h = np.diff(have_h) - 1  # missing hours between consecutive hours with data
    out = [(int(have_h[k]) + 1, int(have_h[k + 1]) - 1) for k in np.nonzero(run_h >= min_h)[0]]
    if until_h is not None and int(until_h) - int(have_h[-1]) >= min_h:
        out.append((int(have_h[-1]) + 1, int(until_h)))
    return out


def gap_episodes(runs: pd.DataFrame, merge_h: int = GAP_EPISODE_MERGE_H) -> pd.DataFrame:
    """Runs (station_id, start, end as hourly timestamps, ``ongoing``) merged per station into
    episodes: runs separated by fewer than ``merge_h`` hours of data are one episode. Returns
    station_id, start, end, hours (missing hours, summed over its runs), gaps (runs), ongoing
    (the last run reaches the station's expected end: the feed has not come back)."""
    if runs.empty:
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    r = runs.sort_values(["station_id", "start"], kind="stable").reset_index(drop=True)
    start = pd.to_datetime(r["start"])
    end = pd.to_datetime(r["end"])
    prev_end = end.groupby(r["station_id"]).shift()
    between_h = (start - prev_end) / pd.Timedelta(hours=1) - 1
    new_episode = prev_end.isna() | (between_h >= merge_h)
    episode = new_episode.cumsum()
    hours = (end - start) / pd.Timedelta(hours=1) + 1
    g = pd.DataFrame({"station_id": r["station_id"], "start": start, "end": end, "hours": hours,
                      "ongoing": r["ongoing"].astype(bool), "episode": episode}).groupby("episode", sort=True)
    out = g.agg(station_id=("station_id", "first"), start=("start", "min"), end=("end", "max"),
                hours=("hours", "sum"), gaps=("hours", "size"), ongoing=("ongoing", "last"))
    out["hours"] = out["hours"].astype(int)
    return out.reset_index(drop=True)[EPISODE_COLUMNS]
