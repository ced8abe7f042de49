"""Outage: data missing while pollution is high around the station (power cut, switched-off
analyser during an episode - seed 001 item 22: power-cut switches and locks at stations).

Ordinary gaps happen at any level; a suspicious gap coincides with an episode at the
neighbours. For each missing cell the raw statistic is how high the neighbours put this station
(robust z of the leave-one-out prediction against the station's own level distribution),
weighted up for long gaps and for gaps that hit every parameter of the station at once.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import Panel, log_values, nanmedian_quiet, robust_scale, run_lengths
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register


@register("outage", models={"outage": "outage"}, needs=("spatial",))
def outage(panel: Panel, *, min_gap_h: int = 2, all_params_bonus: float = 0.5) -> dict[str, np.ndarray]:
    """For missing cells: max(0, neighbour-implied level z) x (1 + log2(gap hours)/4) x bonus."""
    y = log_values(panel)
    fit = spatial_fit_or_compute(panel)
    missing = ~np.isfinite(panel.values)
    gap = run_lengths(missing).astype(float)
    centre = nanmedian_quiet(y, axis=1, keepdims=True)
    scale = robust_scale(y, axis=1, floor=0.05)
    level_z = (fit["pred"] - centre) / scale
    frac_missing = missing.mean(axis=2, keepdims=True)
    weight = (1 + np.log2(np.maximum(gap, 1)) / 4) * (1 + all_params_bonus * (frac_missing == 1.0))
    stat = np.where(missing & (gap >= min_gap_h), np.clip(np.nan_to_num(level_z), 0, None) * weight, 0.0)
    return {"outage": stat}
