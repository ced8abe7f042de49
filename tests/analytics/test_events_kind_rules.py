"""Kinds the evidence tells apart: a stuck probe reads one value, copied or smoothed data keep the
source's variation (``analytics.events.held_at_one_value``)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd

from analytics.events import FLAT_RANGE_STEPS, held_at_one_value


def _panel(series: np.ndarray, parameter: str = "NH3-N") -> SimpleNamespace:
    return SimpleNamespace(values=series.reshape(1, -1, 1), parameters=(parameter,))


def test_a_stuck_or_hand_set_value_is_held_and_a_copied_curve_is_not():
    rng = np.random.default_rng(0)
    hours = 48
    background = np.round(0.5 + 0.2 * rng.random(24 * 20), 2)  # 0.01 mg/L reporting steps
    stuck = background.copy()
    stuck[100:100 + hours] = 0.61
    near = background.copy()
    near[100:100 + hours] = 0.61 + rng.integers(-1, 2, size=hours) * 0.01  # +-1 step, as a flickering probe
    copied = background.copy()
    copied[100:100 + hours] = background[300:300 + hours]  # an earlier day replayed
    hot = np.ones((hours, 1), dtype=bool)
    for series, want in ((stuck, True), (near, True), (copied, False)):
        assert held_at_one_value(_panel(series), 0, 100, 100 + hours - 1, hot) is want
    # within FLAT_RANGE_STEPS steps, not more: three steps apart is variation
    wide = background.copy()
    wide[100:100 + hours] = 0.61 + np.tile([0.0, (FLAT_RANGE_STEPS + 1) * 0.01], hours // 2)
    assert not held_at_one_value(_panel(wide), 0, 100, 100 + hours - 1, hot)


def test_planted_water_flatlines_are_raised_as_flatlines_not_fabrications():
    from analytics.evaluation.inject import inject_interference
    from analytics.evaluation.metrics import match_events
    from analytics.pipeline import load_pipeline, score_partition
    from envtrust.evaluation.harness import water_network

    r, s, _ = water_network("2016-09-01", "2016-12-01", seed=7, max_sections=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, truth = inject_interference(r, s, kinds=["flatline"], n_per_kind=12, seed=4)
    # thresholds learned in the run: this short run opens its flatlines there
    pipe = replace(load_pipeline("default"), clean_event_thresholds={}, clean_network_tails={})
    events = score_partition(injected, s, pipe).events
    _, _, best = match_events(events, truth.assign(start=pd.to_datetime(truth["start"]), end=pd.to_datetime(truth["end"])))
    kinds = [events["kind"].iloc[b] for b in best if b >= 0]
    assert len(kinds) >= 3
    assert kinds.count("flatline") >= len(kinds) - 1 and "fabrication" not in kinds


def test_a_shift_the_pollutant_analysers_share_is_the_sample_not_a_drifting_probe():
    """Dilution lowers every pollutant alike (suppression); a copied record moves them together with
    the copy model firing (fabrication); one probe off its calibration stays a drift; air keeps its kind."""
    from analytics.events import shared_shift_kind

    diluted = {"CODMn": -45.1, "NH3-N": -43.0, "TP": -44.6, "TN": -45.2, "turbidity": -46.9}
    drifting = {"NH3-N": -45.3}
    copied_up = {"DO": -8.3, "CODMn": 65.6, "NH3-N": 61.5, "TP": 59.4, "TN": 58.2}
    assert shared_shift_kind("drift", diluted, {"drift": 7.7, "spike": 6.3}, "water") == "suppression"
    assert shared_shift_kind("drift", diluted, {"drift": 4.8, "donor_copy": 8.6}, "water") == "fabrication"
    assert shared_shift_kind("drift", diluted, {"drift": 9.0, "donor_copy": 4.0}, "water") == "suppression"
    assert shared_shift_kind("drift", copied_up, {"drift": 5.5, "donor_copy": 5.4}, "water") == "fabrication"
    assert shared_shift_kind("drift", copied_up, {"drift": 5.5}, "water") == "drift"  # a rise without a copy
    assert shared_shift_kind("drift", drifting, {"drift": 9.0}, "water") == "drift"
    assert shared_shift_kind("drift", {**diluted, "TP": -10.0, "TN": -9.0}, {"drift": 7.0}, "water") == "drift"
    assert shared_shift_kind("spike", diluted, {"spike": 9.0}, "water") == "spike"
    assert shared_shift_kind("drift", {"PM2.5": -40.0, "PM10": -40.0, "NO2": -40.0, "CO": -40.0},
                             {"drift": 9.0}, "air") == "drift"


def test_do_held_above_its_class_minimum_is_a_clipping_not_a_drift():
    """DO above the neighbours with the class-limit bunching model firing is a clipping; DO reading
    low (a fouled membrane), or high without bunching at a limit, stays a drift."""
    from analytics.events import held_at_class_minimum

    fired = {"drift": 7.6, "clip_class": 4.3, "drift_ramp": 3.0}
    assert held_at_class_minimum("drift", {"DO": 20.7}, fired, "water") == "clipping"
    assert held_at_class_minimum("drift", {"DO": -18.6}, fired, "water") == "drift"
    assert held_at_class_minimum("drift", {"DO": 20.7}, {"drift": 7.6}, "water") == "drift"
    assert held_at_class_minimum("spike", {"DO": 20.7}, fired, "water") == "spike"
    assert held_at_class_minimum("drift", {"DO": 20.7}, fired, "air") == "drift"
