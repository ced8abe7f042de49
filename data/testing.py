"""Testing helpers for detector tests (geopandas-style public testing module): a small REAL slice
and injection helpers (each test injects its own small instance of a kind)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from analytics.detectors.base import build_panel, validate_readings, validate_stations
from analytics.timeconv import utc_to_cst
from data import SAMPLE_DIR
from data.adapters.beijing import read_prsa_pollutants


@lru_cache(maxsize=1)
def _sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    readings, stations = read_prsa_pollutants(SAMPLE_DIR / "beijing")
    return readings.assign(ts=utc_to_cst(readings["ts"])), stations


def sample_readings() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real Beijing sample (12 stations, December 2016 CST), long, copies."""
    r, s = _sample()
    r = r[r["ts"] < "2017-01-01"]  # 31 days keep the tests fast
    return r.copy(), s.copy()


def panel_of(readings: pd.DataFrame, stations: pd.DataFrame):
    st = validate_stations(stations)
    return build_panel(validate_readings(readings, st), st)[0]


def set_values(readings: pd.DataFrame, station: str, parameter: str, start: str, hours: int, fn) -> pd.DataFrame:
    """Apply fn(values ndarray) -> new values to one station/parameter over [start, start+hours)."""
    r = readings.copy()
    t0 = pd.Timestamp(start)
    m = (r["station_id"] == station) & (r["parameter"] == parameter) & (r["ts"] >= t0) & \
        (r["ts"] < t0 + pd.Timedelta(hours=hours))
    r.loc[m, "value"] = fn(r.loc[m, "value"].to_numpy())
    return r


def cells(panel, station: str, parameter: str, start: str, hours: int) -> tuple[int, slice, int]:
    s = int(np.nonzero(panel.stations["station_id"].to_numpy() == station)[0][0])
    t0 = int((pd.Timestamp(start) - panel.times[0]) / pd.Timedelta(hours=1))
    return s, slice(t0, t0 + hours), panel.pindex(parameter)


def firing_rate(stat: np.ndarray, threshold: float) -> float:
    """Share of readings whose raw statistic exceeds a threshold."""
    return float((np.nan_to_num(stat) > threshold).mean())
