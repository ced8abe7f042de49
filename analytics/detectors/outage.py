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
def outage(panel: Panel, *, min_gap_h: int = 2, all_params_bonus: float = 1.0,
           episode_param: str = "PM2.5", episode_ugm3: float = 75.0,
           min_history_h: int = 168, shared_gap_power: float = 0.0) -> dict[str, np.ndarray]:
    """For missing cells: how high the neighbours put the station, x gap length, x whole-station gap.

    Level evidence is the larger of (a) the robust z of the neighbour prediction against the
    station's own distribution and (b) log(predicted PM2.5 / 75 ug/m3), the GB 3095-2012 grade II
    24-h limit - a gap while the neighbours say "episode" is what a power cut looks like.

    ``shared_gap_power``: a gap the neighbours share at the same hour is a network or data-system
    outage, not one station going dark, so the statistic is multiplied by
    ``(1 - share of neighbours also missing) ** shared_gap_power`` (0 = off).
    """
    y = log_values(panel)
    fit = spatial_fit_or_compute(panel)
    missing = ~np.isfinite(panel.values)
    gap = run_lengths(missing).astype(float)
    centre = nanmedian_quiet(y, axis=1, keepdims=True)
    scale = robust_scale(y, axis=1, floor=0.05)
    level_z = np.clip(np.nan_to_num((fit["pred"] - centre) / scale), 0, None)
    if panel.shape[1] < min_history_h:  # too short to know the station's own level: episode evidence only
        level_z = np.zeros_like(level_z)
    ep = panel.pindex(episode_param)
    if ep is not None:
        c = panel.cache["log_offset"][ep]
        nb_pm = np.exp(fit["pred"][:, :, ep]) - c
        episode = np.clip(np.nan_to_num(np.log(np.maximum(nb_pm, 1e-3) / episode_ugm3)), 0, None)[:, :, None]
        level = np.maximum(level_z, 2.0 * episode)
    else:
        level = level_z
    all_missing = missing.all(axis=2, keepdims=True)
    weight = (1 + np.log2(np.maximum(gap, 1)) / 4) * (1 + all_params_bonus * all_missing)
    if shared_gap_power > 0:
        weight = weight * (1.0 - neighbours_missing_share(panel, missing)) ** shared_gap_power
    stat = np.where(missing & (gap >= min_gap_h), level * weight, 0.0)
    return {"outage": stat}


def neighbours_missing_share(panel: Panel, missing: np.ndarray) -> np.ndarray:
    """Share of a station's neighbours (with the parameter) that are missing it at the same hour."""
    idx = panel.neighbours.index
    S = missing.shape[0]
    count = np.zeros(missing.shape, dtype=np.float32)
    total = np.zeros((S, 1, 1), dtype=np.float32)
    for k in range(idx.shape[1]):
        has = idx[:, k] >= 0
        if not has.any():
            continue
        count[has] += missing[idx[has, k]]
        total[has] += 1.0
    return np.where(total > 0, count / np.maximum(total, 1.0), 0.0)
