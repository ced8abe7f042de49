"""The flags detector on synthetic CEMS outlets (data.synthetic.polluters): HJ 212 flags set over
raised emissions (the evaluation's injector) rank above the outlets' routine calibration (C),
maintenance (M), fault (D) and stop (F) flags, and honest outlets raise no flag_hidden evidence
of note."""

import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import build_panel, validate_readings, validate_stations
from analytics.detectors.flags import flagged_excess_ln, flags, run_evidence, suspect_flag_mask
from analytics.evaluation.inject import inject_interference
from data.synthetic.polluters import generate_polluters, polluter_outlets


def _panel(r, s):
    st = validate_stations(s)
    return build_panel(validate_readings(r, st), st)[0]


@pytest.fixture(scope="module")
def outlets():
    """Six honest outlets (power, cement, steel, chemical flue gas; municipal and industrial
    wastewater) over 90 days of a heating season, with their routine HJ 212 flags."""
    s = polluter_outlets()
    s = s[s["station_id"].isin(["P-0101", "P-0401", "P-0501", "P-0701", "P-0702", "P-1001"])].reset_index(drop=True)
    r, _ = generate_polluters(s, "2016-11-01", "2017-01-29 23:00", seed=5, dishonest={})
    return r, s


@pytest.fixture(scope="module")
def abused(outlets):
    r, s = outlets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inj, truth = inject_interference(r, s, kinds=["flag_abuse"], n_per_kind=8, seed=3)
    p = _panel(inj, s)
    hours = np.zeros(p.shape[:2], dtype=bool)
    sid = list(p.stations["station_id"])
    for ev in truth.itertuples():
        a, b = p.times.get_loc(pd.Timestamp(ev.start)), p.times.get_loc(pd.Timestamp(ev.end))
        hours[sid.index(ev.station_id), a:b + 1] = True
    return p, hours, truth


def test_flagged_raised_emissions_outrank_routine_flags(abused):
    p, hours, truth = abused
    assert len(truth) >= 6
    out = flags(p)
    hidden = out["flag_hidden"].max(axis=2)
    routine = suspect_flag_mask(p).any(axis=2) & ~hours
    assert routine.sum() > 500  # the outlets really carry daily calibrations, maintenance, stops
    # every injected case: its flagged hours stand above the 99th percentile of routine flagged hours
    bar = np.quantile(hidden[routine], 0.99)
    sid = list(p.stations["station_id"])
    for ev in truth.itertuples():
        a, b = p.times.get_loc(pd.Timestamp(ev.start)), p.times.get_loc(pd.Timestamp(ev.end))
        assert np.median(hidden[sid.index(ev.station_id), a:b + 1]) > bar, ev
    # the self-calibrated model orders the flagged readings the same way
    fa = out["flag_abuse"].max(axis=2)
    assert np.median(fa[hours]) > np.quantile(fa[routine], 0.99)
    assert (out["flag_abuse"][~suspect_flag_mask(p)] == 0).all()


def test_honest_outlets_routine_flags_carry_little_evidence(outlets):
    r, s = outlets
    p = _panel(r, s)
    out = flags(p)
    flagged = suspect_flag_mask(p)
    assert flagged.sum() > 1000
    hidden = out["flag_hidden"]
    # a routine calibration may read high for an hour, but flagged runs whose emissions stand
    # above the outlet's level by ln 1.5 x sqrt(hours) are rare without interference
    assert np.mean(hidden[flagged] > 1.5) < 0.01
    assert (hidden[~flagged] == 0).all()


def test_run_evidence_accumulates_over_the_flagged_run():
    flagged = np.zeros((1, 12), dtype=bool)
    flagged[0, 2:3] = True  # one hour
    flagged[0, 5:9] = True  # four hours
    excess = np.full((1, 12), np.nan)
    excess[0, 2] = 0.7
    excess[0, 5:9] = 0.7
    t = run_evidence(flagged, excess)
    assert t[0, 2] == pytest.approx(0.7)
    assert t[0, 5:9] == pytest.approx([1.4] * 4)  # 0.7 x sqrt(4)
    assert (t[0, [0, 1, 3, 4, 9, 10, 11]] == 0).all()


def test_missing_values_under_a_fault_flag_are_no_evidence():
    ts = pd.date_range("2024-01-01", periods=200, freq="h")
    v = np.full(200, 20.0) + np.sin(np.arange(200))
    flag = np.array(["N"] * 200, dtype=object)
    flag[100:110] = "D"
    v[100:110] = np.nan  # a real analyser fault: no data
    r = pd.DataFrame({"station_id": "P1", "ts": ts, "parameter": "flue_SO2", "value": v, "flag": flag})
    s = pd.DataFrame({"station_id": ["P1"], "kind": "polluter_outlet", "lon": [116.0], "lat": [39.9]})
    p = _panel(r, s)
    assert np.isnan(flagged_excess_ln(p, suspect_flag_mask(p))[0, 100:110]).all()
    out = flags(p)
    assert (out["flag_hidden"] == 0).all()
    assert (out["flag_abuse"][0, 100:110, 0] == 1.0).all()  # flagged, but nothing hidden


def test_no_flags_no_evidence(outlets):
    r, s = outlets
    p = _panel(r.assign(flag="N"), s)
    out = flags(p)
    assert out["flag_abuse"].max() == 0 and out["flag_hidden"].max() == 0
