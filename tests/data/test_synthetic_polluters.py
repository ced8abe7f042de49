"""Polluter outlets: plausible sites and limits, HJ 212 flags used as plants use them, start-ups
and shut-downs, and the planted dishonesty matching its ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.vocabulary import DATA_FLAGS, PARAMETERS
from data.synthetic.polluters import (
    DISHONEST,
    generate_polluters,
    o2_corrected,
    polluter_outlets,
)

START, END = "2016-03-01", "2016-12-31 23:00"


@pytest.fixture(scope="module")
def outlets() -> pd.DataFrame:
    return polluter_outlets()


@pytest.fixture(scope="module")
def generated(outlets):
    return generate_polluters(outlets, START, END, seed=9)


def _series(readings, sid, parameter):
    return readings[(readings.station_id == sid) & (readings.parameter == parameter)].set_index("ts")


def test_outlets_are_demo_marked_and_complete(outlets):
    assert outlets["station_id"].is_unique and outlets["hj212_mn"].is_unique
    assert (outlets["hj212_mn"].str.len() <= 24).all()  # HJ 212-2017 MN field length
    assert outlets["enterprise"].str.contains("示例").all()
    assert outlets["contractor"].str.contains("示例").all()
    flue = outlets[outlets.outlet_type == "flue_gas"]
    assert flue["ref_o2_pct"].notna().all()
    power = flue[flue.industry == "火电"]
    for lj in power["limits_json"]:
        assert json.loads(lj) == {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 10.0}  # ultra-low
    assert set(power["ref_o2_pct"]) == {6.0}
    assert set(DISHONEST) <= set(outlets["station_id"])


def test_outlets_lie_in_beijing_tianjin_hebei(outlets):
    from shapely.geometry import Point, shape

    from geo.layers import load_layer

    region = [shape(f["geometry"]) for f in load_layer("bth_cities")["features"]]
    for x, y in zip(outlets.lon, outlets.lat, strict=True):
        assert any(g.contains(Point(x, y)) for g in region), (x, y)


def test_deterministic(outlets):
    few = outlets[outlets.station_id.isin(["P-0201", "P-0401", "P-1101"])]
    a = generate_polluters(few, "2016-06-01", "2016-07-31", seed=9)
    b = generate_polluters(few, "2016-06-01", "2016-07-31", seed=9)
    c = generate_polluters(few, "2016-06-01", "2016-07-31", seed=10)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0]["value"].equals(c[0]["value"])


def test_values_and_flags_valid(generated):
    readings, _ = generated
    assert set(readings["flag"]) <= set(DATA_FLAGS)
    for p, g in readings.groupby("parameter"):
        v = g["value"].dropna()
        assert (v >= PARAMETERS[p].min_value).all() and (v <= PARAMETERS[p].max_value).all(), p


def test_stopped_units_show_ambient_o2_and_no_flow(generated, outlets):
    readings, _ = generated
    o2 = readings[(readings.parameter == "flue_O2")]
    stopped = o2[o2.flag == "F"]
    assert len(stopped) > 100
    assert (stopped["value"] > 19.0).all()
    running = o2[o2.flag == "N"]
    assert running["value"].median() < 17.0
    flow = readings[readings.parameter == "flue_flow"].set_index(["station_id", "ts"])["value"]
    f_stop = flow.loc[stopped.set_index(["station_id", "ts"]).index]
    f_run = flow.loc[running.set_index(["station_id", "ts"]).index]
    assert f_stop.median() < 0.05 * f_run.median()


def test_cement_stops_in_the_heating_season(generated):
    readings, _ = generated
    o2 = _series(readings, "P-0401", "flue_O2")
    assert (o2.loc["2016-12-01":"2016-12-31", "flag"] == "F").all()
    assert (o2.loc["2016-06-01":"2016-06-30", "flag"] != "F").mean() > 0.5


def test_startup_emits_more_nox_than_steady_running(generated, outlets):
    readings, _ = generated
    ratios = []
    for sid in outlets[outlets.outlet_type == "flue_gas"]["station_id"]:
        flags = _series(readings, sid, "flue_NOx")["flag"].to_numpy()
        nox = _series(readings, sid, "flue_NOx")["value"].to_numpy()
        starts = np.flatnonzero((flags[1:] != "F") & (flags[:-1] == "F")) + 1
        for s in starts:
            if s + 48 < len(nox):
                ratios.append(np.nanmean(nox[s:s + 3]) / np.nanmean(nox[s + 24:s + 48]))
    assert len(ratios) >= 3
    assert np.median(ratios) > 1.5


def test_daily_calibration_flags(generated):
    readings, _ = generated
    so2 = _series(readings, "P-0101", "flue_SO2")
    running_days = so2[so2.flag != "F"].index.floor("D").unique()
    cal_days = so2[so2.flag == "C"].index.floor("D").unique()
    assert len(cal_days) >= 0.9 * len(running_days)
    # one (rarely two) hours a day, never the dust meter
    assert (so2.flag == "C").groupby(so2.index.floor("D")).sum().max() <= 2
    assert "C" not in set(_series(readings, "P-0101", "flue_dust")["flag"])


def test_honest_outlets_rarely_exceed(outlets):
    flue_outlets = outlets[outlets.outlet_type == "flue_gas"]
    readings, truth = generate_polluters(flue_outlets, "2016-03-01", "2016-06-30", seed=9, dishonest={})
    assert truth.empty
    flue = outlets[outlets.outlet_type == "flue_gas"].set_index("station_id")
    wide = readings[readings.flag == "N"].pivot_table(index=["station_id", "ts"], columns="parameter",
                                                       values="value")
    shares = []
    for sid, row in flue.iterrows():
        w = wide.loc[sid]
        corr = o2_corrected(w["flue_SO2"], w["flue_O2"], row["ref_o2_pct"])
        shares.append(float((corr > json.loads(row["limits_json"])["flue_SO2"]).mean()))
    assert max(shares) < 0.05


def test_planted_dishonesty_matches_truth(generated, outlets):
    readings, truth = generated
    assert set(truth["kind"]) == {"flag_abuse", "clipping", "flatline"}
    assert truth["event_id"].is_unique
    ref = outlets.set_index("station_id")
    for _, ev in truth.iterrows():
        p = ev["parameters"].split(",")[0]
        s = _series(readings, ev["station_id"], p).loc[ev["start"]:ev["end"]]
        limit = json.loads(ref.loc[ev["station_id"], "limits_json"])[p]
        if ev["kind"] == "flag_abuse":
            assert s["flag"].isin(["M", "D"]).all()
            o2 = _series(readings, ev["station_id"], "flue_O2").loc[ev["start"]:ev["end"], "value"]
            assert (o2_corrected(s["value"], o2, ref.loc[ev["station_id"], "ref_o2_pct"]) > limit).all()
        elif ev["kind"] == "clipping":
            n = s[s.flag == "N"]
            o2 = _series(readings, ev["station_id"], "flue_O2").loc[n.index, "value"]
            corr = o2_corrected(n["value"], o2, ref.loc[ev["station_id"], "ref_o2_pct"])
            assert (corr <= limit * 1.0001).all()
            assert (corr >= 0.9 * limit).mean() > 0.5
        else:
            assert s.loc[s.flag == "N", "value"].nunique() == 1
