"""A province-sized air network for benchmarks: real station positions and real levels, synthetic
days (seeded).

Each station's day shape is its own real 24-hour profile from the national day (CNEMC
2017-01-01, every pollutant it reports). Day after day the profile is scaled by

1. a **regional weather factor** shared by nearby stations: a few smooth pressure-system cells
   (Gaussian in space, ~300 km wide) whose strength follows an AR(1) over days, so episodes build
   over neighbouring cities together, as a stagnant winter high does;
2. a **local factor**: AR(1) over hours (rho 0.9, ~12 %), different per station and parameter;
3. **missing hours**: ~2 % at random.

The numbers are not a forecast of anything; they give a network with the spatial coherence and
the hourly persistence the engine's neighbour and rolling models expect, at real positions and
real pollution levels, so the benchmark's scoring does the work it does on real data.

Pure and seeded: the same inputs and seed give the same readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

CELL_WIDTH_KM = 300.0
N_CELLS = 6
KM_PER_DEG = 111.0


def province_readings(day: pd.DataFrame, stations: pd.DataFrame, start: pd.Timestamp, hours: int, *,
                      seed: int = 0, missing_rate: float = 0.02) -> pd.DataFrame:
    """Long readings (station_id, ts, parameter, value; ts naive UTC) for ``hours`` from ``start``.

    ``day``: the real day (station_id, ts, parameter, value) whose hour-of-day profile each station
    repeats; ``stations``: station_id, lon, lat of the stations to generate (those without a real
    profile are left out)."""
    rng = np.random.default_rng(seed)
    prof = (day.assign(hod=pd.to_datetime(day["ts"]).dt.hour)
            .pivot_table(index=["station_id", "parameter"], columns="hod", values="value", aggfunc="mean")
            .reindex(columns=range(24)))
    prof = prof.T.interpolate(limit_direction="both").T.dropna()
    prof = prof[prof.index.get_level_values("station_id").isin(set(stations["station_id"]))]
    keys = prof.index.to_frame(index=False)
    pos = stations.set_index("station_id").loc[keys["station_id"], ["lon", "lat"]].to_numpy(float)
    ts = pd.date_range(start, periods=hours, freq="h")
    n, days = len(keys), hours // 24 + 2
    regional = _regional_factor(pos, days, rng)                       # [n, days]
    day_index = ((ts - ts[0].normalize()) // pd.Timedelta(days=1)).to_numpy()
    local = np.exp(lfilter([1.0], [1.0, -0.9], rng.normal(0, 0.12 * np.sqrt(1 - 0.81), (n, hours)), axis=1))
    shape = prof.to_numpy(float)[:, ts.hour.to_numpy()]               # [n, hours]
    values = np.round(shape * regional[:, day_index] * local, 1)
    keep = rng.random((n, hours)) >= missing_rate
    sid = np.repeat(keys["station_id"].to_numpy(), hours)
    par = np.repeat(keys["parameter"].to_numpy(), hours)
    out = pd.DataFrame({"station_id": sid, "ts": np.tile(ts.to_numpy(), n), "parameter": par,
                        "value": values.ravel()})
    return out[keep.ravel()].reset_index(drop=True)


def _regional_factor(pos: np.ndarray, days: int, rng: np.random.Generator) -> np.ndarray:
    """exp of a sum of smooth cells over space, each with an AR(1) strength over days."""
    lon, lat = pos[:, 0], pos[:, 1]
    centres = np.column_stack([rng.uniform(lon.min(), lon.max(), N_CELLS), rng.uniform(lat.min(), lat.max(), N_CELLS)])
    dx = (lon[:, None] - centres[None, :, 0]) * KM_PER_DEG * np.cos(np.radians(lat))[:, None]
    dy = (lat[:, None] - centres[None, :, 1]) * KM_PER_DEG
    weight = np.exp(-(dx**2 + dy**2) / (2 * CELL_WIDTH_KM**2))         # [n, cells]
    strength = lfilter([1.0], [1.0, -0.7], rng.normal(0, 0.35 * np.sqrt(1 - 0.49), (N_CELLS, days)), axis=1)
    return np.exp(weight @ strength)
