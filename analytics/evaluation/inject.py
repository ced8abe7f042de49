"""Inject known interference into REAL readings, so detectors can be measured honestly.

``inject_interference(readings, stations, kinds=None, n_per_kind=20, seed=0)`` returns the
readings with interference applied and a ``truth_events`` table (``event_id, station_id,
start, end, kind, parameters``; ``parameters`` is a JSON string describing what was done).

Design (why it looks like this):

- The interference is applied to real data, so every detector faces the real noise, gaps,
  episodes and diurnal cycles of the network; only the injected readings change.
- Each kind follows the signature in issue #3: e.g. suppression cuts PM2.5/PM10 at one station
  while its gases stay untouched, outages hit when the neighbours are in an episode, clipping
  pulls values above a limit just under it (GB 3095-2012 table 1: PM2.5 24-h Grade II 75 ug/m3,
  PM10 150 ug/m3, which are the IAQI-100 breakpoints of HJ 633-2012 table 1).
- Sizes and timings vary (hours to weeks), start hours are random, many events per kind, and
  events never overlap at one station (a 24 h gap separates them) so every changed reading
  belongs to exactly one event.
- Injected values are rounded to the resolution the series already has (integers for the
  Beijing ug/m3 values), so no detector can "see" injection through decimals.
- ``start``/``end`` are the first and last hour whose readings were actually changed.

Air kinds go into ``air_station``/``air_micro`` stations; CEMS kinds (``flag_abuse``,
``clipping`` under the emission limit, ``flatline``) into ``polluter_outlet`` stations, whose
limits come from ``limits_json``. :func:`synthetic_cems` makes CEMS-like outlet series when
no synthetic polluter network is available.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

EVENT_KINDS: tuple[str, ...] = (
    "suppression", "outage", "flatline", "fabrication", "drift", "clipping", "flag_abuse", "spike",
)
AIR_KINDS: tuple[str, ...] = ("suppression", "outage", "flatline", "fabrication", "drift", "clipping", "spike")
CEMS_KINDS: tuple[str, ...] = ("flag_abuse", "clipping", "flatline")
AIR_PARAMS: tuple[str, ...] = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
CEMS_PARAMS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust", "ww_COD", "ww_NH3-N")
CEMS_ALL_PARAMS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust", "flue_O2", "flue_flow", "flue_temp",
                                    "ww_COD", "ww_NH3-N", "ww_flow")
AIR_STATION_KINDS: tuple[str, ...] = ("air_station", "air_micro")

# GB 3095-2012 table 1, 24-h Grade II limits = HJ 633-2012 IAQI-100 breakpoints (ug/m3)
PM25_24H_LIMIT_UGM3 = 75.0
PM10_24H_LIMIT_UGM3 = 150.0
# Ultra-low emission limits for coal-fired units (mg/m3 at 6% O2), used when limits_json is absent
DEFAULT_CEMS_LIMITS_MGM3: dict[str, float] = {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 10.0}

GAP_BETWEEN_EVENTS_H = 24
MAX_TRIES_PER_EVENT = 200
TRUTH_COLUMNS = ["event_id", "station_id", "start", "end", "kind", "parameters"]


@dataclass
class _Cube:
    """Readings on a dense (station x hour x parameter) grid; ``present`` marks rows that exist."""

    station_ids: np.ndarray
    times: pd.DatetimeIndex
    params: list[str]
    values: np.ndarray
    present: np.ndarray
    flags: np.ndarray  # int codes into flag_names
    flag_names: list[str]
    dropped: np.ndarray = field(default=None)  # type: ignore[assignment]
    resolution: dict[str, float] = field(default_factory=dict)

    def p(self, name: str) -> int:
        return self.params.index(name)


def _series_resolution(values: np.ndarray) -> float:
    """Smallest of 1, 0.1, 0.01, 0.001 that >= 95% of finite values are multiples of (0 = any)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0
    v = v[:50_000]
    for r in (1.0, 0.1, 0.01, 0.001):
        if np.mean(np.abs(v / r - np.round(v / r)) < 1e-6) >= 0.95:
            return r
    return 0.0


def _build_cube(readings: pd.DataFrame) -> tuple[_Cube, np.ndarray, np.ndarray, np.ndarray]:
    """Place long readings on a dense hourly grid; also return each row's (s, t, p) index."""
    ts = pd.to_datetime(readings["ts"])
    station_ids = np.array(sorted(readings["station_id"].astype(str).unique()))
    params = sorted(readings["parameter"].astype(str).unique())
    t0, t1 = ts.min().floor("h"), ts.max().floor("h")
    times = pd.date_range(t0, t1, freq="h")
    s_idx = np.searchsorted(station_ids, readings["station_id"].astype(str).to_numpy())
    p_idx = np.searchsorted(np.array(params), readings["parameter"].astype(str).to_numpy())
    t_idx = ((ts.dt.floor("h") - t0) // pd.Timedelta(hours=1)).to_numpy().astype(np.int64)
    shape = (len(station_ids), len(times), len(params))
    values = np.full(shape, np.nan)
    present = np.zeros(shape, dtype=bool)
    values[s_idx, t_idx, p_idx] = readings["value"].astype(float).to_numpy()
    present[s_idx, t_idx, p_idx] = True
    flag_col = readings["flag"].astype(str) if "flag" in readings else pd.Series("N", index=readings.index)
    codes, names = pd.factorize(flag_col.fillna("N"))
    flag_names = list(names)
    if "N" not in flag_names:
        flag_names.append("N")
    flags = np.full(shape, flag_names.index("N"), dtype=np.int16)
    flags[s_idx, t_idx, p_idx] = codes
    cube = _Cube(station_ids, times, params, values, present, flags, flag_names,
                 dropped=np.zeros(shape, dtype=bool))
    cube.resolution = {p: _series_resolution(values[:, :, i].ravel()) for i, p in enumerate(params)}
    return cube, s_idx, t_idx, p_idx


def _round_to(values: np.ndarray, resolution: float) -> np.ndarray:
    if resolution <= 0:
        return values
    return np.round(values / resolution) * resolution


def _flag_code(cube: _Cube, flag: str) -> int:
    if flag not in cube.flag_names:
        cube.flag_names.append(flag)
    return cube.flag_names.index(flag)


class _Occupancy:
    """Which hours at each station already belong to an event (plus the separating gap)."""

    def __init__(self, n_stations: int, n_times: int):
        self.busy = np.zeros((n_stations, n_times), dtype=bool)

    def free(self, s: int, t0: int, t1: int) -> bool:
        lo = max(0, t0 - GAP_BETWEEN_EVENTS_H)
        hi = min(self.busy.shape[1], t1 + 1 + GAP_BETWEEN_EVENTS_H)
        return not self.busy[s, lo:hi].any()

    def take(self, s: int, t0: int, t1: int) -> None:
        self.busy[s, t0:t1 + 1] = True


def _network_median(cube: _Cube, param: str, stations: np.ndarray) -> np.ndarray:
    """Median over the given stations of one parameter, per hour (NaN where all missing)."""
    if param not in cube.params or stations.size == 0:
        return np.full(len(cube.times), np.nan)
    block = cube.values[stations, :, cube.p(param)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(block, axis=0)


def _pick_start(rng: np.random.Generator, n_times: int, duration: int,
                candidates: np.ndarray | None = None) -> int | None:
    """A random start hour; from ``candidates`` (hour indices) when given, shifted a little back."""
    last = n_times - duration
    if last <= 0:
        return None
    if candidates is not None:
        c = candidates[candidates < last]
        if c.size == 0:
            return None
        return int(np.clip(rng.choice(c) - rng.integers(0, 3), 0, last - 1))
    return int(rng.integers(0, last))


# ---------------------------------------------------------------------------------------------
# one function per kind: each modifies the cube in place inside [t0, t0+dur) and returns the
# description (JSON-able dict) plus the parameters touched, or None when nothing could be done.
# ---------------------------------------------------------------------------------------------

def _params_with_data(cube: _Cube, s: int, params) -> list[str]:
    """The parameters of ``params`` that station ``s`` actually reports (some finite value)."""
    return [p for p in params if p in cube.params and np.isfinite(cube.values[s, :, cube.p(p)]).any()]


def _apply_suppression(cube, rng, s, t0, dur, ctx):
    blocked = dur > 24
    factor = float(rng.uniform(0.1, 0.4) if blocked else rng.uniform(0.3, 0.7))
    params = [p for p in ("PM2.5", "PM10") if p in cube.params]
    for p in params:
        i = cube.p(p)
        seg = cube.values[s, t0:t0 + dur, i]
        noise = rng.normal(1.0, 0.05, size=seg.shape)
        cube.values[s, t0:t0 + dur, i] = _round_to(np.maximum(seg * factor * noise, 0.0), cube.resolution[p])
    return {"variant": "blocked_inlet" if blocked else "spraying", "factor": round(factor, 3)}, params


def _apply_outage(cube, rng, s, t0, dur, ctx):
    params = [p for p in ctx["params"] if p in cube.params]
    idx = [cube.p(p) for p in params]
    drop_rows = bool(rng.random() < 0.5)
    for i in idx:
        if drop_rows:
            cube.dropped[s, t0:t0 + dur, i] |= cube.present[s, t0:t0 + dur, i]
        cube.values[s, t0:t0 + dur, i] = np.nan
    return {"variant": "rows_absent" if drop_rows else "null_values"}, params


def _apply_flatline(cube, rng, s, t0, dur, ctx):
    pool = _params_with_data(cube, s, ctx["params"])
    params = list(rng.choice(pool, size=int(rng.integers(1, len(pool) + 1)), replace=False)) \
        if rng.random() < 0.5 else pool[:]
    variant = str(rng.choice(["stuck", "hand_set", "near_constant"]))
    for p in params:
        i = cube.p(p)
        seg = cube.values[s, t0:t0 + dur, i]
        finite = seg[np.isfinite(seg)]
        if finite.size == 0:
            continue
        if variant == "hand_set":
            level = float(np.round(np.nanmedian(finite), -1 if np.nanmedian(finite) > 20 else 0))
            new = np.full(dur, level)
        else:
            new = np.full(dur, float(finite[0]))
        if variant == "near_constant":
            res = cube.resolution[p] or 0.1
            new = new + rng.integers(-1, 2, size=dur) * res
        keep = np.isfinite(seg)
        seg2 = np.where(keep, _round_to(np.maximum(new, 0.0), cube.resolution[p]), seg)
        cube.values[s, t0:t0 + dur, i] = seg2
    return {"variant": variant}, [str(p) for p in params]


def _apply_fabrication(cube, rng, s, t0, dur, ctx):
    params = [p for p in ctx["params"] if p in cube.params]
    others = ctx["same_network"][ctx["same_network"] != s]
    if others.size and rng.random() < 0.6:
        donor = int(rng.choice(others))
        scale = float(rng.uniform(0.8, 1.2))
        for p in params:
            i = cube.p(p)
            src = cube.values[donor, t0:t0 + dur, i]
            seg = cube.values[s, t0:t0 + dur, i]
            new = src * scale * rng.normal(1.0, 0.03, size=dur)
            ok = np.isfinite(new) & cube.present[s, t0:t0 + dur, i]
            cube.values[s, t0:t0 + dur, i] = np.where(ok, _round_to(np.maximum(new, 0), cube.resolution[p]), seg)
        return {"variant": "donor_copy", "donor": str(cube.station_ids[donor]), "scale": round(scale, 3)}, params
    window = int(rng.integers(9, 25))
    for p in params:
        i = cube.p(p)
        lo, hi = max(0, t0 - window), min(len(cube.times), t0 + dur + window)
        wide = pd.Series(cube.values[s, lo:hi, i])
        smooth = wide.rolling(window, center=True, min_periods=1).mean().to_numpy()[t0 - lo:t0 - lo + dur]
        seg = cube.values[s, t0:t0 + dur, i]
        cube.values[s, t0:t0 + dur, i] = np.where(np.isfinite(seg), _round_to(smooth, cube.resolution[p]), seg)
    return {"variant": "smoothed", "window_h": window}, params


def _apply_drift(cube, rng, s, t0, dur, ctx):
    pool = _params_with_data(cube, s, ctx["params"])
    p = str(rng.choice(pool))
    i = cube.p(p)
    ramp = np.linspace(0.0, 1.0, dur)
    seg = cube.values[s, t0:t0 + dur, i]
    size = float(rng.uniform(0.4, 1.0)) * (1 if rng.random() < 0.6 else -1)
    if size < 0:
        size = max(size, -0.7)
    if rng.random() < 0.5:
        new = seg * (1.0 + size * ramp)
        desc = {"variant": "multiplicative", "final_factor": round(1 + size, 3)}
    else:
        level = float(np.nanmedian(cube.values[s, :, i]))
        offset = size * (level if np.isfinite(level) and level > 0 else 1.0)
        new = seg + offset * ramp
        desc = {"variant": "additive", "final_offset": round(offset, 3)}
    cube.values[s, t0:t0 + dur, i] = _round_to(np.maximum(new, 0.0), cube.resolution[p])
    desc["parameter"] = p
    return desc, [p]


def _apply_clipping(cube, rng, s, t0, dur, ctx):
    limits: dict[str, float] = ctx["limits"](s)
    touched = []
    for p, limit_ref in limits.items():
        if p not in cube.params:
            continue
        i = cube.p(p)
        factor = _measured_limit_factor(cube, s, p, ctx)
        limit = limit_ref * (factor[t0:t0 + dur] if np.ndim(factor) else factor)
        seg = cube.values[s, t0:t0 + dur, i].copy()
        # CEMS: the real process ran higher (exceeding) but the record was held under the limit;
        # only the hours that would have exceeded change.
        process = seg * float(rng.uniform(1.2, 1.8)) if ctx["network"] == "cems" else seg
        over = np.isfinite(process) & (process >= limit)
        if not over.any():
            continue
        res = cube.resolution[p] or 0.01
        lim_over = limit[over] if np.ndim(limit) else limit
        under = np.floor(lim_over * rng.uniform(0.9, 0.995, size=int(over.sum())) / res) * res
        seg[over] = np.minimum(under, lim_over - res)
        cube.values[s, t0:t0 + dur, i] = seg
        touched.append(p)
    return {"variant": "under_limit", "limits": {p: limits[p] for p in touched}}, touched


def _apply_spike(cube, rng, s, t0, dur, ctx):
    variant = str(rng.choice(["pm25_gt_pm10", "jump", "impossible"]))
    if variant == "pm25_gt_pm10" and {"PM2.5", "PM10"} <= set(cube.params):
        pm10 = cube.values[s, t0:t0 + dur, cube.p("PM10")]
        new = pm10 * rng.uniform(1.3, 2.0, size=dur) + 20
        cube.values[s, t0:t0 + dur, cube.p("PM2.5")] = _round_to(new, cube.resolution["PM2.5"])
        return {"variant": variant}, ["PM2.5"]
    pool = _params_with_data(cube, s, ctx["params"])
    p = str(rng.choice(pool))
    i = cube.p(p)
    seg = cube.values[s, t0:t0 + dur, i]
    if variant == "impossible":
        cap = {"CO": 60.0}.get(p, 1200.0)
        new = np.full(dur, cap) * rng.uniform(0.8, 1.0, size=dur)
    else:
        base = np.nanmedian(cube.values[s, :, i])
        new = seg * rng.uniform(4.0, 10.0) + 5 * (base if np.isfinite(base) else 1.0)
    cube.values[s, t0:t0 + dur, i] = _round_to(new, cube.resolution[p])
    return {"variant": variant, "parameter": p}, [p]


def _apply_flag_abuse(cube, rng, s, t0, dur, ctx):
    limits: dict[str, float] = ctx["limits"](s)
    params = _params_with_data(cube, s, limits)
    flag = str(rng.choice(["M", "D", "C"]))
    code = _flag_code(cube, flag)
    raise_factor = float(rng.uniform(1.5, 3.0))
    for p in params:
        i = cube.p(p)
        seg = cube.values[s, t0:t0 + dur, i]
        cube.values[s, t0:t0 + dur, i] = _round_to(seg * raise_factor, cube.resolution[p])
    for p in [q for q in CEMS_ALL_PARAMS if q in cube.params]:
        i = cube.p(p)
        cube.flags[s, t0:t0 + dur, i] = np.where(cube.present[s, t0:t0 + dur, i], code, cube.flags[s, t0:t0 + dur, i])
    return {"variant": "flagged_exceedance", "flag": flag, "emission_factor": round(raise_factor, 3)}, params


_APPLY = {
    "suppression": _apply_suppression, "outage": _apply_outage, "flatline": _apply_flatline,
    "fabrication": _apply_fabrication, "drift": _apply_drift, "clipping": _apply_clipping,
    "spike": _apply_spike, "flag_abuse": _apply_flag_abuse,
}


def _duration_h(kind: str, rng: np.random.Generator, network: str, n_times: int) -> int:
    """Event length in hours, drawn per kind (hours for spraying/spikes, days-weeks for drift)."""
    if kind == "suppression":
        d = rng.integers(2, 13) if rng.random() < 0.6 else rng.integers(24, 97)
    elif kind == "outage":
        d = rng.integers(3, 49)
    elif kind == "flatline":
        d = rng.integers(6, 73)
    elif kind == "fabrication":
        d = rng.integers(24, 169)
    elif kind == "drift":
        d = rng.integers(7 * 24, 31 * 24)
    elif kind == "clipping":
        d = rng.integers(48, 241)
    elif kind == "spike":
        d = rng.integers(1, 4)
    elif kind == "flag_abuse":
        d = rng.integers(2, 25)
    else:
        raise ValueError(kind)
    return int(min(d, max(1, n_times // 6)))


def _candidate_starts(kind: str, cube: _Cube, s: int, ctx) -> np.ndarray | None:
    """Start hours where the kind makes sense (episodes for suppression/outage, exceedances for clipping)."""
    if ctx["network"] == "air":
        if kind in ("suppression", "outage"):
            med = ctx["pm25_median"]
            level = 150.0 if kind == "outage" else 100.0
            c = np.flatnonzero(med > level)
            return c if c.size else np.flatnonzero(med > np.nanpercentile(med, 90))
        if kind == "clipping" and "PM2.5" in cube.params:
            own = cube.values[s, :, cube.p("PM2.5")]
            return np.flatnonzero(own > PM25_24H_LIMIT_UGM3)
        return None
    if kind in ("clipping", "flag_abuse"):
        limits = ctx["limits"](s)
        load = np.zeros(len(cube.times))
        for p, lim in limits.items():
            if p in cube.params:
                load = np.fmax(load, cube.values[s, :, cube.p(p)] / (lim * _measured_limit_factor(cube, s, p, ctx)))
        threshold = 0.75 if kind == "clipping" else 0.6
        return np.flatnonzero(load > threshold)
    return None


def _measured_limit_factor(cube: _Cube, s: int, p: str, ctx) -> np.ndarray | float:
    """Per hour, limit(measured) / limit(reference O2) = (21 - O2) / (21 - O2_ref) (HJ 75-2017).

    Flue-gas limits apply to the O2-corrected value (GB 13223-2011); the store keeps measured
    values, so a clipper holds the *corrected* value under the limit. 1 where not applicable.
    """
    ref = ctx.get("ref_o2", lambda s: None)(s)
    if not p.startswith("flue_") or ref is None or "flue_O2" not in cube.params:
        return 1.0
    o2 = cube.values[s, :, cube.p("flue_O2")]
    f = (21.0 - o2) / (21.0 - ref)
    return np.where(np.isfinite(f) & (f > 0.05), f, 1.0)


def _ref_o2_lookup(stations: pd.DataFrame, cube: _Cube):
    """station index -> reference O2 % (``ref_o2_pct``) or None."""
    by_id = stations.set_index(stations["station_id"].astype(str))
    table = {}
    for s, sid in enumerate(cube.station_ids):
        v = by_id["ref_o2_pct"].get(sid) if "ref_o2_pct" in by_id else None
        table[s] = float(v) if v is not None and pd.notna(v) else None
    return lambda s: table[s]


def _limits_lookup(stations: pd.DataFrame, cube: _Cube):
    """Per-station emission limits (mg/m3) from limits_json, falling back to ultra-low limits."""
    table: dict[int, dict[str, float]] = {}
    by_id = stations.set_index(stations["station_id"].astype(str))
    for s, sid in enumerate(cube.station_ids):
        lim = dict(DEFAULT_CEMS_LIMITS_MGM3)
        raw = by_id["limits_json"].get(sid) if "limits_json" in by_id else None
        if isinstance(raw, str) and raw.strip():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                lim = {k: float(v) for k, v in json.loads(raw).items() if k in CEMS_PARAMS}
        table[s] = {k: v for k, v in lim.items() if k in CEMS_PARAMS}
    return lambda s: table[s]


def _changed_hours(before_v, after_v, before_f, after_f, dropped) -> np.ndarray:
    """Per hour (axis 0) whether any parameter's value, flag or presence changed."""
    same = (before_v == after_v) | (np.isnan(before_v) & np.isnan(after_v))
    return (~same | (before_f != after_f) | dropped).any(axis=1)


def inject_interference(readings: pd.DataFrame, stations: pd.DataFrame, kinds: list[str] | tuple[str, ...] | None = None,
                        n_per_kind: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inject ``n_per_kind`` events of each kind into real long-format readings.

    Returns ``(readings_injected, truth_events)``. ``readings_injected`` keeps the input's
    columns and row order, minus the rows an outage removed; only readings inside a truth event
    differ. ``truth_events`` has ``event_id, station_id, start, end, kind, parameters`` (JSON:
    variant, affected parameters, sizes), sorted by station and start. Deterministic per seed.
    Fewer events than asked are placed (with a warning) when the data are too short or dense.
    """
    missing = {"station_id", "ts", "parameter", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns: {sorted(missing)}")
    explicit = kinds is not None
    kinds = list(EVENT_KINDS if kinds is None else kinds)
    unknown = set(kinds) - set(EVENT_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; known: {', '.join(EVENT_KINDS)}")
    if readings.empty:
        return readings.copy(), pd.DataFrame(columns=TRUTH_COLUMNS)

    hourly = pd.DataFrame({"s": readings["station_id"].astype(str).to_numpy(),
                           "t": pd.to_datetime(readings["ts"]).dt.floor("h").to_numpy(),
                           "p": readings["parameter"].astype(str).to_numpy()})
    n_dup = int(hourly.duplicated().sum())
    if n_dup:
        raise ValueError(f"readings hold {n_dup} duplicate (station_id, hour, parameter) rows; "
                         "the injector needs one reading per station, hour and parameter")
    rng = np.random.default_rng(seed)
    cube, s_idx, t_idx, p_idx = _build_cube(readings)
    kind_of = stations.assign(station_id=stations["station_id"].astype(str)).set_index("station_id")["kind"]
    st_kind = np.array([kind_of.get(sid, "air_station") for sid in cube.station_ids])
    air = np.flatnonzero(np.isin(st_kind, AIR_STATION_KINDS))
    cems = np.flatnonzero(st_kind == "polluter_outlet")
    air = np.array([s for s in air if any(p in cube.params and np.isfinite(cube.values[s, :, cube.p(p)]).any()
                                          for p in AIR_PARAMS)], dtype=int)
    cems = np.array([s for s in cems if any(p in cube.params and np.isfinite(cube.values[s, :, cube.p(p)]).any()
                                            for p in CEMS_PARAMS)], dtype=int)
    limits = _limits_lookup(stations, cube)
    networks = {
        "air": {"network": "air", "stations": air, "same_network": air, "kinds": AIR_KINDS,
                "params": [p for p in AIR_PARAMS if p in cube.params],
                "pm25_median": _network_median(cube, "PM2.5", air),
                "limits": lambda s: {"PM2.5": PM25_24H_LIMIT_UGM3, "PM10": PM10_24H_LIMIT_UGM3}},
        "cems": {"network": "cems", "stations": cems, "same_network": cems, "kinds": CEMS_KINDS,
                 "params": [p for p in CEMS_PARAMS if p in cube.params], "limits": limits,
                 "ref_o2": _ref_o2_lookup(stations, cube)},
    }
    occupancy = _Occupancy(len(cube.station_ids), len(cube.times))
    events: list[dict] = []
    original_values = cube.values.copy()
    original_flags = cube.flags.copy()
    n_times = len(cube.times)
    for kind in kinds:
        targets = [net for net in networks.values() if kind in net["kinds"] and net["stations"].size]
        if not targets:
            if not explicit:
                continue
            warnings.warn(f"no station can carry {kind!r} events; none injected", stacklevel=2)
            continue
        for net in targets:
            placed = 0
            for _ in range(n_per_kind * MAX_TRIES_PER_EVENT):
                if placed >= n_per_kind:
                    break
                s = int(rng.choice(net["stations"]))
                dur = _duration_h(kind, rng, net["network"], n_times)
                if kind == "clipping" and net["network"] == "air" and rng.random() < 0.5:
                    ctx = dict(net, limits=lambda s: {"PM2.5": PM25_24H_LIMIT_UGM3})
                else:
                    ctx = net
                t0 = _pick_start(rng, n_times, dur, _candidate_starts(kind, cube, s, ctx))
                if t0 is None or not occupancy.free(s, t0, t0 + dur - 1):
                    continue
                before_v = cube.values[s, t0:t0 + dur].copy()
                before_f = cube.flags[s, t0:t0 + dur].copy()
                desc, params = _APPLY[kind](cube, rng, s, t0, dur, ctx)
                changed = _changed_hours(before_v, cube.values[s, t0:t0 + dur], before_f,
                                         cube.flags[s, t0:t0 + dur], cube.dropped[s, t0:t0 + dur])
                # changes only count on rows that exist in the input
                changed &= cube.present[s, t0:t0 + dur].any(axis=1)
                if not params or not changed.any() or (kind != "spike" and changed.sum() < 2):
                    cube.values[s, t0:t0 + dur] = before_v
                    cube.flags[s, t0:t0 + dur] = before_f
                    cube.dropped[s, t0:t0 + dur] = False
                    continue
                first, last = t0 + int(np.argmax(changed)), t0 + dur - 1 - int(np.argmax(changed[::-1]))
                occupancy.take(s, t0, t0 + dur - 1)
                desc = {"affected": sorted(params), "hours_changed": int(changed.sum()), **desc}
                events.append({"station_id": str(cube.station_ids[s]), "start": cube.times[first],
                               "end": cube.times[last], "kind": kind,
                               "parameters": json.dumps(desc, sort_keys=True, default=str)})
                placed += 1
            if placed < n_per_kind:
                warnings.warn(f"placed {placed} of {n_per_kind} {kind!r} events ({net['network']}): "
                              "data too short or too busy", stacklevel=2)

    out = readings.copy()
    new_vals = cube.values[s_idx, t_idx, p_idx]
    out["value"] = new_vals
    if "flag" in out or (cube.flags != original_flags).any():
        out["flag"] = np.array(cube.flag_names, dtype=object)[cube.flags[s_idx, t_idx, p_idx]]
    keep = ~cube.dropped[s_idx, t_idx, p_idx]
    out = out[keep]
    del original_values
    truth = pd.DataFrame(events, columns=TRUTH_COLUMNS[1:])
    truth = truth.sort_values(["station_id", "start"], kind="stable").reset_index(drop=True)
    truth.insert(0, "event_id", [f"T{i:05d}" for i in range(len(truth))])
    return out, truth[TRUTH_COLUMNS]


def truth_station_hours(truth_events: pd.DataFrame) -> pd.DataFrame:
    """Expand truth events into one row per (station_id, ts hour, event_id, kind), start..end inclusive."""
    rows = []
    for ev in truth_events.itertuples(index=False):
        hours = pd.date_range(pd.Timestamp(ev.start), pd.Timestamp(ev.end), freq="h")
        rows.append(pd.DataFrame({"station_id": ev.station_id, "ts": hours, "event_id": ev.event_id, "kind": ev.kind}))
    if not rows:
        return pd.DataFrame({"station_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[ns]"),
                             "event_id": pd.Series(dtype=str), "kind": pd.Series(dtype=str)})
    return pd.concat(rows, ignore_index=True)


def synthetic_cems(n_outlets: int = 6, start: str = "2016-12-01", hours: int = 24 * 41, seed: int = 0,
                   lon: float = 116.5, lat: float = 39.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CEMS-like hourly flue-gas series for ``n_outlets`` coal-fired outlets (fallback generator).

    Used by the evaluation only when the project's synthetic polluter network is unavailable.
    Concentrations (mg/m3) sit at 40-75% of the ultra-low limits with load-driven diurnal cycles,
    AR(1) noise, occasional excursions above the limit and rare honest shutdowns; O2 %, flow
    m3/h and temperature degC follow load. Returns ``(readings, stations)`` in the store layout.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="h")
    hour = times.hour.to_numpy()
    frames, st_rows = [], []
    for k in range(n_outlets):
        sid = f"CEMS{k + 1:03d}"
        load = 0.75 + 0.2 * np.sin(2 * np.pi * (hour - 8) / 24) + rng.normal(0, 0.03, hours)
        ar = np.zeros(hours)
        eps = rng.normal(0, 0.08, hours)
        for t in range(1, hours):
            ar[t] = 0.9 * ar[t - 1] + eps[t]
        excursion = np.zeros(hours)
        for _ in range(max(1, hours // 500)):
            a = int(rng.integers(0, hours - 6))
            excursion[a:a + int(rng.integers(1, 5))] = rng.uniform(0.4, 0.9)
        load = np.clip(load, 0.3, 1.1)
        rows = {}
        for p, lim in DEFAULT_CEMS_LIMITS_MGM3.items():
            base = lim * rng.uniform(0.4, 0.65)
            rows[p] = np.round(np.clip(base * (0.7 + 0.4 * load) * np.exp(ar + excursion), 0, None), 1)
        rows["flue_O2"] = np.round(np.clip(9.0 - 3.0 * load + rng.normal(0, 0.2, hours), 3, 20), 1)
        rows["flue_flow"] = np.round(1.2e6 * load * rng.normal(1.0, 0.02, hours), -2)
        rows["flue_temp"] = np.round(45 + 10 * load + rng.normal(0, 0.5, hours), 1)
        for p, v in rows.items():
            frames.append(pd.DataFrame({"station_id": sid, "ts": times, "parameter": p, "value": v, "flag": "N"}))
        st_rows.append({"station_id": sid, "name": f"synthetic outlet {k + 1}", "kind": "polluter_outlet",
                        "lon": lon + 0.05 * k, "lat": lat + 0.03 * k, "ref_o2_pct": 6.0,
                        "limits_json": json.dumps(DEFAULT_CEMS_LIMITS_MGM3)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(st_rows)
