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
years with injected interference (``envtrust.evaluation.combiner``), every altered reading
weighted alike (see :func:`fit_combiner`).

:func:`tiered_surprise` puts it together with the ensemble: readings whose combined surprise
reaches the alarm level (calibrated on clean data to the 1% alarm budget) keep their place on
top, everything below is ordered by the learned combiner and mapped under the alarm level, so the
final score is still calibrated on clean data afterwards and the alarm tier is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from analytics.threads import by_stations

KNOTS = (0.5, 1.0, 2.0, 3.0, 4.5, 6.0)  # on the surprise scale (-log10 clean tail probability)
WINDOWS_H = (7, 25, 73, 241)  # centred rolling means: hours, a day, three days, ten days
MAX_SURPRISE = 9.0
CURVE_END = 1000.0  # the piecewise-linear curves are exact up to here (surprises stay under ~14)


def feature_arrays(surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray,
                   wanted: set[str] | None = None, parameters: np.ndarray | None = None,
                   skip_silent: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) for every combiner feature, one at a time (bounded memory). Arrays are shaped
    like the panel [S, T, P], or [S, T, 1] for station-hour features (broadcast against it).

    ``surprise``: per-model surprise [S, T, P]; ``plain``: the ensemble's combined surprise;
    ``scored``: cells that carry a score (valid readings and gaps the outage model speaks for);
    ``wanted``: only these features (None: all) - the rolling means of a model none of whose
    windows is wanted are not computed (they are most of the combiner's cost). ``parameters``
    (bool per parameter, last axis; None: all): the per-cell features of these parameters only,
    [S, T, chosen] - the station-hour features still read every parameter, so the values are
    those of the whole panel's features on the chosen parameters. ``skip_silent``: a model whose
    surprise is 0 on every cell yields none of its features (all of them are 0 there).
    """
    def want(name: str) -> bool:
        return wanted is None or name in wanted

    def windows(name: str) -> tuple[int, ...]:
        return tuple(w for w in WINDOWS_H if want(f"{name}@mean_{w}h"))

    cells = scored if parameters is None else scored[..., parameters]
    cell_counts: dict[tuple[int, ...], list] = {}  # windows' counts of ``cells``, shared by the models 0 outside them
    for name in sorted(surprise):
        s = np.asarray(surprise[name], dtype=np.float64)
        # x = clip(nan_to_num(s), 0, MAX_SURPRISE) is nonzero exactly where s > 0
        if skip_silent and not (s > 0).any():
            continue
        own = clipped_surprise(s if parameters is None else s[..., parameters])
        if want(name):
            yield name, own
        if want(f"{name}@station_hour"):
            # the max over every parameter of the clipped surprise, = the clipped max (NaN ignored)
            yield f"{name}@station_hour", clipped_surprise(np.fmax.reduce(s, axis=2, keepdims=True))
        if ws := windows(name):
            speaks = own > 0
            if (speaks & ~cells).any():  # a model speaking outside the scored cells counts those too
                means = rolling_means(own, cells | speaks, ws)
            else:
                if ws not in cell_counts:
                    cell_counts[ws] = window_counts(cells, ws)
                means = rolling_means(own, cells, ws, counts=cell_counts[ws])
            for w, m in zip(ws, means, strict=True):
                yield f"{name}@mean_{w}h", m
    sh = np.clip(np.max(np.nan_to_num(plain), axis=2, keepdims=True), 0.0, None)
    if want("combined@station_hour"):
        yield "combined@station_hour", sh
    if ws := windows("combined"):
        for w, m in zip(ws, rolling_means(sh, np.ones(sh.shape, dtype=bool), ws), strict=True):
            yield f"combined@mean_{w}h", m


def clipped_surprise(s: np.ndarray) -> np.ndarray:
    """``clip(nan_to_num(s), 0, MAX_SURPRISE)`` as a new array (NaN -> 0), the features' scale."""
    x = np.nan_to_num(s)  # a copy: the caller's surprise stays as it is
    return np.clip(x, 0.0, MAX_SURPRISE, out=x)


def _padding(windows: tuple[int, ...]) -> tuple[int, int]:
    """Hours before and after the series that centred windows of these lengths reach."""
    return max(w // 2 for w in windows) + 1, max(w - w // 2 - 1 for w in windows)


def _padded_cumsum(x: np.ndarray, counted: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """Cumulative sum along time (axis 1) of ``x`` on the ``counted`` cells (0 elsewhere), the
    series padded with ``pad`` zeros before and after."""
    pad_lo, pad_hi = pad
    buf = np.zeros((x.shape[0], x.shape[1] + pad_lo + pad_hi, *x.shape[2:]))
    np.copyto(buf[:, pad_lo:pad_lo + x.shape[1]], x, where=counted)
    return np.cumsum(buf, axis=1)


def _window_edges(w: int, T: int, pad_lo: int) -> tuple[int, int]:
    """Indices of the padded cumulative sum just before and at the end of a centred window of ``w`` hours."""
    w = max(1, min(int(w), T))
    lo = pad_lo - w // 2 - 1
    return lo, lo + w


def window_counts(counted: np.ndarray, windows: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per window: the divisor of a centred rolling mean over the ``counted`` cells (their number,
    at least 1) and where the window holds none. Why apart: most models count the same cells
    (the scored ones), so their windows' counts are computed once per combiner run."""
    pad = _padding(windows)
    cn = _padded_cumsum(counted.astype(np.float64), np.True_, pad)
    T, out = counted.shape[1], []
    for w in windows:
        lo, hi = _window_edges(w, T, pad[0])
        n = cn[:, hi:hi + T] - cn[:, lo:lo + T]
        empty = ~(n > 0.5)
        out.append((np.maximum(n, 1.0, out=n), empty))
    return out


def rolling_means(x: np.ndarray, counted: np.ndarray, windows: tuple[int, ...],
                  counts: list[tuple[np.ndarray, np.ndarray]] | None = None) -> list[np.ndarray]:
    """Centred rolling means along time (axis 1) of ``x`` over the ``counted`` cells, for several
    windows from one pair of cumulative sums (0 where a window holds no counted cell).
    ``counts``: :func:`window_counts` of ``counted`` for these windows, when already computed."""
    T = x.shape[1]
    pad = _padding(windows)
    cs = _padded_cumsum(x, counted, pad)
    out = []
    for w, (divisor, empty) in zip(windows, counts or window_counts(counted, windows), strict=True):
        lo, hi = _window_edges(w, T, pad[0])
        total = cs[:, hi:hi + T] - cs[:, lo:lo + T]
        total /= divisor
        total[empty] = 0.0
        out.append(total)
    return out


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
        cols.append(hinge_basis(np.broadcast_to(arr, rows.shape)[rows]))
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
    networks: tuple[str, ...] = ("air",)  # parameter networks (analytics.vocabulary) it orders
    alarm: str = "calibrated"  # alarm level from the clean calibration, or "in_run" (self-calibrated networks)
    # analytics.pipeline.config.fit_fingerprint of the detectors and panel whose surprises it was fitted on
    fingerprint: str = ""

    def logit(self, surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray,
              parameters: np.ndarray | None = None) -> np.ndarray:
        """Log-odds of interference per cell [S, T, P], accumulated feature by feature; each
        feature's hinge sum is one piecewise-linear curve, evaluated by interpolation.
        ``parameters`` (bool per parameter): of these parameters only, [S, T, chosen]."""
        if tuple(float(k) for k in self.knots) != tuple(float(k) for k in KNOTS):
            raise ValueError("combiner was fitted with other knots; refit it")
        known = {n: i for i, n in enumerate(self.features)}
        shape = plain.shape if parameters is None else (*plain.shape[:2], int(np.count_nonzero(parameters)))
        out = np.full(shape, self.intercept, dtype=np.float64)
        # a feature whose curve is 0 everywhere (all coefficients 0) adds nothing: not computed
        used = {n for n, c in zip(self.features, self.coef, strict=True) if np.any(c != 0)}
        # a silent model's features are all 0, where every curve is 0 (+0.0 at its first breakpoint)
        for name, arr in feature_arrays(surprise, plain, scored, wanted=used, parameters=parameters, skip_silent=True):
            i = known.get(name)
            if i is None:
                continue  # a model the combiner never saw adds nothing (it still counts in the ensemble)
            xp, fp = self.curve(i)
            out += np.interp(arr, xp, fp)
        return out

    def curve(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Breakpoints and values of feature i's contribution c0 x + sum_k c_k max(x - knot_k, 0);
        exact for 0 <= x <= CURVE_END (features are surprises and their means, all far below)."""
        xp = np.array([0.0, *self.knots, CURVE_END])
        c = self.coef[i]
        fp = c[0] * xp + sum(c[k + 1] * np.maximum(xp - knot, 0.0) for k, knot in enumerate(self.knots))
        return xp, fp

    def to_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "networks": list(self.networks), "alarm": self.alarm,
                "fitted_on": self.fitted_on,
                "features": list(self.features), "knots": list(self.knots), "intercept": float(self.intercept),
                "coef": [[round(float(v), 6) for v in row] for row in self.coef]}

    @classmethod
    def from_dict(cls, d: dict) -> LearnedCombiner:
        return cls(tuple(d["features"]), np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]),
                   tuple(float(k) for k in d["knots"]), str(d.get("fitted_on", "")),
                   tuple(d.get("networks", ("air",))), str(d.get("alarm", "calibrated")),
                   str(d.get("fingerprint", "")))


def fit_combiner(design: np.ndarray, names: list[str], positive: np.ndarray, kind: np.ndarray,
                 negative_weight: float = 1.0, c: float = 0.1, fitted_on: str = "",
                 networks: tuple[str, ...] = ("air",), alarm: str = "calibrated",
                 kind_balance: float = 0.0, fingerprint: str = "") -> LearnedCombiner:
    """Fit the combiner on design rows labelled ``positive`` (reading altered by interference).

    ``kind_balance`` sets how each kind's altered readings are weighted: 0 = every reading alike
    (a month of drift outweighs a 2-hour spike - what an hour-level ranking is judged on), 1 = every
    kind the same total weight. 0 is the default: the combiner orders only the readings under the
    alarm tier, and the tier alone decides which cases reach the analyst's alarm budget, so the
    short kinds keep their recall while the long ones get graded well (development split: AP
    0.443 -> 0.465 and 0.403 -> 0.436 on two injection seeds, recall@1% unchanged, 0.5 in between).
    ``negative_weight`` undoes a subsampling of the negatives (1 / the share kept). ``fingerprint``:
    the pipeline's ``fit_fingerprint``, recorded so a pipeline whose detectors changed refuses it.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(positive, dtype=bool)
    w = np.where(y, kind_weights(y, np.asarray(kind), kind_balance), float(negative_weight))
    model = LogisticRegression(max_iter=400, C=c).fit(design, y, sample_weight=w)
    coef = model.coef_[0].reshape(len(names), 1 + len(KNOTS))
    return LearnedCombiner(tuple(names), coef, float(model.intercept_[0]), KNOTS, fitted_on, tuple(networks), alarm,
                           fingerprint)


def kind_weights(positive: np.ndarray, kind: np.ndarray, balance: float) -> np.ndarray:
    """Weight of each positive row: proportional to (its kind's positive count) ** -balance, scaled so
    the positives' total weight equals their count (0 for negative rows)."""
    w = np.zeros(positive.shape, dtype=float)
    kinds, counts = np.unique(kind[positive], return_counts=True)
    raw = {q: float(n) ** -float(balance) for q, n in zip(kinds, counts, strict=True)}
    total = sum(raw[q] * n for q, n in zip(kinds, counts, strict=True))
    for q in kinds:
        w[positive & (kind == q)] = raw[q] * positive.sum() / total
    return w


def tiered_surprise(combined: np.ndarray, logit: np.ndarray, alarm_level: float) -> np.ndarray:
    """Alarm tier on top, learned order below: cells at or above ``alarm_level`` keep ``combined``;
    the others get ``alarm_level x sigmoid(logit)`` (strictly below the alarm level, monotone in the
    learned log-odds)."""
    below = alarm_level / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0)))
    return np.where(np.nan_to_num(combined) >= alarm_level, combined, below)


def learned_order(combined: np.ndarray, surprise: dict[str, np.ndarray], plain: np.ndarray, scored: np.ndarray,
                  combiners, alarm_level: float | None, param_networks, threads: int = 1) -> np.ndarray:
    """The ensemble's combined surprise with the learned order under the alarm tier (see
    :func:`tiered_surprise`), per combiner on the parameters of its networks (``param_networks``:
    the network of each parameter, last axis). A combiner with ``alarm == "calibrated"`` uses the
    clean calibration's ``alarm_level`` (skipped when there is none); an ``in_run`` one (networks the
    clean calibration does not cover, whose surprises are self-calibrated per run) takes the level
    of the run's own top 1% station-hours. ``threads``: station chunks whose log-odds are computed
    at once (every feature is per station: the same bits for any number)."""
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
        # the combiner's own parameters only (the demo's air panel carries as many met ones)
        def logit_of(part: slice, comb=comb, sel=sel) -> np.ndarray:
            return comb.logit({n: a[part] for n, a in surprise.items()}, plain[part], scored[part], parameters=sel)

        tiered = tiered_surprise(combined[..., sel], by_stations(logit_of, combined.shape[0], threads), level)
        out = np.array(out, dtype=np.result_type(out, tiered))
        out[..., sel] = tiered
    return out


def alarm_level_at_budget(combined: np.ndarray, scored: np.ndarray, budget: float = 0.01) -> float:
    """Station-hour combined surprise exceeded by ``budget`` of the (clean) station-hours with a score."""
    sh = np.max(np.where(scored, np.nan_to_num(combined), 0.0), axis=2)
    has = scored.any(axis=2)
    return float(np.quantile(sh[has], 1.0 - budget)) if has.any() else float("inf")
