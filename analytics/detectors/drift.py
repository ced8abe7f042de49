"""Drift: a slowly growing bias against the neighbours (calibration drift, span off), reset at
the next calibration. Evidence is a multi-day rolling mean of the neighbour residual (log ratio
to the leave-one-out prediction) that departs from the station's usual range.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import Panel, nan_rolling_mean, robust_scale
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register


@register("drift", models={"drift": "drift"}, needs=("spatial",))
def drift(panel: Panel, *, windows_h: tuple[int, ...] = (72, 240)) -> dict[str, np.ndarray]:
    """max over windows of |rolling mean residual| / robust scale of that rolling mean."""
    r = spatial_fit_or_compute(panel)["resid"]
    stat = np.zeros(panel.shape)
    for w in windows_h:
        m = nan_rolling_mean(r, int(w), min_count=max(6, int(w) // 4))
        z = np.abs(m) / robust_scale(m, axis=1, floor=0.01)
        stat = np.maximum(stat, np.nan_to_num(z))
    return {"drift": np.where(np.isfinite(panel.values), stat, 0.0)}
