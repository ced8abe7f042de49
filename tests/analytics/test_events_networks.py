"""Events outside the clean calibration: self-calibrated networks (CEMS outlets) learn their event
thresholds in the run, micro-sensors their dropout base rate, and a feed's edges are not gaps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analytics.events import EventSettings, StationThresholds, count_segments, event_openers, segments

MATCH_H = pd.Timedelta(hours=6)


def _matches(events: pd.DataFrame, row) -> pd.DataFrame:
    return events[(events["station_id"] == row.station_id) & (events["start"] <= row.end + MATCH_H)
                  & (events["end"] >= row.start - MATCH_H)]


def test_count_segments_equals_segments_on_random_masks():
    rng = np.random.default_rng(3)
    for _ in range(100):
        low = rng.random((3, 50)) > rng.uniform(0.2, 0.8)
        high = rng.random((3, 50)) > 0.85
        for gap in (0, 2):
            for min_h in (1, 3):
                assert count_segments(low, high, gap, min_h) == len(segments(low, high, gap, min_h))


def test_own_event_models_open_only_inside_the_stations_feed():
    """A model with its own threshold opens nothing before a station's first reading or after the
    end of everybody's data, and the persistent opener needs a lasting signal."""
    surprise = np.zeros((2, 30, 1))
    surprise[0, 0:3, 0] = 9.0      # station 0: before its feed starts (open_from 5)
    surprise[0, 10:13, 0] = 9.0    # station 0: inside the feed
    surprise[1, 27:30, 0] = 9.0    # station 1: after open_until 25
    settings = EventSettings(threshold=99.0, low_ratio=0.75, merge_gap_h=0, min_hours=1)
    per = StationThresholds(threshold=np.array([99.0, 99.0]), persistent=np.zeros(2, dtype=bool), window_h=1,
                            model_thresholds={"outage": np.array([3.0, 3.0])},
                            open_from=np.array([5, 0]), open_until=np.array([29, 25]))
    low, high = event_openers(np.zeros((2, 30, 1)), {"outage": surprise}, settings, per)
    assert np.flatnonzero(high[0]).tolist() == [10, 11, 12]
    assert not high[1].any()
    # persistent opener: one odd hour does not reach a 2.0 rolling-mean threshold, six hours do
    combined = np.zeros((2, 30, 1))
    combined[0, 5, 0] = 8.0
    combined[1, 5:11, 0] = 8.0
    per = StationThresholds(threshold=np.array([2.0, 2.0]), persistent=np.ones(2, dtype=bool), window_h=12,
                            model_thresholds={})
    _, high = event_openers(combined, {}, settings, per)
    assert not high[0].any() and high[1].any()


@pytest.fixture(scope="module")
def planted_outlets():
    """The demo's outlets over the sample window (UTC), with the default planted dishonesty."""
    from data.synthetic.polluters import generate_polluters, polluter_outlets

    outlets = polluter_outlets()
    readings, truth = generate_polluters(outlets, pd.Timestamp("2016-11-30 16:00"), pd.Timestamp("2017-01-10 15:00"),
                                         seed=20170101)
    return readings, outlets, truth


def test_planted_cems_dishonesty_becomes_events_of_its_kind(planted_outlets):
    """CEMS surprises are self-calibrated per run, so the air calibration's event threshold never
    fired on them (0 events before). In-run thresholds at the false-event budget: most planted
    cases become events of the planted kind, and false events stay within the budget."""
    from analytics.pipeline import score_partition

    readings, outlets, truth = planted_outlets
    ev = score_partition(readings, outlets, "default").events
    assert len(truth) >= 5
    right_kind = [bool((_matches(ev, t)["kind"] == t.kind).any()) for t in truth.itertuples()]
    assert sum(right_kind) >= 3, ev[["station_id", "start", "end", "kind"]]
    caught_kinds = {t.kind for t, ok in zip(truth.itertuples(), right_kind, strict=True) if ok}
    assert {"flatline", "flag_abuse"} <= caught_kinds
    matched = np.zeros(len(ev), dtype=bool)
    for t in truth.itertuples():
        matched |= ev.index.isin(_matches(ev, t).index)
    hours = (readings["ts"].max() - readings["ts"].min()) / pd.Timedelta(hours=1) + 1
    station_months = outlets.shape[0] * hours / (24 * 30.44)
    assert (~matched).sum() / station_months <= 0.3
    # the events rank within the run: a planted case is not scored below ordinary readings
    assert ev.loc[matched, "score"].min() > 0.9


def test_micro_sensor_dropouts_do_not_flood_outage_events():
    """Micro-sensors drop out far more often than reference stations (random gaps): their outage
    events are held to the outage budget learned from their own gaps in the run, while a
    reference station going dark during an episode still opens an outage event."""
    from analytics.pipeline import score_partition
    from data.synthetic.micro import generate_micro, micro_stations
    from data.testing import sample_readings

    r, s = sample_readings()
    parents = s[s["station_id"].isin(["1001A", "1003A", "1006A"])]
    sensors = micro_stations(parents, seed=5)
    micro = generate_micro(r[r["station_id"].isin(parents["station_id"])], sensors, seed=5)
    # a power cut at a reference station during an episode: every analyser stops for 8 hours
    pm = r[r["parameter"] == "PM2.5"].groupby("ts")["value"].median()
    t0 = pd.Timestamp("2016-12-03 19:00")
    assert pm.loc[t0:t0 + pd.Timedelta(hours=7)].min() > 150  # an episode at the neighbours (AQI > 200)
    cut = (r["station_id"] == "1009A") & (r["ts"] >= t0) & (r["ts"] < t0 + pd.Timedelta(hours=8))
    readings = pd.concat([r[~cut], micro[micro["parameter"].isin(r["parameter"].unique())]], ignore_index=True)
    stations = pd.concat([s, sensors[["station_id", "name", "kind", "lon", "lat", "parent_station"]]],
                         ignore_index=True)
    ev = score_partition(readings, stations, "default").events
    kind_of = stations.set_index("station_id")["kind"]
    micro_outages = ev[(ev["kind"] == "outage") & (ev["station_id"].map(kind_of) == "air_micro")]
    micro_months = len(sensors) * r["ts"].nunique() / (24 * 30.44)
    # outage budget 0.15 per station-month (1.5 x 0.1), plus one event of rounding slack
    assert len(micro_outages) <= 0.15 * micro_months + 1, micro_outages[["station_id", "start", "end"]]
    hit = _matches(ev, pd.Series({"station_id": "1009A", "start": t0, "end": t0 + pd.Timedelta(hours=7)}))
    assert "outage" in set(hit["kind"])


def test_sparse_family_scores_long_running_stations_in_one_panel(monkeypatch):
    """One day of many stations next to weeks of a few (the demo store's air family): the
    long-running stations are scored exactly as on their own (their history is not cut into 7-day
    windows), and every reading is scored once."""
    import analytics.pipeline as ap
    import analytics.pipeline.blocks as blocks
    from data.testing import sample_readings

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-15"]
    rng = np.random.default_rng(0)
    day = pd.date_range("2016-12-10", periods=24, freq="h")
    extra_st = pd.DataFrame({"station_id": [f"X{i:03d}" for i in range(60)], "kind": "air_station",
                             "lon": 116 + rng.uniform(-1, 1, 60), "lat": 40 + rng.uniform(-1, 1, 60)})
    extra_st["name"] = extra_st["station_id"]
    extra_r = pd.concat([pd.DataFrame({"station_id": sid, "ts": day, "parameter": "PM2.5",
                                       "value": rng.uniform(20, 200, 24), "flag": "N"})
                         for sid in extra_st["station_id"]], ignore_index=True)
    readings = pd.concat([r, extra_r], ignore_index=True)
    stations = pd.concat([s, extra_st], ignore_index=True)
    monkeypatch.setattr(blocks, "SPARSE_MIN_CELLS", 0)  # the mix is small; make the sparse rule apply
    res = ap.score_blocks(readings, stations, "default")
    keys = ["station_id", "parameter", "ts"]
    assert res.scores[keys].sort_values(keys).reset_index(drop=True).equals(
        readings[keys].sort_values(keys).reset_index(drop=True))
    alone = ap.score_partition(r, s, "default")
    cols = ["station_id", "start", "end", "kind"]
    bj = res.events[res.events["station_id"].isin(s["station_id"])]
    assert len(alone.events) > 0
    assert bj[cols].sort_values(cols).reset_index(drop=True).equals(
        alone.events[cols].sort_values(cols).reset_index(drop=True))
    got = res.scores[res.scores["station_id"].isin(s["station_id"])].sort_values(keys)["score"].to_numpy()
    np.testing.assert_allclose(got, alone.scores.sort_values(keys)["score"].to_numpy())


@pytest.fixture(scope="module")
def water_spikes():
    """Six sections over 40 days, honest and with eight spikes of the evaluation's generator."""
    import warnings

    from analytics.evaluation.inject import inject_interference
    from envtrust.evaluation.harness import water_network

    r, s, _ = water_network("2016-12-01", "2017-01-10", seed=3, max_sections=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, truth = inject_interference(r, s, kinds=["spike"], n_per_kind=8, seed=5)
    truth = truth.assign(start=pd.to_datetime(truth["start"]), end=pd.to_datetime(truth["end"]))
    return r, injected, s, truth


def test_a_planted_water_spike_becomes_a_spike_event_and_honest_sections_stay_quiet(water_spikes):
    """A 1-3 h spike at a water section is averaged away by the self-calibrated 12 h opener; the
    shipped pipeline lets the impossible-value models (NH3-N above TN, a value far beyond the
    neighbours and the section's own 99th percentile) open events there alone, at thresholds fitted
    on clean sections - so the planted spikes become spike events and the honest sections raise at
    most the events the other openers raise there (0.1 suspected-interference events per station-month)."""
    from analytics.evaluation.metrics import station_hour_grid, station_months
    from analytics.events import DATA_GAP_KIND
    from analytics.pipeline import load_pipeline, score_partition

    honest, injected, s, truth = water_spikes
    pipe = load_pipeline("default")
    assert set(pipe.events.self_calibrated_own_event_models_by_kind["water_section"]) == {"pm_ratio", "extreme_ratio"}
    assert {"pm_ratio", "extreme_ratio"} <= set(pipe.clean_event_thresholds["water_section"]["model_thresholds"])
    events = score_partition(injected, s, pipe).events
    caught = [bool((_matches(events, t)["kind"] == "spike").any()) for t in truth.itertuples()]
    # 4 of 8 here (the development split: 27 of 30); the others are a pH or DO near the analyser's top
    # at a section with no DO neighbours, and a turbidity spike inside a storm's runoff
    assert sum(caught) >= 4, (truth, events[["station_id", "start", "end", "kind"]])
    quiet = score_partition(honest, s, pipe).events
    quiet = quiet[quiet["kind"] != DATA_GAP_KIND]
    # 7.9 station-months, where the clean-fitted openers (0.05 per station-month on clean data) expect
    # 0.4 events: at most one (here a hand-smoothing-like conductivity stretch the combined opener
    # raises at W-0007); the development split's 1,535 honest station-months read 0.021
    assert station_months(station_hour_grid(honest)) > 7 and len(quiet) <= 1, quiet[["station_id", "start", "end", "kind"]]
    # without the spike openers (same thresholds otherwise) the spikes are missed, and the honest
    # sections raise the same events: the spike openers add none there
    pipe.events = replace(pipe.events, self_calibrated_own_event_models_by_kind={})
    pipe.clean_event_thresholds = {k: {**v, "model_thresholds": {m: t for m, t in v["model_thresholds"].items()
                                                                if m not in ("pm_ratio", "extreme_ratio")}}
                                   for k, v in pipe.clean_event_thresholds.items()}
    without = score_partition(injected, s, pipe).events
    without_openers = sum(bool((_matches(without, t)["kind"] == "spike").any()) for t in truth.itertuples())
    assert without_openers <= sum(caught) - 3, without_openers
    quiet_without = score_partition(honest, s, pipe).events
    quiet_without = quiet_without[quiet_without["kind"] != DATA_GAP_KIND]
    pd.testing.assert_frame_equal(quiet[["station_id", "start", "end", "kind"]].reset_index(drop=True),
                                  quiet_without[["station_id", "start", "end", "kind"]].reset_index(drop=True))


def test_a_water_gap_scores_the_same_whether_its_packets_are_missing_or_empty():
    """A power cut at a water station drops its HJ 212 packets (absent rows); a logger that keeps
    sending empty values leaves null rows. Both are the same outage and must rank the same: the
    absent-row event scores exactly what the null-row gap's strongest reading scores."""
    import warnings

    from analytics.evaluation.inject import inject_interference
    from analytics.pipeline import load_pipeline, score_partition
    from envtrust.evaluation.harness import water_network

    r, s, _ = water_network("2016-12-01", "2017-01-10", seed=3, max_sections=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, truth = inject_interference(r, s, kinds=["outage"], n_per_kind=6, seed=2)
    # thresholds learned in the run: this short run's gaps open events there (the clean ones are stricter)
    pipe = replace(load_pipeline("default"), clean_event_thresholds={}, clean_network_tails={})
    assert pipe.events.absent_gaps_like_readings is True
    # the first gap while the pollution wave passes that is an outage (the others, with the
    # neighbours ordinary, are data-completeness alarms, which carry no interference score)
    for ev in truth.itertuples(index=False):
        gap = (r["station_id"] == ev.station_id) & r["ts"].between(ev.start, ev.end)
        absent = score_partition(r[~gap], s, pipe).events
        absent = absent[(absent["station_id"] == ev.station_id) & (absent["start"] <= ev.end)
                        & (absent["end"] >= ev.start)]
        if "outage" in set(absent["kind"]):
            break
    nulls = score_partition(r.assign(value=np.where(gap, np.nan, r["value"])), s, pipe).scores
    null_peak = nulls.loc[(nulls["station_id"] == ev.station_id) & nulls["ts"].between(ev.start, ev.end), "score"].max()
    assert len(absent) == 1 and absent["kind"].iloc[0] == "outage"
    assert absent["score"].iloc[0] == pytest.approx(null_peak, abs=1e-9)
    pipe.events = replace(pipe.events, absent_gaps_like_readings=False)
    before = score_partition(r[~gap], s, pipe).events
    before = before[(before["station_id"] == ev.station_id) & (before["start"] <= ev.end) & (before["end"] >= ev.start)]
    assert before["score"].iloc[0] < null_peak  # ranked by the run's own tail without the run-peak lift
