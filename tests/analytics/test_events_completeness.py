"""Data-completeness alarms (issue 10 item 3): every run of missing expected hours long enough to
cost a valid day is a ``data_gap`` alarm of its own, whatever the interference thresholds - unless a
suspected-interference event already covers those hours."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.events import DATA_GAP_KIND, EventSettings, completeness_gaps, data_gap_summary
from analytics.pipeline import load_pipeline, score_partition
from analytics.standards.air_quality import ValidityRules, gap_costing_a_valid_day_h


def _overlapping(events: pd.DataFrame, station: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return events[(events["station_id"] == station) & (events["start"] <= end) & (events["end"] >= start)]


def test_the_default_gap_length_is_the_shortest_that_can_cost_a_valid_day():
    assert gap_costing_a_valid_day_h() == 5  # 24 h - 20 hourly means (GB 3095-2012 table 4) + 1
    assert gap_costing_a_valid_day_h(ValidityRules(min_hours_daily=18)) == 7
    assert EventSettings().data_gap_min_h == 5


@pytest.mark.parametrize(("gap_h", "expected"), [(4, []), (5, [(0, 10, 14)])])
def test_completeness_gaps_are_runs_of_missing_hours_inside_the_reporting_period(gap_h, expected):
    missing = np.zeros((2, 40), dtype=bool)
    missing[0, 10:10 + gap_h] = True
    missing[1, :20] = True  # station 1 not commissioned before hour 20: no gap
    missing[1, 35:] = True  # ... and its feed ends at hour 34: no gap either
    assert completeness_gaps(missing, 5) == expected
    assert completeness_gaps(np.ones((1, 40), dtype=bool), 5) == []  # a station with no data at all


@pytest.fixture(scope="module")
def honest_water():
    from envtrust.evaluation.harness import water_network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r, s, _ = water_network("2016-12-01", "2017-01-10", seed=3, max_sections=6)
    return r, s


def _water_gap(honest_water, hours: int):
    """Drop ``hours`` of one honest section's rows on a quiet day; score with the default pipeline."""
    r, s = honest_water
    station = str(s["station_id"].iloc[2])
    start = pd.Timestamp("2016-12-20 03:00")
    end = start + pd.Timedelta(hours=hours - 1)
    gone = (r["station_id"] == station) & r["ts"].between(start, end)
    assert gone.any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = score_partition(r[~gone], s, load_pipeline("default")).events
    return _overlapping(ev, station, start, end), start, end


def test_a_six_hour_gap_on_an_honest_water_section_is_one_completeness_alarm(honest_water):
    near, start, end = _water_gap(honest_water, 6)
    assert list(near["kind"]) == [DATA_GAP_KIND]
    gap = near.iloc[0]
    assert (gap["start"], gap["end"]) == (start, end)
    assert gap["score"] == 0.0 and gap["rank_score"] < 0.1
    assert "6 h of data missing" in gap["summary"] and "no sign of interference" in gap["summary"]
    assert "缺失6小时" in gap["summary"] and "6 h without a record" in gap["summary"]
    assert "no valid value" not in gap["summary"]  # the rows are absent, not empty
    assert gap["evidence"]["hours"] == 6 and gap["evidence"]["sentences"]


def test_a_three_hour_gap_raises_no_completeness_alarm(honest_water):
    near, _, _ = _water_gap(honest_water, 3)
    assert DATA_GAP_KIND not in set(near["kind"])


def _air(neighbours_high: bool, commissioned_h: int = 0):
    """Three air stations, 400 h of PM2.5/PM10; station A dark for 12 h (hours 200-211) while the
    neighbours are in an episode (x4) or ordinary; station C starts reporting at ``commissioned_h``."""
    rng = np.random.default_rng(1)
    ts = pd.date_range("2020-01-01", periods=400, freq="h")
    base = 40 * np.exp(rng.normal(0, 0.3, 400))
    rows = []
    for k, sid in enumerate(["A", "B", "C"]):
        level = base * np.exp(rng.normal(0, 0.1, 400))
        if neighbours_high:
            level[200:212] *= 4
        keep = np.ones(400, dtype=bool)
        if k == 0:
            keep[200:212] = False
        if k == 2:
            keep[:commissioned_h] = False
        for p, f in (("PM2.5", 1.0), ("PM10", 1.6)):
            rows.append(pd.DataFrame({"station_id": sid, "ts": ts[keep], "parameter": p,
                                      "value": np.round(level * f)[keep]}))
    stations = pd.DataFrame({"station_id": ["A", "B", "C"], "name": ["A", "B", "C"], "kind": "air_station",
                             "lon": [116.30, 116.35, 116.40], "lat": [39.90, 39.92, 39.95]})
    ev = score_partition(pd.concat(rows, ignore_index=True), stations, load_pipeline("default")).events
    return ev, ts[200], ts[211]


def test_a_gap_during_an_episode_stays_interference_without_a_duplicate_gap_alarm():
    ev, start, end = _air(neighbours_high=True)
    kinds = list(_overlapping(ev, "A", start, end)["kind"])
    assert "outage" in kinds and DATA_GAP_KIND not in kinds


def test_an_ordinary_gap_is_a_completeness_alarm_and_a_station_before_commissioning_has_none():
    ev, start, end = _air(neighbours_high=False, commissioned_h=150)
    near = _overlapping(ev, "A", start, end)
    assert list(near["kind"]) == [DATA_GAP_KIND]
    assert (near["start"].iloc[0], near["end"].iloc[0]) == (start, end)
    assert ev[(ev["station_id"] == "C") & (ev["kind"] == DATA_GAP_KIND)].empty


def test_a_gap_summary_does_not_claim_no_sign_of_interference_when_the_neighbours_read_high():
    quiet = data_gap_summary("Dongsi", "东四", 6, "6 h without a record", "6小时无记录", "air", {"z": 0.2, "high": False})
    assert quiet.startswith("Dongsi: 6 h of data missing (6 h without a record)") and "no sign of interference" in quiet
    assert "东四：缺失6小时数据" in quiet and "无干扰迹象" in quiet
    high = data_gap_summary("Dongsi", None, 6, "6 h without a record", "6小时无记录", "air",
                            {"z": 0.4, "pm25": 120.0, "high": True})
    assert "no sign" not in high and "neighbours read high" in high and "无干扰迹象" not in high


def test_a_gap_summary_with_high_neighbours_gives_their_level():
    high = data_gap_summary("Dongsi", "东四", 6, "6 h without a record", "6小时无记录", "air",
                            {"z": 2.1, "high": True})
    assert "neighbours read high meanwhile at +2.1 robust scales" in high and "偏高，+2.1个稳健标准差" in high
