"""Flatline: stuck analysers and hand-set values show constant or near-constant runs.

Real analysers have noise: an hourly PM2.5 series repeats the same value for a few hours at most,
except at the reporting floor (e.g. SO2 = 2 ug/m3, the analyser's lower limit). The raw
statistic is the run length (hours) of exactly repeated values, and of near-constant values
(rolling relative std under ``rel_tol``), discounted at the series' floor where repeats are normal.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import Panel, nan_rolling_std, nanmedian_quiet, run_lengths, shift
from analytics.registry import register


@register("flatline", models={"flatline": "flatline"})
def flatline(panel: Panel, *, min_run_h: int = 3, window_h: int = 6, rel_tol: float = 0.01,
             floor_quantile: float = 0.05) -> dict[str, np.ndarray]:
    """Run length (h) of constant / near-constant values, 0 for runs shorter than ``min_run_h``."""
    v = panel.values
    same = np.isfinite(v) & ((v == shift(v, 1)) | (v == shift(v, -1)))
    exact = run_lengths(same).astype(float)
    level = np.abs(nanmedian_quiet(v, axis=1, keepdims=True)) + 1e-9
    rel_std = nan_rolling_std(v, window_h, min_count=window_h) / np.maximum(np.abs(v), level * 0.2)
    near = run_lengths(np.nan_to_num(rel_std, nan=1.0) < rel_tol).astype(float)
    near = np.where(near > 0, near + window_h - 1, 0.0)
    run = np.maximum(exact, near)
    run = np.where(run >= min_run_h, run, 0.0)
    floor = np.nanquantile(np.where(np.isfinite(v), v, np.nan), floor_quantile, axis=1, keepdims=True) \
        if np.isfinite(v).any() else np.zeros((v.shape[0], 1, v.shape[2]))
    at_floor = np.nan_to_num(v) <= np.nan_to_num(floor)
    stat = np.where(at_floor, run * 0.25, run)
    return {"flatline": np.where(np.isfinite(v), stat, 0.0)}
