"""Loading a pipeline: its TOML (:mod:`analytics.pipeline.config`) and the files fitted for it next
to it - ``<name>.calibration.json`` (clean-data tails, alarm level, event thresholds) and
``<name>.combiner*.json`` (learned combiners, one per network family) and
``<name>.event_ranker.json`` (the air reference stations' learned event ranker).

Each fitted file records the :func:`~analytics.pipeline.config.fit_fingerprint` of the detectors
and panel it was fitted on; one that does not match the TOML is refused (:class:`StaleFitError`),
because its numbers describe statistics the pipeline no longer computes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from analytics.ensemble import TailCalibration
from analytics.event_ranker import EventRanker
from analytics.events import EventRateTail
from analytics.pipeline.config import Pipeline, fit_fingerprint, pipeline_path, read_config
from analytics.stacking import LearnedCombiner

REFIT_COMMAND = "envtrust evaluate --fit-combiner"
RANKER_REFIT_COMMAND = "envtrust evaluate --fit-event-ranker"
REFIT_WRITES = {REFIT_COMMAND: "writes the calibration and the combiners",
                RANKER_REFIT_COMMAND: "writes the event ranker, after those"}
FITTED_KINDS = ("calibration", "combiners", "event_ranker")


class StaleFitError(ValueError):
    """A fitted file was fitted for other detectors or parameters than the pipeline's."""


def load_pipeline(name_or_path: str | Path = "default", refit: tuple[str, ...] = ()) -> Pipeline:
    """Load ``analytics/pipelines/<name>.toml`` (or a TOML path) and the files fitted for it.

    ``refit``: the fitted kinds ("calibration", "combiners", "event_ranker") about to be fitted again; a
    stale file of those kinds is left out instead of refused (the refit starts from the pipeline as
    written). The event ranker is left out whenever anything is refitted: it learns from the list
    the calibration and combiners make, and from the list it replaces.
    """
    unknown = sorted(set(refit) - set(FITTED_KINDS))
    if unknown:
        raise ValueError(f"refit: unknown fitted kinds {unknown}; known: {', '.join(FITTED_KINDS)}")
    path = pipeline_path(name_or_path)
    pipe = read_config(path)
    fingerprint = fit_fingerprint(pipe)
    cal_path = calibration_path(path)
    if cal_path.exists():
        cal = read_fitted(cal_path)
        if is_current(cal, cal_path, fingerprint, "calibration" in refit):
            apply_calibration(pipe, cal)
    combiners = []
    for f in combiner_paths(path):
        d = read_fitted(f)
        if is_current(d, f, fingerprint, "combiners" in refit):
            combiners.append(LearnedCombiner.from_dict(d))
    pipe.ensemble.combiners = tuple(combiners)
    ranker_path = event_ranker_path(path)
    if ranker_path.exists() and not refit:  # any refit changes the list the ranker learned from
        d = read_fitted(ranker_path)
        if is_current(d, ranker_path, fingerprint, False, RANKER_REFIT_COMMAND):
            pipe.events = replace(pipe.events, ranker=EventRanker.from_dict(d))
    return pipe


def event_ranker_path(toml_path: Path) -> Path:
    return toml_path.with_name(toml_path.stem + ".event_ranker.json")


def calibration_path(toml_path: Path) -> Path:
    return toml_path.with_name(toml_path.stem + ".calibration.json")


def combiner_paths(toml_path: Path) -> list[Path]:
    """``<name>.combiner.json`` (air) and ``<name>.combiner.<family>.json``, in name order."""
    return sorted(toml_path.parent.glob(toml_path.stem + ".combiner*.json"))


def read_fitted(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def is_current(fitted: dict[str, Any], path: Path, fingerprint: str, refitting: bool,
               command: str = REFIT_COMMAND) -> bool:
    """Whether a fitted file was fitted for this pipeline; a stale one raises :class:`StaleFitError`
    unless it is about to be refitted (then it is only left out)."""
    recorded = fitted.get("fingerprint")
    if recorded == fingerprint:
        return True
    if refitting:
        return False
    found = f"records fingerprint {recorded}" if recorded else "records no fingerprint"
    raise StaleFitError(
        f"{path} was not fitted for this pipeline's detectors and parameters: it {found}, the "
        f"pipeline's is {fingerprint}. Refit it with `{command}` ({REFIT_WRITES[command]}; add "
        f"--pipeline-dir for a pipeline outside analytics/pipelines/), or restore the detector settings "
        f"it was fitted with.")


def apply_calibration(pipe: Pipeline, cal: dict[str, Any]) -> None:
    """Install a calibration dict (as written by :func:`analytics.pipeline.calibration.calibrate`)."""
    pipe.ensemble.calibration = {m: TailCalibration.from_dict(d) for m, d in cal.get("models", {}).items()}
    if cal.get("combined"):
        pipe.ensemble.combined = TailCalibration.from_dict(cal["combined"])
    if cal.get("alarm_level") is not None:
        pipe.ensemble.alarm_level = float(cal["alarm_level"])
    pipe.false_events_per_station_month = float(cal.get("false_events_per_station_month",
                                                        pipe.false_events_per_station_month))
    pipe.event_thresholds_by_budget = dict(cal.get("event_thresholds_by_budget", {}))
    apply_clean_events(pipe, cal.get("clean_events", {}))
    if "event_threshold" in cal:
        pipe.events = replace(pipe.events, threshold=float(cal["event_threshold"]),
                              model_thresholds=dict(cal.get("model_event_thresholds", {})),
                              rate_tails={m: EventRateTail.from_dict(d)
                                          for m, d in cal.get("event_rate_tails", {}).items()})


def apply_clean_events(pipe: Pipeline, clean: dict[str, Any]) -> Pipeline:
    """Install the self-calibrated networks' clean calibration (``clean_events`` of the calibration
    JSON, as :func:`analytics.pipeline.calibration.calibrate_clean_events` returns it); returns ``pipe``."""
    pipe.clean_event_thresholds = dict(clean.get("thresholds", {}))
    pipe.clean_network_tails = {net: {m: TailCalibration.from_dict(d) for m, d in models.items()}
                                for net, models in clean.get("tails", {}).items()}
    return pipe
