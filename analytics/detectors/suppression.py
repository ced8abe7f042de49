"""Suppression: particulate matter pushed down at one station (water spraying, blocked inlet)
while its own gases and its neighbours stay high.

Spraying and inlet blocking act on particles only; NO2 and CO measured in the same cabin are
untouched. So the evidence is a PM reading below its neighbour prediction by more than the
station's gases are (z_PM - mean(z_NO2, z_CO) << 0), sustained over a few hours.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import Panel, nan_rolling_mean
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register

PM = ("PM2.5", "PM10")
TRACERS = ("NO2", "CO", "SO2")


@register("suppression", models={"suppression": "suppression"}, needs=("spatial",))
def suppression(panel: Panel, *, smooth_h: int = 3, min_pm_drop_z: float = 1.0,
                same_factor_bonus: float = 1.0) -> dict[str, np.ndarray]:
    """PM z below the station's own gases' z, for PM2.5 and PM10 together.

    Spraying and inlet blocking hit both PM analysers at once and by a similar factor, while
    one faulty analyser drops alone: when both PM series are present the evidence is the smaller
    of the two drops (both must fall), otherwise the single one at half weight.
    """
    out = np.zeros(panel.shape)
    fit = spatial_fit_or_compute(panel)
    z = fit["z"]
    gas_idx = [i for i in (panel.pindex(n) for n in TRACERS) if i is not None]
    if gas_idx:
        with np.errstate(all="ignore"):
            gas = np.nanmean(np.where(np.isfinite(z[:, :, gas_idx]), z[:, :, gas_idx], np.nan), axis=2)
    else:
        gas = np.full(panel.shape[:2], np.nan)
    ref = np.where(np.isfinite(gas), np.clip(gas, -1.0, None), 0.0)
    gaps = {}
    for name in PM:
        p = panel.pindex(name)
        if p is None:
            continue
        zp = z[:, :, p]
        gaps[p] = np.where(np.isfinite(zp) & (zp < -min_pm_drop_z), ref - zp, np.nan)
    if not gaps:
        return {"suppression": out}
    stack = np.stack(list(gaps.values()), axis=0)
    both = np.all(np.isfinite(stack), axis=0)
    joint = np.where(both, np.nanmin(np.where(np.isfinite(stack), stack, np.inf), axis=0),
                     0.5 * np.nan_to_num(np.nanmax(np.where(np.isfinite(stack), stack, -np.inf), axis=0), neginf=0.0))
    joint = np.clip(np.nan_to_num(joint, posinf=0.0, neginf=0.0), 0, None)
    i25, i10 = panel.pindex("PM2.5"), panel.pindex("PM10")
    if i25 is not None and i10 is not None and same_factor_bonus > 0:
        # spraying/blocking scales both PM series by the same factor: their log residuals agree
        r25, r10 = fit["resid"][:, :, i25], fit["resid"][:, :, i10]
        mean_r = 0.5 * (r25 + r10)
        agree = np.exp(-np.abs(r25 - r10) / (0.25 * np.abs(mean_r) + 0.05))
        joint = joint * (1.0 + same_factor_bonus * np.nan_to_num(agree) * (mean_r < 0))
    sm = nan_rolling_mean(joint[:, :, None], smooth_h)[:, :, 0]
    stat = np.minimum(joint, np.nan_to_num(sm) * 1.5)
    for p in gaps:
        out[:, :, p] = np.where(np.isfinite(z[:, :, p]), stat, 0.0)
    return {"suppression": out}
