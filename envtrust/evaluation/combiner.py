"""Fit the learned combiner (:mod:`analytics.stacking`) on the DEVELOPMENT years only.

Interference of every air kind is injected into the real Beijing development split with seeds
the evaluation never uses (``TRAINING_SEEDS``), the pipeline's detectors and calibrated ensemble
run on it, and the combiner learns from the model surprises which readings were altered. Readings
inside an event window that the injection left unchanged are left out (nothing to learn there);
clean readings are subsampled. The held-out years are never touched.

Reproduce (writes ``analytics/pipelines/default.combiner.json`` and re-calibrates
``default.calibration.json`` on the clean development split, which fixes the alarm level)::

    envtrust evaluate --fit-combiner
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.ensemble import combine
from analytics.evaluation.inject import AIR_KINDS, CEMS_KINDS, WATER_KINDS, inject_interference
from analytics.pipeline import (
    calibrate_clean_events,
    combiner_surprise,
    fit_fingerprint,
    load_pipeline,
    param_networks,
    run_models,
    scoring_surprise,
)
from analytics.stacking import LearnedCombiner, design_rows, fit_combiner
from envtrust.evaluation.harness import cems_network, water_network

TRAINING_SEEDS = (100, 101, 102, 103)  # never used by `envtrust evaluate` (it uses seed*1000 + 0..3)
#: generator seed of the honest water and CEMS networks the clean event thresholds are fitted on
CLEAN_NETWORK_SEED = TRAINING_SEEDS[0]
CEMS_NETWORKS = ("flue", "wastewater")
NEGATIVE_SHARE = 0.12
N_PER_KIND = 30


def altered_cells(original: pd.DataFrame, injected: pd.DataFrame, panel) -> np.ndarray:
    """Bool cube [S, T, P]: the injection changed this reading (value, flag, or removed the row)."""
    key = ["station_id", "ts", "parameter"]
    o = original[key + ["value"]].assign(station_id=original["station_id"].astype(str))
    i = injected[key + ["value"]].assign(station_id=injected["station_id"].astype(str))
    m = o.merge(i, on=key, how="left", suffixes=("", "_new"), indicator=True)
    same = ((m["value"] == m["value_new"]) | (m["value"].isna() & m["value_new"].isna())) & (m["_merge"] == "both")
    ch = m[~same.to_numpy()]
    out = np.zeros(panel.shape, dtype=bool)
    s = pd.Index(panel.stations["station_id"].astype(str)).get_indexer(ch["station_id"])
    t = panel.times.get_indexer(pd.to_datetime(ch["ts"]))
    p = pd.Index(list(panel.parameters)).get_indexer(ch["parameter"])
    ok = (s >= 0) & (t >= 0) & (p >= 0)
    out[s[ok], t[ok], p[ok]] = True
    return out


def event_window_kinds(truth: pd.DataFrame, panel, kinds: tuple[str, ...] = AIR_KINDS) -> np.ndarray:
    """[S, T] index into ``kinds`` of the truth event covering each station-hour, -1 when none."""
    out = np.full(panel.shape[:2], -1, dtype=np.int16)
    sidx = {sid: i for i, sid in enumerate(panel.stations["station_id"].astype(str))}
    for ev in truth.itertuples(index=False):
        a = panel.times.get_indexer([pd.Timestamp(ev.start)])[0]
        b = panel.times.get_indexer([pd.Timestamp(ev.end)])[0]
        if a >= 0 and b >= 0 and str(ev.station_id) in sidx:
            out[sidx[str(ev.station_id)], a:b + 1] = kinds.index(ev.kind)
    return out


def training_rows(readings: pd.DataFrame, stations: pd.DataFrame, pipe, seed: int,
                  negative_share: float = NEGATIVE_SHARE, kinds: tuple[str, ...] = AIR_KINDS,
                  networks: tuple[str, ...] = ("air",)) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Inject ``kinds`` with ``seed``, run the pipeline's models and ensemble exactly as scoring does
    (networks outside the clean calibration self-calibrated), return (design, names, positive, kind)
    for the readings of ``networks``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, truth = inject_interference(readings, stations, kinds=list(kinds), n_per_kind=N_PER_KIND, seed=seed)
    panel, _, _, raw = run_models(injected, stations, pipe)
    surprise, scored, _ = scoring_surprise(panel, raw, pipe)
    nets = np.array(param_networks(panel.parameters), dtype=object)
    plain = combine(surprise, pipe.ensemble)
    altered = altered_cells(readings, injected, panel)
    window = np.broadcast_to(event_window_kinds(truth, panel, kinds)[:, :, None], panel.shape)
    rng = np.random.default_rng(seed)
    ours = np.isin(nets, list(networks))[None, None, :]
    rows = scored & ours & (altered | ((window < 0) & (rng.random(panel.shape) < negative_share)))
    design, names = design_rows(combiner_surprise(panel, raw, pipe, surprise), plain, scored, rows)
    return design, names, altered[rows], window[rows]


def fit_on_development(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: str = "default",
                       seeds: tuple[int, ...] = TRAINING_SEEDS,
                       progress: Callable[[str], None] | None = None) -> LearnedCombiner:
    """Fit the combiner on injected copies of ``readings`` (the development split, CST-selected)."""
    progress = progress or (lambda msg: None)
    pipe = load_pipeline(pipeline, refit=("combiners",))  # the stale combiners are the ones refitted
    parts = []
    for seed in seeds:
        progress(f"  injection seed {seed}: models ...")
        parts.append(training_rows(readings, stations, pipe, seed))
    span = f"{pd.Timestamp(readings['ts'].min()):%Y-%m-%d}..{pd.Timestamp(readings['ts'].max()):%Y-%m-%d} UTC"
    return _fit_parts(parts, progress, fitted_on=f"Beijing development split {span}, injection seeds {list(seeds)}",
                      fingerprint=fit_fingerprint(pipe))


def _fit_parts(parts, progress: Callable[[str], None], **kwargs) -> LearnedCombiner:
    """Fit one combiner on the training rows of several injections (see :func:`training_rows`)."""
    design = np.concatenate([p[0] for p in parts])
    positive = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([p[3] for p in parts])
    progress(f"  fitting on {len(positive):,} readings ({int(positive.sum()):,} altered)")
    return fit_combiner(design, parts[0][1], positive, kind, negative_weight=1.0 / NEGATIVE_SHARE, **kwargs)


def write_combiner(combiner: LearnedCombiner, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(combiner.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def fit_cems_on_development(start_cst: str, end_cst: str, pipeline: str = "default",
                            seeds: tuple[int, ...] = TRAINING_SEEDS,
                            progress: Callable[[str], None] | None = None) -> LearnedCombiner:
    """The CEMS combiner: the project's synthetic polluter outlets over the development period with
    the CEMS kinds injected; its alarm level is taken in each run (CEMS surprises are self-calibrated)."""
    progress = progress or (lambda msg: None)
    pipe = load_pipeline(pipeline, refit=("combiners",))  # the stale combiners are the ones refitted
    parts = []
    for seed in seeds:
        progress(f"  CEMS, injection seed {seed}: models ...")
        readings, stations, _ = cems_network(start_cst, end_cst, seed)
        parts.append(training_rows(readings, stations, pipe, seed, kinds=CEMS_KINDS, networks=CEMS_NETWORKS))
    return _fit_parts(parts, progress,
                      fitted_on=f"synthetic polluter outlets {start_cst}..{end_cst} CST (development period), "
                                f"injection seeds {list(seeds)}",
                      networks=CEMS_NETWORKS, alarm="in_run", fingerprint=fit_fingerprint(pipe))


def fit_water_on_development(start_cst: str, end_cst: str, pipeline: str = "default",
                             seeds: tuple[int, ...] = TRAINING_SEEDS, rain_mm: pd.Series | None = None,
                             progress: Callable[[str], None] | None = None) -> LearnedCombiner:
    """The water combiner: the evaluation's synthetic water sections (same sections, real Beijing rain
    when given) over the development period with the water kinds injected; like CEMS, its alarm
    level is taken in each run (water surprises are self-calibrated)."""
    progress = progress or (lambda msg: None)
    pipe = load_pipeline(pipeline, refit=("combiners",))  # the stale combiners are the ones refitted
    parts = []
    for seed in seeds:
        progress(f"  water, injection seed {seed}: models ...")
        readings, stations, _ = water_network(start_cst, end_cst, seed, rain_mm=rain_mm)
        parts.append(training_rows(readings, stations, pipe, seed, kinds=WATER_KINDS, networks=("water",)))
    return _fit_parts(parts, progress,
                      fitted_on=f"synthetic water sections {start_cst}..{end_cst} CST (development period), "
                                f"injection seeds {list(seeds)}",
                      networks=("water",), alarm="in_run", fingerprint=fit_fingerprint(pipe))


def clean_networks(start_cst: str, end_cst: str, seed: int = CLEAN_NETWORK_SEED,
                   rain_mm: pd.Series | None = None) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """The honest water sections and polluter outlets over a period, generated with ``seed``
    (nothing injected): the clean data the self-calibrated networks' event thresholds are fitted on.
    All the project's sections, not only the evaluation's Beijing-Tianjin cluster: a lone Yangtze
    section or a reservoir, with few or no neighbours, must be described too (fitted on the cluster
    alone, the demo's honest sections read 0.29 events per station-month, mostly 1-3 h flatlines
    and drifts at such sections)."""
    water_r, water_s, _ = water_network(start_cst, end_cst, seed, max_sections=None, rain_mm=rain_mm)
    cems_r, cems_s, _ = cems_network(start_cst, end_cst, seed)
    return [("water", water_r, water_s), ("cems", cems_r, cems_s)]


def fit_clean_events_on_development(start_cst: str, end_cst: str, pipeline: str = "default",
                                    rain_mm: pd.Series | None = None,
                                    progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """The calibration's ``clean_events``: the water and CEMS networks' clean tails and event
    thresholds, fitted on their honest synthetic networks over the development period
    (:func:`clean_networks`; a generator seed the evaluation never uses)."""
    progress = progress or (lambda msg: None)
    out: dict[str, dict] = {"tails": {}, "thresholds": {}, "fitted_on": {}}
    for net, readings, stations in clean_networks(start_cst, end_cst, rain_mm=rain_mm):
        progress(f"  clean {net} network: tails and event thresholds ...")
        fitted = calibrate_clean_events(readings, stations, pipeline)
        out["tails"].update(fitted["tails"])
        out["thresholds"].update(fitted["thresholds"])
        out["fitted_on"][net] = (f"honest synthetic {net} network {start_cst}..{end_cst} CST, "
                                 f"generator seed {CLEAN_NETWORK_SEED}")
    return out
