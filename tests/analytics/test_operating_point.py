"""The operating point follows the analysts' capacity: the calibrated event thresholds are those of
the largest fitted false-event budget within it (``analytics.pipeline.at_capacity``)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.events import EventSettings
from analytics.pipeline import at_capacity, load_pipeline, score_partition
from analytics.pipeline.calibration import CAPACITY_BUDGETS, thresholds_by_budget


def test_the_shipped_calibration_keeps_a_threshold_per_budget_and_its_own_budget_among_them():
    pipe = load_pipeline("default")
    table = pipe.event_thresholds_by_budget
    assert sorted(map(float, table)) == sorted(CAPACITY_BUDGETS)
    own = table[f"{pipe.false_events_per_station_month:g}"]
    assert own["threshold"] == pipe.events.threshold  # the same walk as the calibration's own threshold
    thr = [table[f"{b:g}"]["threshold"] for b in sorted(CAPACITY_BUDGETS)]
    assert thr == sorted(thr, reverse=True)  # a larger budget never needs a stricter threshold


@pytest.mark.parametrize("capacity,budget", [(0.3, "0.3"), (0.35, "0.3"), (1.0, "1"), (5.0, "1"), (0.01, "0.05")])
def test_at_capacity_takes_the_largest_budget_within_it(capacity, budget):
    pipe = load_pipeline("default")
    got = at_capacity(pipe, capacity)
    want = pipe.event_thresholds_by_budget[budget]
    assert got.events.threshold == want["threshold"]
    assert got.events.model_thresholds == pipe.events.model_thresholds  # gaps keep the calibration's budget
    assert pipe.events.threshold == load_pipeline("default").events.threshold  # the loaded pipeline is not changed


def test_no_capacity_or_no_table_keeps_the_calibrations_budget():
    pipe = load_pipeline("default")
    assert at_capacity(pipe, None) is pipe
    pipe.event_thresholds_by_budget = {}
    assert at_capacity(pipe, 0.3) is pipe


def test_thresholds_by_budget_walk_the_clean_surprise():
    rng = np.random.default_rng(0)
    sh = rng.exponential(1.0, size=(4, 24 * 365))  # a year of four stations' station-hour surprise
    table = thresholds_by_budget(sh, EventSettings(), 4 * 365 / 30.44, budgets=(0.1, 1.0))
    assert table["0.1"]["threshold"] > table["1"]["threshold"]


def test_a_larger_capacity_opens_more_events_on_the_sample():
    from data.adapters.beijing import read_prsa_pollutants
    from envtrust.settings import SAMPLE_DIR

    readings, stations = read_prsa_pollutants(SAMPLE_DIR / "beijing")
    pipe = load_pipeline("default")
    few = score_partition(readings, stations, at_capacity(pipe, 0.1)).events
    many = score_partition(readings, stations, at_capacity(pipe, 1.0)).events
    assert len(many) > len(few)
