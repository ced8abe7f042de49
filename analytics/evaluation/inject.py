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
limits come from ``limits_json`` (the ultra-low limits when absent); the outlet series come from
the seeded polluter generator (``data.synthetic.polluters``).

Water kinds (:data:`WATER_KINDS`) go into ``water_section`` stations (automatic surface-water
stations, GB 3838-2002 parameters) and model what happens at a 水质自动站: the station stops
while a pollution wave passes (outage), a stuck probe or frozen logger (flatline), probe drift
(DO membrane fouling, pH electrode offset, NH3-N electrode, turbidity window fouling), data
copied from the upstream section, replayed from earlier days or smoothed (fabrication), single
implausible values (spike), values held under the section's GB 3838 class limit (clipping; DO
held above it), and dilution or sample-line tampering that lowers the pollutant readings
(suppression). Class limits come from :mod:`analytics.standards.water` (GB 3838-2002 table 1).
The water functions draw from the same seeded generator but only when water stations are
present, so air and CEMS injections are unchanged for a given seed.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.standards.air_quality import limit_ug_m3 as gb3095_limit
from analytics.standards.cems import ULTRA_LOW_LIMITS_MG_M3, measured_from_corrected_mg_m3
from analytics.vocabulary import (
    AIR_EVENT_KINDS,
    AIR_POLLUTANTS,
    AIR_STATION_KINDS,
    CEMS_EVENT_KINDS,
    EVENT_KINDS,
    WATER_EVENT_KINDS,
    WATER_STATION_KINDS,
)

AIR_KINDS = AIR_EVENT_KINDS
CEMS_KINDS = CEMS_EVENT_KINDS
WATER_KINDS = WATER_EVENT_KINDS
AIR_PARAMS = AIR_POLLUTANTS
CEMS_PARAMS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust", "ww_COD", "ww_NH3-N")
CEMS_ALL_PARAMS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust", "flue_O2", "flue_flow", "flue_temp",
                                    "ww_COD", "ww_NH3-N", "ww_flow")
#: quality parameters of an automatic surface-water station (GB 3838-2002 units; HJ 915 routine set)
WATER_PARAMS: tuple[str, ...] = ("pH", "DO", "CODMn", "NH3-N", "TP", "TN", "turbidity", "conductivity")
WATER_ALL_PARAMS: tuple[str, ...] = (*WATER_PARAMS, "water_temp")
#: the readings dilution or a tampered sample line lowers (organic matter and nutrients)
WATER_POLLUTANTS: tuple[str, ...] = ("CODMn", "NH3-N", "TP", "TN")
#: probes that drift between maintenance visits
WATER_DRIFT_PARAMS: tuple[str, ...] = ("DO", "pH", "NH3-N", "CODMn", "TP", "turbidity", "conductivity")

# GB 3095-2012 table 1, 24-h Grade II limits = HJ 633-2012 IAQI-100 breakpoints (ug/m3)
PM25_24H_LIMIT_UGM3 = float(gb3095_limit("PM2.5", "24h"))
PM10_24H_LIMIT_UGM3 = float(gb3095_limit("PM10", "24h"))
# Ultra-low emission limits for coal-fired units (mg/m3 at 6% O2), used when limits_json is absent
DEFAULT_CEMS_LIMITS_MGM3: dict[str, float] = dict(ULTRA_LOW_LIMITS_MG_M3)

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
    if network == "water":
        return _water_duration_h(kind, rng, n_times)
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
    if ctx["network"] == "water":
        return _water_candidate_starts(kind, cube, s, ctx)
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
    f = measured_from_corrected_mg_m3(1.0, o2, ref)
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


# ---------------------------------------------------------------------------------------------
# surface water: automatic stations (水质自动站), GB 3838-2002 parameters
# ---------------------------------------------------------------------------------------------

WATER_EPISODE_QUANTILE = 0.85  # "while pollution passes": hours in the top 15 % of the section's own load


def water_class_limits(parameter: str, waterbody: str = "river") -> tuple[float, ...]:
    """GB 3838-2002 table 1 limits of classes I..V (mg/L) for one parameter, from the project's table.

    Read from :mod:`analytics.standards.water` (never re-typed). DO limits are minima (greater is
    better). Empty when the table gives no class limits (TN in rivers, turbidity, conductivity,
    water temperature; pH has one 6-9 range for every class).
    """
    from analytics.standards.water import class_limits

    return class_limits(parameter, waterbody)


def water_station_limit(values: np.ndarray, parameter: str, waterbody: str = "river") -> float | None:
    """The class limit a section normally meets, i.e. the line an operator would hold its data on.

    Smallest class limit at or above the section's median (DO: largest minimum at or below it);
    None when the parameter has no class limits or the section is worse than class V.
    """
    limits = water_class_limits(parameter, waterbody)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not limits or v.size == 0:
        return None
    med = float(np.median(v))
    ok = [x for x in limits if (x <= med if parameter == "DO" else x >= med)]
    if not ok:
        return None
    return max(ok) if parameter == "DO" else min(ok)


def _round_decimals(values: np.ndarray, resolution: float) -> np.ndarray:
    """Round like the water generator does (``np.round(x, decimals)``) so injected values carry
    exactly the stored representation of the series' resolution (no tell-tale last bits)."""
    if resolution <= 0:
        return values
    decimals = int(round(-np.log10(resolution)))
    return np.round(values, decimals) if decimals >= 0 else _round_to(values, resolution)


def _pollution_load(cube: _Cube, s: int) -> np.ndarray:
    """Per hour, the section's pollution against its own median: max over CODMn, NH3-N and TP."""
    load = np.full(len(cube.times), np.nan)
    for p in ("CODMn", "NH3-N", "TP"):
        if p not in cube.params:
            continue
        v = cube.values[s, :, cube.p(p)]
        if not np.isfinite(v).any():
            continue
        med = float(np.nanmedian(v))
        if med > 0:
            load = np.fmax(load, v / med)
    return load


def _lookup_column(stations: pd.DataFrame, column: str) -> dict[str, object]:
    if column not in stations:
        return {}
    return dict(zip(stations["station_id"].astype(str), stations[column], strict=True))


def _water_network(cube: _Cube, stations: pd.DataFrame, water: np.ndarray) -> dict:
    """Context of the water network: class limits, upstream sections, pollution episodes per section."""
    waterbody_of = _lookup_column(stations, "waterbody_type")
    upstream_of = _lookup_column(stations, "upstream_station")
    pos = {str(sid): s for s, sid in enumerate(cube.station_ids)}
    members = set(water.tolist())
    limits, upstream, episodes = {}, {}, {}
    for s in water.tolist():
        sid = str(cube.station_ids[s])
        waterbody = waterbody_of.get(sid)
        waterbody = waterbody if waterbody in ("river", "lake") else "river"
        up = upstream_of.get(sid)
        u = pos.get(str(up)) if isinstance(up, str) else None
        upstream[s] = u if u in members else None
        limits[s] = {}
        for p in (*WATER_POLLUTANTS, "DO"):
            if p in cube.params:
                lim = water_station_limit(cube.values[s, :, cube.p(p)], p, waterbody)
                if lim is not None:
                    limits[s][p] = lim
        load = _pollution_load(cube, s)
        episodes[s] = (np.flatnonzero(load > np.nanquantile(load, WATER_EPISODE_QUANTILE))
                       if np.isfinite(load).any() else np.array([], dtype=int))
    return {"network": "water", "stations": water, "same_network": water, "kinds": WATER_KINDS,
            "params": [p for p in WATER_ALL_PARAMS if p in cube.params],
            "water_limits": limits, "upstream": upstream, "episodes": episodes,
            "limits": lambda s: limits.get(s, {})}


def _water_duration_h(kind: str, rng: np.random.Generator, n_times: int) -> int:
    """Event length in hours for water kinds (a pollution wave passes in hours to days)."""
    if kind == "suppression":  # dilution / sample line: one wave (hours) or a campaign (days)
        d = rng.integers(4, 25) if rng.random() < 0.6 else rng.integers(24, 121)
    elif kind == "outage":  # station off while the wave passes
        d = rng.integers(3, 73)
    elif kind == "flatline":
        d = rng.integers(6, 121)
    elif kind == "fabrication":
        d = rng.integers(24, 169)
    elif kind == "drift":  # between two maintenance visits
        d = rng.integers(7 * 24, 31 * 24)
    elif kind == "clipping":
        d = rng.integers(48, 241)
    elif kind == "spike":
        d = rng.integers(1, 4)
    else:
        raise ValueError(f"{kind!r} is not a water kind ({', '.join(WATER_KINDS)})")
    return int(min(d, max(1, n_times // 6)))


def _water_candidate_starts(kind: str, cube: _Cube, s: int, ctx) -> np.ndarray | None:
    """Outage and suppression while pollution passes; clipping where a value is beyond the class limit."""
    if kind in ("suppression", "outage"):
        return ctx["episodes"][s]
    if kind == "clipping":
        beyond = np.zeros(len(cube.times), dtype=bool)
        for p, lim in ctx["water_limits"].get(s, {}).items():
            v = cube.values[s, :, cube.p(p)]
            with np.errstate(invalid="ignore"):
                beyond |= (v < lim) if p == "DO" else (v > lim)
        return np.flatnonzero(beyond)
    return None


def _apply_water_suppression(cube, rng, s, t0, dur, ctx):
    """Dilution (clean water into the sample) or a tampered sample line (intake in clean water, a
    filter in the line): organics and nutrients read low while pH, DO and temperature stay."""
    dilution = bool(rng.random() < 0.5)
    factor = float(rng.uniform(0.3, 0.7) if dilution else rng.uniform(0.2, 0.6))
    factors = {p: factor for p in WATER_POLLUTANTS}
    if dilution:
        factors["turbidity"] = factor
        factors["conductivity"] = factor + (1.0 - factor) * float(rng.uniform(0.2, 0.5))  # tap water carries salts
    else:
        factors["turbidity"] = float(rng.uniform(0.1, 0.4))  # a filter holds the particles back
    params = _params_with_data(cube, s, factors)
    for p in params:
        i = cube.p(p)
        seg = cube.values[s, t0:t0 + dur, i]
        new = seg * factors[p] * rng.normal(1.0, 0.05, size=dur)
        cube.values[s, t0:t0 + dur, i] = _round_decimals(np.maximum(new, 0.0), cube.resolution[p])
    return {"variant": "dilution" if dilution else "sample_line", "factor": round(factor, 3)}, params


def _hand_set_level(x: float, parameter: str) -> float:
    """A round number an operator would type: one decimal for pH/DO/temperature, else 2 significant digits."""
    if parameter in ("pH", "DO", "water_temp"):
        return round(x, 1)
    return float(f"{x:.2g}")


def _apply_water_flatline(cube, rng, s, t0, dur, ctx):
    """A stuck probe (one parameter) or a frozen logger (every parameter): repeated, hand-set or
    near-constant values."""
    pool = _params_with_data(cube, s, ctx["params"])
    params = [str(rng.choice(pool))] if rng.random() < 0.5 else pool[:]
    variant = str(rng.choice(["stuck", "hand_set", "near_constant"]))
    for p in params:
        i = cube.p(p)
        seg = cube.values[s, t0:t0 + dur, i]
        finite = seg[np.isfinite(seg)]
        if finite.size == 0:
            continue
        level = _hand_set_level(float(np.median(finite)), p) if variant == "hand_set" else float(finite[0])
        new = np.full(dur, level)
        if variant == "near_constant":
            new = new + rng.integers(-1, 2, size=dur) * (cube.resolution[p] or 0.01)
        cube.values[s, t0:t0 + dur, i] = np.where(np.isfinite(seg), _round_decimals(np.maximum(new, 0.0),
                                                                                     cube.resolution[p]), seg)
    return {"variant": variant, "scope": "probe" if len(params) == 1 else "logger"}, params


def _apply_water_fabrication(cube, rng, s, t0, dur, ctx):
    """Made-up data: the upstream section's readings copied (concentrations scaled), the station's
    own data of 1-7 days earlier replayed, or a smoothed curve (no diurnal DO/pH cycle)."""
    params = _params_with_data(cube, s, ctx["params"])
    others = ctx["same_network"][ctx["same_network"] != s]
    u = float(rng.random())
    if others.size and u < 0.4:
        up = ctx["upstream"].get(s)
        donor = int(up) if up is not None else int(rng.choice(others))
        scale = float(rng.uniform(0.8, 1.2))
        for p in params:
            i = cube.p(p)
            src = cube.values[donor, t0:t0 + dur, i]
            if p == "pH":
                new = src + rng.normal(0.0, 0.03, size=dur)
            elif p == "water_temp":
                new = src + rng.normal(0.0, 0.2, size=dur)
            elif p == "DO":
                new = src * rng.normal(1.0, 0.02, size=dur)
            else:
                new = src * scale * rng.normal(1.0, 0.03, size=dur)
            seg = cube.values[s, t0:t0 + dur, i]
            ok = np.isfinite(new) & cube.present[s, t0:t0 + dur, i]
            cube.values[s, t0:t0 + dur, i] = np.where(ok, _round_decimals(np.maximum(new, 0.0), cube.resolution[p]), seg)
        return {"variant": "donor_copy", "donor": str(cube.station_ids[donor]), "donor_is_upstream": up is not None,
                "scale": round(scale, 3)}, params
    lag = int(rng.integers(1, 8)) * 24
    if u < 0.7 and t0 >= lag:
        for p in params:
            i = cube.p(p)
            src = cube.values[s, t0 - lag:t0 - lag + dur, i].copy()
            seg = cube.values[s, t0:t0 + dur, i]
            ok = np.isfinite(src) & np.isfinite(seg)
            cube.values[s, t0:t0 + dur, i] = np.where(ok, src, seg)
        return {"variant": "replay", "lag_h": lag}, params
    window = int(rng.integers(9, 25))
    for p in params:
        i = cube.p(p)
        lo, hi = max(0, t0 - window), min(len(cube.times), t0 + dur + window)
        smooth = pd.Series(cube.values[s, lo:hi, i]).rolling(window, center=True, min_periods=1).mean()
        smooth = smooth.to_numpy()[t0 - lo:t0 - lo + dur]
        seg = cube.values[s, t0:t0 + dur, i]
        cube.values[s, t0:t0 + dur, i] = np.where(np.isfinite(seg), _round_decimals(smooth, cube.resolution[p]), seg)
    return {"variant": "smoothed", "window_h": window}, params


def _apply_water_drift(cube, rng, s, t0, dur, ctx):
    """One probe drifts between maintenance visits and is reset at the end (calibration):
    DO membrane fouling reads low, a pH electrode offsets, a fouled turbidity window reads high,
    ion-selective / photometric analysers (NH3-N, CODMn, TP) and conductivity drift either way."""
    pool = _params_with_data(cube, s, WATER_DRIFT_PARAMS)
    if not pool:
        return {"variant": "none"}, []
    p = str(rng.choice(pool))
    i = cube.p(p)
    ramp = np.linspace(0.0, 1.0, dur)
    seg = cube.values[s, t0:t0 + dur, i]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if p == "pH":
        offset = sign * float(rng.uniform(0.3, 1.0))
        new = np.clip(seg + offset * ramp, 0.0, 14.0)
        desc = {"variant": "electrode_offset", "final_offset": round(offset, 2)}
    else:
        if p == "DO":
            size, variant = -float(rng.uniform(0.2, 0.5)), "membrane_fouling"
        elif p == "turbidity":
            size, variant = float(rng.uniform(0.3, 1.5)), "window_fouling"
        elif p == "conductivity":
            size, variant = sign * float(rng.uniform(0.1, 0.3)), "cell_drift"
        else:
            size, variant = max(sign * float(rng.uniform(0.3, 1.0)), -0.6), "span_drift"
        new = seg * (1.0 + size * ramp)
        desc = {"variant": variant, "final_factor": round(1.0 + size, 3)}
    cube.values[s, t0:t0 + dur, i] = _round_decimals(np.maximum(new, 0.0), cube.resolution[p])
    desc["parameter"] = p
    return desc, [p]


def _apply_water_clipping(cube, rng, s, t0, dur, ctx):
    """Readings beyond the section's GB 3838 class limit recorded just inside it, so the section
    keeps its class: CODMn/NH3-N/TP(/TN for lakes) at 90-99.5 % of the limit, DO at 100.5-108 %
    of its minimum. Only the hours beyond the limit change."""
    limits = ctx["water_limits"].get(s, {})
    beyond_any = []
    for p, lim in limits.items():
        seg = cube.values[s, t0:t0 + dur, cube.p(p)]
        with np.errstate(invalid="ignore"):
            if ((seg < lim) if p == "DO" else (seg > lim)).any():
                beyond_any.append(p)
    if not beyond_any:
        return {"variant": "under_class_limit"}, []
    chosen = sorted(str(p) for p in rng.choice(beyond_any, size=int(rng.integers(1, len(beyond_any) + 1)),
                                                 replace=False))
    for p in chosen:
        i, lim = cube.p(p), limits[p]
        res = cube.resolution[p] or 0.001
        seg = cube.values[s, t0:t0 + dur, i].copy()
        with np.errstate(invalid="ignore"):
            beyond = np.isfinite(seg) & ((seg < lim) if p == "DO" else (seg > lim))
        n = int(beyond.sum())
        if p == "DO":
            held = np.ceil(lim * rng.uniform(1.005, 1.08, size=n) / res) * res
        else:
            held = np.floor(lim * rng.uniform(0.9, 0.995, size=n) / res) * res
        seg[beyond] = _round_decimals(held, res)
        cube.values[s, t0:t0 + dur, i] = seg
    return {"variant": "under_class_limit", "limits": {p: limits[p] for p in chosen}}, chosen


#: near the top of each analyser's range: values no river carries
_WATER_IMPOSSIBLE: dict[str, tuple[float, float]] = {
    "pH": (12.5, 14.0), "DO": (20.0, 25.0), "CODMn": (100.0, 200.0), "NH3-N": (50.0, 100.0),
    "TP": (20.0, 50.0), "TN": (100.0, 200.0), "turbidity": (3000.0, 4000.0), "conductivity": (20000.0, 50000.0),
}


def _apply_water_spike(cube, rng, s, t0, dur, ctx):
    """Implausible values: NH3-N above TN (ammonia is part of total nitrogen), a jump no upstream
    section shares, or a value near the top of the analyser's range."""
    variant = str(rng.choice(["nh3_gt_tn", "jump", "impossible"]))
    if variant == "nh3_gt_tn" and len(_params_with_data(cube, s, ("NH3-N", "TN"))) == 2:
        tn = cube.values[s, t0:t0 + dur, cube.p("TN")]
        new = tn * rng.uniform(1.3, 2.0, size=dur)
        i = cube.p("NH3-N")
        ok = np.isfinite(new) & cube.present[s, t0:t0 + dur, i]
        cube.values[s, t0:t0 + dur, i] = np.where(ok, _round_decimals(new, cube.resolution["NH3-N"]),
                                                  cube.values[s, t0:t0 + dur, i])
        return {"variant": variant}, ["NH3-N"]
    if variant == "nh3_gt_tn":
        variant = "jump"
    pool = _params_with_data(cube, s, WATER_PARAMS)
    if not pool:
        return {"variant": variant}, []
    p = str(rng.choice(pool))
    i = cube.p(p)
    seg = cube.values[s, t0:t0 + dur, i]
    if variant == "impossible":
        lo, hi = _WATER_IMPOSSIBLE[p]
        new = rng.uniform(lo, hi, size=dur)
    elif p == "pH":
        new = np.clip(seg + (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(1.5, 3.0), 0.0, 14.0)
    elif p == "DO":
        new = seg * rng.uniform(2.0, 3.0)
    else:
        new = seg * rng.uniform(3.0, 8.0)
    cube.values[s, t0:t0 + dur, i] = _round_decimals(new, cube.resolution[p])
    return {"variant": variant, "parameter": p}, [p]


_APPLY_WATER = {
    "suppression": _apply_water_suppression, "outage": _apply_outage, "flatline": _apply_water_flatline,
    "fabrication": _apply_water_fabrication, "drift": _apply_water_drift, "clipping": _apply_water_clipping,
    "spike": _apply_water_spike,
}


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
    water = np.flatnonzero(np.isin(st_kind, WATER_STATION_KINDS))
    water = np.array([s for s in water if any(p in cube.params and np.isfinite(cube.values[s, :, cube.p(p)]).any()
                                              for p in WATER_PARAMS)], dtype=int)
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
    if water.size:  # built only when water sections are present: air/CEMS runs stay as they were
        networks["water"] = _water_network(cube, stations, water)
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
                apply = _APPLY_WATER[kind] if net["network"] == "water" else _APPLY[kind]
                desc, params = apply(cube, rng, s, t0, dur, ctx)
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
