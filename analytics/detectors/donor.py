"""Fabrication: data copied (possibly scaled) from another station, or smoothed by hand.

- Copy: a copied or scaled series has a near-constant log ratio to its donor, so the rolling
  standard deviation of ``y_s - y_j`` collapses far below the pair's usual level. The donor can
  be any station of the same network in the partition (up to ``max_donors`` nearest).
- Smoothing: a hand-made series lacks the hour-to-hour roughness real analysers show; the
  rolling mean |second difference| falls below the station's usual roughness while the
  neighbours' roughness does not.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import (
    Panel,
    build_neighbours,
    log_values,
    nan_rolling_mean,
    nan_rolling_std,
    nanmedian_quiet,
    neighbour_median,
    shift,
)
from analytics.registry import register
from analytics.threads import by_stations


@register("donor", models={"donor_copy": "fabrication", "donor_smooth": "fabrication"})
def donor(panel: Panel, *, window_h: int = 24, max_donors: int = 16, large_network: int = 50,
          large_network_donors: int = 6) -> dict[str, np.ndarray]:
    """donor_copy: max over donors of -log(rolling std ratio); donor_smooth: -log roughness ratio."""
    y = log_values(panel)
    S, T, P = y.shape
    # in a small network any station can be the donor; in a large one only the nearest few are checked
    k = min(max_donors, max(S - 1, 1)) if large_network >= S else min(max_donors, large_network_donors)
    donors = panel.cache.get(("donors", k))
    if donors is None:
        donors = build_neighbours(panel.stations, k=k, max_distance_m=np.inf)
        panel.cache[("donors", k)] = donors
    threads = panel.threads

    def moving_of(rows: slice) -> np.ndarray:  # each station's own variability is its own
        own_sd = nan_rolling_std(y[rows], window_h, min_count=window_h // 2)
        return own_sd >= 0.5 * nanmedian_quiet(own_sd, axis=1, keepdims=True)

    moving_all = by_stations(moving_of, S, threads)

    def copy_of(rows: slice) -> np.ndarray:  # stations' pairs with their donors (read from the whole panel)
        yc, index = y[rows], donors.index[rows]
        copy = np.zeros(yc.shape)
        for k in range(index.shape[1]):
            j = index[:, k]
            has = j >= 0
            if not has.any():
                continue
            d = y[np.where(has, j, 0)]
            d[~has] = np.nan
            np.subtract(yc, d, out=d)
            sd = nan_rolling_std(d, window_h, min_count=window_h // 2)
            typical = nanmedian_quiet(sd, axis=1, keepdims=True)
            # the donor itself must vary in the window: two flat series agree trivially (flatline's case)
            moving = moving_all[np.where(has, j, 0)]
            moving[~has] = False
            # -log(max(sd, 0.01) / typical) where the donor moves, else 0; computed in place in sd
            with np.errstate(all="ignore"):
                ratio = np.maximum(sd, 0.01, out=sd)
                ratio /= typical
                np.log(ratio, out=ratio)
            np.negative(ratio, out=ratio)
            np.nan_to_num(ratio, copy=False, nan=0.0)
            ratio[~moving] = 0.0
            np.maximum(copy, ratio, out=copy)
        return copy

    def roughness_of(rows: slice) -> np.ndarray:  # log roughness against the station's usual
        yc = y[rows]
        rough = np.abs(yc - 0.5 * (shift(yc, 1) + shift(yc, -1)))
        rr = nan_rolling_mean(rough, window_h, min_count=window_h // 2)
        with np.errstate(all="ignore"):
            return np.log(np.maximum(rr, 0.005) / nanmedian_quiet(rr, axis=1, keepdims=True))

    # station chunks at once (``panel.threads``): every step runs along a station's own time axis
    copy = by_stations(copy_of, S, threads)
    rel = by_stations(roughness_of, S, threads)
    nb = panel.neighbours
    ref = np.nan_to_num(neighbour_median(rel, nb.index)) if (nb.count > 0).any() else np.zeros_like(rel)
    smooth = np.clip(np.nan_to_num(ref - rel), 0, None)
    valid = np.isfinite(panel.values)
    return {"donor_copy": np.where(valid, np.clip(copy, 0, None), 0.0), "donor_smooth": np.where(valid, smooth, 0.0)}
