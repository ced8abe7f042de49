"""The air reference stations' learned event ranker (``analytics.event_ranker``): the list opens at
the ranker's capacity (longer than the analysts'), the ranker orders it, an event's rank_score is
"1 in N clean station-hours" at its ranker value, and the analysts' capacity is the rank_score cut
the list is kept from. Micro-stations' thresholds do not follow the longer list."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import analytics.pipeline.run as run_mod
from analytics.event_ranker import EventRanker, capacity_cut, clean_value_tail, event_features
from analytics.events import HOURS_PER_MONTH, EventRateTail
from analytics.pipeline import at_capacity, load_pipeline, score_partition
from tests.analytics.test_events_beyond_history import _at, planted_copy

CAPACITY = 0.3  # the shipped air capacity (settings.DEFAULT_ANALYST_CAPACITY)


TAIL = EventRateTail((0.0, 1.0), (1.0, 0.1))


def _ranker(coef: dict[str, float], beyond_clean: float | None = None) -> EventRanker:
    names = tuple(coef)
    return EventRanker(names, (0.0,) * len(names), (1.0,) * len(names), tuple(coef.values()), 0.0, TAIL,
                       beyond_clean=beyond_clean)


def test_the_capacity_cut_is_the_rank_score_clean_data_reaches_that_often():
    assert capacity_cut(0.3) == pytest.approx(np.log10(HOURS_PER_MONTH / 0.3))
    assert capacity_cut(1.0) < capacity_cut(0.3) < capacity_cut(0.1)
    # a clean list whose values are 0..9 over 10 station-months: 0.3 per station-month above 7
    tail = clean_value_tail(np.arange(10.0), 10.0)
    assert tail.events_per_station_month[7] == pytest.approx(0.3)
    assert tail.rarity(7.0) == pytest.approx(capacity_cut(0.3))


def test_the_ranker_reads_an_event_row_and_round_trips():
    r = _ranker({"log_hours": 2.0, "model:outage": 1.0, "kind:outage": -0.5})
    ev = {"hours": 9, "peak_surprise": 5.0, "models": {"outage": 3.0, "unknown_model": 7.0},
          "deviation_pct_vs_neighbours": {"PM2.5": -40.0}}
    f = event_features(ev, "outage", 4.2)
    assert f["rank_score"] == 4.2 and f["deviating_parameters"] == 1.0 and f["kind:outage"] == 1.0
    assert r.value(f) == pytest.approx(2.0 * np.log1p(9) + 3.0 - 0.5)
    assert EventRanker.from_dict(r.to_dict()) == r
    assert r.rank_event(ev, "outage", 4.2) == pytest.approx(r.clean_tail.rarity(r.value(f)))
    # beyond the clean list's top rank before the ranker, that rank stands where it is the higher
    tiered = _ranker({"log_hours": 2.0, "model:outage": 1.0, "kind:outage": -0.5}, beyond_clean=5.0)
    assert EventRanker.from_dict(tiered.to_dict()) == tiered
    assert tiered.rank_event(ev, "outage", 4.2) == r.rank_event(ev, "outage", 4.2)
    assert tiered.rank_event(ev, "outage", 40.0) == 40.0
    assert tiered.rank_event(ev, "outage", 5.1) == max(5.1, r.rank_event(ev, "outage", 5.1))


def test_each_kind_weighs_its_own_hours_so_a_short_spike_can_outrank_a_long_clean_one():
    from envtrust.evaluation.event_ranker import fit_ranker

    # planted spikes last 1-3 h and planted copies days; the clean list holds long spikes and short
    # copies: one weight on the hours cannot put both planted kinds above their clean look-alikes
    rng = np.random.default_rng(0)
    rows, matched = [], []
    for kind, planted_h, clean_h in (("spike", (1, 3), (30, 60)), ("fabrication", (48, 120), (2, 6))):
        for planted in (True, False):
            lo, hi = planted_h if planted else clean_h
            for h in rng.integers(lo, hi + 1, size=40):
                rows.append(event_features({"hours": int(h), "peak_surprise": 5.0}, kind, 3.0))
                matched.append(planted)
    f = fit_ranker(rows, np.array(matched), rows, 10.0)
    value = {(k, h): f.value(event_features({"hours": h, "peak_surprise": 5.0}, k, 3.0))
             for k, h in (("spike", 2), ("spike", 40), ("fabrication", 4), ("fabrication", 80))}
    assert value["spike", 2] > value["spike", 40], value
    assert value["fabrication", 80] > value["fabrication", 4], value  # one weight: all four tie
    assert {"hours_if:spike", "hours_if:fabrication"} <= set(f.features)
    assert event_features({"hours": 9}, "outage", 1.0)["hours_if:outage"] == pytest.approx(np.log1p(9))


def test_the_shipped_ranker_opens_longer_and_lists_from_the_capacity_cut():
    pipe = load_pipeline("default")
    assert pipe.events.ranker is not None
    op = at_capacity(pipe, CAPACITY)
    table = pipe.event_thresholds_by_budget
    assert op.events.threshold == float(table["0.3"]["threshold"])
    assert op.events.reference_threshold == float(table["1"]["threshold"]) < op.events.threshold
    assert op.events.list_cut == pytest.approx(capacity_cut(CAPACITY))
    bare = at_capacity(replace(pipe, events=replace(pipe.events, ranker=None)), CAPACITY)
    assert bare.events.reference_threshold is None and bare.events.list_cut is None


@pytest.mark.parametrize(("target", "scale"), [("1001A", 1.0), ("1005A", 1.15)])
def test_a_planted_copy_ranks_above_every_event_of_the_clean_sample_and_the_ranker_alone_would_not(
        sample, target, scale):
    readings, stations = sample
    copied, start = planted_copy(readings, stations, target, scale)
    pipe = load_pipeline("default")
    shipped = pipe.events.ranker
    assert shipped.beyond_clean is not None
    ranks = {}
    for name, ranker in (("shipped", shipped), ("ranker alone", replace(shipped, beyond_clean=None))):
        # no cut: every opened event is listed, so the comparison is over the whole clean list
        p = replace(pipe, events=replace(pipe.events, ranker=ranker))
        p = replace(p, events=replace(at_capacity(p, CAPACITY).events, list_cut=None))
        clean = score_partition(readings, stations, p).events
        clean = clean[clean["kind"] != "data_gap"]
        caught = _at(score_partition(copied, stations, p).events, target, start)
        copy_event = caught[caught["kind"] == "fabrication"]
        assert len(copy_event) == 1, caught[["start", "end", "kind"]]
        ranks[name] = (float(copy_event["rank_score"].iloc[0]), float(clean["rank_score"].max()))
    assert ranks["shipped"][0] > ranks["shipped"][1], ranks
    assert ranks["shipped"][0] >= capacity_cut(CAPACITY), ranks  # listed at the analysts' capacity
    # the regression alone put the copy under clean events of the sample (4.39 against 4.89 at 1001A)
    assert ranks["ranker alone"][0] < ranks["ranker alone"][1], ranks


def test_the_list_keeps_only_the_reference_events_above_the_capacity_cut(sample):
    readings, stations = sample
    op = at_capacity(load_pipeline("default"), CAPACITY)
    listed = score_partition(readings, stations, op).events
    opened = score_partition(readings, stations, replace(op, events=replace(op.events, list_cut=None))).events
    interference = opened[opened["kind"] != "data_gap"]
    assert len(interference) > (listed["kind"] != "data_gap").sum()  # the longer list was cut
    assert (listed.loc[listed["kind"] != "data_gap", "rank_score"] >= op.events.list_cut).all()
    assert set(listed["event_id"]) <= set(opened["event_id"])
    # the cut drops no data-completeness alarm and adds none
    assert set(listed.loc[listed["kind"] == "data_gap", "event_id"]) == \
        set(opened.loc[opened["kind"] == "data_gap", "event_id"])


def test_micro_station_thresholds_do_not_follow_the_longer_reference_list(monkeypatch):
    from data.synthetic.micro import generate_micro, micro_stations
    from data.testing import sample_readings

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-20"]
    parents = s[s["station_id"].isin(["1001A", "1003A", "1006A"])]
    sensors = micro_stations(parents, seed=5)
    micro = generate_micro(r[r["station_id"].isin(parents["station_id"])], sensors, seed=5)
    readings = pd.concat([r, micro[micro["parameter"].isin(r["parameter"].unique())]], ignore_index=True)
    stations = pd.concat([s, sensors[["station_id", "name", "kind", "lon", "lat", "parent_station"]]],
                         ignore_index=True)
    seen = []
    real = run_mod.in_run_thresholds

    def capture(panel, *a, **kw):
        st = real(panel, *a, **kw)
        seen.append((panel.stations["station_id"].astype(str).to_numpy(), st))
        return st

    monkeypatch.setattr(run_mod, "in_run_thresholds", capture)
    pipe = load_pipeline("default")
    with_ranker = at_capacity(pipe, CAPACITY)
    without = at_capacity(replace(pipe, events=replace(pipe.events, ranker=None)), CAPACITY)
    for p in (with_ranker, without):
        score_partition(readings, stations, p)
    (ids, a), (_, b) = seen
    is_micro = np.isin(ids, sensors["station_id"].astype(str))
    assert is_micro.any() and (~is_micro).any()
    np.testing.assert_array_equal(a.threshold[is_micro], b.threshold[is_micro])
    assert (a.threshold[is_micro] >= without.events.threshold).all()
    reference = ~is_micro
    assert (a.threshold[reference] == with_ranker.events.reference_threshold).all()
    assert (b.threshold[reference] == without.events.threshold).all()


def test_a_stale_event_ranker_is_refused_with_its_refit_command_and_left_out_of_refits(tmp_path):
    import json

    from analytics.pipeline.load import StaleFitError, event_ranker_path
    from tests.analytics.test_pipeline_config import copy_pipeline

    toml = copy_pipeline(tmp_path / "ranker")
    path = event_ranker_path(toml)
    path.write_text(json.dumps({**json.loads(path.read_text()), "fingerprint": "sha256:0"}), encoding="utf-8")
    with pytest.raises(StaleFitError, match="default.event_ranker.json .*envtrust evaluate --fit-event-ranker"):
        load_pipeline(toml)
    for refit in (("event_ranker",), ("combiners",)):
        assert load_pipeline(toml, refit=refit).events.ranker is None
