"""Neighbour-station comparison: predict each reading from its neighbours, leave-one-out.

Follows the idea of the spatial consistency test (SCT) and buddy check of MET Norway's titanlib
(``src/sct.cpp``, ``src/buddy_check.cpp``): a value is judged against what the surrounding
stations say at the same hour, never against itself. Here, in log space (pollution is
multiplicative), each neighbour j gives an estimate ``y_j(t) + b_sj`` where ``b_sj`` is the
station pair's median log ratio; estimates are combined with weights ``exp(-d/d0) * rho^2 /
sigma_sj^2`` (distance, correlation, pair noise) and a Huber down-weighting of neighbours that
disagree with the neighbour median (so one faulty neighbour cannot drag the prediction).
Micro-stations join as neighbours of the same family. Works in station chunks, so memory stays
bounded for 2,000 stations.

Models: ``spatial_high`` (reading far above its neighbours: spikes, fabricated peaks) and
``spatial_low`` (far below: suppression by spraying or a blocked inlet).
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import Panel, log_values, nanmedian_axis, robust_scale
from analytics.registry import register
from analytics.threads import map_in_threads

CHUNK_ELEMENTS = 8_000_000


def neighbour_fit(panel: Panel, *, min_neighbours: int = 2, distance_scale_m: float = 30_000.0,
                  huber_k: float = 2.0) -> dict[str, np.ndarray]:
    """Leave-one-out neighbour prediction in log space, memoised on the panel.

    Returns ``pred`` (log), ``resid`` (y - pred), ``z`` (resid / robust scale of resid per series),
    ``n_used`` (neighbours with data per cell), ``spread`` (robust spread of neighbour estimates).
    """
    key = ("spatial_fit", min_neighbours, distance_scale_m, huber_k)
    if key in panel.cache:
        return panel.cache[key]
    y = log_values(panel)
    S, T, P = y.shape
    nb = panel.neighbours
    K = nb.index.shape[1]
    pred = np.full(y.shape, np.nan)
    spread = np.full(y.shape, np.nan)
    n_used = np.zeros(y.shape, dtype=np.int16)
    offsets = np.full((S, K, P), np.nan)
    chunk = max(1, CHUNK_ELEMENTS // max(1, K * T))

    def fit_parameter(p: int) -> None:  # writes only parameter p's cells
        for s0 in range(0, S, chunk):
            s1 = min(S, s0 + chunk)
            idx = nb.index[s0:s1]  # [c, K]
            has = idx >= 0
            yj = np.where(has[:, :, None], y[np.where(has, idx, 0), :, p], np.nan)  # [c, K, T]
            if nb.lag_h is not None and nb.lag_h[s0:s1].any():
                yj = lagged(yj, nb.lag_h[s0:s1])
            ys = y[s0:s1, None, :, p]
            diff = ys - yj
            b = nanmedian_axis(np.moveaxis(diff, 2, 0), axis=0)  # [c, K] pair offset (median log ratio)
            offsets[s0:s1, :, p] = b
            e = yj + b[:, :, None]
            pair_res = diff - b[:, :, None]
            sig = robust_scale(pair_res, axis=2, floor=0.02)[:, :, 0]  # [c, K]
            with np.errstate(all="ignore"):
                rho = _nancorr(ys, yj)  # [c, K]
            rho = np.where(np.isfinite(rho), rho, 0.5)  # too short to estimate (< 24 common hours): neutral
            w0 = np.exp(-nb.distance_m[s0:s1] / distance_scale_m) * np.clip(rho, 0.05, 1.0) ** 2 / sig**2
            w0 = np.where(has & np.isfinite(w0), w0, 0.0)
            m = nanmedian_axis(e, axis=1)  # [c, T]
            dev = np.abs(e - m[:, None, :]) / sig[:, :, None]
            hub = np.where(dev > huber_k, huber_k / np.maximum(dev, 1e-9), 1.0)
            w = np.where(np.isfinite(e), w0[:, :, None] * hub, 0.0)
            wsum = w.sum(axis=1)
            cnt = np.isfinite(e).sum(axis=1)
            with np.errstate(all="ignore"):
                pr = np.where(wsum > 0, np.nansum(w * np.nan_to_num(e), axis=1) / wsum, np.nan)
                sp = np.sqrt(np.where(wsum > 0, np.nansum(w * np.nan_to_num(e - pr[:, None, :]) ** 2, axis=1) / wsum, np.nan))
            ok = cnt >= min_neighbours
            pred[s0:s1, :, p] = np.where(ok, pr, np.nan)
            spread[s0:s1, :, p] = np.where(ok, sp, np.nan)
            n_used[s0:s1, :, p] = cnt

    # parameters are independent: ``panel.threads`` at once
    map_in_threads(fit_parameter, range(P), panel.threads)
    resid = y - pred
    scale = robust_scale(resid, axis=1, floor=0.02)
    z = resid / scale
    out = {"pred": pred, "resid": resid, "z": z, "scale": scale, "n_used": n_used, "spread": spread,
           "offsets": offsets}
    panel.cache[key] = out
    panel.cache["spatial_fit"] = out
    return out


def lagged(yj: np.ndarray, lag_h: np.ndarray) -> np.ndarray:
    """Neighbour series [c, K, T] shifted by ``lag_h`` [c, K] hours (value at t - lag at t; NaN
    where that hour is outside the run): a river section's upstream reading arrives with the water."""
    T = yj.shape[2]
    t = np.arange(T)[None, None, :] - lag_h[:, :, None]
    inside = (t >= 0) & (t < T)
    return np.where(inside, np.take_along_axis(yj, np.clip(t, 0, T - 1), axis=2), np.nan)


def _nancorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis, pairwise-complete; a [c,1,T] vs b [c,K,T] -> [c,K]."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=-1)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    ma = a0.sum(-1) / np.maximum(n, 1)
    mb = b0.sum(-1) / np.maximum(n, 1)
    da = np.where(ok, a - ma[..., None], 0.0)
    db = np.where(ok, b - mb[..., None], 0.0)
    cov = (da * db).sum(-1)
    r = cov / np.sqrt((da**2).sum(-1) * (db**2).sum(-1))
    return np.where(n >= 24, r, np.nan)


def spatial_fit_or_compute(panel: Panel) -> dict[str, np.ndarray]:
    """The neighbour fit from the pipeline's spatial step, or one with default settings."""
    return panel.cache.get("spatial_fit") or neighbour_fit(panel)


@register("spatial", models={"spatial_high": "spike", "spatial_low": "suppression"})
def spatial(panel: Panel, *, min_neighbours: int = 2, distance_scale_m: float = 30_000.0,
            huber_k: float = 2.0) -> dict[str, np.ndarray]:
    """Robust z of each reading against its leave-one-out neighbour prediction, split by sign."""
    fit = neighbour_fit(panel, min_neighbours=min_neighbours, distance_scale_m=distance_scale_m,
                        huber_k=huber_k)
    z = np.nan_to_num(fit["z"], nan=0.0)
    return {"spatial_high": np.clip(z, 0, None), "spatial_low": np.clip(-z, 0, None)}
