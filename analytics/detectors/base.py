"""The shared shape every detector works on: a dense hourly panel, plus fast numpy helpers.

Why a panel and not the long table: every check here compares a reading with its own past,
with the other pollutants of the same station at the same hour, or with the neighbours at the
same hour. On a dense array ``values[station, hour, parameter]`` each of those is a slice or a
shift, so a whole year of 12 stations (2.5 M readings) is scored in seconds and 2,000 stations
stay vectorised. Missing hours (absent rows or null values) are NaN; ``present`` says which
cells came from an input row, so outputs can be gathered back to exactly one row per reading.

Everything here is pure: no I/O, no global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from analytics.vocabulary import PARAMETERS
from geo.neighbours import haversine_m, nearest_neighbours

HOUR = np.timedelta64(1, "h")
#: ``panel.cache`` key of the event openers' statistics a detector leaves beside its models: name ->
#: :class:`OpenerStatistic`, read by the event opener against the calibration's thresholds, never
#: scored or combined
OPENER_STATISTICS = "opener_statistics"
SPATIAL_KINDS = {"air_station": "air", "air_micro": "air", "water_section": "water"}


class OpenerStatistic(NamedTuple):
    """A statistic that opens events alone ([S, T] ``values``) and the kind of the events it alone opens."""

    kind: str
    values: np.ndarray


class InputError(ValueError):
    """Readings or stations that cannot be scored as given; the message says what to fix."""


@dataclass
class Neighbours:
    """k nearest neighbours per station as index arrays (-1 = none), distances in metres, and the
    hours by which each neighbour's series is shifted before it predicts the station (``lag_h``:
    a river section's upstream section speaks for it ``travel time`` hours later, its downstream
    section as many hours earlier; 0 for stations that share the air)."""

    index: np.ndarray  # int [S, K]
    distance_m: np.ndarray  # float [S, K] (inf where none)
    lag_h: np.ndarray | None = None  # int [S, K]: neighbour at t - lag predicts the station at t

    @property
    def count(self) -> np.ndarray:
        return (self.index >= 0).sum(axis=1)


@dataclass
class Panel:
    """Readings on a dense hourly grid. ``values[s, t, p]`` in the parameter's canonical unit."""

    stations: pd.DataFrame  # one row per axis-0 entry, columns station_id, kind, lon, lat, ...
    times: pd.DatetimeIndex  # hourly, naive
    parameters: tuple[str, ...]
    values: np.ndarray  # float64 [S, T, P]; NaN = missing
    present: np.ndarray  # bool [S, T, P]; an input row exists for this cell
    flags: np.ndarray  # uint8 [S, T, P]; 0 = N/absent, else index into FLAG_CODES
    neighbours: Neighbours
    cache: dict = field(default_factory=dict)  # per-run memo of derived arrays (log values, residuals)
    # pieces of one detector (parameters, stations) run at once (analytics.threads; the same bits)
    threads: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values.shape  # type: ignore[return-value]

    def pindex(self, name: str) -> int | None:
        """Axis-2 index of a parameter, or None when the partition does not carry it."""
        try:
            return self.parameters.index(name)
        except ValueError:
            return None

    @property
    def hour_of_day(self) -> np.ndarray:
        return self.times.hour.to_numpy()


FLAG_CODES: tuple[str, ...] = ("N", "F", "M", "S", "D", "C", "T", "B")


#: river flow assumed between sections (~0.5 m/s): travel time = river km / this
RIVER_FLOW_KM_H = 1.8
#: river km per straight-line km where the stations table gives no ``reach_km`` (meanders)
RIVER_SINUOSITY = 1.3
#: a river link (upstream/downstream section) weighs like a neighbour this far away: the water
#: carries the signal along the river, the distance over land does not apply
RIVER_LINK_DISTANCE_M = 10_000.0


def river_links(stations: pd.DataFrame) -> list[tuple[int, int, int, float]]:
    """(section, linked section, lag h, distance m) for each section's upstream section and, the
    other way round, for each section's downstream ones: ``lag`` > 0 means the linked section's
    reading ``lag`` hours earlier predicts this one (upstream), < 0 later (downstream). Travel time
    from ``reach_km`` when given, else straight-line distance x ``RIVER_SINUOSITY``, at
    ``RIVER_FLOW_KM_H``. Rows are positions in ``stations``."""
    if "upstream_station" not in stations.columns:
        return []
    pos = {str(sid): i for i, sid in enumerate(stations["station_id"].astype(str))}
    lon, lat = stations["lon"].to_numpy(dtype=float), stations["lat"].to_numpy(dtype=float)
    reach = pd.to_numeric(stations["reach_km"], errors="coerce").to_numpy() if "reach_km" in stations.columns \
        else np.full(len(stations), np.nan)
    links = []
    for i, up in enumerate(stations["upstream_station"].to_numpy()):
        j = pos.get(str(up)) if isinstance(up, str) and up else None
        if j is None or j == i:
            continue
        d_m = float(haversine_m(lon[i], lat[i], lon[j], lat[j]))
        km = float(reach[i]) if np.isfinite(reach[i]) else d_m / 1000.0 * RIVER_SINUOSITY
        lag = int(round(km / RIVER_FLOW_KM_H))
        links += [(i, j, lag, d_m), (j, i, -lag, d_m)]
    return links


def build_neighbours(stations: pd.DataFrame, k: int = 8, max_distance_m: float = 80_000.0) -> Neighbours:
    """Neighbours within the same network family (air stations and micro-stations together,
    water sections together; polluter outlets have no spatial neighbours). A river section's
    upstream and downstream sections (:func:`river_links`) come first among its neighbours,
    whatever their distance, shifted by the travel time between them."""
    n = len(stations)
    idx = np.full((n, max(k, 1)), -1, dtype=np.int64)
    dist = np.full((n, max(k, 1)), np.inf)
    if n < 2:
        return Neighbours(idx, dist)
    family = stations["kind"].map(SPATIAL_KINDS).fillna("none").to_numpy()
    pos = pd.Series(np.arange(n), index=stations["station_id"].to_numpy())
    for fam in set(family) - {"none"}:
        sub = stations[family == fam]
        if len(sub) < 2:
            continue
        nb = nearest_neighbours(sub, k=k, max_distance_m=max_distance_m)
        if nb.empty:
            continue
        si = pos[nb["station_id"].to_numpy()].to_numpy()
        ni = pos[nb["neighbour_id"].to_numpy()].to_numpy()
        rk = nb["rank"].to_numpy().astype(int) - 1
        idx[si, rk] = ni
        dist[si, rk] = nb["distance_m"].to_numpy()
    water = stations["kind"].to_numpy() == "water_section"
    links = [link for link in river_links(stations) if water[link[0]] and water[link[1]]]
    if not links:
        return Neighbours(idx, dist)
    return with_river_links(idx, dist, links)


def with_river_links(idx: np.ndarray, dist: np.ndarray, links) -> Neighbours:
    """The neighbour table with each section's river links first (lagged), then its nearest
    other neighbours in order, cut at the table's K."""
    K = idx.shape[1]
    lag = np.zeros_like(idx)
    by_station: dict[int, list[tuple[int, int, float]]] = {}
    for i, j, lag_h, _d in links:
        by_station.setdefault(i, []).append((j, lag_h, RIVER_LINK_DISTANCE_M))
    for i, linked in by_station.items():
        rows = linked[:K]
        taken = {j for j, _, _ in rows}
        rows += [(int(j), 0, float(d)) for j, d in zip(idx[i], dist[i], strict=True) if j >= 0 and j not in taken]
        rows = rows[:K]
        idx[i] = -1
        dist[i] = np.inf
        lag[i] = 0
        for r, (j, lg, d) in enumerate(rows):
            idx[i, r], lag[i, r], dist[i, r] = j, lg, d
    return Neighbours(idx, dist, lag)


def build_panel(readings: pd.DataFrame, stations: pd.DataFrame, *, k_neighbours: int = 8,
                max_distance_m: float = 80_000.0) -> tuple[Panel, np.ndarray]:
    """Validated long readings -> (Panel, cell index of every input row as [n_rows, 3] int array).

    ``readings`` must already be validated (see :func:`validate_readings`); timestamps must be on
    the hour. Stations without readings stay in the panel (all NaN) so they cannot be mistaken
    for agreeing neighbours.
    """
    # stations without a single reading add nothing but memory (2,000 listed, 12 reporting)
    st = stations[stations["station_id"].isin(set(readings["station_id"].unique()))]
    st = st.sort_values("station_id").reset_index(drop=True)
    sid = pd.Index(st["station_id"].astype(str))
    s_codes, s_uniques = pd.factorize(readings["station_id"])
    s_idx = sid.get_indexer(s_uniques)[s_codes]
    p_codes, p_uniques = pd.factorize(readings["parameter"])
    params = tuple(sorted(p_uniques, key=_param_order))
    p_idx = pd.Index(params).get_indexer(p_uniques)[p_codes]
    ts = readings["ts"].to_numpy().astype("datetime64[h]")
    if len(ts):
        t0, t1 = ts.min(), ts.max()
    else:
        t0 = t1 = np.datetime64("2000-01-01T00", "h")
    times = pd.date_range(pd.Timestamp(t0), pd.Timestamp(t1), freq="h")
    t_idx = ((ts - t0) / HOUR).astype(np.int64)
    shape = (len(st), len(times), len(params))
    values = np.full(shape, np.nan)
    present = np.zeros(shape, dtype=bool)
    flags = np.zeros(shape, dtype=np.uint8)
    values[s_idx, t_idx, p_idx] = readings["value"].to_numpy(dtype=float)
    present[s_idx, t_idx, p_idx] = True
    if "flag" in readings.columns:
        f_codes, f_uniques = pd.factorize(readings["flag"].fillna("N").astype(str))
        codes = pd.Index(FLAG_CODES).get_indexer(f_uniques)[f_codes]
        flags[s_idx, t_idx, p_idx] = np.where(codes < 0, 0, codes).astype(np.uint8)
    panel = Panel(stations=st, times=times, parameters=params, values=values, present=present, flags=flags,
                  neighbours=build_neighbours(st, k=k_neighbours, max_distance_m=max_distance_m))
    cells = np.stack([s_idx, t_idx, p_idx], axis=1)
    return panel, cells


def _param_order(name: str) -> tuple[int, str]:
    names = list(PARAMETERS)
    return (names.index(name) if name in names else len(names), name)


# ---------------------------------------------------------------- validation of inputs

REQUIRED_READING_COLUMNS = ("station_id", "ts", "parameter", "value")
REQUIRED_STATION_COLUMNS = ("station_id", "kind", "lon", "lat")


def validate_stations(stations: pd.DataFrame) -> pd.DataFrame:
    """Check the stations table; return a clean copy (station_id str, lon/lat float)."""
    missing = [c for c in REQUIRED_STATION_COLUMNS if c not in stations.columns]
    if missing:
        raise InputError(f"stations table lacks column(s) {', '.join(missing)}; need {', '.join(REQUIRED_STATION_COLUMNS)}")
    st = stations.copy()
    st["station_id"] = st["station_id"].astype(str)
    dup = st["station_id"].duplicated()
    if dup.any():
        raise InputError(f"stations table lists {int(dup.sum())} station_id(s) twice, e.g. {st.loc[dup, 'station_id'].iloc[0]!r}")
    for col in ("lon", "lat"):
        st[col] = pd.to_numeric(st[col], errors="coerce")
    bad = st["lon"].isna() | st["lat"].isna() | ~st["lon"].between(-180, 180) | ~st["lat"].between(-90, 90)
    if bad.any():
        raise InputError(f"{int(bad.sum())} station(s) have no valid lon/lat (WGS-84 degrees), e.g. {st.loc[bad, 'station_id'].iloc[0]!r}")
    st["kind"] = st["kind"].fillna("air_station").astype(str)
    return st


def validate_readings(readings: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Check long readings against the contract; return a clean copy or raise InputError.

    Accepted and documented: unsorted rows (order does not matter), absent hours, null values,
    a missing ``flag`` column (all 'N'). Rejected with a message: missing columns, unknown
    stations, non-numeric values, unparseable or non-hourly timestamps, duplicate
    (station_id, ts, parameter) keys.
    """
    missing = [c for c in REQUIRED_READING_COLUMNS if c not in readings.columns]
    if missing:
        raise InputError(f"readings lack column(s) {', '.join(missing)}; need {', '.join(REQUIRED_READING_COLUMNS)} (+ optional flag)")
    cols = [c for c in (*REQUIRED_READING_COLUMNS, "flag") if c in readings.columns]
    r = readings[cols].copy()
    r["station_id"] = r["station_id"].astype(str)
    r["parameter"] = r["parameter"].astype(str)
    unknown = ~r["station_id"].isin(set(stations["station_id"]))
    if unknown.any():
        names = sorted(r.loc[unknown, "station_id"].unique())
        raise InputError(f"{int(unknown.sum())} reading(s) from {len(names)} station(s) not in the stations table: "
                         f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    raw = r["value"]
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        num = pd.to_numeric(raw, errors="coerce")
        blank = raw.isna() | raw.astype(str).str.strip().isin(["", "NA", "NaN", "nan", "null", "None"])
        bad = num.isna() & ~blank
        if bad.any():
            ex = raw[bad].iloc[0]
            raise InputError(f"{int(bad.sum())} non-numeric value(s) in column value, e.g. {ex!r} "
                             f"(station {r.loc[bad, 'station_id'].iloc[0]}, ts {r.loc[bad, 'ts'].iloc[0]})")
        r["value"] = num.astype(float)
    else:
        r["value"] = pd.to_numeric(raw, errors="coerce").astype(float)
    r["value"] = r["value"].where(np.isfinite(r["value"]))
    try:
        ts = pd.to_datetime(r["ts"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"column ts has values that are not timestamps ({exc})") from None
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise InputError("ts must be naive (China Standard Time for files, UTC in the store), not time-zone aware")
    if ts.isna().any():
        raise InputError(f"{int(ts.isna().sum())} reading(s) have no timestamp")
    off_hour = ts != ts.dt.floor("h")
    if off_hour.any():
        raise InputError(f"{int(off_hour.sum())} timestamp(s) are not on the hour (e.g. {ts[off_hour].iloc[0]}); "
                         "envtrust scores hourly data - aggregate sub-hourly readings first")
    r["ts"] = ts.astype("datetime64[us]")
    dup = r.duplicated(["station_id", "ts", "parameter"], keep=False)
    if dup.any():
        ex = r[dup].iloc[0]
        raise InputError(f"{int(dup.sum())} rows share a (station_id, ts, parameter) key, e.g. "
                         f"({ex['station_id']}, {ex['ts']}, {ex['parameter']}); remove duplicates first")
    if "flag" in r.columns:
        r["flag"] = r["flag"].fillna("N").astype(str).str.strip().replace("", "N")
    return r


# ---------------------------------------------------------------- numpy helpers (time = last axis or axis given)

def nan_rolling_mean(x: np.ndarray, window: int, axis: int = 1, min_count: int = 1) -> np.ndarray:
    """Centred rolling mean ignoring NaN (cumsum based, O(n)); NaN where fewer than min_count values."""
    x = np.asarray(x, dtype=float)
    axis = axis % x.ndim
    window = max(1, min(int(window), x.shape[axis]))
    return _masked_rolling_mean(x, np.isfinite(x), window, axis, min_count)[0]


def nan_rolling_std(x: np.ndarray, window: int, axis: int = 1, min_count: int = 3) -> np.ndarray:
    """Centred rolling standard deviation ignoring NaN (from the rolling means of x and x^2; the
    window counts are shared when x^2 is finite wherever x is)."""
    x = np.asarray(x, dtype=float)
    axis = axis % x.ndim
    window = max(1, min(int(window), x.shape[axis]))
    valid = np.isfinite(x)
    x0 = np.where(valid, x, 0.0)
    x2 = np.square(x0)
    if not np.isfinite(x2).all():  # x^2 overflows somewhere: its valid cells and counts are its own
        m, n = _masked_rolling_mean(x, valid, window, axis, min_count)
        with np.errstate(over="ignore"):
            x2 = x**2
        m2, _ = _masked_rolling_mean(x2, np.isfinite(x2), window, axis, min_count)
        return np.sqrt(np.clip(m2 - m**2, 0.0, None))
    # the common case: one count, one mask and one divisor serve both means; the tail in place
    n = _window_sums(valid.astype(np.float64), window, axis)
    short = n < min_count
    np.maximum(n, 1, out=n)
    m = _window_sums(x0, window, axis)
    m /= n
    m2 = _window_sums(x2, window, axis)
    m2 /= n
    m2 -= np.square(m)
    np.clip(m2, 0.0, None, out=m2)
    np.sqrt(m2, out=m2)
    m2[short] = np.nan
    return m2


def _masked_rolling_mean(x: np.ndarray, valid: np.ndarray, window: int, axis: int, min_count: int,
                         counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(centred rolling mean of x over the ``valid`` cells, the window counts); ``counts``: the
    counts of the same ``valid`` when already known."""
    s = _window_sums(np.where(valid, x, 0.0), window, axis)
    n = _window_sums(valid.astype(np.float64), window, axis) if counts is None else counts
    return np.where(n >= min_count, s / np.maximum(n, 1), np.nan), n


def _window_sums(a: np.ndarray, window: int, axis: int) -> np.ndarray:
    """Centred window sums along ``axis`` (window // 2 before, the rest after) from one cumulative
    sum, computed along the axis in place (no transposed copies: numpy's cumulative sum is
    sequential along any axis, so the sums are the same bits).

    The cumulative sum of ``a`` zero-padded by ``window // 2 + 1`` before and the rest after, written
    without the padded copy: the padding's zeros add nothing but turn a leading -0.0 into 0.0, so
    the running sums get ``+= 0.0`` (the same bits), and after the end they stay at the total.
    Why: the padded copy was a third of the time (18 -> 6 ms on a dense air block's [48, 2544, 12])."""
    half_lo, n = window // 2, a.shape[axis]
    shape = list(a.shape)
    shape[axis] += window
    cs = np.empty(shape)
    cs[_along(axis, a.ndim, slice(0, half_lo + 1))] = 0.0
    running = cs[_along(axis, a.ndim, slice(half_lo + 1, half_lo + 1 + n))]
    np.cumsum(a, axis=axis, out=running)
    running += 0.0
    cs[_along(axis, a.ndim, slice(half_lo + 1 + n, None))] = cs[_along(axis, a.ndim, slice(half_lo + n, half_lo + n + 1))]
    return cs[_along(axis, a.ndim, slice(window, None))] - cs[_along(axis, a.ndim, slice(None, -window))]


def _along(axis: int, ndim: int, part: slice) -> tuple[slice, ...]:
    """An index taking ``part`` along ``axis`` and everything along the other axes."""
    return tuple(part if i == axis else slice(None) for i in range(ndim))


def rolling_median(x: np.ndarray, window: int, min_periods: int = 1) -> np.ndarray:
    """Centred rolling median along axis 1 of a [S, T, P] array (pandas skiplist, O(n log w))."""
    s, t, p = x.shape
    flat = x.transpose(1, 0, 2).reshape(t, s * p)
    med = pd.DataFrame(flat).rolling(window, center=True, min_periods=min_periods).median().to_numpy()
    return med.reshape(t, s, p).transpose(1, 0, 2)


def robust_scale(x: np.ndarray, axis: int = 1, floor: float = 1e-6) -> np.ndarray:
    """1.4826 x median absolute deviation along ``axis`` (kept as a size-1 axis)."""
    med = np.expand_dims(nanmedian_axis(x, axis), axis)
    mad = np.expand_dims(nanmedian_axis(np.abs(x - med), axis), axis)
    out = 1.4826 * mad
    return np.where(np.isfinite(out), np.maximum(out, floor), np.nan)


def nanmedian_quiet(x: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """Median ignoring NaN (all-NaN -> NaN, no warning); sort based, much faster than np.nanmedian."""
    if axis is None:
        v = np.asarray(x, dtype=float).ravel()
        v = v[np.isfinite(v)]
        return np.median(v) if v.size else np.nan
    out = nanmedian_axis(np.asarray(x, dtype=float), axis)
    return np.expand_dims(out, axis) if keepdims else out


def run_lengths(mask: np.ndarray, axis: int = 1) -> np.ndarray:
    """Length of the True run each element belongs to (0 where False), along ``axis``."""
    m = np.moveaxis(np.asarray(mask, dtype=bool), axis, -1)
    shp = m.shape
    flat = m.reshape(-1, shp[-1])
    padded = np.zeros((flat.shape[0], flat.shape[1] + 1), dtype=bool)
    padded[:, :-1] = flat
    r = padded.ravel()
    starts = r & ~np.concatenate([[False], r[:-1]])
    ids = np.cumsum(starts)
    lengths = np.bincount(ids, weights=r).astype(np.int64)
    out = np.where(r, lengths[ids], 0).reshape(padded.shape)[:, :-1]
    return np.moveaxis(out.reshape(shp), -1, axis)


def shift(x: np.ndarray, n: int, axis: int = 1, fill: float = np.nan) -> np.ndarray:
    """x shifted by n steps along axis (positive = value from n steps earlier)."""
    out = np.full_like(x, fill, dtype=float)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    if n > 0:
        src[axis] = slice(0, -n)
        dst[axis] = slice(n, None)
    elif n < 0:
        src[axis] = slice(-n, None)
        dst[axis] = slice(0, n)
    else:
        return x.astype(float).copy()
    out[tuple(dst)] = x[tuple(src)]
    return out


# Offsets c_p for log(value + c_p), in the parameter's unit: about the analyser's noise floor, so
# clean low values do not blow up in log space. Fixed (not data-derived) so that a partitioned
# run transforms every station exactly as a single run does.
LOG_OFFSETS: dict[str, float] = {"PM2.5": 5.0, "PM10": 10.0, "SO2": 3.0, "NO2": 5.0, "CO": 0.1, "O3": 5.0}


def log_offset(name: str) -> float:
    """c_p for a parameter: the table above, else 0.1% of its physical maximum, else 1."""
    if name in LOG_OFFSETS:
        return LOG_OFFSETS[name]
    spec = PARAMETERS.get(name)
    if spec is not None and spec.max_value:
        return max(spec.max_value * 1e-3, 1e-3)
    return 1.0


def log_values(panel: Panel) -> np.ndarray:
    """log(value + c_p) per parameter (see LOG_OFFSETS), memoised on the panel.

    Why log: pollution is multiplicative (episodes scale every station alike), so differences
    of logs between neighbours are stable where raw differences are not.
    """
    if "log" not in panel.cache:
        v = panel.values
        c = np.array([log_offset(p) for p in panel.parameters], dtype=float)
        lo = np.array([(PARAMETERS[p].min_value if p in PARAMETERS and PARAMETERS[p].min_value is not None
                        else 0.0) for p in panel.parameters])
        panel.cache["log_offset"] = c
        panel.cache["log_shift"] = lo
        panel.cache["log"] = np.log(np.clip(v - lo[None, None, :], 0.0, None) + c[None, None, :])
    return panel.cache["log"]


def nanmedian_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Median ignoring NaN along a short axis (e.g. K neighbours) via one sort; faster than np.nanmedian."""
    xs = np.sort(x, axis=axis)  # NaN sorts last
    n = np.isfinite(x).sum(axis=axis, keepdims=True)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    a = np.take_along_axis(xs, lo, axis=axis)
    b = np.take_along_axis(xs, hi, axis=axis)
    out = np.squeeze((a + b) / 2, axis=axis)
    return np.where(np.squeeze(n, axis=axis) > 0, out, np.nan)


def nanquantile_axis(x: np.ndarray, q: float, axis: int = 1) -> np.ndarray:
    """``np.nanquantile(x, q, axis=axis, keepdims=True)`` (linear method, same float operations, so
    the same bits) from one sort; NaN for all-missing series, no warning. Why: numpy's nanquantile
    along an axis loops in Python over every series (75,000 calls, 40 s for the demo's scoring)."""
    xs = np.sort(x, axis=axis)  # NaN sorts last
    n = (~np.isnan(x)).sum(axis=axis, keepdims=True)
    virtual = (n - 1).astype(np.float64) * q
    lo = np.floor(virtual)
    gamma = virtual - lo
    lo_i = np.clip(lo.astype(np.int64), 0, None)
    hi_i = np.clip(np.minimum(lo_i + 1, n - 1), 0, None)
    a = np.take_along_axis(xs, lo_i, axis=axis)
    b = np.take_along_axis(xs, hi_i, axis=axis)
    d = b - a
    out = np.where(gamma >= 0.5, b - d * (1 - gamma), a + d * gamma)  # numpy's _lerp
    return np.where(n > 0, out, np.nan)


def neighbour_median(x: np.ndarray, index: np.ndarray, chunk_elements: int = 8_000_000) -> np.ndarray:
    """Median over each station's neighbours (``index`` [S, K], -1 = none) of ``x`` [S, T, P],
    in station chunks so memory stays bounded for thousands of stations. NaN where no neighbour."""
    S, T, P = x.shape
    K = index.shape[1]
    out = np.full(x.shape, np.nan)
    if K == 0:
        return out
    step = max(1, chunk_elements // max(1, K * T * P))
    for s0 in range(0, S, step):
        idx = index[s0:s0 + step]
        has = idx >= 0
        g = np.where(has[:, :, None, None], x[np.where(has, idx, 0)], np.nan)  # [c, K, T, P]
        out[s0:s0 + step] = nanmedian_axis(g, axis=1)
    return out
