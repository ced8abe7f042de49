"""Clipping: values held just under a limit while the truth is above it.

Limits (ug/m3; CO mg/m3): the IAQI 100 breakpoints of HJ 633-2012 table 1 for hourly SO2, NO2,
CO, O3 and for PM2.5/PM10 (24-h breakpoints, which operators watch hourly), and the GB 3095-2012
grade II 24-h limits; for polluter outlets the emission limits in ``stations.limits_json``.
Evidence: the reading sits in a band just below a limit while the neighbours put the station
well above it (``clip_neighbour``), and readings bunch in that band over a day more than the
station's own history makes likely (``clip_bunch``).
"""

from __future__ import annotations

import json

import numpy as np

from analytics.detectors.base import Panel, log_values, nan_rolling_mean
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register

# HJ 633-2012 table 1 (IAQI 100, 150 and 200 breakpoints) and GB 3095-2012 grade II 24-h limits
AIR_LIMITS: dict[str, tuple[float, ...]] = {
    "PM2.5": (75.0, 115.0, 150.0),
    "PM10": (150.0, 250.0, 350.0),
    "SO2": (150.0, 500.0),
    "NO2": (80.0, 200.0),
    "CO": (4.0, 10.0),
    "O3": (160.0, 200.0),
}


def limits_for(panel: Panel) -> dict[int, list[np.ndarray]]:
    """parameter index -> list of per-station limit arrays [S] (NaN = no limit at that station)."""
    S = panel.shape[0]
    out: dict[int, list[np.ndarray]] = {}
    for p, name in enumerate(panel.parameters):
        for lim in AIR_LIMITS.get(name, ()):
            out.setdefault(p, []).append(np.full(S, lim))
    if "limits_json" in panel.stations.columns:
        for s, raw in enumerate(panel.stations["limits_json"].tolist()):
            if not isinstance(raw, str) or not raw.strip():
                continue
            try:
                lims = json.loads(raw)
            except ValueError:
                continue
            for name, lim in lims.items():
                p = panel.pindex(name)
                if p is None or not isinstance(lim, (int, float)):
                    continue
                arr = np.full(S, np.nan)
                arr[s] = float(lim)
                out.setdefault(p, []).append(arr)
    return out


@register("clipping", models={"clip_neighbour": "clipping", "clip_bunch": "clipping"}, needs=("spatial",))
def clipping(panel: Panel, *, band: float = 0.15, window_h: int = 24,
             min_band_share: float = 0.2) -> dict[str, np.ndarray]:
    """In-band readings scored by how far above the limit the neighbours are, and by bunching."""
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
    return {"clip_neighbour": nbr, "clip_bunch": bunch}
