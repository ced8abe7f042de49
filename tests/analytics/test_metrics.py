"""Evaluation metrics on tiny hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.evaluation.metrics import (
    alarm_mask,
    average_precision,
    event_metrics,
    label_grid,
    score_metrics,
    station_hour_grid,
    to_station_hours,
)

T0 = pd.Timestamp("2020-01-01")


def _h(k: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=k)


@pytest.fixture()
def grid():
    # two stations x 100 hours = 200 station-hours
    readings = pd.DataFrame({"station_id": ["A", "B"], "ts": [_h(0), _h(99)], "parameter": "PM2.5", "value": 1.0})
    return station_hour_grid(readings)


@pytest.fixture()
def truth():
    return pd.DataFrame({"event_id": ["e1", "e2", "e3"], "station_id": ["A", "A", "B"],
                         "start": [_h(10), _h(50), _h(20)], "end": [_h(12), _h(50), _h(29)],
                         "kind": ["spike", "spike", "drift"], "parameters": "{}"})


def test_grid_and_labels(grid, truth):
    assert len(grid) == 200
    labels = label_grid(grid, truth)
    assert (labels >= 0).sum() == 3 + 1 + 10
    a = grid["station_id"].eq("A").to_numpy()
    assert labels[a][10:13].tolist() == [0, 0, 0] and labels[a][13] == -1
    assert (labels[~a][20:30] == 2).all()


def test_to_station_hours_takes_max_and_fills_zero(grid):
    scores = pd.DataFrame({"station_id": ["A", "A", "B"], "ts": [_h(3), _h(3), _h(5)],
                           "parameter": ["PM2.5", "NO2", "PM2.5"], "score": [0.2, 0.7, np.nan]})
    sh = to_station_hours(scores, grid)
    assert sh[3] == pytest.approx(0.7)
    assert sh[100 + 5] == 0.0 and sh.sum() == pytest.approx(0.7)


def test_average_precision_known_values():
    labels = np.array([0, -1, 0, -1])  # positives at 0 and 2
    assert average_precision(labels, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(labels, np.array([1.0, 0.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert np.isnan(average_precision(np.array([-1, -1]), np.array([0.5, 0.2])))


def test_alarm_budget_is_ceil_and_ignores_zero_scores():
    s = np.zeros(250)
    s[[3, 7, 9]] = [0.5, 0.9, 0.1]
    m = alarm_mask(s, 0.01)  # ceil(2.5) = 3 alarms
    assert m.sum() == 3 and m[[3, 7, 9]].all()
    assert alarm_mask(np.zeros(250), 0.01).sum() == 0


def test_event_recall_and_false_segments(grid, truth):
    scores = np.zeros(200)
    scores[11] = 5.0              # inside e1 (A, hours 10..12)
    scores[100 + 60] = 4.0        # B hour 60: far from e3 -> false segment
    # budget 1% of 200 = 2 alarms
    m = score_metrics(scores, grid, truth, budget=0.01)
    assert m["alarms"] == 2
    assert m["event_recall"] == pytest.approx(1 / 3)
    assert m["per_kind_recall"] == {"drift": 0.0, "spike": 0.5}
    assert m["alarm_segments"] == 2 and m["false_alarm_segments"] == 1
    assert m["false_alarm_segments_per_station_month"] == pytest.approx(1 / (200 / (24 * 365.25 / 12)))
    # 2 alarms, one positive: AP over 14 positives is small but positive
    assert 0 < m["ap"] < 0.2


def test_alarm_just_after_event_is_not_false_within_tolerance(grid, truth):
    scores = np.zeros(200)
    scores[100 + 33] = 1.0  # B hour 33, 4 h after e3 ends (tolerance 6 h)
    m = score_metrics(scores, grid, truth, budget=0.005)
    assert m["false_alarm_segments"] == 0 and m["event_recall"] == 0.0


def test_own_event_metrics(grid, truth):
    events = pd.DataFrame({
        "event_id": ["x", "y", "z"], "station_id": ["A", "B", "B"],
        "start": [_h(9), _h(25), _h(80)], "end": [_h(11), _h(40), _h(82)],
        "kind": ["spike", "outage", "flatline"], "score": [0.9, 0.8, 0.7],
    })
    m = event_metrics(events, truth, grid)
    assert m["event_recall"] == pytest.approx(2 / 3)   # e1 and e3 matched, e2 not
    assert m["false_events"] == 1                        # z matches nothing
    assert m["kind_accuracy"] == pytest.approx(0.5)     # e1 spike ok, e3 drift vs outage wrong
    assert m["per_kind_recall"] == {"drift": 1.0, "spike": 0.5}
    empty = event_metrics(events.iloc[:0], truth, grid)
    assert empty["event_recall"] == 0.0 and empty["false_events"] == 0


def test_per_kind_ap_ranks_each_kind_against_clean_hours(grid, truth):
    labels = label_grid(grid, truth)
    scores = np.where(labels == 2, 1.0, 0.0)  # only the drift event (e3) scores
    m = score_metrics(scores, grid, truth, budget=0.05)
    assert m["per_kind_ap"]["drift"] == pytest.approx(1.0)
    assert m["per_kind_ap"]["spike"] == pytest.approx(4 / (200 - 10))  # no signal: AP = prevalence


def test_one_event_spanning_everything_catches_nothing(grid, truth):
    events = pd.DataFrame({"event_id": ["all-A", "all-B"], "station_id": ["A", "B"], "start": [_h(0), _h(0)],
                           "end": [_h(99), _h(99)], "kind": ["drift", "drift"], "score": [1.0, 1.0]})
    m = event_metrics(events, truth, grid)
    assert m["event_recall"] == 0.0 and m["false_events"] == 2
    assert m["coverage_share"] == 1.0
    assert m["hours_in_truth_share"] == pytest.approx(14 / 200)


def test_changed_mask_and_ap_on_altered_hours(grid, truth):
    from analytics.evaluation.metrics import changed_mask

    original = pd.DataFrame({"station_id": "A", "ts": [_h(10), _h(11), _h(12), _h(20)], "parameter": "PM2.5",
                             "value": [80.0, 90.0, 70.0, 5.0], "flag": "N"})
    injected = original.iloc[[0, 2, 3]].copy()         # hour 11 removed (outage-like)
    injected.loc[0, "value"] = 74.0                     # hour 10 altered; hour 12 unchanged
    changed = changed_mask(original, injected, grid)
    assert np.flatnonzero(changed).tolist() == [10, 11]
    scores = np.zeros(200)
    scores[[10, 11]] = 1.0                              # a method that finds exactly the altered hours
    m = score_metrics(scores, grid, truth, labels=label_grid(grid, truth), changed=changed)
    assert m["ap"] == pytest.approx(1.0)                # unaltered hour 12 of e1 is left out, not a miss
    assert m["ap_windows"] < 1.0 and m["changed_station_hours"] == 2


@pytest.fixture()
def long_grid():
    # two stations x 3000 hours = 8.21 station-months: 0.3/stn-month allows 2 unmatched segments, 1.0 allows 8
    readings = pd.DataFrame({"station_id": ["A", "B"], "ts": [_h(0), _h(2999)], "parameter": "PM2.5", "value": 1.0})
    return station_hour_grid(readings)


def _sh(grid, cells: dict[tuple[str, int], float]) -> np.ndarray:
    out = np.zeros(len(grid))
    for (sid, h), v in cells.items():
        out[(0 if sid == "A" else 3000) + h] = v
    return out


def test_recall_at_matched_false_alarm_rates(long_grid, truth):
    from analytics.evaluation.metrics import recall_at_false_alarm_rates

    # false alarms: A 500, 501, 503 (one segment: gap of 1 h <= 2), B 1000, B 2000, A 2500
    scores = _sh(long_grid, {("A", 500): 0.99, ("A", 501): 0.99, ("A", 503): 0.99, ("A", 11): 0.96,
                             ("B", 1000): 0.95, ("B", 2000): 0.94, ("A", 2500): 0.93, ("B", 25): 0.92,
                             ("A", 50): 0.5})
    m = recall_at_false_alarm_rates(scores, long_grid, truth)
    low, high = m["0.3"], m["1"]
    assert low["threshold"] == pytest.approx(0.95)  # a third unmatched segment (0.94) would exceed 2.46
    assert low["recall"] == pytest.approx(1 / 3) and low["per_kind_recall"] == {"drift": 0.0, "spike": 0.5}
    assert low["false_segments_per_station_month"] == pytest.approx(2 / (6000 / (24 * 365.25 / 12)))
    assert high["threshold"] == pytest.approx(0.5) and high["recall"] == 1.0
    assert high["false_segments_per_station_month"] == pytest.approx(4 / (6000 / (24 * 365.25 / 12)))


def test_alarm_segments_merge_gaps_of_two_hours_only():
    from analytics.evaluation.metrics import alarm_segments

    alarm = np.array([[1, 0, 0, 1, 0, 0, 0, 1, 1]], dtype=bool)
    ids = alarm_segments(alarm, merge_gap_h=2)
    assert ids.tolist() == [[1, 1, 1, 1, 0, 0, 0, 2, 2]]


def test_own_events_at_workload_reads_the_list_from_the_top(long_grid, truth):
    from analytics.evaluation.metrics import own_events_at_workload

    events = pd.DataFrame({
        "station_id": ["A", "B", "A", "B", "A", "B", "A"],
        "start": [_h(11), _h(900), _h(1500), _h(21), _h(2000), _h(2500), _h(50)],
        "end": [_h(12), _h(901), _h(1501), _h(28), _h(2001), _h(2501), _h(50)],
        "kind": ["spike", "outage", "outage", "suppression", "spike", "spike", "spike"],
        "score": [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.10]})
    m = own_events_at_workload(events, truth, long_grid)
    low = m["at_rate"]["0.3"]  # 2 unmatched allowed: e1 (spike, right kind), e3 (drift, called suppression)
    assert low["events"] == 4 and low["recall"] == pytest.approx(2 / 3)
    assert low["kind_accuracy"] == pytest.approx(0.5)
    assert low["per_kind_recall"] == {"drift": 1.0, "spike": 0.5}
    high = m["at_rate"]["1"]
    assert high["events"] == 7 and high["recall"] == 1.0
    assert m["pr_curve"][-1] == pytest.approx({"events": 7, "precision": 3 / 7, "recall": 1.0,
                                               "unmatched_per_station_month": 4 / (6000 / (24 * 365.25 / 12))})
