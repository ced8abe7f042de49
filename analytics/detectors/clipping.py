"""Clipping: values held just under a limit while the truth is above it.

Limits (ug/m3; CO mg/m3): the IAQI 100 breakpoints of HJ 633-2012 table 1 for hourly SO2, NO2,
CO, O3 and for PM2.5/PM10 (24-h breakpoints, which operators watch hourly), and the GB 3095-2012
grade II 24-h limits; for polluter outlets the emission limits in ``stations.limits_json``.
Evidence: the reading sits in a band just below a limit while the neighbours put the station
well above it (``clip_neighbour``), and readings bunch in that band over a day more than the
station's own history makes likely (``clip_bunch``).

Polluter outlets (``kind == "polluter_outlet"``) have no spatial neighbours, and their limits apply
to the O2-corrected hourly value (HJ 75-2017, GB 13223-2011: ``C * (21 - O2_ref) / (21 - O2)`` with
the outlet's ``ref_o2_pct``; wastewater mg/L uncorrected), over valid (N-flagged) hours only. For
them the model ``clip_limit`` is the log-likelihood ratio (nats) that a window's share of hours held in the
band [1 - outlet_band, 1) x limit, net of the window's hours at or above the limit, is the
outlet's own long-run share of such hours - the larger over windows of 1, 3 and 7 days:
an outlet held under its limit piles hours just under it AND loses the hours above it that an
honest high-emission period has (missing mass above).

Surface-water sections (``kind == "water_section"``): model ``clip_class``, the same bunching
statistic (windows of 1 and 3 days) under the GB 3838-2002 table 1 class limit the section
normally meets (from its median; DO held just above its class minimum), see docs/water.md.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analytics.detectors.base import Panel, log_values, nan_rolling_mean
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register
from analytics.standards.air_quality import limit_ug_m3 as gb3095_limit
from analytics.standards.aqi import breakpoints


def _air_limits() -> dict[str, tuple[float, ...]]:
    """The levels an operator could hold a reading under: for PM the HJ 633-2012 24-h IAQI 100, 150
    and 200 breakpoints (watched hourly), for the gases the GB 3095-2012 grade II limits (24-h or
    8-h, then 1-h)."""
    pm = {p: tuple(float(b) for b in breakpoints(p, "24h")[2:5]) for p in ("PM2.5", "PM10")}
    gases = {p: (float(gb3095_limit(p, slow)), float(gb3095_limit(p, "1h")))
             for p, slow in (("SO2", "24h"), ("NO2", "24h"), ("CO", "24h"), ("O3", "8h_max"))}
    return pm | gases


AIR_LIMITS: dict[str, tuple[float, ...]] = _air_limits()


OUTLET_KIND = "polluter_outlet"
WATER_KIND = "water_section"
#: GB 3838-2002 table 1 items an automatic section reports that carry class limits (TN: lakes only)
WATER_CLASS_PARAMETERS: tuple[str, ...] = ("CODMn", "NH3-N", "TP", "TN", "DO")
O2_PARAMETER = "flue_O2"
BUNCH_WINDOWS_H = (25, 73, 169)  # a day, three days, a week (centred)
#: water: a day and three days; a week-long window lets a section's honest slow wander (its level
#: lingering just inside a class for days) look like a ceiling (docs/water.md)
WATER_BUNCH_WINDOWS_H = (25, 73)


def _station_limits(raw) -> dict[str, float]:
    """``limits_json`` of one station -> {parameter: limit}; {} when absent or not a JSON object."""
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        lims = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(lims, dict):
        return {}
    return {k: float(v) for k, v in lims.items() if isinstance(v, (int, float)) and v > 0}


def _is_outlet(panel: Panel) -> np.ndarray:
    kind = panel.stations["kind"] if "kind" in panel.stations.columns else None
    return np.zeros(panel.shape[0], dtype=bool) if kind is None else (kind.astype(str) == OUTLET_KIND).to_numpy()


def limits_for(panel: Panel) -> dict[int, list[np.ndarray]]:
    """parameter index -> list of per-station limit arrays [S] (NaN = no limit at that station):
    the air limits, and ``limits_json`` of stations that are not polluter outlets (outlets are
    handled by :func:`outlet_limit_ratio`)."""
    S = panel.shape[0]
    out: dict[int, list[np.ndarray]] = {}
    for p, name in enumerate(panel.parameters):
        for lim in AIR_LIMITS.get(name, ()):
            out.setdefault(p, []).append(np.full(S, lim))
    if "limits_json" in panel.stations.columns:
        outlet = _is_outlet(panel)
        for s, raw in enumerate(panel.stations["limits_json"].tolist()):
            if outlet[s]:
                continue
            for name, lim in _station_limits(raw).items():
                p = panel.pindex(name)
                if p is None:
                    continue
                arr = np.full(S, np.nan)
                arr[s] = lim
                out.setdefault(p, []).append(arr)
    return out


def outlet_limit_ratio(panel: Panel) -> np.ndarray:
    """[S, T, P] hourly value / emission limit at polluter outlets, NaN elsewhere.

    Flue-gas values are O2-corrected to the outlet's ``ref_o2_pct`` first (HJ 75-2017,
    GB 13223-2011; :func:`analytics.standards.cems.o2_corrected_mg_m3`), because the limit applies
    to the corrected value and an operator holding the record under it holds the corrected value.
    Only valid hours (HJ 212 flag N) count: flagged hours are outside the compliance data anyway.
    """
    from analytics.standards.cems import o2_corrected_mg_m3

    out = np.full(panel.shape, np.nan)
    if "limits_json" not in panel.stations.columns:
        return out
    outlet = _is_outlet(panel)
    ref_col = panel.stations["ref_o2_pct"] if "ref_o2_pct" in panel.stations.columns else None
    io2 = panel.pindex(O2_PARAMETER)
    for s, raw in enumerate(panel.stations["limits_json"].tolist()):
        if not outlet[s]:
            continue
        ref = pd.to_numeric(ref_col.iloc[s], errors="coerce") if ref_col is not None else np.nan
        for name, lim in _station_limits(raw).items():
            p = panel.pindex(name)
            if p is None:
                continue
            v = panel.values[s, :, p]
            if name.startswith("flue_") and np.isfinite(ref) and io2 is not None:
                v = o2_corrected_mg_m3(v, panel.values[s, :, io2], ref)
            valid = panel.flags[s, :, p] == 0
            out[s, :, p] = np.where(valid, v / lim, np.nan)
    return out


def water_candidate_limits(values: np.ndarray, parameter: str, waterbody: str = "river",
                           stricter: bool = False) -> list[float | None]:
    """The GB 3838-2002 class limits a section could be held at, from its own typical level:
    ``[met]`` or, with ``stricter``, ``[met, stricter]``; an entry is None when no such class exists.

    The stations table carries no target class (the class a section is assessed against), so
    the limit is taken from the data: *met* is the class limit the section normally meets - the
    smallest maximum at or above its median (DO: the largest minimum at or below it) - the line
    an operator keeps the record inside so the section keeps its class. *stricter* is the next
    class limit the section normally misses (held at a better class than it has). It is off by
    default: on honest synthetic sections it doubles the share of positive statistics and its
    clean tail (99th percentile LLR 302 against 79), because its own base share of band hours is
    tiny and a clean spell that brings the level toward the stricter class looks like a ceiling
    (docs/water.md). Empty when the parameter has no class limits there or no data.
    """
    from analytics.standards.water import class_limits, limit_is_minimum

    limits = class_limits(parameter, waterbody)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not limits or v.size == 0:
        return []
    med = float(np.median(v))
    if limit_is_minimum(parameter):  # DO: minima fall with the class number
        met = [x for x in limits if x <= med]
        missed = [x for x in limits if x > med]
        return ([max(met)] if met else [None]) + ([min(missed)] if missed and stricter else [])
    met = [x for x in limits if x >= med]
    missed = [x for x in limits if x < med]
    return ([min(met)] if met else [None]) + ([max(missed)] if missed and stricter else [])


def water_limit_ratios(panel: Panel, stricter: bool = False) -> list[np.ndarray]:
    """[S, T, P] arrays, one per candidate class limit, of how close each valid (N-flagged) reading
    of a water section sits to that limit on the "bad" side's doorstep: value / limit for the
    smaller-is-better items (CODMn, NH3-N, TP, TN in lakes), minimum / value for DO, so that in
    every case a ratio in [1 - band, 1) is "just inside the class" and >= 1 is "beyond it". NaN
    at other stations and parameters. Waterbody from ``waterbody_type`` (river when absent: TP
    has lake limits, TN counts only for lakes - GB 3838-2002 table 1)."""
    from analytics.standards.water import limit_is_minimum

    out: list[np.ndarray] = []
    if "kind" not in panel.stations.columns:
        return out
    water = (panel.stations["kind"].astype(str) == WATER_KIND).to_numpy()
    wb_col = panel.stations["waterbody_type"] if "waterbody_type" in panel.stations.columns else None
    for s in np.flatnonzero(water):
        wb = wb_col.iloc[s] if wb_col is not None else None
        wb = wb if wb in ("river", "lake") else "river"
        for name in WATER_CLASS_PARAMETERS:
            p = panel.pindex(name)
            if p is None:
                continue
            v = np.where(panel.flags[s, :, p] == 0, panel.values[s, :, p], np.nan)
            for k, lim in enumerate(water_candidate_limits(v, name, wb, stricter)):
                if lim is None:
                    continue
                while len(out) <= k:
                    out.append(np.full(panel.shape, np.nan))
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[k][s, :, p] = lim / v if limit_is_minimum(name) else v / lim
    return out


def band_bunching_llr(ratio: np.ndarray, band: float, windows_h: tuple[int, ...] = BUNCH_WINDOWS_H) -> np.ndarray:
    """[S, T, P] log-likelihood ratio (nats) of held-under-the-limit hours around each reading in
    the band [1 - band, 1) x limit, 0 elsewhere (see module doc). Bernoulli model: the window's net
    band share f = (hours in band - hours at or above the limit) / valid hours against the series'
    own share b of band hours over the run; LLR = n (f ln f/b + (1-f) ln (1-f)/(1-b)) where f > b."""
    valid = np.isfinite(ratio)
    in_band = valid & (ratio >= 1.0 - band) & (ratio < 1.0)
    above = valid & (ratio >= 1.0)
    out = np.zeros(ratio.shape)
    if not in_band.any():
        return out
    with np.errstate(all="ignore"):
        n_valid = valid.sum(axis=1, keepdims=True)
        base = np.clip(in_band.sum(axis=1, keepdims=True) / np.maximum(n_valid, 1), 1e-4, 0.5)
        for w in windows_h:
            share_band = nan_rolling_mean(np.where(valid, in_band, np.nan), w, min_count=max(1, w // 4))
            share_above = nan_rolling_mean(np.where(valid, above, np.nan), w, min_count=max(1, w // 4))
            n = nan_rolling_mean(valid.astype(float), w, min_count=1) * w
            f = np.clip(np.nan_to_num(share_band) - np.nan_to_num(share_above), 1e-6, 1 - 1e-6)
            llr = n * (f * np.log(f / base) + (1 - f) * np.log((1 - f) / (1 - base)))
            out = np.maximum(out, np.where(in_band & (f > base), np.nan_to_num(llr), 0.0))
    return out


@register("clipping", models={"clip_neighbour": "clipping", "clip_bunch": "clipping", "clip_limit": "clipping",
                              "clip_class": "clipping"},
          needs=("spatial",))
def clipping(panel: Panel, *, band: float = 0.15, window_h: int = 24,
             min_band_share: float = 0.2, outlet_band: float = 0.1,
             water_band: float = 0.1) -> dict[str, np.ndarray]:
    """In-band readings scored by how far above the limit the neighbours are, and by bunching
    (at polluter outlets: O2-corrected bunching under the emission limit, see module doc)."""
    nbr = np.zeros(panel.shape)
    bunch = np.zeros(panel.shape)
    fit = spatial_fit_or_compute(panel)
    c = panel.cache.get("log_offset")
    if c is None:
        log_values(panel)
        c = panel.cache["log_offset"]
    for p, lims in limits_for(panel).items():
        v = panel.values[:, :, p]
        expected = np.exp(fit["pred"][:, :, p]) - c[p]
        for lim in lims:
            L = lim[:, None]
            in_band = (v <= L) & (v >= L * (1 - band))
            above = np.nan_to_num(np.log(np.maximum(expected, 1e-9) / L), nan=0.0)
            frac = nan_rolling_mean(np.where(np.isfinite(v), in_band, np.nan)[:, :, None], window_h,
                                    min_count=window_h // 3)[:, :, 0]
            # one value under a limit is chance; clipping holds several hours in the band
            held = np.nan_to_num(frac) >= min_band_share
            nbr[:, :, p] = np.maximum(nbr[:, :, p], np.where(in_band & held, np.clip(above, 0, None), 0.0))
            base = np.nanmean(np.where(np.isfinite(v), in_band, np.nan), axis=1, keepdims=True) \
                if np.isfinite(v).any() else np.zeros((v.shape[0], 1))
            base = np.maximum(np.nan_to_num(base), 0.01)
            b = np.where(in_band, np.log(np.maximum(np.nan_to_num(frac), 1e-3) / base), 0.0)
            bunch[:, :, p] = np.maximum(bunch[:, :, p], np.clip(b, 0, None))
    # polluter outlets: their own model, so its weight and event rule do not touch the air network
    limit = band_bunching_llr(outlet_limit_ratio(panel), outlet_band) if _is_outlet(panel).any() \
        else np.zeros(panel.shape)
    # water sections: the same evidence under their GB 3838 class limit, in a model of its own
    # (a section's level lingers near a class limit for days, so it needs its own weight)
    water = np.zeros(panel.shape)
    for ratio in water_limit_ratios(panel):
        water = np.maximum(water, band_bunching_llr(ratio, water_band, WATER_BUNCH_WINDOWS_H))
    return {"clip_neighbour": nbr, "clip_bunch": bunch, "clip_limit": limit, "clip_class": water}
