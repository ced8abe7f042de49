"""The water sections' learned event ranker (``analytics.event_ranker``, ``station_kind``): the
sections' list opens at looser clean thresholds, the ranker orders it and the list is cut where the
honest clean network keeps the shipped clean rate - so a planted case the looser list catches ranks
above the honest network's events, and an honest network stays quiet."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analytics.evaluation.inject import inject_interference
from analytics.evaluation.metrics import match_events
from analytics.event_ranker import EventRanker, capacity_cut
from analytics.events import DATA_GAP_KIND, EventRateTail
from analytics.pipeline import load_pipeline, score_partition
from analytics.pipeline.calibration import CLEAN_EVENTS_PER_STATION_MONTH

KIND = "water_section"
HONEST_TARGET = 0.1  # issue 10: suspected-interference events per station-month on honest networks


def _without_ranker(pipe):
    return replace(pipe, events=replace(pipe.events, kind_rankers={}))


def _uncut(pipe):
    """The shipped ranker without its cut: every event the looser thresholds open, ranked."""
    ranker = pipe.events.kind_rankers[KIND]
    return replace(pipe, events=replace(pipe.events, kind_rankers={KIND: replace(ranker, list_rate=None)}))


def _suspected(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["kind"] != DATA_GAP_KIND].reset_index(drop=True)


def _score(readings, stations, pipe) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _suspected(score_partition(readings, stations, pipe).events)


@pytest.fixture(scope="module")
def honest_sections():
    """Ten honest sections over half a development year (a generator seed no fit uses)."""
    from envtrust.evaluation.harness import water_network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r, s, _ = water_network("2014-03-01", "2014-09-01", seed=7)
    return r, s


def _station_months(readings: pd.DataFrame) -> float:
    span = readings.groupby("station_id")["ts"].agg(["min", "max"])
    return float(((span["max"] - span["min"]).dt.total_seconds() / 3600 + 1).sum() / (24 * 30.44))


def test_a_kind_ranker_round_trips_and_cuts_where_clean_data_keep_its_rate():
    tail = EventRateTail((0.0, 1.0), (1.0, 0.1))
    opened = {"threshold": 5.0, "window_h": 12, "model_thresholds": {"outage": 3.0}, "model_window_h": {"outage": 1}}
    r = EventRanker(("log_hours",), (0.0,), (1.0,), (1.0,), 0.0, tail, station_kind=KIND,
                    open_thresholds=opened, list_rate=0.05)
    assert EventRanker.from_dict(r.to_dict()) == r
    assert r.list_cut() == pytest.approx(capacity_cut(0.05)) == pytest.approx(np.log10(24 * 30.44 / 0.05))
    air = replace(r, station_kind=None, open_thresholds=None, list_rate=None)
    assert air.list_cut() is None and "station_kind" not in air.to_dict()  # the air file keeps its fields


def test_the_shipped_water_ranker_opens_looser_and_cuts_at_the_shipped_clean_rate():
    pipe = load_pipeline("default")
    ranker = pipe.events.kind_rankers[KIND]
    shipped = pipe.clean_event_thresholds[KIND]
    assert ranker.list_rate == CLEAN_EVENTS_PER_STATION_MONTH
    assert ranker.open_thresholds["threshold"] <= shipped["threshold"]
    assert any(ranker.open_thresholds["model_thresholds"][m] < t for m, t in shipped["model_thresholds"].items())
    assert pipe.events.ranker is not None  # the air ranker stays beside it


def test_an_injected_water_case_the_looser_list_catches_ranks_above_the_honest_events(honest_sections):
    readings, stations = honest_sections
    pipe = load_pipeline("default")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, truth = inject_interference(readings, stations, kinds=["outage", "clipping"], n_per_kind=6, seed=11)
    listed = _score(injected, stations, pipe)
    before = _score(injected, stations, _without_ranker(pipe))
    _, _, best_listed = match_events(listed, truth)
    _, _, best_before = match_events(before, truth)
    new = [i for i in range(len(truth)) if best_listed[i] >= 0 and best_before[i] < 0]
    assert new, "the looser list catches no planted case the shipped thresholds miss"
    honest = _score(readings, stations, _uncut(pipe))  # every honest event the looser thresholds open
    top_honest = float(honest["rank_score"].max()) if len(honest) else -np.inf
    caught = listed.loc[[best_listed[i] for i in new], "rank_score"].astype(float)
    assert (caught > top_honest).any(), (caught.tolist(), top_honest)


def test_an_honest_water_network_stays_within_the_clean_rate(honest_sections):
    readings, stations = honest_sections
    pipe = load_pipeline("default")
    months = _station_months(readings)
    listed = _score(readings, stations, pipe)
    opened = _score(readings, stations, _uncut(pipe))
    assert len(listed) / months <= HONEST_TARGET, (len(listed), months)
    # the looser thresholds alone would not keep it: the cut does
    assert len(opened) > len(listed)
    assert set(zip(listed["station_id"], listed["start"], strict=True)) <= \
        set(zip(opened["station_id"], opened["start"], strict=True))
