"""Learned combiner: grade the middle of the ranking with a model learned from injected interference.

Why: the hand-built ensemble (max of calibrated model surprises + peak bonus, see
:mod:`analytics.ensemble`) puts the strongest hour of every suspicious run at the top, which is
what an analyst's alarm budget needs (one case, one alarm). Below that top tier its ordering is
poor: a clean hour where one of 18 models happens to be in its tail outranks the 200th hour of a
clipping episode. A model that has seen labelled interference learns which combinations of model
surprises, held over which time scales, mean interference.

The model is deliberately simple and portable: logistic regression on a piecewise-linear (hinge)
basis of each model's surprise, of that surprise's rolling means over 7 h .. 10 days, and of the
station-hour context - an additive model whose coefficients are plain numbers in JSON (no pickled
estimator, so any scikit-learn version, or none, can score). It is fitted ONLY on the development
years with injected interference (``analytics.evaluation.combiner``), each kind weighted equally.

:func:`tiered_surprise` puts it together with the ensemble: readings whose combined surprise
reaches the alarm level (calibrated on clean data to the 1% alarm budget) keep their place on
top, everything below is ordered by the learned combiner and mapped under the alarm level, so the
final score is still calibrated on clean data afterwards and the alarm tier is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from analytics.detectors.base import nan_rolling_mean

KNOTS = (0.5, 1.0, 2.0, 3.0, 4.5, 6.0)  # on the surprise scale (-log10 clean tail probability)
WINDOWS_H = (7, 25, 73, 241)  # centred rolling means: hours, a day, three days, ten days
MAX_SURPRISE = 9.0


def feature_arrays(surprise: dict[str, np.ndarray], plain: np.ndarray,
                   scored: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array shaped like the panel) for every combiner feature, one at a time (bounded memory).

    ``surprise``: per-model surprise [S, T, P]; ``plain``: the ensemble's combined surprise;
    ``scored``: cells that carry a score (valid readings and gaps the outage model speaks for).
    """
    for name in sorted(surprise):
        x = np.clip(np.nan_to_num(np.asarray(surprise[name], dtype=np.float64)), 0.0, MAX_SURPRISE)
        yield name, x
        yield f"{name}@station_hour", np.broadcast_to(x.max(axis=2)[:, :, None], x.shape)
        xv = np.where(scored | (x > 0), x, np.nan)
        for w in WINDOWS_H:
            yield f"{name}@mean_{w}h", np.nan_to_num(nan_rolling_mean(xv, w, axis=1, min_count=1))
    sh = np.clip(np.max(np.nan_to_num(plain), axis=2), 0.0, None)
    yield "combined@station_hour", np.broadcast_to(sh[:, :, None], plain.shape)
    for w in WINDOWS_H:
        yield f"combined@mean_{w}h", np.broadcast_to(
            np.nan_to_num(nan_rolling_mean(sh, w, axis=1, min_count=1))[:, :, None], plain.shape)


def hinge_basis(x: np.ndarray) -> np.ndarray:
    """[n] -> [n, 1 + len(KNOTS)]: x and max(x - knot, 0) for each knot (a piecewise-linear curve)."""
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([x[:, None], np.maximum(x[:, None] - np.asarray(KNOTS, dtype=np.float32)[None, :], 0)],
                          axis=1)


def design_rows(surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray,
                rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Design matrix for the cells selected by the boolean cube ``rows`` (for fitting)."""
    cols, names = [], []
    for name, arr in feature_arrays(surprise, plain, scored):
        cols.append(hinge_basis(arr[rows]))
        names.append(name)
    return np.concatenate(cols, axis=1), names


@dataclass(frozen=True)
class LearnedCombiner:
    """An additive logistic model on hinge bases of the features (see module doc)."""

    features: tuple[str, ...]
    coef: np.ndarray  # [n_features, 1 + len(KNOTS)]
    intercept: float
    knots: tuple[float, ...] = KNOTS
    fitted_on: str = ""
    networks: tuple[str, ...] = ("air",)  # parameter networks (data.parameters) it orders
    alarm: str = "calibrated"  # alarm level from the clean calibration, or "in_run" (self-calibrated networks)

    def logit(self, surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray) -> np.ndarray:
        """Log-odds of interference per cell [S, T, P], accumulated feature by feature."""
        if tuple(float(k) for k in self.knots) != tuple(float(k) for k in KNOTS):
            raise ValueError("combiner was fitted with other knots; refit it")
        known = {n: i for i, n in enumerate(self.features)}
        out = np.full(plain.shape, self.intercept, dtype=np.float64)
        seen = set()
        for name, arr in feature_arrays(surprise, plain, scored):
            i = known.get(name)
            if i is None:
                continue  # a model the combiner never saw adds nothing (it still counts in the ensemble)
            seen.add(name)
            c = self.coef[i]
            out += c[0] * arr
            for k, knot in enumerate(self.knots):
                if c[k + 1] != 0.0:
                    out += c[k + 1] * np.maximum(arr - knot, 0.0)
        return out

    def to_dict(self) -> dict:
        return {"networks": list(self.networks), "alarm": self.alarm, "fitted_on": self.fitted_on,
                "features": list(self.features), "knots": list(self.knots), "intercept": float(self.intercept),
                "coef": [[round(float(v), 6) for v in row] for row in self.coef]}

    @classmethod
    def from_dict(cls, d: dict) -> LearnedCombiner:
        return cls(tuple(d["features"]), np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]),
                   tuple(float(k) for k in d["knots"]), str(d.get("fitted_on", "")),
                   tuple(d.get("networks", ("air",))), str(d.get("alarm", "calibrated")))


def fit_combiner(design: np.ndarray, names: list[str], positive: np.ndarray, kind: np.ndarray,
                 negative_weight: float = 1.0, c: float = 0.1, fitted_on: str = "",
                 networks: tuple[str, ...] = ("air",), alarm: str = "calibrated") -> LearnedCombiner:
    """Fit the combiner on design rows labelled ``positive`` (reading altered by interference).

    Every kind gets the same total weight (a 2-hour spike counts as much as a month of drift);
    ``negative_weight`` undoes a subsampling of the negatives (1 / the share kept).
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(positive, dtype=bool)
    k = np.asarray(kind)
    w = np.where(y, 0.0, float(negative_weight))
    kinds = list(np.unique(k[y]))
    for q in kinds:
        m = y & (k == q)
        w[m] = (y.sum() / len(kinds)) / m.sum()
    model = LogisticRegression(max_iter=400, C=c).fit(design, y, sample_weight=w)
    coef = model.coef_[0].reshape(len(names), 1 + len(KNOTS))
    return LearnedCombiner(tuple(names), coef, float(model.intercept_[0]), KNOTS, fitted_on, tuple(networks), alarm)


def tiered_surprise(combined: np.ndarray, logit: np.ndarray, alarm_level: float) -> np.ndarray:
    """Alarm tier on top, learned order below: cells at or above ``alarm_level`` keep ``combined``;
    the others get ``alarm_level x sigmoid(logit)`` (strictly below the alarm level, monotone in the
    learned log-odds)."""
    below = alarm_level / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0)))
    return np.where(np.nan_to_num(combined) >= alarm_level, combined, below)


def learned_order(combined: np.ndarray, surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray,
                  combiners, alarm_level: float | None, param_networks) -> np.ndarray:
    """The ensemble's combined surprise with the learned order under the alarm tier (see
    :func:`tiered_surprise`), per combiner on the parameters of its networks (``param_networks``:
    the network of each parameter, last axis). A combiner with ``alarm == "calibrated"`` uses the
    clean calibration's ``alarm_level`` (skipped when there is none); an ``in_run`` one (networks the
    clean calibration does not cover, whose surprises are self-calibrated per run) takes the level
    of the run's own top 1% station-hours."""
    out = combined
    nets = np.asarray(list(param_networks), dtype=object)
    for comb in combiners or ():
        sel = np.isin(nets, list(comb.networks))
        if not sel.any():
            continue
        if comb.alarm == "in_run":
            level = alarm_level_at_budget(combined[..., sel], scored[..., sel])
        elif alarm_level is None:
            continue
        else:
            level = float(alarm_level)
        tiered = tiered_surprise(combined, comb.logit(surprise, plain, scored), level)
        out = np.where(sel[None, None, :], tiered, out)
    return out


def alarm_level_at_budget(combined: np.ndarray, scored: np.ndarray, budget: float = 0.01) -> float:
    """Station-hour combined surprise exceeded by ``budget`` of the (clean) station-hours with a score."""
    sh = np.max(np.where(scored, np.nan_to_num(combined), 0.0), axis=2)
    has = scored.any(axis=2)
    return float(np.quantile(sh[has], 1.0 - budget)) if has.any() else float("inf")
