"""Clean-data calibration: fit each model's tail, the combined tail, the alarm level and the event
thresholds on data taken as clean (:func:`calibrate`); the result is the pipeline's
``<name>.calibration.json``, stamped with the fingerprint of the detectors it was fitted for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.detectors.base import OPENER_STATISTICS
from analytics.detectors.donor import PAIR_COPY, SMOOTH_BEYOND
from analytics.ensemble import (
    TailCalibration,
    add_persistence,
    combine,
    emphasise_peaks,
    fit_tail,
    model_surprise,
    parameter_key,
)
from analytics.events import COMBINED_OPENER, fit_event_rate_tail
from analytics.pipeline.config import Pipeline, fit_fingerprint
from analytics.pipeline.load import FITTED_KINDS, load_pipeline
from analytics.pipeline.run import (
    context_parameters,
    event_surprise,
    param_networks,
    run_models,
    scoring_surprise,
    uses_parameter_tails,
)
from analytics.pipeline.thresholds import OWN_EVENT_BUDGET_SHARE, clean_event_thresholds, event_threshold
from analytics.stacking import alarm_level_at_budget, learned_order

# models that may open an event on their own, and the share of the false-event budget each gets
OWN_EVENT_MODELS = ("outage",)
#: opener statistics that are no model (``panel.cache[OPENER_STATISTICS]``) -> the share of the
#: false-event budget each gets on top of the combined opener's, and the thresholds tried on it
OPENER_BUDGET_SHARES = {PAIR_COPY: 0.3, SMOOTH_BEYOND: 0.3}
#: both are log ratios above the station's (pair's) own history (0 = as far as it ever went)
LOG_RATIO_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(3.0, 0.09, -0.05), 2))
OPENER_THRESHOLD_GRIDS = {PAIR_COPY: LOG_RATIO_THRESHOLDS, SMOOTH_BEYOND: LOG_RATIO_THRESHOLDS}
ALARM_BUDGET = 0.01  # share of clean station-hours above the alarm level (issue 3's 1% budget)
#: false-event budgets (events per station-month on the clean data) the calibration keeps event
#: thresholds for: the operating point follows the analysts' capacity by picking one
CAPACITY_BUDGETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
#: events per station-month the self-calibrated networks' openers together may open on their clean
#: data: half the honest-network target (issue 10: <= 0.1 suspected-interference events per
#: station-month), because one honest network's rate differs from another's - fitted at 0.1 on the
#: clean seed, the development split's honest outlets read 0.134 (seed 0) and its sections 0.100
CLEAN_EVENTS_PER_STATION_MONTH = 0.05


def calibrate(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
              false_events_per_station_month: float = 0.1) -> dict:
    """Clean-data calibration: per-model tails, the combined tail, and the event threshold that
    yields at most ``false_events_per_station_month`` events on this (assumed clean) data."""
    pipe = load_pipeline(pipeline, refit=FITTED_KINDS) if isinstance(pipeline, (str, Path)) else pipeline
    pipe.ensemble.calibration = {}
    pipe.ensemble.combined = None
    panel, _, _, raw = run_models(readings, stations, pipe)
    valid = np.isfinite(panel.values)
    models = {}
    per_parameter = pipe.per_parameter_models(raw)
    for m, x in raw.items():
        # missing-data models (outage) are calibrated on the missing cells, the rest on valid ones
        mask = ~valid if m == "outage" else valid
        if m == "outage":
            models[m] = _outage_tail(x, mask, valid)
        else:
            models[m] = fit_tail(x, mask)
        if m in per_parameter:
            models.update(_parameter_tails(m, x, mask, valid, panel.parameters))
    pipe.ensemble.calibration = models
    surprise = model_surprise(raw, pipe.ensemble,
                              parameters=panel.parameters if uses_parameter_tails(pipe, False) else None)
    plain = combine(surprise, pipe.ensemble)
    combined = emphasise_peaks(add_persistence(plain, pipe.ensemble), pipe.ensemble, runs_from=plain)
    scored = valid | (raw.get("outage", np.zeros(1)) > 0)
    # the alarm tier: the clean data's top 1% of station-hours (the analyst's alarm budget); under it
    # the learned combiner (if the pipeline has one) orders the readings
    alarm_level = alarm_level_at_budget(combined, scored, ALARM_BUDGET)
    pipe.ensemble.alarm_level = alarm_level
    features = surprise if uses_parameter_tails(pipe, False) else model_surprise(raw, pipe.ensemble,
                                                                                 parameters=panel.parameters)
    combined = learned_order(combined, features, plain, scored, pipe.ensemble.combiners, alarm_level,
                             param_networks(panel.parameters))
    comb_tail = fit_tail(combined, scored)
    sh = np.max(plain, axis=2)
    station_months = sh.shape[0] * sh.shape[1] / (24 * 30.44)
    threshold = event_threshold(sh, pipe.events, station_months, false_events_per_station_month)
    own = {m: np.max(surprise[m], axis=2) for m in OWN_EVENT_MODELS if m in surprise}
    model_thr = {m: event_threshold(x, pipe.events, station_months,
                                    false_events_per_station_month * OWN_EVENT_BUDGET_SHARE) for m, x in own.items()}
    openers = panel.cache.get(OPENER_STATISTICS, {})
    model_thr.update(opener_thresholds(openers, pipe.events, station_months, false_events_per_station_month))
    rate_tails = event_rate_tails({COMBINED_OPENER: sh, **own, **{m: openers[m].values for m in openers
                                                                   if m in OPENER_BUDGET_SHARES}},
                                  pipe.events, station_months)
    return {"fingerprint": fit_fingerprint(pipe),
            "models": {m: t.to_dict() for m, t in models.items()}, "combined": comb_tail.to_dict(),
            "event_threshold": threshold, "model_event_thresholds": model_thr, "false_events_per_station_month": false_events_per_station_month,
            "event_thresholds_by_budget": thresholds_by_budget(sh, pipe.events, station_months),
            "station_months": station_months, "readings": int(valid.sum()), "alarm_level": alarm_level,
            "event_rate_tails": rate_tails}


def event_rate_tails(openers: dict[str, np.ndarray], ev, station_months: float) -> dict[str, dict]:
    """Per opener (name -> its station-hour statistic [S, T] on clean data) the clean event-rate
    tail (:func:`analytics.events.fit_event_rate_tail`) that ranks the events it opens."""
    tails = {m: fit_event_rate_tail(x, ev, station_months) for m, x in openers.items()}
    return {m: t.to_dict() for m, t in tails.items() if t is not None}


def opener_thresholds(openers: dict[str, np.ndarray], ev, station_months: float,
                      false_events_per_station_month: float) -> dict[str, float]:
    """Per opener statistic of ``OPENER_BUDGET_SHARES`` (name -> OpenerStatistic on clean data) the threshold
    at which it opens at most its share of ``false_events_per_station_month`` events alone."""
    return {m: event_threshold(openers[m].values, ev, station_months, false_events_per_station_month * share,
                               OPENER_THRESHOLD_GRIDS[m])
            for m, share in OPENER_BUDGET_SHARES.items() if m in openers}


def thresholds_by_budget(sh: np.ndarray, ev, station_months: float,
                         budgets: tuple[float, ...] = CAPACITY_BUDGETS) -> dict[str, dict]:
    """The combined event threshold at each false-event budget of ``budgets`` (events per
    station-month on this clean data), so a run can follow the analysts' capacity without a refit
    (:func:`analytics.pipeline.thresholds.at_capacity`)."""
    return {f"{b:g}": {"threshold": event_threshold(sh, ev, station_months, b)} for b in budgets}


MIN_PARAMETER_CELLS = 50_000  # a parameter's own tail needs this many calibration cells (~6 station-months)


def _parameter_tails(model: str, x: np.ndarray, mask: np.ndarray, valid: np.ndarray,
                     parameters: tuple[str, ...]) -> dict[str, TailCalibration]:
    """Per-parameter tails of one model, for parameters with enough calibration cells."""
    out = {}
    for i, p in enumerate(parameters):
        if valid[..., i].sum() < MIN_PARAMETER_CELLS:
            continue
        xi, mi, vi = x[..., i], mask[..., i], valid[..., i]
        out[parameter_key(model, p)] = _outage_tail(xi, mi, vi) if model == "outage" else fit_tail(xi, mi)
    return out


def _outage_tail(x: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> TailCalibration:
    """Outage stats exist only on missing cells; express their tail per reading (all cells) so
    its surprise is comparable with models that see every reading."""
    t = fit_tail(x, mask)
    frac_cells = mask.sum() / max(mask.size, 1)
    return TailCalibration(t.frac_positive * frac_cells, t.quantiles, int(mask.size))


def calibrate_clean_events(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
                           events_per_station_month: float = CLEAN_EVENTS_PER_STATION_MONTH) -> dict[str, dict]:
    """The clean-data calibration of the self-calibrated networks' events (water sections, polluter
    outlets), fitted once on honest readings of that network with nothing injected: per parameter
    network each model's tail (``tails``, as the run would fit it on this data) and, on surprises
    read against those, per station kind the event thresholds at which this clean data opens at most
    ``events_per_station_month`` events (``thresholds``). The calibration JSON's ``clean_events``;
    scoring uses them instead of ranking and thresholding each run on itself."""
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    panel, _, _, raw = run_models(readings, stations, pipe)
    surprise, scored, uncal = scoring_surprise(panel, raw, pipe)
    tails = clean_network_tails(raw, scored, panel.parameters, pipe)
    fitted = replace(pipe, clean_network_tails=tails, clean_event_thresholds={})
    ev_surprise = event_surprise(raw, surprise, fitted, panel.parameters)
    thresholds = clean_event_thresholds(panel, combine(ev_surprise, pipe.ensemble), ev_surprise, fitted, uncal,
                                        events_per_station_month)
    return {"tails": {net: {m: t.to_dict() for m, t in models.items()} for net, models in tails.items()},
            "thresholds": thresholds}


def clean_network_tails(raw: dict[str, np.ndarray], scored: np.ndarray, parameters: tuple[str, ...],
                        pipe: Pipeline) -> dict[str, dict[str, TailCalibration]]:
    """Per network outside ``calibrated_networks`` (judged parameters pooled, as a run pools them)
    and model: the tail this clean data gives - over the scored cells, or for models ranked among
    their own positives (``self_calibrate``: HJ 212 flags) over those, as in the run."""
    nets = np.array(param_networks(parameters), dtype=object)
    judged = ~context_parameters(pipe, parameters)
    out: dict[str, dict[str, TailCalibration]] = {}
    for net in sorted(set(nets[judged]) - set(pipe.calibrated_networks) - {""}):
        sel = (nets == net) & judged
        out[net] = {}
        for m, x in raw.items():
            sub = x[..., sel]
            if m in pipe.ensemble.self_calibrate:
                t = fit_tail(sub, sub > 0)
                out[net][m] = TailCalibration(1.0, t.quantiles, t.n)
            else:
                out[net][m] = fit_tail(sub, scored[..., sel])
    return out
