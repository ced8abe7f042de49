"""score_partition end to end on the real sample, pipeline-as-data, calibration, bad input."""

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import InputError
from analytics.ensemble import TailCalibration, fit_tail
from analytics.events import DATA_GAP_KIND
from analytics.pipeline import load_pipeline, score_partition
from analytics.registry import EVENT_KINDS, default_registry
from data.testing import sample_readings, set_values


@pytest.fixture(scope="module")
def scored():
    r, s = sample_readings()
    r = set_values(r, "1003A", "PM2.5", "2016-12-20 00:00", 12, lambda v: v * 0.2)
    r = set_values(r, "1003A", "PM10", "2016-12-20 00:00", 12, lambda v: v * 0.2)
    return r, s, score_partition(r, s, "default")


def test_registry_lists_every_family_and_kinds_are_known():
    reg = default_registry()
    for name in ("spatial", "range", "pm_ratio", "spike", "flatline", "outage", "seasonal", "suppression",
                 "drift", "donor", "clipping", "flags", "iforest"):
        assert name in reg.names()
    assert {k for k in reg.model_kinds().values() if k} <= set(EVENT_KINDS)
    with pytest.raises(KeyError, match="known"):
        reg.get("nope")


def test_pipeline_is_data_and_calibrated():
    pipe = load_pipeline("default")
    assert [d for d, _ in pipe.detectors][0] == "spatial"
    assert pipe.ensemble.calibration, "default pipeline ships its clean-data calibration"
    assert pipe.events.threshold > 2


def test_one_row_per_reading_with_model_columns(scored):
    r, _, res = scored
    sc = res.scores
    assert len(sc) == len(r)
    assert {"station_id", "ts", "parameter", "score", "spatial_low", "iforest"} <= set(sc.columns)
    assert sc["score"].between(0, 1).all()
    nulls = sc.merge(r[r["value"].isna()][["station_id", "ts", "parameter"]])
    assert len(nulls) == int(r["value"].isna().sum())


def test_injected_suppression_scores_high_and_becomes_an_event(scored):
    _, _, res = scored
    sc = res.scores
    m = (sc["station_id"] == "1003A") & (sc["parameter"] == "PM2.5") & sc["ts"].between("2016-12-20", "2016-12-20 11:00")
    assert sc.loc[m, "score"].max() > 0.999
    assert np.quantile(sc["score"], 0.5) < 0.9
    ev = res.events
    hit = ev[(ev["station_id"] == "1003A") & (ev["start"] <= "2016-12-20 11:00") & (ev["end"] >= "2016-12-20")]
    assert len(hit) >= 1
    assert set(ev.columns) >= {"event_id", "station_id", "start", "end", "kind", "score", "parameters", "summary", "evidence"}
    # every row is a kind of interference, or a data-completeness alarm (a gap, listed apart)
    assert ev["kind"].isin((*EVENT_KINDS, DATA_GAP_KIND)).all()


def test_unsorted_input_gives_identical_scores(scored):
    r, s, res = scored
    shuffled = r.sample(frac=1.0, random_state=3)
    res2 = score_partition(shuffled, s, "default")
    keys = ["station_id", "parameter", "ts"]
    pd.testing.assert_frame_equal(res.scores.sort_values(keys).reset_index(drop=True),
                                  res2.scores.sort_values(keys).reset_index(drop=True))
    # rows come back in input order
    assert res2.scores[keys].reset_index(drop=True).equals(shuffled[keys].reset_index(drop=True))


def test_tail_calibration_is_monotone_and_zero_below():
    x = np.random.default_rng(0).exponential(1.0, 100_000)
    cal = fit_tail(x)
    s = cal.surprise(np.array([0.0, 1.0, 3.0, 8.0, 50.0]))
    assert s[0] == 0 and np.all(np.diff(s) >= 0)
    assert abs(cal.surprise(np.array([np.quantile(x, 0.99)]))[0] - 2.0) < 0.1
    assert TailCalibration.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize("mutate, message", [
    (lambda r, s: (r.assign(station_id=r["station_id"].where(r.index > 0, "ZZZ")), s), "not in the stations table"),
    (lambda r, s: (pd.concat([r, r.iloc[:3]]), s), "share a"),
    (lambda r, s: (r.assign(value=r["value"].astype(object).where(r.index != 5, "abc")), s), "non-numeric"),
    (lambda r, s: (r.assign(ts=r["ts"] + pd.Timedelta(minutes=30)), s), "not on the hour"),
    (lambda r, s: (r.drop(columns=["parameter"]), s), "lacks? column"),
    (lambda r, s: (r, s.drop(columns=["lon"])), "lacks? column"),
])
def test_bad_input_is_a_clear_error(mutate, message):
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-04"].reset_index(drop=True)
    r2, s2 = mutate(r, s)
    with pytest.raises(InputError, match=message):
        score_partition(r2, s2, "default")


def test_station_with_all_data_missing_scores_zero_spatial_and_no_crash():
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-08"].copy()
    r.loc[r["station_id"] == "1002A", "value"] = np.nan
    res = score_partition(r, s, "default")
    dead = res.scores[res.scores["station_id"] == "1002A"]
    assert len(dead) == int((r["station_id"] == "1002A").sum())
    assert dead["spatial_low"].max() == 0 and dead["spatial_high"].max() == 0


def test_single_station_is_scored_without_neighbours():
    r, s = sample_readings()
    r = r[(r["station_id"] == "1001A") & (r["ts"] < "2016-12-10")]
    res = score_partition(r, s, "default")
    assert len(res.scores) == len(r)
    assert res.scores["spatial_high"].max() == 0  # no neighbours = no spatial evidence, not agreement


def test_score_blocks_mixes_networks_and_windows_sparse_data():
    """A store-like mix: Beijing air for weeks, a water section, and 30 stations with one day only."""
    from analytics.pipeline import score_blocks

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-15"]
    rng = np.random.default_rng(0)
    day = pd.date_range("2016-12-10", periods=24, freq="h")
    extra_st, extra_r = [], []
    for i in range(30):
        sid = f"X{i:03d}"
        extra_st.append({"station_id": sid, "name": sid, "kind": "air_station", "lon": 116 + rng.uniform(-1, 1),
                         "lat": 40 + rng.uniform(-1, 1)})
        extra_r.append(pd.DataFrame({"station_id": sid, "ts": day, "parameter": "PM2.5",
                                     "value": rng.uniform(20, 200, 24), "flag": "N"}))
    extra_st.append({"station_id": "W1", "name": "W1", "kind": "water_section", "lon": 116.5, "lat": 40.1})
    wts = pd.date_range("2016-12-01", "2016-12-14 20:00", freq="4h")
    extra_r.append(pd.DataFrame({"station_id": "W1", "ts": wts, "parameter": "DO", "value": rng.uniform(6, 9, len(wts)),
                                 "flag": "N"}))
    stations = pd.concat([s, pd.DataFrame(extra_st)], ignore_index=True)
    readings = pd.concat([r, *extra_r], ignore_index=True)
    import analytics.pipeline as ap

    res = score_blocks(readings, stations, "default", max_cells=ap.MAX_PANEL_CELLS)
    assert len(res.scores) == len(readings)
    assert res.scores["score"].between(0, 1).all()
    small = score_blocks(readings, stations, "default", max_cells=10_000)  # forces time windows
    assert len(small.scores) == len(readings)
    keys = ["station_id", "parameter", "ts"]
    assert small.scores[keys].sort_values(keys).reset_index(drop=True).equals(
        readings[keys].sort_values(keys).reset_index(drop=True))


def test_blocks_that_fill_the_cores_run_without_threads_inside():
    """Two block threads: one or two blocks keep two threads inside each (a block may run alone);
    three or more blocks already fill both cores, so each block runs its detectors one by one."""
    from analytics.pipeline.blocks import block_inner_threads

    assert [block_inner_threads(2, n) for n in (1, 2, 3, 14)] == [2, 2, 1, 1]
    assert block_inner_threads(1, 5) == 1


def test_context_parameters_are_measured_but_never_judged():
    """Water temperature follows the weather: the default pipeline keeps it as context, so it gets
    score 0, no model surprise, and opens no event - even stuck at the ice floor for two weeks."""
    from envtrust.evaluation.harness import water_network

    r, s, _ = water_network("2016-12-01", "2017-01-10", seed=3, max_sections=6)
    stuck = (r["parameter"] == "water_temp") & (r["station_id"] == "W-0004") & r["ts"].between("2016-12-10", "2016-12-24")
    r.loc[stuck, "value"] = 0.2
    pipe = load_pipeline("default")
    res = score_partition(r, s, pipe)
    temp = res.scores[res.scores["parameter"] == "water_temp"]
    assert len(temp) == (r["parameter"] == "water_temp").sum()  # still one row per reading
    assert temp["score"].max() == 0.0 and (temp.drop(columns=["station_id", "ts", "parameter"]) == 0).all().all()
    # a data-completeness alarm names every parameter the gap left empty: no judgement of water_temp
    interference = res.events[res.events["kind"] != DATA_GAP_KIND]
    assert not interference["parameters"].str.contains("water_temp").any()
    pipe.context_parameters = ()  # judged like any other parameter
    judged = score_partition(r, s, pipe).scores
    assert judged.loc[judged["parameter"] == "water_temp", "score"].median() > 0.5


@pytest.mark.parametrize("threads", [2, 4])
def test_detectors_in_threads_give_the_serial_outputs_bit_for_bit(threads):
    """Detectors run at once (their needs respected) give every model's raw statistic of one after another."""
    from analytics.pipeline.run import run_models

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-15"]
    pipe = load_pipeline("default")
    *_, serial = run_models(r, s, pipe, threads=1)
    *_, threaded = run_models(r, s, pipe, threads=threads)
    assert serial.keys() == threaded.keys() and "iforest" in serial and "drift" in serial
    for name, arr in serial.items():
        np.testing.assert_array_equal(arr, threaded[name], err_msg=name)


def test_scoring_in_threads_gives_the_serial_frames_bit_for_bit(scored):
    """Detectors, model surprises, the combination and the learned combiner's station chunks in
    threads give the scores and events of one thread, bit for bit."""
    r, s, serial = scored
    threaded = score_partition(r, s, "default", threads=3)
    pd.testing.assert_frame_equal(serial.scores, threaded.scores, check_exact=True)
    pd.testing.assert_frame_equal(serial.events, threaded.events, check_exact=True)


def test_scores_from_leaves_out_the_context_scores_only(scored):
    """An incremental run needs the scores from its first new hour on: ``scores_from`` leaves the
    earlier rows out of the frame, and the rows it keeps, the events and the forests are the full
    run's, bit for bit (every reading is still scored: the context shapes the kept hours)."""
    r, s, full = scored
    since = pd.Timestamp(r["ts"].max()) - pd.Timedelta(hours=30)
    part = score_partition(r, s, "default", scores_from=since)
    expected = full.scores[full.scores["ts"] >= since].reset_index(drop=True)
    assert 0 < len(part.scores) < len(full.scores)
    pd.testing.assert_frame_equal(part.scores.reset_index(drop=True), expected, check_exact=True)
    pd.testing.assert_frame_equal(part.events, full.events, check_exact=True)
    assert part.forests.keys() == full.forests.keys()
