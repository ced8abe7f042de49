"""The interference injector: deterministic, changes only what it says, labels align."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.evaluation.harness import load_beijing
from analytics.evaluation.inject import (
    AIR_KINDS,
    CEMS_KINDS,
    PM25_24H_LIMIT_UGM3,
    inject_interference,
    synthetic_cems,
    truth_station_hours,
)


@pytest.fixture(scope="module")
def beijing(sample_dir):
    return load_beijing(sample_dir / "beijing")


@pytest.fixture(scope="module")
def injected(beijing):
    readings, stations = beijing
    return inject_interference(readings, stations, n_per_kind=4, seed=3)


def _key(df):
    return df.set_index(["station_id", "ts", "parameter"])


def test_deterministic_per_seed(beijing, injected):
    readings, stations = beijing
    again = inject_interference(readings, stations, n_per_kind=4, seed=3)
    pd.testing.assert_frame_equal(again[0], injected[0])
    pd.testing.assert_frame_equal(again[1], injected[1])
    other = inject_interference(readings, stations, n_per_kind=4, seed=4)[1]
    assert not other[["station_id", "start"]].equals(injected[1][["station_id", "start"]])


def test_every_air_kind_placed_and_no_overlap(injected):
    _, truth = injected
    assert set(truth["kind"]) == set(AIR_KINDS)
    assert (truth.groupby("kind").size() == 4).all()
    for _, g in truth.sort_values("start").groupby("station_id"):
        starts, ends = g["start"].to_numpy(), g["end"].to_numpy()
        assert (starts[1:] > ends[:-1]).all(), "events overlap at one station"
    assert truth["event_id"].is_unique
    assert (truth["end"] >= truth["start"]).all()


def test_only_readings_inside_truth_events_change(beijing, injected):
    readings, _ = beijing
    out, truth = injected
    a, b = _key(readings), _key(out)
    common = a.loc[b.index]
    same = (common["value"] == b["value"]) | (common["value"].isna() & b["value"].isna())
    changed = b.index[~same.to_numpy()]
    dropped = a.index.difference(b.index)
    labels = truth_station_hours(truth).set_index(["station_id", "ts"])
    for idx in (changed, dropped):
        sh = pd.MultiIndex.from_arrays([idx.get_level_values(0), idx.get_level_values(1)])
        assert sh.isin(labels.index).all(), "a reading changed outside every truth event"
    assert len(changed) > 0 and len(dropped) > 0  # outages drop rows in some events (seeded)
    # each event's first and last hour really changed
    changed_sh = set(zip(changed.get_level_values(0), changed.get_level_values(1), strict=True)) | \
        set(zip(dropped.get_level_values(0), dropped.get_level_values(1), strict=True))
    for ev in truth.itertuples():
        assert (ev.station_id, ev.start) in changed_sh and (ev.station_id, ev.end) in changed_sh


def test_suppression_cuts_pm_and_leaves_gases(beijing, injected):
    readings, _ = beijing
    out, truth = injected
    a, b = _key(readings)["value"], _key(out)["value"]
    for ev in truth[truth["kind"] == "suppression"].itertuples():
        for p, should_change in [("PM2.5", True), ("NO2", False), ("CO", False)]:
            idx = pd.MultiIndex.from_product([[ev.station_id], pd.date_range(ev.start, ev.end, freq="h"), [p]])
            before, after = a.reindex(idx), b.reindex(idx)
            if should_change:
                ok = before.notna()
                assert (after[ok] <= before[ok] * 0.8 + 1).all() and after.sum() < 0.8 * before.sum()
            else:
                pd.testing.assert_series_equal(before, after)


def test_clipping_holds_values_under_limit(injected):
    out, truth = injected
    b = _key(out)["value"]
    for ev in truth[truth["kind"] == "clipping"].itertuples():
        idx = pd.MultiIndex.from_product([[ev.station_id], pd.date_range(ev.start, ev.end, freq="h"), ["PM2.5"]])
        assert (b.reindex(idx).dropna() < PM25_24H_LIMIT_UGM3).all()


def test_injected_values_keep_series_resolution(injected):
    out, _ = injected
    pm = out.loc[out["parameter"] == "PM2.5", "value"].dropna()
    assert np.allclose(pm, np.round(pm))  # Beijing PM values are integers; injection must not betray itself


def test_cems_kinds_go_into_outlets(beijing):
    readings, stations = beijing
    cems, cems_st = synthetic_cems(n_outlets=4, hours=24 * 30, seed=1)
    out, truth = inject_interference(cems, cems_st, kinds=list(CEMS_KINDS), n_per_kind=3, seed=0)
    assert set(truth["kind"]) == set(CEMS_KINDS)
    assert truth["station_id"].str.startswith("CEMS").all()
    fa = truth[truth["kind"] == "flag_abuse"].iloc[0]
    rows = out[(out["station_id"] == fa.station_id) & out["ts"].between(fa.start, fa.end)]
    assert rows["flag"].isin(["M", "D", "C"]).all()
    assert json.loads(fa.parameters)["flag"] in {"M", "D", "C"}


def test_bad_input_is_clear(beijing):
    readings, stations = beijing
    with pytest.raises(ValueError, match="unknown kinds"):
        inject_interference(readings, stations, kinds=["teleport"])
    with pytest.raises(ValueError, match="lack columns"):
        inject_interference(readings.drop(columns=["value"]), stations)
    with pytest.raises(ValueError, match="duplicate"):
        inject_interference(pd.concat([readings, readings.head(5)]), stations)
    with pytest.warns(UserWarning, match="flag_abuse"):
        inject_interference(readings, stations, kinds=["flag_abuse"], n_per_kind=1)


def test_cems_events_touch_only_parameters_the_outlet_reports():
    from data.synthetic.polluters import generate_polluters, polluter_outlets

    outlets = polluter_outlets()
    outlets = pd.concat([g.head(3) for _, g in outlets.groupby("outlet_type")]).reset_index(drop=True)
    clean, _ = generate_polluters(outlets, "2016-12-01", "2016-12-31", seed=2, dishonest={})
    out, truth = inject_interference(clean, outlets, kinds=list(CEMS_KINDS), n_per_kind=4, seed=5)
    reported = clean.dropna(subset=["value"]).groupby("station_id")["parameter"].agg(set)
    assert len(truth) >= 9
    for ev in truth.itertuples():
        affected = set(json.loads(ev.parameters)["affected"])
        assert affected and affected <= reported[ev.station_id], (ev.kind, affected)
