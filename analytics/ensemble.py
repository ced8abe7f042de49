"""Ensemble: turn each model's raw statistic into a calibrated tail probability on clean data,
combine them, and calibrate the combination again - so the final score means something.

Calibration (``fit_calibration``) runs the detectors on data taken as clean (real Beijing years
that the evaluation does not hold out) and records, per model, the fraction of readings with a
positive statistic and quantiles of the positive part. At scoring time a raw statistic ``x`` maps
to ``p = P_clean(stat >= x)``, expressed as *surprise* ``-log10 p`` (2 = rarer than 1 in 100
clean readings). Beyond the last recorded quantile the tail is extrapolated log-linearly, capped.

Combination: ``S = max_m (s_m + log10 w_m) + bonus * second largest``, where the bonus rewards
independent models agreeing. ``S`` is calibrated the same way, and the per-reading score is
``1 - P_clean(S' >= S)``: a score of 0.99 means "more suspicious than 99% of clean readings".
Thresholds for events are set on ``S`` from the false-event budget on clean data, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analytics.threads import by_stations, map_in_threads

PROBS = np.array([0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999])
MAX_SURPRISE = 9.0


@dataclass(frozen=True)
class TailCalibration:
    """Clean-data tail of one statistic: P(stat > 0) and quantiles of the positive part."""

    frac_positive: float
    quantiles: tuple[float, ...]  # values at PROBS of the positive part
    n: int

    def surprise(self, x: np.ndarray) -> np.ndarray:
        """-log10 P_clean(stat >= x); 0 for x <= 0."""
        x = np.asarray(x, dtype=float)
        pos = x > 0
        if pos.mean() < 0.5:  # most models are silent on most readings: evaluate only where they speak
            out = np.zeros(x.shape)
            out[pos] = self._surprise_positive(x[pos])
            return out
        return np.where(pos, self._surprise_positive(x), 0.0)

    def rarity(self, x: np.ndarray) -> np.ndarray:
        """-log10 P_clean(stat >= x) without the ``MAX_SURPRISE`` cap: the tail's log-linear
        extrapolation keeps growing, so the strongest cases stay ordered (a graded figure for
        ranking events; the capped surprise feeds the 0-1 score)."""
        x = np.asarray(x, dtype=float)
        return np.where(x > 0, self._surprise_positive(x, cap=np.inf), 0.0)

    def _surprise_positive(self, x: np.ndarray, cap: float = MAX_SURPRISE) -> np.ndarray:
        q = np.maximum.accumulate(np.asarray(self.quantiles, dtype=float))
        fp = max(self.frac_positive, 1.0 / max(self.n, 1))
        # survival of the positive part at each quantile, floor at 1/n
        surv = np.maximum(1.0 - PROBS, 0.5 / max(self.n * fp, 1.0))
        logp = np.log10(fp) + np.log10(surv)
        # make strictly increasing x for interpolation
        qx = q + np.arange(len(q)) * 1e-12
        s = np.asarray(-np.interp(x, qx, logp), dtype=float)
        slope = (logp[-2] - logp[-1]) / max(qx[-1] - qx[-2], 1e-9)
        # the extrapolation only where it applies (past the last quantile: a few cells in 10,000),
        # and the tail in place - a third of the CPU of computing it everywhere and selecting
        far = np.asarray(x > qx[-1])
        if far.any():
            s[far] = -logp[-1] + (x[far] - qx[-1]) * slope
        np.nan_to_num(s, copy=False, posinf=1e6)
        np.clip(s, 0.0, cap, out=s)
        return s if s.ndim else s[()]

    def to_dict(self) -> dict:
        return {"frac_positive": self.frac_positive, "quantiles": list(self.quantiles), "n": self.n}

    @classmethod
    def from_dict(cls, d: dict) -> TailCalibration:
        return cls(float(d["frac_positive"]), tuple(float(v) for v in d["quantiles"]), int(d["n"]))


def fit_tail(stat: np.ndarray, mask: np.ndarray | None = None) -> TailCalibration:
    """Tail calibration from clean-data statistics (``mask`` selects the cells that count)."""
    x = np.asarray(stat, dtype=float)
    if mask is not None:
        x = x[mask]
    x = x[np.isfinite(x)]
    n = int(x.size)
    pos = x[x > 0]
    if n == 0 or pos.size == 0:
        return TailCalibration(0.0, tuple([1.0] * len(PROBS)), max(n, 1))
    qs = np.quantile(pos, PROBS)
    return TailCalibration(float(pos.size / n), tuple(float(v) for v in qs), n)


#: marks a settings field set from the fitted files (calibration JSON, combiners), never from a TOML
FITTED = {"fitted": True}


@dataclass
class EnsembleSettings:
    """The ``[ensemble]`` section of a pipeline TOML (its knobs, defaults here and nowhere else) plus
    what the fitted files install (the ``fitted`` fields). The shipped values were tuned on the
    development split only."""

    weights: dict[str, float] = field(default_factory=dict)  # model -> weight (default 1)
    second_bonus: float = 0.5  # share of the second-strongest model's surprise added (models agreeing)
    peak_level: float = 3.0  # station-hour surprise that opens a suspicious run
    # added to the strongest reading of each run: the alarm budget is spent per case, not per hour
    peak_bonus: float = 5.0
    full_bonus_h: int = 8  # runs this long or longer get the whole peak bonus
    extreme_level: float = 5.0  # ... and so does any run whose peak surprise reaches this
    # centred rolling mean of the station-hour surprise (0 = off): lasting evidence outranks a lone odd hour
    persistence_window_h: int = 25
    persistence_weight: float = 1.5
    persistence_cap: float = 7.8  # below peak_level + peak_bonus (8): run peaks stay on top of the ranking
    # models ranked among their own positives in each run: HJ 212 flags never occur in the clean air
    # calibration data
    self_calibrate: tuple[str, ...] = ("flag_abuse",)
    calibration: dict[str, TailCalibration] = field(default_factory=dict, metadata=FITTED)  # model -> clean tail
    combined: TailCalibration | None = field(default=None, metadata=FITTED)
    # analytics.stacking.LearnedCombiner per network: orders the readings under the alarm tier
    combiners: tuple = field(default=(), metadata=FITTED)
    # combined surprise of the clean data's top 1% station-hours
    alarm_level: float | None = field(default=None, metadata=FITTED)


def model_surprise(raw: dict[str, np.ndarray], settings: EnsembleSettings,
                   fallback_mask: np.ndarray | None = None,
                   uncalibrated_params: np.ndarray | None = None,
                   parameters: tuple[str, ...] | None = None, threads: int = 1) -> dict[str, np.ndarray]:
    """Surprise per model (see module doc). ``uncalibrated_params`` (bool per parameter, last axis)
    marks parameters of networks the clean calibration data did not cover (e.g. CEMS when
    calibrated on air): their cells are calibrated on the data at hand, per model. ``parameters``
    (names along the last axis) selects per-parameter tails where the calibration has them.
    ``threads``: models calibrated at once (each model's surprise is its own: the same bits)."""
    sel = None if uncalibrated_params is None or not np.any(uncalibrated_params) \
        else np.asarray(uncalibrated_params, dtype=bool)

    def one(name: str) -> np.ndarray:
        s = _one_model_surprise(name, raw[name], settings, fallback_mask, parameters)
        if sel is None or name in settings.self_calibrate:
            return s
        sub = raw[name][..., sel]
        mask = None if fallback_mask is None else fallback_mask[..., sel]
        s = s.copy()
        s[..., sel] = fit_tail(sub, mask).surprise(sub)
        return s

    return dict(zip(raw, map_in_threads(one, list(raw), threads), strict=True))


def parameter_key(model: str, parameter: str) -> str:
    """Calibration key of one model's tail on one parameter (``model|parameter``)."""
    return f"{model}|{parameter}"


def _one_model_surprise(name: str, x: np.ndarray, settings: EnsembleSettings,
                        fallback_mask: np.ndarray | None = None,
                        parameters: tuple[str, ...] | None = None) -> np.ndarray:
    """Surprise of one model's statistic ``x``. A model without stored calibration is calibrated
    on the data at hand (self-calibration, documented: assumes most readings are clean)."""
    cal = settings.calibration.get(name)
    if name in settings.self_calibrate:
        # models the clean calibration data cannot exercise (HJ 212 flags on an air network): rank
        # each positive against the other positives of the same run - a routine maintenance flag
        # at low load is ordinary among flags, one over an emission peak is not
        cal = fit_tail(x, x > 0)
        cal = TailCalibration(1.0, cal.quantiles, cal.n)
    elif cal is None:
        cal = fit_tail(x, fallback_mask)
    out = cal.surprise(x)
    if parameters is None or name in settings.self_calibrate:
        return out
    # per-parameter tails: "1 in 100 clean readings" then holds for SO2 as for PM2.5, so the max
    # over a station's parameters does not favour the parameter with the heaviest tail
    for i, p in enumerate(parameters):
        cal_p = settings.calibration.get(parameter_key(name, p))
        if cal_p is not None:
            out[..., i] = cal_p.surprise(x[..., i])
    return out


def combine(surprise: dict[str, np.ndarray], settings: EnsembleSettings, threads: int = 1) -> np.ndarray:
    """S = max weighted surprise + bonus x second largest (cells x models -> cells); ``threads``:
    station chunks combined at once (cell by cell: the same bits)."""
    names = list(surprise)
    if not names:
        raise ValueError("no model outputs to combine")
    shifts = {n: np.log10(max(settings.weights.get(n, 1.0), 1e-6)) for n in names}

    def part(rows: slice) -> np.ndarray:
        first = np.zeros(surprise[names[0]][rows].shape, dtype=np.float64)
        second = np.zeros_like(first)
        for n in names:
            x = np.clip(surprise[n][rows] + shifts[n], 0, None)
            second = np.maximum(second, np.minimum(first, x))
            first = np.maximum(first, x)
        return first + settings.second_bonus * second

    return by_stations(part, surprise[names[0]].shape[0], threads)


def final_score(combined: np.ndarray, settings: EnsembleSettings,
                fallback_mask: np.ndarray | None = None) -> np.ndarray:
    """Per-reading score in [0, 1]: 1 - P_clean(S >= s)."""
    cal = settings.combined or fit_tail(combined, fallback_mask)
    return 1.0 - 10.0 ** (-cal.surprise(combined))


def emphasise_peaks(combined: np.ndarray, settings: EnsembleSettings,
                    runs_from: np.ndarray | None = None) -> np.ndarray:
    """Add ``peak_bonus`` to the strongest reading of each suspicious run (station-hours with
    surprise >= ``peak_level``, per station).

    Why: an analyst's alarm budget is spent per case, not per hour. Without this, one long
    episode (a month of drift) fills the whole budget with its hours while a short spike
    elsewhere goes unseen; with it, every run's peak ranks first, then the rest by evidence.
    The combined calibration is fitted after this step, so scores stay calibrated.
    """
    if settings.peak_bonus <= 0:
        return combined
    out = combined.copy()
    base = combined if runs_from is None else runs_from  # runs and peaks come from the instant evidence
    sh = np.max(base, axis=2)
    mask = sh >= settings.peak_level
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    for s in range(mask.shape[0]):
        starts = np.nonzero(d[s] == 1)[0]
        ends = np.nonzero(d[s] == -1)[0]
        if not len(starts):
            continue
        # per-run argmax via reduceat on the station's series
        seg_max_t = [a + int(np.argmax(sh[s, a:b])) for a, b in zip(starts, ends, strict=True)]
        t = np.array(seg_max_t)
        p = np.argmax(base[s, t, :], axis=1)
        # interference lasts: a lone odd hour gets half the bonus, a run of >= full_bonus_h hours all of it
        length = (ends - starts).astype(float)
        share = np.clip(0.5 + 0.5 * np.log2(length) / np.log2(max(settings.full_bonus_h, 2)), 0.5, 1.0)
        share = np.where(base[s, t, p] >= settings.extreme_level, 1.0, share)  # ... unless it is extreme
        out[s, t, p] = np.maximum(out[s, t, p], base[s, t, p] + settings.peak_bonus * share)
    return out


def add_persistence(combined: np.ndarray, settings: EnsembleSettings) -> np.ndarray:
    """Raise every reading of a station-hour to ``weight x`` the centred rolling mean of the
    station-hour surprise (max over parameters, capped at ``persistence_cap``) when that is larger.

    Why: interference lasts (hours to weeks) while the real data's own oddities are mostly
    isolated hours; a moderate but persistent signal (a drift, a held clip) should outrank a lone
    noisy hour. Calibrated afterwards like everything else.
    """
    w = int(settings.persistence_window_h)
    if w <= 1:
        return combined
    from analytics.detectors.base import nan_rolling_mean

    sh = np.max(combined, axis=2)
    persist = settings.persistence_weight * nan_rolling_mean(sh, w, axis=1, min_count=max(1, w // 3))
    # capped at the run level: persistence orders the middle of the ranking (AP), while the top of it
    # (the alarm budget) stays with the peaks of suspicious runs
    persist = np.minimum(np.nan_to_num(persist), settings.persistence_cap)
    return np.maximum(combined, persist[:, :, None])
