"""Flatline: stuck analysers and hand-set values show constant or near-constant runs.

Real analysers have noise: an hourly PM2.5 series repeats the same value for a few hours at most,
except at the reporting floor (e.g. SO2 = 2 ug/m3, the analyser's lower limit). The raw
statistic is the run length (hours) of exactly repeated values, and of near-constant values
(rolling relative std under ``rel_tol``), discounted at the series' floor where repeats are normal.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import (
    Panel,
    log_values,
    nan_rolling_std,
    nanmedian_quiet,
    nanquantile_axis,
    neighbour_median,
    run_lengths,
    shift,
)
from analytics.registry import register

# reporting resolution of each parameter in its canonical unit (Beijing data: integers, CO 0.1 mg/m3)
RESOLUTION: dict[str, float] = {"PM2.5": 1.0, "PM10": 1.0, "SO2": 1.0, "NO2": 1.0, "CO": 0.1, "O3": 1.0}


@register("flatline", models={"flatline": "flatline"})
def flatline(panel: Panel, *, min_run_h: int = 3, window_h: int = 6, resolution_steps: float = 1.0,
             floor_quantile: float = 0.05, multi_param_bonus: float = 0.5) -> dict[str, np.ndarray]:
    """Run length (h) of constant or near-constant values (rolling std within ``resolution_steps``
    reporting steps), x how much the neighbours vary meanwhile (a stuck analyser stays flat while
    the air around it changes), discounted at the series' floor where repeats are normal."""
    v = panel.values
    same = np.isfinite(v) & ((v == shift(v, 1)) | (v == shift(v, -1)))
    exact = run_lengths(same).astype(float)
    res = np.array([RESOLUTION[p] if p in RESOLUTION else data_resolution(v[:, :, i])
                    for i, p in enumerate(panel.parameters)])
    sd = nan_rolling_std(v, window_h, min_count=window_h)
    near_mask = np.nan_to_num(sd, nan=np.inf) <= resolution_steps * res[None, None, :] * 0.75
    near = run_lengths(near_mask).astype(float)
    near = np.where(near > 0, near + window_h - 1, 0.0)
    run = np.maximum(exact, near)
    run = np.where(run >= min_run_h, run, 0.0)
    floor = nanquantile_quiet(v, floor_quantile)
    at_floor = np.nan_to_num(v) <= np.nan_to_num(floor)
    stat = np.where(at_floor, run * 0.25, run)
    # neighbours' variability relative to their usual (log rolling std), >1 = the air was changing
    y = log_values(panel)
    nb_sd = nan_rolling_std(y, 12, min_count=6)
    typical = nanmedian_quiet(nb_sd, axis=1, keepdims=True)
    rel = nb_sd / typical
    nb = panel.neighbours
    if (nb.count > 0).any():
        factor = np.clip(np.nan_to_num(neighbour_median(rel, nb.index), nan=1.0), 0.25, 4.0)
    else:
        factor = np.ones_like(stat)
    # a frozen data logger holds every parameter at once; independent analysers rarely stick together
    n_flat = (run > 0).sum(axis=2, keepdims=True)
    multi = 1.0 + multi_param_bonus * np.clip(n_flat - 1, 0, None)
    return {"flatline": np.where(np.isfinite(v), stat * factor * multi, 0.0)}


def nanquantile_quiet(v: np.ndarray, q: float) -> np.ndarray:
    """Per-series quantile along time, [S, 1, P] (NaN for all-missing series)."""
    return nanquantile_axis(np.asarray(v, dtype=float), q, axis=1)


def data_resolution(v: np.ndarray) -> float:
    """Reporting resolution estimated from the data: the 5th percentile of the non-zero hour-to-hour
    changes (for parameters without a known resolution, e.g. CEMS flue gas in mg/m3)."""
    d = np.abs(np.diff(v, axis=-1))
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        return 1e-3
    return float(np.quantile(d, 0.05))
