"""Isolation forest on per-station multivariate features (the product owner's first model).

Features per station-hour: log levels of every pollutant, cross-pollutant log ratios (PM2.5/PM10,
PM/CO, PM/NO2), the neighbour residuals z of every pollutant, and hour/season context (sin/cos).
One forest per station (scikit-learn, fixed seed, so a partitioned run gives the same answer);
the anomaly score of a station-hour is shared by its readings, scaled by how much each
parameter's own features stand out, so the ensemble can point at a parameter.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from analytics.detectors.base import Panel, log_values, robust_scale
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register

RATIOS = (("PM2.5", "PM10"), ("PM2.5", "CO"), ("PM2.5", "NO2"), ("PM10", "CO"))


def station_features(panel: Panel) -> np.ndarray:
    """[S, T, F] feature cube (NaN filled with 0 after robust standardisation per station)."""
    y = log_values(panel)
    z = spatial_fit_or_compute(panel)["z"]
    feats = [y, np.clip(z, -20, 20)]
    ratio_cols = []
    for a, b in RATIOS:
        ia, ib = panel.pindex(a), panel.pindex(b)
        if ia is not None and ib is not None:
            ratio_cols.append(y[:, :, ia] - y[:, :, ib])
    if ratio_cols:
        feats.append(np.stack(ratio_cols, axis=2))
    X = np.concatenate(feats, axis=2)
    centre = np.nanmedian(X, axis=1, keepdims=True) if np.isfinite(X).any() else 0.0
    X = (X - centre) / robust_scale(X, axis=1, floor=1e-3)
    X = np.nan_to_num(np.clip(X, -20, 20))
    hours = panel.hour_of_day
    doy = panel.times.day_of_year.to_numpy()
    ctx = np.stack([np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24),
                    np.sin(2 * np.pi * doy / 365.25), np.cos(2 * np.pi * doy / 365.25)], axis=1)
    ctx = np.broadcast_to(ctx[None], (X.shape[0], X.shape[1], 4))
    return np.concatenate([X, ctx], axis=2)


@register("iforest", models={"iforest": None}, needs=("spatial",))
def iforest(panel: Panel, *, n_estimators: int = 100, max_samples: int = 256, seed: int = 0,
            min_rows: int = 48) -> dict[str, np.ndarray]:
    """Per-station IsolationForest anomaly score (-score_samples - 0.5, >= 0), per reading."""
    S, T, P = panel.shape
    X = station_features(panel)
    valid_any = np.isfinite(panel.values).any(axis=2)
    out = np.zeros(panel.shape)
    z_abs = np.nan_to_num(np.abs(spatial_fit_or_compute(panel)["z"]))
    for s in range(S):
        rows = np.nonzero(valid_any[s])[0]
        if len(rows) < min_rows:
            continue
        model = IsolationForest(n_estimators=n_estimators, max_samples=min(max_samples, len(rows)),
                                random_state=seed, n_jobs=1)
        model.fit(X[s, rows])
        a = np.clip(-model.score_samples(X[s, rows]) - 0.5, 0, None)
        share = z_abs[s, rows] / np.maximum(z_abs[s, rows].max(axis=1, keepdims=True), 1e-9)
        out[s, rows] = a[:, None] * (0.5 + 0.5 * share)
    return {"iforest": np.where(np.isfinite(panel.values), out, 0.0)}
