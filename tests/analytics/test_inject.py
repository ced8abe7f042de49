"""The interference injector: deterministic, changes only what it says, labels align."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.evaluation.inject import (
    AIR_KINDS,
    CEMS_KINDS,
    PM25_24H_LIMIT_UGM3,
    WATER_KINDS,
    inject_interference,
    truth_station_hours,
    water_class_limits,
    water_station_limit,
)
from data.adapters.beijing import read_prsa_pollutants


@pytest.fixture(scope="module")
def beijing(sample_dir):
    return read_prsa_pollutants(sample_dir / "beijing")


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
    from tests.golden.regenerate import honest_outlets

    cems, cems_st = honest_outlets()
    out, truth = inject_interference(cems, cems_st, kinds=list(CEMS_KINDS), n_per_kind=3, seed=0)
    assert set(truth["kind"]) == set(CEMS_KINDS)
    assert truth["station_id"].isin(cems_st["station_id"]).all()
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


# ---------------------------------------------------------------------------------------------
# the water network must not disturb air and CEMS, and water kinds change only what they say
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pinned_runs():
    from tests.golden.regenerate import injector_tables

    return injector_tables()


@pytest.mark.parametrize("name", ["inject_air_truth", "inject_air_changes",
                                  "inject_cems_truth", "inject_cems_changes"])
def test_air_and_cems_injection_is_pinned(pinned_runs, name):
    """Air and CEMS injections stay identical for a seed (adding the water network must not move
    them). The golden Parquet files hold each pinned run's truth events and the readings it
    changed; a difference lists the rows. They were written by code whose output matched the
    sha256 pins taken before the water network existed (commit ad9c38f).
    Regenerate deliberately with ``python -m tests.golden.regenerate``."""
    from tests.analytics.factories import assert_frame_matches
    from tests.golden.regenerate import KEY, read_golden

    key = ["event_id"] if name.endswith("_truth") else KEY
    assert_frame_matches(pinned_runs[name], read_golden(name), key=key, name=name)


@pytest.fixture(scope="module")
def water():
    from data.synthetic.water import generate_water
    from envtrust.evaluation.harness import water_sections

    sections = water_sections(8)
    readings = generate_water(sections, "2016-11-30 16:00", "2016-12-21 15:00", seed=4)
    out, truth = inject_interference(readings, sections, kinds=list(WATER_KINDS), n_per_kind=4, seed=2)
    return readings, sections, out, truth


def _changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """(station_id, ts, parameter) of every reading whose value changed or whose row was removed."""
    a, b = _key(before)["value"], _key(after)["value"]
    common = a.reindex(b.index)
    same = (common == b) | (common.isna() & b.isna())
    changed = b.index[~same.to_numpy()].append(a.index.difference(b.index))
    return changed.to_frame(index=False)


def test_every_water_kind_placed_on_water_sections(water):
    _, sections, _, truth = water
    assert set(truth["kind"]) == set(WATER_KINDS)
    assert (truth.groupby("kind").size() == 4).all()
    assert truth["station_id"].isin(sections["station_id"]).all()
    for _, g in truth.sort_values("start").groupby("station_id"):
        assert (g["start"].to_numpy()[1:] > g["end"].to_numpy()[:-1]).all(), "events overlap at one section"


def test_water_changes_only_inside_events_and_only_the_parameters_it_names(water):
    readings, _, out, truth = water
    changes = _changes(readings, out)
    assert len(changes) > 0
    hour = pd.to_datetime(changes["ts"]).dt.floor("h")
    owner = np.full(len(changes), -1)
    for k, ev in enumerate(truth.itertuples()):
        inside = (changes["station_id"] == ev.station_id) & hour.between(ev.start, ev.end)
        affected = set(json.loads(ev.parameters)["affected"])
        bad = inside & ~changes["parameter"].isin(affected)
        assert not bad.any(), (ev.kind, changes[bad].head())
        owner[inside.to_numpy()] = k
    assert (owner >= 0).all(), "a water reading changed outside every truth event"


def test_water_values_keep_the_generator_representation(water):
    """Injected values equal np.round(x, decimals) of the series' resolution: no tell-tale last bits."""
    readings, _, out, _ = water
    for p, decimals in (("pH", 2), ("NH3-N", 3), ("TP", 3), ("turbidity", 1), ("conductivity", 0)):
        v = out.loc[out["parameter"] == p, "value"].dropna().to_numpy()
        assert np.array_equal(v, np.round(v, decimals)), p


def _window(df, ev, parameter):
    rows = df[(df["station_id"] == ev.station_id) & df["ts"].between(ev.start, ev.end) & (df["parameter"] == parameter)]
    return rows.set_index("ts")["value"]


def test_water_suppression_lowers_pollutants_and_leaves_ph_do_temperature(water):
    readings, _, out, truth = water
    for ev in truth[truth["kind"] == "suppression"].itertuples():
        for p in ("CODMn", "NH3-N", "TP"):
            before, after = _window(readings, ev, p), _window(out, ev, p)
            assert after.sum() < 0.85 * before.reindex(after.index).sum(), (ev.event_id, p)
        for p in ("pH", "DO", "water_temp"):
            pd.testing.assert_series_equal(_window(readings, ev, p), _window(out, ev, p))
        assert json.loads(ev.parameters)["variant"] in {"dilution", "sample_line"}


def test_water_clipping_holds_the_section_inside_its_gb3838_class(water):
    from analytics.standards.water import indicator_class

    readings, sections, out, truth = water
    clips = truth[truth["kind"] == "clipping"]
    assert len(clips)
    for ev in clips.itertuples():
        desc = json.loads(ev.parameters)
        assert desc["limits"] and set(desc["limits"]) == set(desc["affected"])
        for p, lim in desc["limits"].items():
            before, after = _window(readings, ev, p), _window(out, ev, p)
            limit_class = indicator_class(p, lim)
            # the recorded values never leave the class the limit belongs to; the true ones did
            assert (indicator_class(p, after.dropna().to_numpy()) <= limit_class).all()
            assert (indicator_class(p, before.dropna().to_numpy()) > limit_class).any()


def test_water_class_limits_come_from_the_standard():
    from analytics.standards.water import indicator_class

    for p in ("CODMn", "NH3-N", "TP"):
        limits = water_class_limits(p)
        assert len(limits) == 5
        for k, lim in enumerate(limits, start=1):  # each limit is the top of its class in GB 3838
            assert indicator_class(p, lim) == k and indicator_class(p, lim * 1.01) == k + 1
    assert water_class_limits("TP", "lake") != water_class_limits("TP", "river")
    assert [indicator_class("DO", x) for x in water_class_limits("DO")] == [1, 2, 3, 4, 5]
    assert water_class_limits("TN", "river") == () and water_class_limits("turbidity") == ()
    assert water_station_limit(np.array([0.7, 0.8, 0.9]), "NH3-N") == 1.0  # median 0.8 -> class III limit
    assert water_station_limit(np.array([5.5, 5.6]), "DO") == 5.0


def test_water_outage_drift_and_spike_signatures(water):
    readings, _, out, truth = water
    for ev in truth.itertuples():
        desc = json.loads(ev.parameters)
        if ev.kind == "outage":  # the whole station stops: every parameter missing or absent
            assert _window(out, ev, "DO").dropna().empty and _window(out, ev, "water_temp").dropna().empty
        elif ev.kind == "drift":
            assert desc["affected"] == [desc["parameter"]]
            before, after = _window(readings, ev, desc["parameter"]), _window(out, ev, desc["parameter"])
            gap = (after - before.reindex(after.index)).abs()
            assert gap.iloc[-3:].mean() > gap.iloc[:3].mean()  # a ramp: the bias grows
        elif ev.kind == "spike" and desc["variant"] == "nh3_gt_tn":
            assert (_window(out, ev, "NH3-N") > _window(out, ev, "TN")).all()


def test_mixed_air_and_water_readings_keep_kinds_apart(beijing, water):
    readings, stations = beijing
    w_readings, sections, _, _ = water
    both = pd.concat([readings[readings["ts"] < "2016-12-21"], w_readings], ignore_index=True)
    st = pd.concat([stations, sections], ignore_index=True)
    with pytest.warns(UserWarning, match="flag_abuse"):
        _, truth = inject_interference(both, st, kinds=["drift", "flag_abuse"], n_per_kind=2, seed=1)
    water_ids = set(sections["station_id"])
    drift = truth[truth["kind"] == "drift"]
    assert drift["station_id"].isin(water_ids).sum() == 2 and (~drift["station_id"].isin(water_ids)).sum() == 2
    assert "flag_abuse" not in set(truth["kind"])  # neither air nor water carries it
