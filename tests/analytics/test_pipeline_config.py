"""The typed pipeline configuration: unknown keys refused with the known ones named, every default
defined once, and fitted files tied to the detectors they were fitted for."""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import fields

import pytest

from analytics.ensemble import EnsembleSettings
from analytics.events import EventSettings
from analytics.pipeline import PIPELINE_DIR, StaleFitError, fit_fingerprint, load_pipeline
from analytics.pipeline.config import (
    PanelSettings,
    Pipeline,
    configured_fields,
    field_default,
    keyword_defaults,
    pipeline_from_dict,
    read_config,
)
from analytics.pipeline.load import calibration_path, combiner_paths
from analytics.registry import default_registry

SHIPPED = PIPELINE_DIR / "default.toml"


def shipped_toml() -> dict:
    with SHIPPED.open("rb") as fh:
        return tomllib.load(fh)


def copy_pipeline(dest, edit=None):
    """The shipped pipeline and its fitted files in ``dest``; ``edit`` rewrites the TOML text."""
    dest.mkdir()
    for f in PIPELINE_DIR.glob("default*"):
        shutil.copyfile(f, dest / f.name)
    toml = dest / "default.toml"
    if edit:
        toml.write_text(edit(toml.read_text(encoding="utf-8")), encoding="utf-8")
    return toml


def test_the_shipped_pipeline_loads_with_its_fitted_files():
    pipe = load_pipeline("default")
    assert [d.name for d in pipe.detectors][:2] == ["spatial", "range"]
    assert pipe.ensemble.calibration and pipe.ensemble.alarm_level is not None
    assert sorted(n for c in pipe.ensemble.combiners for n in c.networks) == ["air", "flue", "wastewater", "water"]
    assert pipe.events.threshold == 7.7 and "outage" in pipe.events.model_thresholds
    fingerprint = fit_fingerprint(pipe)
    for f in [calibration_path(SHIPPED), *combiner_paths(SHIPPED)]:
        assert json.loads(f.read_text(encoding="utf-8"))["fingerprint"] == fingerprint, f.name


def test_the_shipped_values_are_the_tuned_ones():
    """The values the pipeline scored with before its knobs got one home (now mostly defaults)."""
    pipe = load_pipeline("default")
    ens, ev = pipe.ensemble, pipe.events
    assert (ens.second_bonus, ens.peak_level, ens.peak_bonus) == (0.5, 3.0, 5.0)
    assert (ens.persistence_window_h, ens.persistence_weight, ens.persistence_cap) == (25, 1.5, 7.8)
    assert ens.self_calibrate == ("flag_abuse",) and ens.weights["outage"] == 30.0
    assert (ev.low_ratio, ev.merge_gap_h, ev.min_hours, ev.self_calibrated_window_h) == (0.75, 3, 1, 12)
    assert ev.absent_gaps_like_readings is True
    assert ev.self_calibrated_own_event_models_by_kind == {"water_section": {"pm_ratio": 1, "extreme_ratio": 1}}
    assert ev.self_calibrated_own_event_models == {"outage": 1, "flatline": 1, "clip_limit": 24, "flag_hidden": 1}
    assert (pipe.panel.k_neighbours, pipe.panel.max_distance_m) == (8, 80_000.0)
    assert pipe.per_parameter_calibration is True and pipe.per_parameter_scope == "combiner"
    assert pipe.context_parameters == ("water_temp",) and pipe.calibrated_networks == ("air",)
    assert pipe.calibrated_station_kinds == ("air_station",)
    params = dict(pipe.detectors)
    assert params["flatline"]["resolution_steps"] == 1.5 and params["donor"]["window_h"] == 36
    assert params["outage"] == {"min_gap_h": 2, "all_params_bonus": 3.0, "episode_param": "PM2.5",
                                "episode_ugm3": 75.0, "min_history_h": 168, "shared_gap_power": 2.0}


def test_the_shipped_toml_restates_no_default():
    """Defaults live in one place (the dataclasses and the detector functions); the TOML states only
    what the pipeline chooses differently, so a default changed in code is never shadowed by a stale
    copy in the TOML."""
    cfg = shipped_toml()
    registry = default_registry()
    restated = []
    for entry in cfg["detectors"]:
        defaults = keyword_defaults(registry.get(entry["name"]).fn)
        restated += [f"detectors.{entry['name']}.{k}" for k, v in entry.get("params", {}).items()
                     if v == defaults[k] or (isinstance(v, list) and tuple(v) == defaults[k])]
    sections = {"top level": (Pipeline, cfg), "panel": (PanelSettings, cfg.get("panel", {})),
                "ensemble": (EnsembleSettings, cfg.get("ensemble", {})), "events": (EventSettings, cfg.get("events", {}))}
    for section, (cls, table) in sections.items():
        defaults = {f.name: field_default(f) for f in fields(cls) if f.name in configured_fields(cls)}
        restated += [f"[{section}] {k}" for k, v in table.items()
                     if k in defaults and defaults[k] == (tuple(v) if isinstance(v, list) else v)]
    restated += [f"[ensemble.weights] {m}" for m, w in cfg["ensemble"]["weights"].items() if w == 1.0]
    assert restated == []


@pytest.mark.parametrize(("edit", "message"), [
    ({"ensemble": {"peak_levle": 3.0}},
     "[ensemble] unknown key 'peak_levle'; known: extreme_level, full_bonus_h, peak_bonus, peak_level"),
    ({"events": {"merge_gap": 3}}, "[events] unknown key 'merge_gap'; known: absent_gaps_like_readings"),
    ({"panel": {"k": 8}}, "[panel] unknown key 'k'; known: k_neighbours, max_distance_m"),
    ({"calibrated_network": ["air"]}, "[top level] unknown key 'calibrated_network'; known: calibrated_networks"),
    ({"detectors": [{"name": "flatline", "params": {"min_run": 3}}]},
     "[detectors.flatline.params] unknown key 'min_run'; known: floor_quantile, min_run_h, multi_param_bonus"),
    ({"detectors": [{"name": "flatline", "parms": {}}]}, "[detectors #1] unknown key 'parms'; known: enabled, name, params"),
    ({"detectors": [{"name": "teleport"}]}, "unknown detector 'teleport'; known: clipping"),
    ({"ensemble": {"weights": {"spatial_hihg": 3.0}}}, "[ensemble.weights]: unknown model 'spatial_hihg'; known:"),
    ({"events": {"self_calibrated_own_event_models": {"outage": 0}}}, "window of 'outage' must be a whole number"),
    ({"context_parameters": ["water_tmp"]}, "context_parameters: unknown parameter 'water_tmp'; known: PM2.5"),
    ({"ensemble": {"peak_level": "3"}}, "[ensemble] peak_level must be a number, not '3'"),
    ({"events": {"merge_gap_h": 2.5}}, "[events] merge_gap_h must be an integer, not 2.5"),
    ({"detectors": [{"name": "outage", "params": {"min_gap_h": True}}]},
     "[detectors.outage.params] min_gap_h must be an integer, not True"),
    ({"per_parameter_scope": "some"}, "per_parameter_scope 'some'; known: all, combiner"),
])
def test_unknown_or_mistyped_keys_are_refused_naming_the_known_ones(edit, message):
    cfg = {**shipped_toml(), **edit}
    if "ensemble" in edit:
        cfg["ensemble"] = {**shipped_toml()["ensemble"], **edit["ensemble"]}
    with pytest.raises(ValueError) as err:
        pipeline_from_dict(cfg, "default", default_registry())
    assert message in str(err.value)


def test_a_typo_in_a_toml_file_names_the_file(tmp_path):
    toml = copy_pipeline(tmp_path / "typo", lambda t: t.replace("[ensemble.weights]", "[ensemble]\npeak_levle = 3.0\n\n"
                                                                "[ensemble.weights]"))
    with pytest.raises(ValueError, match=r"default\.toml: \[ensemble\] unknown key 'peak_levle'; known: "):
        load_pipeline(toml)


def test_a_disabled_detector_is_left_out():
    cfg = shipped_toml()
    cfg["detectors"] = [*cfg["detectors"][:-1], {**cfg["detectors"][-1], "enabled": False}]
    pipe = pipeline_from_dict(cfg, "default", default_registry())
    assert "iforest" not in dict(pipe.detectors)
    assert pipe.detector_params("iforest")["n_estimators"] == 100  # still its function's default


def test_fitted_files_for_other_detector_parameters_are_refused(tmp_path):
    """A detector parameter changed after the fit: the tails describe statistics the pipeline no
    longer computes, so loading fails and says which file and how to refit."""
    toml = copy_pipeline(tmp_path / "changed", lambda t: t.replace("resolution_steps = 1.5", "resolution_steps = 2.0"))
    with pytest.raises(StaleFitError) as err:
        load_pipeline(toml)
    message = str(err.value)
    assert str(calibration_path(toml)) in message and "envtrust evaluate --fit-combiner" in message
    # a refit starts from the pipeline as written: the stale files are left out, not installed
    pipe = load_pipeline(toml, refit=("calibration", "combiners"))
    assert pipe.ensemble.calibration == {} and pipe.ensemble.combiners == ()


def test_a_stale_combiner_alone_is_refused(tmp_path):
    toml = copy_pipeline(tmp_path / "comb")
    comb = toml.with_name("default.combiner.water.json")
    comb.write_text(json.dumps({**json.loads(comb.read_text()), "fingerprint": "sha256:0"}), encoding="utf-8")
    with pytest.raises(StaleFitError, match="default.combiner.water.json .* records fingerprint sha256:0"):
        load_pipeline(toml)
    assert len(load_pipeline(toml, refit=("combiners",)).ensemble.combiners) == 2


def test_a_fitted_file_without_fingerprint_is_refused(tmp_path):
    toml = copy_pipeline(tmp_path / "old")
    cal = calibration_path(toml)
    cal.write_text(json.dumps({k: v for k, v in json.loads(cal.read_text()).items() if k != "fingerprint"}),
                   encoding="utf-8")
    with pytest.raises(StaleFitError, match="records no fingerprint"):
        load_pipeline(toml)


def test_knobs_outside_the_fingerprint_keep_the_fit():
    """Ensemble and event knobs are applied to the fitted numbers at scoring time: tuning them keeps
    the fingerprint; a copy elsewhere, or another name, is the same pipeline."""
    base = read_config(SHIPPED)
    cfg = shipped_toml()
    cfg["ensemble"] = {**cfg["ensemble"], "peak_bonus": 4.0}
    cfg["events"] = {"merge_gap_h": 5}
    cfg["name"] = "renamed"
    assert fit_fingerprint(pipeline_from_dict(cfg, "x", default_registry(), source="/elsewhere.toml")) == \
        fit_fingerprint(base)
    cfg["panel"] = {"k_neighbours": 6}
    assert fit_fingerprint(pipeline_from_dict(cfg, "x", default_registry())) != fit_fingerprint(base)


def test_a_detector_default_counts_in_the_fingerprint_like_a_toml_value():
    """Stating a parameter at its default value is the same pipeline as leaving it out."""
    cfg = shipped_toml()
    cfg["detectors"] = [{**d, "params": {"seed": 0}} if d["name"] == "iforest" else d for d in cfg["detectors"]]
    assert fit_fingerprint(pipeline_from_dict(cfg, "default", default_registry())) == fit_fingerprint(read_config(SHIPPED))
