"""Water sections and polluter outlets take event thresholds fitted once on clean data of their
network (``Pipeline.clean_event_thresholds``) instead of spending a false-event budget in each run:
an honest network then raises what clean data raises, and planted cases do not take each other's
place in a budget."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

from analytics.ensemble import combine
from analytics.evaluation.inject import inject_interference
from analytics.pipeline import (
    apply_clean_events,
    calibrate_clean_events,
    in_run_thresholds,
    load_pipeline,
    run_models,
    scoring_surprise,
)
from analytics.pipeline.run import event_surprise
from analytics.pipeline.thresholds import CLEAN_OPENER_BUDGETS
from envtrust.evaluation.harness import water_network


def _thresholds(readings, stations, pipe):
    panel, _, _, raw = run_models(readings, stations, pipe)
    surprise, _, uncal = scoring_surprise(panel, raw, pipe)
    surprise = event_surprise(raw, surprise, pipe, panel.parameters)
    return panel, in_run_thresholds(panel, combine(surprise, pipe.ensemble), surprise, pipe, uncal)


@pytest.fixture(scope="module")
def sections():
    clean, stations, _ = water_network("2016-10-01", "2016-12-01", seed=7, max_sections=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, _ = inject_interference(clean, stations, kinds=["outage", "flatline", "drift"], n_per_kind=6, seed=9)
    return clean, injected, stations


def test_the_shipped_calibration_has_clean_thresholds_for_water_sections_and_outlets():
    fitted = load_pipeline("default").clean_event_thresholds
    assert {"water_section", "polluter_outlet"} <= set(fitted)
    for kind in ("water_section", "polluter_outlet"):
        assert 2.0 <= fitted[kind]["threshold"] <= 12.0
        assert "outage" in fitted[kind]["model_thresholds"]
        assert set(fitted[kind]["model_thresholds"]) == set(fitted[kind]["model_window_h"])


def test_clean_thresholds_do_not_move_with_what_the_run_holds(sections):
    clean, injected, stations = sections
    base = replace(load_pipeline("default"), clean_event_thresholds={}, clean_network_tails={})
    clean_fit = calibrate_clean_events(clean, stations, base, 0.1)
    fitted = clean_fit["thresholds"]
    assert set(fitted) == {"water_section"} and set(clean_fit["tails"]) == {"water"}
    pipe = apply_clean_events(replace(base), clean_fit)
    _, on_clean = _thresholds(clean, stations, pipe)
    panel, on_injected = _thresholds(injected, stations, pipe)
    want = fitted["water_section"]
    for st in (on_clean, on_injected):
        np.testing.assert_array_equal(st.threshold, want["threshold"])
        for m, t in want["model_thresholds"].items():
            np.testing.assert_array_equal(st.model_thresholds[m], t)
            assert st.model_window_h[m] == want["model_window_h"][m]
    # events read water surprises against the clean tails, not against the run: the same gap
    # statistic is as rare in a run full of planted gaps as in a clean one
    panel, _, _, raw = run_models(injected, stations, pipe)
    surprise, _, _ = scoring_surprise(panel, raw, pipe)
    ev = event_surprise(raw, surprise, pipe, panel.parameters)
    tail = pipe.clean_network_tails["water"]["outage"]
    judged = [i for i, p in enumerate(panel.parameters) if p != "water_temp"]
    np.testing.assert_allclose(ev["outage"][..., judged], tail.surprise(raw["outage"][..., judged]))


def test_a_kinds_extra_openers_fit_in_what_the_others_leave_without_moving_them(sections):
    clean, _, stations = sections
    base = replace(load_pipeline("default"), clean_event_thresholds={}, clean_network_tails={})
    alone = replace(base, events=replace(base.events, self_calibrated_own_event_models_by_kind={}))
    # models that do speak on clean sections, at a target where the first stage has room: fitted
    # jointly here they took it from the others (outage 3.2 -> 5.2, flatline 4.7 -> 5.2)
    extra = {"spike": 1, "spatial_high": 1, "seasonal_high": 1}
    with_extra = replace(base, events=replace(base.events, self_calibrated_own_event_models_by_kind={"water_section": extra}))
    first = calibrate_clean_events(clean, stations, alone, 0.3)["thresholds"]["water_section"]
    staged = calibrate_clean_events(clean, stations, with_extra, 0.3)["thresholds"]["water_section"]
    assert not set(extra) & set(first["model_thresholds"])
    # the openers every section has keep the thresholds (and budget) they had alone ...
    assert staged["threshold"] == first["threshold"] and staged["opener_budget"] == first["opener_budget"]
    for m, t in first["model_thresholds"].items():
        assert staged["model_thresholds"][m] == t and staged["model_window_h"][m] == first["model_window_h"][m]
    # ... the extras open events there too, and the kind's clean rate stays within the target
    assert set(extra) <= set(staged["model_thresholds"]) and staged["extra_opener_budget"] in CLEAN_OPENER_BUDGETS
    assert staged["clean_events_per_station_month"] <= 0.3
