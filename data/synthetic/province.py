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

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.signal import lfilter

CELL_WIDTH_KM = 300.0
N_CELLS = 6
KM_PER_DEG = 111.0


def province_readings(day: pd.DataFrame, stations: pd.DataFrame, start: pd.Timestamp, hours: int, *,
                      seed: int = 0, missing_rate: float = 0.02, borrow_profiles: bool = False) -> pd.DataFrame:
    """Long readings (station_id, ts, parameter, value; ts naive UTC) for ``hours`` from ``start``.

    ``day``: the real day (station_id, ts, parameter, value) whose hour-of-day profile each station
    repeats; ``stations``: station_id, lon, lat of the stations to generate. Stations without a
    real profile are left out, or with ``borrow_profiles`` take their nearest profiled station's."""
    chunks = province_reading_chunks(day, stations, start, hours, chunk_hours=hours, seed=seed,
                                     missing_rate=missing_rate, borrow_profiles=borrow_profiles)
    return pd.concat(list(chunks), ignore_index=True)


def province_reading_chunks(day: pd.DataFrame, stations: pd.DataFrame, start: pd.Timestamp, hours: int, *,
                            chunk_hours: int, seed: int = 0, missing_rate: float = 0.02,
                            borrow_profiles: bool = False) -> Iterator[pd.DataFrame]:
    """:func:`province_readings` in consecutive time chunks of ``chunk_hours`` (the last may be
    shorter), for a year of a province that does not fit memory at once.

    The series run on across chunks (the regional factor is drawn for the whole span, each local
    AR(1) carries its state into the next chunk), so a year in monthly chunks is one year, not
    twelve months glued together."""
    rng = np.random.default_rng(seed)
    prof = station_profiles(day, stations, borrow_profiles)
    keys = prof.index.to_frame(index=False)
    pos = stations.set_index("station_id").loc[keys["station_id"], ["lon", "lat"]].to_numpy(float)
    ts_all = pd.date_range(start, periods=hours, freq="h")
    n, days = len(keys), hours // 24 + 2
    regional = _regional_factor(pos, days, rng)                       # [n, days]
    day_all = ((ts_all - ts_all[0].normalize()) // pd.Timedelta(days=1)).to_numpy()
    shape_by_hour = prof.to_numpy(float)
    sid, par = keys["station_id"].to_numpy(), keys["parameter"].to_numpy()
    state = np.zeros((n, 1))  # the local AR(1)'s last value (filter state) per series
    for lo in range(0, hours, chunk_hours):
        hi = min(lo + chunk_hours, hours)
        ts = ts_all[lo:hi]
        noise = rng.normal(0, 0.12 * np.sqrt(1 - 0.81), (n, hi - lo))
        log_local, state = lfilter([1.0], [1.0, -0.9], noise, axis=1, zi=state)  # state: 0.9 x last value
        shape = shape_by_hour[:, ts.hour.to_numpy()]                  # [n, chunk hours]
        values = np.round(shape * regional[:, day_all[lo:hi]] * np.exp(log_local), 1)
        keep = rng.random((n, hi - lo)) >= missing_rate
        out = pd.DataFrame({"station_id": np.repeat(sid, hi - lo), "ts": np.tile(ts.to_numpy(), n),
                            "parameter": np.repeat(par, hi - lo), "value": values.ravel()})
        yield out[keep.ravel()].reset_index(drop=True)


def station_profiles(day: pd.DataFrame, stations: pd.DataFrame, borrow: bool = False) -> pd.DataFrame:
    """Hour-of-day profile (columns 0..23) per (station_id, parameter) of ``stations``, from the
    real day; with ``borrow``, a station that reported nothing that day takes the profile of the
    nearest station that did (the national list has ~2,000 positions, the 2017 day profiles ~1,400)."""
    prof = (day.assign(hod=pd.to_datetime(day["ts"]).dt.hour)
            .pivot_table(index=["station_id", "parameter"], columns="hod", values="value", aggfunc="mean")
            .reindex(columns=range(24)))
    prof = prof.T.interpolate(limit_direction="both").T.dropna()
    wanted = stations.drop_duplicates("station_id").set_index("station_id")[["lon", "lat"]].astype(float)
    own = prof[prof.index.get_level_values("station_id").isin(set(wanted.index))]
    if not borrow:
        return own
    donors = wanted.loc[sorted(set(prof.index.get_level_values("station_id")) & set(wanted.index))]
    lacking = wanted.loc[sorted(set(wanted.index) - set(donors.index))]
    if lacking.empty or donors.empty:
        return own
    dx = (lacking["lon"].to_numpy()[:, None] - donors["lon"].to_numpy()[None, :]) * np.cos(
        np.radians(lacking["lat"].to_numpy()))[:, None]
    dy = lacking["lat"].to_numpy()[:, None] - donors["lat"].to_numpy()[None, :]
    nearest = donors.index.to_numpy()[np.argmin(dx**2 + dy**2, axis=1)]
    parts = [own]
    for sid, donor in zip(lacking.index, nearest, strict=True):
        borrowed = prof.loc[[donor]]
        borrowed.index = pd.MultiIndex.from_arrays([[sid] * len(borrowed), borrowed.index.get_level_values("parameter")],
                                                   names=prof.index.names)
        parts.append(borrowed)
    return pd.concat(parts).sort_index()


def _regional_factor(pos: np.ndarray, days: int, rng: np.random.Generator) -> np.ndarray:
    """exp of a sum of smooth cells over space, each with an AR(1) strength over days."""
    lon, lat = pos[:, 0], pos[:, 1]
    centres = np.column_stack([rng.uniform(lon.min(), lon.max(), N_CELLS), rng.uniform(lat.min(), lat.max(), N_CELLS)])
    dx = (lon[:, None] - centres[None, :, 0]) * KM_PER_DEG * np.cos(np.radians(lat))[:, None]
    dy = (lat[:, None] - centres[None, :, 1]) * KM_PER_DEG
    weight = np.exp(-(dx**2 + dy**2) / (2 * CELL_WIDTH_KM**2))         # [n, cells]
    strength = lfilter([1.0], [1.0, -0.7], rng.normal(0, 0.35 * np.sqrt(1 - 0.49), (N_CELLS, days)), axis=1)
    return np.exp(weight @ strength)
