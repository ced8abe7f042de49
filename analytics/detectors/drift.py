"""Drift: a slowly growing bias against the neighbours (calibration drift, span off), reset at
the next calibration. Evidence is a multi-day rolling mean of the neighbour residual (log ratio
to the leave-one-out prediction) that departs from the station's usual range (``drift``), and the
amplitude of the best-fitting ramp - bias growing linearly from the level of the days before to a
reset - in units of the series' own slow wander (``drift_ramp``). The ramp marks every day of the
drift, its quiet beginning included, where the rolling mean only lights up near its end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.detectors.base import Panel, nan_rolling_mean, robust_scale
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register

RAMP_DAYS = tuple(range(5, 36, 2))  # ramp lengths tried (days): a week to a month between calibrations
FLANK_DAYS = 7  # the bias level before the ramp and after the reset
WANDER_DAYS = 30  # the residual's own slow wander: std of its 30-day rolling median


@register("drift", models={"drift": "drift", "drift_ramp": "drift"}, needs=("spatial",))
def drift(panel: Panel, *, windows_h: tuple[int, ...] = (72, 240)) -> dict[str, np.ndarray]:
    """``drift``: max over windows of |rolling mean residual| / robust scale of that rolling mean;
    ``drift_ramp``: see :func:`ramp_amplitude_days`, spread from days to their hours."""
    r = spatial_fit_or_compute(panel)["resid"]
    stat = np.zeros(panel.shape)
    for w in windows_h:
        m = nan_rolling_mean(r, int(w), min_count=max(6, int(w) // 4))
        z = np.abs(m) / robust_scale(m, axis=1, floor=0.01)
        stat = np.maximum(stat, np.nan_to_num(z))
    valid = np.isfinite(panel.values)
    days = daily_means(r)
    ramp = ramp_amplitude_days(days / np.maximum(residual_scale(days), 0.02))
    ramp_h = np.repeat(ramp, 24, axis=1)[:, : panel.shape[1]]
    return {"drift": np.where(valid, stat, 0.0), "drift_ramp": np.where(valid, ramp_h, 0.0)}


def daily_means(x: np.ndarray, min_count: int = 6) -> np.ndarray:
    """[S, T, P] hourly -> [S, D, P] means of consecutive 24-hour blocks (NaN under min_count values)."""
    S, T, P = x.shape
    D = -(-T // 24)
    pad = np.full((S, D * 24, P), np.nan)
    pad[:, :T] = x
    blocks = pad.reshape(S, D, 24, P)
    ok = np.isfinite(blocks)
    n = ok.sum(axis=2)
    total = np.where(ok, blocks, 0.0).sum(axis=2)
    return np.where(n >= min_count, total / np.maximum(n, 1), np.nan)


def residual_scale(days: np.ndarray) -> np.ndarray:
    """[S, 1, P]: the scale a ramp is measured in - the slow wander when the series is long enough
    to show it (two wander windows), else the robust spread of the daily residuals."""
    if days.shape[1] >= 2 * WANDER_DAYS:
        return slow_wander(days)
    return np.nan_to_num(robust_scale(days, axis=1, floor=0.02), nan=1.0)


def slow_wander(days: np.ndarray) -> np.ndarray:
    """[S, 1, P]: standard deviation of each series' 30-day rolling median - how far its bias
    against the neighbours wanders by itself (weather regimes, seasons)."""
    S, D, P = days.shape
    flat = days.transpose(1, 0, 2).reshape(D, S * P)
    med = pd.DataFrame(flat).rolling(WANDER_DAYS, center=True, min_periods=WANDER_DAYS // 2).median().to_numpy()
    sd = np.nanstd(med, axis=0) if np.isfinite(med).any() else np.full(S * P, np.nan)
    return np.nan_to_num(sd.reshape(S, P), nan=1.0)[:, None, :]


def ramp_amplitude_days(z: np.ndarray, lengths: tuple[int, ...] = RAMP_DAYS, flank: int = FLANK_DAYS) -> np.ndarray:
    """For each day, the largest |amplitude| of a linear ramp ``b + h (j - a + 1) / L`` over days
    ``a..e`` (L = e - a + 1 in ``lengths``) that contains the day, with the baseline ``b`` taken
    from ``flank`` days on each side (before the ramp and after the reset). Least squares via
    prefix sums: O(days x lengths x L) per series. ``z``: [S, D, P] daily residuals (NaN = no day)."""
    S, D, P = z.shape
    v = np.isfinite(z).astype(float)
    zz = np.where(v > 0, z, 0.0)
    j = np.arange(D, dtype=float)[None, :, None]

    def prefix(a: np.ndarray) -> np.ndarray:
        out = np.zeros((S, D + 1, P))
        out[:, 1:] = np.cumsum(a, axis=1)
        return out

    c0, c1, v0, v1, v2 = prefix(zz), prefix(zz * j), prefix(v), prefix(v * j), prefix(v * j * j)

    def window_sum(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return c[:, np.clip(hi + 1, 0, D)] - c[:, np.clip(lo, 0, D)]

    best = np.zeros((S, D, P))
    for L in lengths:
        if L > D:
            break
        e = np.arange(L - 1, D)
        a = e - L + 1
        am1 = (a - 1)[None, :, None].astype(float)
        s_z, s_jz = window_sum(c0, a, e), window_sum(c1, a, e)
        s_v, s_jv, s_jjv = window_sum(v0, a, e), window_sum(v1, a, e), window_sum(v2, a, e)
        s_wz = (s_jz - am1 * s_z) / L  # sum of w_j z_j with w_j = (j - a + 1) / L
        s_w = (s_jv - am1 * s_v) / L
        s_ww = (s_jjv - 2 * am1 * s_jv + am1 ** 2 * s_v) / L ** 2
        f_z = window_sum(c0, a - flank, a - 1) + window_sum(c0, e + 1, e + flank)
        f_v = window_sum(v0, a - flank, a - 1) + window_sum(v0, e + 1, e + flank)
        base = np.where(f_v >= 3, f_z / np.maximum(f_v, 1), np.nan)
        h = np.abs((s_wz - base * s_w) / np.maximum(s_ww, 1e-9))
        h = np.where((s_v >= 0.6 * L) & np.isfinite(h), h, 0.0)
        at_end = np.zeros((S, D, P))
        at_end[:, L - 1:] = h
        for k in range(L):  # day d lies in the ramps ending at d .. d + L - 1
            np.maximum(best[:, : D - k], at_end[:, k:], out=best[:, : D - k])
    return best
