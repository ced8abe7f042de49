"""Fabrication: data copied (possibly scaled) from another station, or smoothed by hand.

- Copy: a copied or scaled series has a near-constant log ratio to its donor, so the rolling
  standard deviation of ``y_s - y_j`` collapses far below the pair's usual level. The donor can
  be any station of the same network in the partition (up to ``max_donors`` nearest).
- Smoothing: a hand-made series lacks the hour-to-hour roughness real analysers show; the
  rolling mean |second difference| falls below the station's usual roughness while the
  neighbours' roughness does not.
"""

from __future__ import annotations

import threading

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
from analytics.threads import by_stations, map_in_threads

PAIR_BATCH_CELLS = 1_000_000  # donor pairs scored at once: about 8 MB per temporary


def donor_pairs(index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unordered pairs (a < b) of stations and their donors in ``index`` [S, K] (-1: none),
    with whether b is a's donor (forward) and whether a is b's (backward)."""
    station = np.repeat(np.arange(index.shape[0]), index.shape[1])
    donor = index.ravel()
    keep = (donor >= 0) & (donor != station)
    directed = set(zip(station[keep].tolist(), donor[keep].tolist(), strict=True))
    pairs = sorted({(min(s, j), max(s, j)) for s, j in directed})
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    forward = np.array([(a, b) in directed for a, b in pairs], dtype=bool)
    backward = np.array([(b, a) in directed for a, b in pairs], dtype=bool)
    return arr, forward, backward


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

    # each unordered pair of a station and its donor once: the rolling standard deviation of
    # y_a - y_b is the same bits as that of y_b - y_a (IEEE subtraction and sums are exactly
    # antisymmetric, and the squares equal), so a pair in both donor lists is computed once
    pairs, forward, backward = donor_pairs(donors.index)
    copy = np.zeros(y.shape)
    merge = threading.Lock()
    batch = max(1, PAIR_BATCH_CELLS // max(T * P, 1))

    def copy_of(part: slice) -> None:  # -log(max(sd, 0.01) / typical) where the donor moves, else 0
        a, b = pairs[part, 0], pairs[part, 1]
        d = np.subtract(y[a], y[b])
        ratio = nan_rolling_std(d, window_h, min_count=window_h // 2)
        typical = nanmedian_quiet(ratio, axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            np.maximum(ratio, 0.01, out=ratio)
            ratio /= typical
            np.log(ratio, out=ratio)
        np.negative(ratio, out=ratio)
        np.nan_to_num(ratio, copy=False, nan=0.0)
        with merge:  # each station's max over its donors (max: any order, the same bits; copy >= 0)
            for i, (sa, sb, fw, bw) in enumerate(zip(a, b, forward[part], backward[part], strict=True)):
                for station, donor_, wanted in ((sa, sb, fw), (sb, sa, bw)):
                    if wanted and moving_all[donor_].any():  # a donor that never moves adds 0 everywhere
                        np.maximum(copy[station], np.where(moving_all[donor_], ratio[i], 0.0), out=copy[station])

    map_in_threads(copy_of, [slice(i, i + batch) for i in range(0, len(pairs), batch)], threads)

    def roughness_of(rows: slice) -> np.ndarray:  # log roughness against the station's usual
        yc = y[rows]
        rough = np.abs(yc - 0.5 * (shift(yc, 1) + shift(yc, -1)))
        rr = nan_rolling_mean(rough, window_h, min_count=window_h // 2)
        with np.errstate(all="ignore"):
            return np.log(np.maximum(rr, 0.005) / nanmedian_quiet(rr, axis=1, keepdims=True))

    # station chunks at once (``panel.threads``): every step runs along a station's own time axis
    rel = by_stations(roughness_of, S, threads)
    nb = panel.neighbours
    ref = np.nan_to_num(neighbour_median(rel, nb.index)) if (nb.count > 0).any() else np.zeros_like(rel)
    smooth = np.clip(np.nan_to_num(ref - rel), 0, None)
    valid = np.isfinite(panel.values)
    return {"donor_copy": np.where(valid, np.clip(copy, 0, None), 0.0), "donor_smooth": np.where(valid, smooth, 0.0)}
