"""Rule checks (range, PM2.5 > PM10, unshared spike, extreme ratio) on a real Beijing slice."""

import numpy as np
import pytest

from analytics.detectors.rules import extreme_ratio, pm_ratio, range_check, spike
from data.testing import cells, firing_rate, panel_of, sample_readings, set_values


def test_range_catches_negative_and_impossible_values_and_is_quiet_on_real_data():
    r, s = sample_readings()
    clean = range_check(panel_of(r, s))["range"]
    assert firing_rate(clean, 0) < 0.001
    r2 = set_values(r, "1003A", "PM2.5", "2016-12-10 05:00", 2, lambda v: np.array([-30.0, 5000.0]))
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1003A", "PM2.5", "2016-12-10 05:00", 2)
    assert (range_check(p)["range"][st, ts, pi] > 1).all()


def test_pm25_above_pm10_is_flagged_on_both_rows():
    r, s = sample_readings()
    r2 = set_values(r, "1005A", "PM2.5", "2016-12-12 00:00", 3, lambda v: v * 0 + 400.0)
    r2 = set_values(r2, "1005A", "PM10", "2016-12-12 00:00", 3, lambda v: v * 0 + 150.0)
    p = panel_of(r2, s)
    out = pm_ratio(p)["pm_ratio"]
    st, ts, pi = cells(p, "1005A", "PM2.5", "2016-12-12 00:00", 3)
    assert (out[st, ts, pi] > 0.5).all()
    assert (out[st, ts, p.pindex("PM10")] > 0.5).all()
    assert firing_rate(pm_ratio(panel_of(r, s))["pm_ratio"], 0.5) < 0.01


def test_spike_no_neighbour_shares_is_caught_and_shared_peaks_are_not():
    r, s = sample_readings()
    base = spike(panel_of(r, s))["spike"]
    r2 = set_values(r, "1011A", "NO2", "2016-12-15 14:00", 1, lambda v: v * 6 + 150)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1011A", "NO2", "2016-12-15 14:00", 1)
    hit = spike(p)["spike"][st, ts, pi][0]
    assert hit > np.nanquantile(base[base > 0], 0.995)
    assert firing_rate(base, hit) < 0.001


def test_extreme_ratio_ranks_an_impossible_value_among_the_rarest_but_not_a_shared_episode():
    r, s = sample_readings()
    base = extreme_ratio(panel_of(r, s))["extreme_ratio"]
    assert firing_rate(base, 0) < 0.05  # needs high AND far above the neighbours at once
    r2 = set_values(r, "1012A", "PM10", "2016-12-05 03:00", 2, lambda v: v * 0 + 1080.0)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1012A", "PM10", "2016-12-05 03:00", 2)
    hit = extreme_ratio(p)["extreme_ratio"][st, ts, pi]
    assert firing_rate(base, hit.min()) < 0.001  # rarer than 1 in 1,000 real readings of a smog month
    # the whole network at 1,080: an episode, not one station's impossible value
    shared = r.copy()
    sel = (shared["parameter"] == "PM10") & shared["ts"].between("2016-12-05 03:00", "2016-12-05 04:00")
    shared.loc[sel, "value"] = 1080.0
    ps = panel_of(shared, s)
    assert (extreme_ratio(ps)["extreme_ratio"][st, ts, pi] == 0).all()


# --- NH3-N above TN at water sections (ammonia nitrogen is part of total nitrogen) -------------

def _water_slice():
    import warnings

    from envtrust.evaluation.harness import water_network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r, s, _ = water_network("2013-05-01", "2013-06-30", seed=7)
    return r, s


def test_nh3n_above_tn_is_flagged_on_both_rows_and_honest_sections_stay_quiet():
    r, s = _water_slice()
    clean = pm_ratio(panel_of(r, s))["pm_ratio"]
    assert firing_rate(clean, 0.1) == 0  # honest sections: TN >= NH3-N within analyser noise
    assert firing_rate(clean, 0) < 0.0005
    sid = str(s["station_id"].iloc[0])
    tn = r[(r["station_id"] == sid) & (r["parameter"] == "TN") & (r["ts"] >= "2013-06-10 03:00")]
    start = tn["ts"].iloc[0]
    # the injector's variant: NH3-N reported at 1.3-2 x TN for 3 hours
    r2 = set_values(r, sid, "NH3-N", str(start), 3, lambda v: tn["value"].to_numpy()[:len(v)] * 1.4)
    p = panel_of(r2, s)
    out = pm_ratio(p)["pm_ratio"]
    st, ts, pi = cells(p, sid, "NH3-N", str(start), 3)
    assert (out[st, ts, pi] > 0.25).all()
    assert (out[st, ts, p.pindex("TN")] > 0.25).all()


def test_nh3n_a_little_above_tn_within_analyser_noise_is_not_flagged():
    r, s = _water_slice()
    sid = str(s["station_id"].iloc[0])
    tn = r[(r["station_id"] == sid) & (r["parameter"] == "TN") & (r["ts"] >= "2013-06-10 03:00")]
    start = tn["ts"].iloc[0]
    # TN and NH3-N equal to within 0.02 mg/L: two analysers, one reading
    r2 = set_values(r, sid, "NH3-N", str(start), 3, lambda v: tn["value"].to_numpy()[:len(v)] + 0.02)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, sid, "NH3-N", str(start), 3)
    assert (pm_ratio(p)["pm_ratio"][st, ts, pi] == 0).all()


def test_air_pm_ratio_is_unchanged_by_the_water_pair():
    # pinned at engine 9217e71 (before NH3-N/TN): the same sum on the real Beijing slice
    r, s = sample_readings()
    out = pm_ratio(panel_of(r, s))["pm_ratio"]
    assert float(out.sum()) == pytest.approx(7.236895392188057, rel=1e-12)
