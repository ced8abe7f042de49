"""Naive, honest baselines that envtrust must beat.

Each baseline takes long readings (``station_id, ts, parameter, value``) and returns scores
(higher = more suspicious, >= 0): per reading (``station_id, ts, parameter, score``) or per
station-hour (``station_id, ts, score``). They are deliberately plain - what a competent analyst
would write in an afternoon - and are not tuned on the held-out split.

- ``rules``: physical range (analytics/vocabulary.py), PM2.5 > PM10, flatline (unchanged value over
  ``flat_hours``), jump (hour-to-hour change in robust units).
- ``buddy``: |value - median of the other stations at that hour|, in robust units (MAD) per
  station and parameter.
- ``stl``: per-series STL (statsmodels, period 24, non-robust) residual |z| (MAD scale).
- ``iforest``: scikit-learn IsolationForest on the raw pollutant values of each station-hour.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from analytics.vocabulary import PARAMETERS

MAD_TO_SIGMA = 1.4826


def _wide(readings: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """One parameter as an hours x stations table (hourly index, NaN where missing)."""
    r = readings[readings["parameter"] == parameter]
    w = r.pivot_table(index="ts", columns="station_id", values="value", aggfunc="first", dropna=False)
    if w.empty:
        return w
    hours = pd.date_range(w.index.min(), w.index.max(), freq="h")
    return w.reindex(hours)


def _to_long(scores: pd.DataFrame, parameter: str) -> pd.DataFrame:
    s = scores.stack(future_stack=True).rename("score").reset_index()
    s.columns = ["ts", "station_id", "score"]
    s["parameter"] = parameter
    return s[["station_id", "ts", "parameter", "score"]]


def _robust_scale(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """MAD-based sigma along ``axis`` with a floor so constant series do not divide by zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(x, axis=axis, keepdims=True)
        mad = np.nanmedian(np.abs(x - med), axis=axis, keepdims=True) * MAD_TO_SIGMA
    return np.where(np.isfinite(mad) & (mad > 1e-9), mad, 1.0)


def _per_parameter(readings: pd.DataFrame, fn: Callable[[pd.DataFrame, str], pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for p in sorted(readings["parameter"].unique()):
        w = _wide(readings, p)
        if w.empty:
            continue
        parts.append(_to_long(fn(w, p), p))
    if not parts:
        return pd.DataFrame(columns=["station_id", "ts", "parameter", "score"])
    out = pd.concat(parts, ignore_index=True)
    out["score"] = out["score"].fillna(0.0).clip(lower=0.0)
    return out


def rules_scores(readings: pd.DataFrame, flat_hours: int = 6, jump_sigma: float = 6.0) -> pd.DataFrame:
    """Range/flatline/jump rules per reading; score = strongest rule (range and PM2.5>PM10 score 10)."""
    pm = {}

    def one(w: pd.DataFrame, p: str) -> pd.DataFrame:
        x = w.to_numpy(dtype=float)
        spec = PARAMETERS.get(p)
        score = np.zeros_like(x)
        if spec is not None:
            lo = spec.min_value if spec.min_value is not None else -np.inf
            hi = spec.max_value if spec.max_value is not None else np.inf
            score = np.where((x < lo) | (x > hi), 10.0, score)
        d = np.diff(x, axis=0, prepend=np.nan)
        jump = np.abs(d) / _robust_scale(d)
        score = np.fmax(score, np.where(jump > jump_sigma, jump / jump_sigma, 0.0))
        same = pd.DataFrame(d == 0).rolling(flat_hours - 1, min_periods=flat_hours - 1).sum().to_numpy()
        flat = (same >= flat_hours - 1) & np.isfinite(x)
        score = np.fmax(score, np.where(flat, 2.0, 0.0))
        if p in ("PM2.5", "PM10"):
            pm[p] = w
        return pd.DataFrame(np.nan_to_num(score), index=w.index, columns=w.columns)

    out = _per_parameter(readings, one)
    if {"PM2.5", "PM10"} <= set(pm):
        a, b = pm["PM2.5"].align(pm["PM10"], join="inner")
        bad = (a > b * 1.0 + 5).to_numpy()  # PM2.5 is a fraction of PM10; 5 ug/m3 for rounding/noise
        extra = _to_long(pd.DataFrame(np.where(bad, 10.0, 0.0), index=a.index, columns=a.columns), "PM2.5")
        key = ["station_id", "ts", "parameter"]
        out = out.merge(extra.rename(columns={"score": "ratio"}), on=key, how="left")
        out["score"] = np.fmax(out["score"], out["ratio"].fillna(0.0))
        out = out.drop(columns="ratio")
    return out


def buddy_scores(readings: pd.DataFrame, min_buddies: int = 2) -> pd.DataFrame:
    """|x - median(other stations)| / MAD of that difference series, per station and parameter."""

    def one(w: pd.DataFrame, p: str) -> pd.DataFrame:
        x = w.to_numpy(dtype=float)
        n = x.shape[1]
        dev = np.full_like(x, np.nan)
        if n < min_buddies + 1:
            return pd.DataFrame(np.zeros_like(x), index=w.index, columns=w.columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for j in range(n):
                others = np.delete(x, j, axis=1)
                enough = np.isfinite(others).sum(axis=1) >= min_buddies
                med = np.nanmedian(others, axis=1)
                dev[:, j] = np.where(enough, x[:, j] - med, np.nan)
        z = np.abs(dev - np.nanmedian(dev, axis=0, keepdims=True)) / _robust_scale(dev)
        return pd.DataFrame(z, index=w.index, columns=w.columns)

    return _per_parameter(readings, one)


def stl_scores(readings: pd.DataFrame, period: int = 24) -> pd.DataFrame:
    """|STL residual| / MAD per series (statsmodels STL, period 24, non-robust for speed).

    Gaps are linearly interpolated before decomposition; missing readings score 0.
    """
    from statsmodels.tsa.seasonal import STL

    def one(w: pd.DataFrame, p: str) -> pd.DataFrame:
        out = np.zeros(w.shape)
        for j, col in enumerate(w.columns):
            s = w[col]
            ok = s.notna().to_numpy()
            if ok.sum() < 3 * period:
                continue
            filled = s.interpolate(limit_direction="both").to_numpy(dtype=float)
            res = STL(filled, period=period, robust=False).fit().resid
            z = np.abs(res) / _robust_scale(res[ok])
            out[:, j] = np.where(ok, z, 0.0)
        return pd.DataFrame(out, index=w.index, columns=w.columns)

    return _per_parameter(readings, one)


def iforest_scores(readings: pd.DataFrame, n_estimators: int = 100, seed: int = 0,
                   max_fit_rows: int = 200_000) -> pd.DataFrame:
    """Plain IsolationForest on each station-hour's raw pollutant values (NaN -> column median).

    Returns per-station-hour ``station_id, ts, score`` (score = -score_samples, shifted >= 0);
    one model for the whole network, fitted on up to ``max_fit_rows`` random station-hours.
    """
    from sklearn.ensemble import IsolationForest

    wide = readings.pivot_table(index=["station_id", "ts"], columns="parameter", values="value",
                                aggfunc="first", dropna=False)
    if wide.empty:
        return pd.DataFrame(columns=["station_id", "ts", "score"])
    x = wide.to_numpy(dtype=float)
    med = np.nanmedian(x, axis=0)
    x = np.where(np.isfinite(x), x, np.where(np.isfinite(med), med, 0.0))
    rng = np.random.default_rng(seed)
    fit_rows = x if len(x) <= max_fit_rows else x[rng.choice(len(x), max_fit_rows, replace=False)]
    model = IsolationForest(n_estimators=n_estimators, random_state=seed, n_jobs=1).fit(fit_rows)
    raw = -model.score_samples(x)
    score = raw - raw.min()
    out = wide.index.to_frame(index=False)
    out["score"] = score
    return out[["station_id", "ts", "score"]]


BASELINES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "rules": rules_scores,
    "buddy": buddy_scores,
    "stl": stl_scores,
    "iforest": iforest_scores,
}
