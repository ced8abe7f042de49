"""Running a pipeline: validate the input, build the panel, run every detector
(:func:`run_models`), turn their statistics into calibrated surprises, combine them and find
events (:func:`score_partition`).

``score_partition(readings, stations, pipeline)`` is pure (DataFrames in, DataFrames out) so Dask
can ship it to workers unchanged.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.detectors.base import (
    OPENER_STATISTICS,
    InputError,
    build_panel,
    log_values,
    validate_readings,
    validate_stations,
)
from analytics.detectors.iforest import FITTED_FORESTS, KEPT_FORESTS, import_tree_builder
from analytics.ensemble import (
    add_persistence,
    combine,
    emphasise_peaks,
    final_score,
    model_surprise,
    parameter_key,
)
from analytics.events import EVENT_COLUMNS, StationThresholds, build_events
from analytics.pipeline.config import Pipeline
from analytics.pipeline.load import load_pipeline
from analytics.pipeline.thresholds import in_run_thresholds
from analytics.registry import Registry, default_registry
from analytics.stacking import learned_order
from analytics.threads import map_in_threads
from analytics.verdicts import demote_events
from analytics.vocabulary import PARAMETERS

# detectors started first when several are ready, longest first: the one others need, the forests,
# then the donor search and the seasonal medians - either left to the end ran alone for seconds
# (demo air: donor 3.4 s on one core after everything else had finished)
FIRST_DETECTORS = ("spatial", "iforest", "donor", "seasonal")
DETECTOR_THREADS = 2  # detectors of one panel run at once (their numpy and scikit-learn work releases the GIL)


@dataclass
class ScoreResult:
    scores: pd.DataFrame  # station_id, ts, parameter, score, <model columns>
    events: pd.DataFrame  # EVENT_COLUMNS
    # station_id -> the isolation forest this run fitted (StationForest), for the caller to keep
    forests: dict = field(default_factory=dict)


def run_models(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline,
               registry: Registry | None = None, threads: int = DETECTOR_THREADS, validated: bool = False):
    """Validate, build the panel, run every detector: (panel, cells, raw model stats dict).

    ``threads``: detectors run at once (:func:`run_detectors`), and the pieces of one detector
    (``Panel.threads``: the neighbour fit's parameters, the forests' stations); the outputs are
    the same bits for any number. ``validated``: ``readings`` are already
    :func:`validate_readings`' output for these stations (a block's rows), not checked again."""
    reg = registry or default_registry()
    if threads > 1 and "iforest" in dict(pipeline.detectors):
        threading.Thread(target=import_tree_builder, name="envtrust-import", daemon=True).start()
    st = validate_stations(stations)
    r = readings if validated else validate_readings(readings, st)
    panel, cells = build_panel(r, st, k_neighbours=pipeline.panel.k_neighbours,
                               max_distance_m=pipeline.panel.max_distance_m)
    if pipeline.kept_forests:
        panel.cache[KEPT_FORESTS] = pipeline.kept_forests
    panel.threads = threads  # a long detector's own pieces (the forests' stations) at once too
    raw: dict[str, np.ndarray] = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        log_values(panel)
        outputs = run_detectors(panel, pipeline.detectors, reg, threads)
    for name, _ in pipeline.detectors:
        for m, arr in outputs[name].items():
            if arr.shape != panel.shape:
                raise RuntimeError(f"detector {name} returned {m} of shape {arr.shape}, panel is {panel.shape}")
            raw[m] = arr.astype(np.float32)
    return panel, cells, r, raw


def run_detectors(panel, detectors: list[tuple[str, dict]], reg: Registry, threads: int) -> dict[str, dict]:
    """Every detector's outputs by name, ``threads`` detectors at a time: a detector starts once
    the detectors it ``needs`` (their results in ``panel.cache``) have finished; of those ready,
    :data:`FIRST_DETECTORS` first, then pipeline order.

    Why: one panel's detectors are independent numpy and scikit-learn work that mostly runs
    without the GIL (py-spy: 2-10 % of the rules', spatial, donor and flatline samples hold it),
    so two at once use the second core even when a run is one block (docs/distributed.md, "Two
    blocks at once"). Each reads the panel and the caches of what it needs, and a cache it fills
    (seasonal levels, donor lists) holds the same values whichever detector fills it first."""
    in_pipe = dict(detectors)
    needs = {n: [d for d in reg.get(n).needs if d in in_pipe and d != n] for n, _ in detectors}
    order = sorted(range(len(detectors)), key=lambda i: (detectors[i][0] not in FIRST_DETECTORS,
                                                         FIRST_DETECTORS.index(detectors[i][0])
                                                         if detectors[i][0] in FIRST_DETECTORS else i))
    waiting = [detectors[i] for i in order]
    outputs: dict[str, dict] = {}

    def ready() -> list[tuple[str, dict]]:
        return [(n, p) for n, p in waiting if all(d in outputs for d in needs[n])]

    if threads <= 1:
        while waiting:
            n, p = ready()[0]
            waiting.remove((n, p))
            outputs[n] = reg.get(n).fn(panel, **p)
        return outputs
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="envtrust-detector") as pool:
        running: dict = {}
        while waiting or running:
            for n, p in ready()[:max(threads - len(running), 0)]:
                waiting.remove((n, p))
                running[pool.submit(reg.get(n).fn, panel, **p)] = n
            if not running:
                raise RuntimeError(f"detectors wait for each other: {[n for n, _ in waiting]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                outputs[running.pop(fut)] = fut.result()
    return outputs


def score_partition(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
                    registry: Registry | None = None, threads: int = DETECTOR_THREADS,
                    validated: bool = False, scores_from: pd.Timestamp | None = None) -> ScoreResult:
    """Score every reading and find events. Pure: no I/O (beyond loading a pipeline by name).
    ``threads``: detectors run at once (:func:`run_detectors`; the same bits for any number).
    ``validated``: the readings are :func:`validate_readings`' output already (see :func:`run_models`).
    ``scores_from``: the scores frame holds the readings from this hour on only (the rest are
    context a caller would drop: an incremental run's 14 days); every reading is still scored,
    so events and the kept rows' scores are the same bits as without it.

    ``readings``: long (station_id, ts naive, parameter, value[, flag]); ``stations``: station_id,
    kind, lon, lat (+ name, name_en, limits_json ...). Output timestamps are on the input's clock.
    Raises :class:`InputError` for input that cannot be scored (message says what to fix).
    """
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    reg = registry or default_registry()
    if len(readings) == 0:
        raise InputError("no readings to score")
    panel, cells, r, raw = run_models(readings, stations, pipe, reg, threads, validated)
    valid = np.isfinite(panel.values)
    surprise, scored, uncal = scoring_surprise(panel, raw, pipe, threads=threads)
    plain = combine(surprise, pipe.ensemble, threads)
    # what the events read besides the final scores (their surprises, per-station thresholds) needs
    # only ``plain`` and the surprises: with threads, it is computed beside the learned combiner
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="envtrust-events") as pool:
        pending = pool.submit(event_inputs, panel, raw, surprise, plain, uncal, pipe, threads) if threads > 1 else None
        combined = emphasise_peaks(add_persistence(plain, pipe.ensemble), pipe.ensemble, runs_from=plain)
        features = combiner_surprise(panel, raw, pipe, surprise, threads)
        combined = learned_order(combined, features, plain, scored, pipe.ensemble.combiners,
                                 pipe.ensemble.alarm_level, param_networks(panel.parameters), threads)
        context = context_parameters(pipe, panel.parameters)
        if context.any():  # not judged: no share of the station-hour's persistence or run peak either
            combined = np.where(context[None, None, :], 0.0, combined)
        final = final_score(combined, pipe.ensemble, fallback_mask=valid)
        inputs = pending.result() if pending is not None else event_inputs(panel, raw, surprise, plain, uncal, pipe)
    if scores_from is not None:  # the frame's 22 model columns for the context cost ~5 % of an incremental run
        saved = (r["ts"] >= pd.Timestamp(scores_from)).to_numpy()
        r, cells = r[saved], cells[saved]

    def scores_frame() -> pd.DataFrame:
        return station_hour_scores(r, cells, final, surprise, threads)

    def events_table() -> pd.DataFrame:
        return score_events(panel, inputs, combined, final, pipe, reg)

    # the scores frame and the events read the same finished arrays and write nothing they share:
    # one beside the other (map_in_threads keeps the order), the same bits as one after the other
    scores, events = map_in_threads(lambda make: make(), [scores_frame, events_table], threads)
    return ScoreResult(scores=scores, events=events, forests=panel.cache.get(FITTED_FORESTS, {}))


def station_hour_scores(r: pd.DataFrame, cells: np.ndarray, final: np.ndarray, surprise: dict[str, np.ndarray],
                        threads: int = 1) -> pd.DataFrame:
    """The scores frame: each reading's final score and every model's column (1 - 10^-surprise),
    in the order of the validated readings ``r`` (``cells``: each row's station, hour and parameter
    index in the panel). ``threads``: model columns at once (the same bits for any number)."""
    si, ti, pi = cells[:, 0], cells[:, 1], cells[:, 2]

    def model_column(s: np.ndarray) -> np.ndarray:
        return (1.0 - 10.0 ** (-s[si, ti, pi])).astype(np.float32)

    # one frame from all columns (set one by one, pandas copied the frame's blocks per column)
    return pd.DataFrame({
        # the columns' own arrays: a round trip of the Arrow strings through numpy objects held the GIL 0.3 s (demo air)
        "station_id": r["station_id"].array, "ts": r["ts"].to_numpy(), "parameter": r["parameter"].array,
        "score": final[si, ti, pi].astype(float),
        **dict(zip(surprise, map_in_threads(model_column, surprise.values(), threads), strict=True)),
    })


@dataclass
class EventInputs:
    """What the events read besides the final scores: the model surprises and their combination
    as events see them (:func:`event_surprise`) and the per-station thresholds (None without a
    calibration)."""

    surprise: dict[str, np.ndarray]
    plain: np.ndarray
    per_station: StationThresholds | None


def event_inputs(panel, raw: dict[str, np.ndarray], surprise: dict[str, np.ndarray], plain: np.ndarray,
                 uncal: np.ndarray, pipe: Pipeline, threads: int = 1) -> EventInputs:
    """The events' surprises: those of networks with clean tails (water, CEMS) read against clean
    data, not the run (:func:`event_surprise`); their combination and the per-station thresholds
    (:func:`in_run_thresholds`). Reads ``plain`` and the surprises only (not the final scores)."""
    ev_surprise = event_surprise(raw, surprise, pipe, panel.parameters, threads)
    ev_plain = plain if ev_surprise is surprise else combine(ev_surprise, pipe.ensemble, threads)
    per_station = in_run_thresholds(panel, ev_plain, ev_surprise, pipe, uncal) if pipe.ensemble.calibration else None
    return EventInputs(ev_surprise, ev_plain, per_station)


def score_events(panel, inputs: EventInputs, combined: np.ndarray, final: np.ndarray, pipe: Pipeline,
                 reg: Registry) -> pd.DataFrame:
    """The events table (EVENT_COLUMNS) of a scored panel from its :class:`EventInputs`; the
    analysts' verdicts then move events like a station's past false alarms down the list."""
    kinds = reg.model_kinds()
    expected = _expected_values(panel)

    def score_of(surprise_value: float) -> float:
        return float(final_score(np.array([surprise_value]), pipe.ensemble, fallback_mask=None)[0]) \
            if pipe.ensemble.combined is not None else float(np.mean(final[combined >= surprise_value]))

    def rarity_of(surprise_value: float) -> float:
        tail = pipe.ensemble.combined
        if tail is None:
            return -float(np.log10(max(1.0 - score_of(surprise_value), 1e-12)))
        return float(tail.rarity(np.array([surprise_value]))[0])

    events = build_events(panel, inputs.plain, final, inputs.surprise, kinds, pipe.events, expected, score_of,
                          peak_bonus=pipe.ensemble.peak_bonus, per_station=inputs.per_station, rarity_of=rarity_of,
                          openers=panel.cache.get(OPENER_STATISTICS))
    return demote_events(events, pipe.verdicts)[EVENT_COLUMNS]


def scoring_surprise(panel, raw: dict[str, np.ndarray], pipe: Pipeline,
                     for_combiner: bool = False, threads: int = 1) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per-model surprise as scoring computes it, with the cells that carry a score (valid readings
    and gaps the outage model speaks for) and the parameters outside ``calibrated_networks`` (their
    models are self-calibrated on the run). Shared with the combiner's training.

    ``for_combiner``: the surprises the learned combiner reads - per-parameter tails where the
    pipeline's ``per_parameter_scope`` is "combiner" (the alarm tier keeps the pooled tails).
    ``threads``: models calibrated at once (the same bits for any number)."""
    scored = np.isfinite(panel.values) | (raw.get("outage", 0) > 0)
    networks = set(pipe.calibrated_networks)
    uncal = np.array([n not in networks for n in param_networks(panel.parameters)])
    surprise = model_surprise(raw, pipe.ensemble, fallback_mask=scored,
                              uncalibrated_params=uncal if pipe.ensemble.calibration else None,
                              parameters=panel.parameters if uses_parameter_tails(pipe, for_combiner) else None,
                              threads=threads)
    context = context_parameters(pipe, panel.parameters)
    if context.any():
        for name in surprise:
            surprise[name] = np.where(context[None, None, :], 0.0, surprise[name])
    return surprise, scored, uncal


def event_surprise(raw: dict[str, np.ndarray], surprise: dict[str, np.ndarray], pipe: Pipeline,
                   parameters, threads: int = 1) -> dict[str, np.ndarray]:
    """The model surprises events are built from: ``surprise`` (as scored), except on parameters of
    networks with tails fitted on their clean data (``Pipeline.clean_network_tails``: water, flue
    gas, wastewater), which read ``-log10 P_clean`` against those instead of against the run.

    Why: a surprise ranked within the run moves with what the run holds - planted gaps make gaps
    ordinary, a network with many honest flags makes flags ordinary - so no threshold fitted once
    could mean the same there; the clean tails fix the scale, the clean thresholds
    (``clean_event_thresholds``) the operating point. The station-hour scores keep the in-run
    ranking their learned combiners were fitted on. ``threads``: models re-read at once."""
    tails = pipe.clean_network_tails
    if not tails:
        return surprise
    nets = np.array(param_networks(parameters), dtype=object)
    judged = ~context_parameters(pipe, parameters)
    reads = [(sel, models) for net, models in tails.items() if (sel := (nets == net) & judged).any()]
    if not reads:  # no network of this panel has clean tails (an air block): the surprises as scored
        return surprise

    def reread(m: str) -> np.ndarray:  # one model across the networks, in their order
        out = surprise[m]
        for sel, models in reads:
            if m in models:
                if out is surprise[m]:
                    out = surprise[m].copy()
                out[..., sel] = models[m].surprise(raw[m][..., sel])
        return out

    return {**surprise, **dict(zip(raw, map_in_threads(reread, list(raw), threads), strict=True))}


def context_parameters(pipe: Pipeline, parameters) -> np.ndarray:
    """Bool per parameter: measured for context, never judged (``context_parameters`` in the TOML).

    Why: water temperature follows the weather, not the operator; near the 0 degC ice floor every
    section reads the same few tenths for weeks, which ratio-based models take for stuck probes and
    drifts (on the synthetic water network half the false events were water_temp in winter)."""
    names = set(pipe.context_parameters)
    return np.array([p in names for p in parameters], dtype=bool)


def uses_parameter_tails(pipe: Pipeline, for_combiner: bool) -> bool:
    """Whether these surprises use the per-parameter tails: everywhere (scope "all", the default),
    or only in the learned combiner's features (scope "combiner")."""
    return pipe.per_parameter_scope == "all" or for_combiner


def combiner_surprise(panel, raw: dict[str, np.ndarray], pipe: Pipeline, surprise: dict, threads: int = 1) -> dict:
    """The combiner's input: ``surprise`` itself unless it reads per-parameter tails the tier does
    not; then ``surprise`` with each calibrated, judged parameter that has its own tail re-read
    against that tail - what ``scoring_surprise(..., for_combiner=True)`` computes, the same bits.

    Why not that call: it computes every model's pooled surprise a second time over the whole
    panel, and the per-parameter tails then overwrite most of it (1.5 of the demo air block's
    21 CPU s)."""
    if uses_parameter_tails(pipe, False) or not pipe.per_parameter_models(raw):
        return surprise
    cal = pipe.ensemble.calibration
    if not cal:
        return surprise
    networks = set(pipe.calibrated_networks)
    judged = [i for i, (p, net) in enumerate(zip(panel.parameters, param_networks(panel.parameters), strict=True))
              if net in networks and p not in set(pipe.context_parameters)]
    def reread(name: str) -> np.ndarray:
        out = surprise[name]
        if name in pipe.ensemble.self_calibrate:
            return out
        for i in judged:
            tail = cal.get(parameter_key(name, panel.parameters[i]))
            if tail is None:
                continue
            if out is surprise[name]:
                out = surprise[name].copy()
            out[..., i] = tail.surprise(raw[name][..., i])
        return out

    # ``threads`` models at once (each its own: the same bits)
    return {**surprise, **dict(zip(raw, map_in_threads(reread, list(raw), threads), strict=True))}


def param_networks(parameters) -> list[str]:
    """The network (analytics.vocabulary) of each parameter; '' for a name the vocabulary does not know."""
    return [PARAMETERS[p].network if p in PARAMETERS else "" for p in parameters]


def _expected_values(panel) -> np.ndarray | None:
    fit = panel.cache.get("spatial_fit")
    if fit is None:
        return None
    return np.exp(fit["pred"]) - panel.cache["log_offset"][None, None, :] + panel.cache["log_shift"][None, None, :]
