import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import build_panel, validate_readings, validate_stations
from analytics.detectors.clipping import band_bunching_llr, clipping, outlet_limit_ratio
from analytics.evaluation.inject import inject_interference
from data.synthetic.polluters import generate_polluters, polluter_outlets
from data.testing import panel_of, sample_readings


def test_values_held_under_75_while_neighbours_are_far_above():
    r, s = sample_readings()
    clean = clipping(panel_of(r, s))["clip_neighbour"]
    r2 = r.copy()
    m = (r2["station_id"] == "1001A") & (r2["parameter"] == "PM2.5") & (r2["value"] > 75)
    m &= r2["ts"].between("2016-12-16", "2016-12-23")
    rng = np.random.default_rng(1)
    r2.loc[m, "value"] = np.floor(75 * rng.uniform(0.9, 0.99, int(m.sum())))
    p = panel_of(r2, s)
    out = clipping(p)
    st = int(np.nonzero(p.stations["station_id"].to_numpy() == "1001A")[0][0])
    ti = ((r2.loc[m, "ts"] - p.times[0]) / np.timedelta64(1, "h")).astype(int).to_numpy()
    hit = out["clip_neighbour"][st, ti, p.pindex("PM2.5")]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.99)
    assert out["clip_limit"].max() == 0  # the outlet model stays silent on air stations


# --- polluter outlets: O2-corrected bunching under the emission limit -------------------------

def _panel(r, s):
    st = validate_stations(s)
    return build_panel(validate_readings(r, st), st)[0]


@pytest.fixture(scope="module")
def outlets():
    """Five honest outlets (power, cement, steel, chemical flue gas; municipal wastewater), 120 days."""
    s = polluter_outlets()
    s = s[s["station_id"].isin(["P-0101", "P-0401", "P-0501", "P-0701", "P-1001"])].reset_index(drop=True)
    r, _ = generate_polluters(s, "2016-09-01", "2016-12-29 23:00", seed=7, dishonest={})
    return r, s


def test_outlet_ratio_is_o2_corrected_against_the_limit():
    ts = pd.date_range("2024-01-01", periods=3, freq="h")
    r = pd.DataFrame({"station_id": "P1", "ts": list(ts) * 2, "parameter": ["flue_SO2"] * 3 + ["flue_O2"] * 3,
                      "value": [30.0, 30.0, 30.0, 6.0, 11.0, 15.0], "flag": ["N", "N", "C", "N", "N", "N"]})
    s = pd.DataFrame({"station_id": ["P1"], "kind": "polluter_outlet", "lon": [116.0], "lat": [39.9],
                      "limits_json": ['{"flue_SO2": 35}'], "ref_o2_pct": [6.0]})
    ratio = outlet_limit_ratio(_panel(r, s))[0, :, 0]
    # HJ 75-2017: 30 x (21 - 6) / (21 - 6) = 30; 30 x 15 / 10 = 45 mg/m3 at 6% O2; a C-flagged hour is not valid data
    assert ratio[0] == pytest.approx(30 / 35)
    assert ratio[1] == pytest.approx(45 / 35)
    assert np.isnan(ratio[2])


def test_outlet_held_under_its_limit_outranks_honest_outlets(outlets):
    r, s = outlets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inj, truth = inject_interference(r, s, kinds=["clipping"], n_per_kind=5, seed=11)
    assert len(truth) >= 3
    p_clean = _panel(r, s)
    clean = clipping(p_clean)["clip_limit"]
    p = _panel(inj, s)
    out = clipping(p)["clip_limit"]
    changed = (p.values != p_clean.values) & np.isfinite(p.values)
    assert changed.sum() > 50
    # the held hours carry far more bunching evidence than anything on the honest outlets
    assert np.median(out[changed]) > np.quantile(clean[clean > 0], 0.99)
    assert np.quantile(out[changed], 0.25) > 0


def test_honest_outlets_rarely_bunch_under_the_limit(outlets):
    r, s = outlets
    bunch = clipping(_panel(r, s))["clip_limit"]
    assert np.mean(bunch > 0) < 0.01


def test_hours_above_the_limit_cancel_the_bunching():
    # a window with hours just under AND above the limit is an honest high period, not a ceiling
    T = 400
    ratio = np.full((1, T, 1), 0.5)
    ratio[0, 200:260, 0] = 0.95
    held = band_bunching_llr(ratio, 0.1)
    honest = ratio.copy()
    honest[0, 201:260:2, 0] = 1.2  # every other hour above the limit
    mixed = band_bunching_llr(honest, 0.1)
    assert held[0, 230, 0] > 10
    assert mixed[0, 230, 0] < 0.1 * held[0, 230, 0]
    assert (held[0, :190, 0] == 0).all()


# --- surface-water sections: held just inside their GB 3838-2002 class limit -------------------

def test_water_candidate_limit_is_the_class_the_section_normally_meets():
    from analytics.detectors.clipping import water_candidate_limits

    # GB 3838-2002 table 1: NH3-N class IV 1.5, V 2.0 mg/L; DO minima 7.5/6/5/3/2 mg/L
    assert water_candidate_limits(np.array([1.6, 1.7, 1.8, np.nan]), "NH3-N") == [2.0]
    assert water_candidate_limits(np.array([1.6, 1.7, 1.8]), "NH3-N", stricter=True) == [2.0, 1.5]
    assert water_candidate_limits(np.array([4.0, 4.2, 3.9]), "DO") == [3.0]
    assert water_candidate_limits(np.array([4.0, 4.2, 3.9]), "DO", stricter=True) == [3.0, 5.0]
    assert water_candidate_limits(np.array([0.08]), "TP", "lake") == [0.1]  # lake TP limits
    assert water_candidate_limits(np.array([3.0]), "TN", "river") == []     # TN counts for lakes only
    assert water_candidate_limits(np.array([9.0]), "NH3-N") == [None]       # worse than class V


def test_water_ratio_puts_do_just_above_its_minimum_in_the_band():
    ts = pd.date_range("2024-06-01", periods=4, freq="h")
    r = pd.DataFrame({"station_id": "W1", "ts": list(ts) * 2, "parameter": ["DO"] * 4 + ["CODMn"] * 4,
                      "value": [3.1, 3.2, 3.05, 2.5, 9.5, 9.9, 9.2, 12.0], "flag": "N"})
    s = pd.DataFrame({"station_id": ["W1"], "kind": "water_section", "lon": [116.0], "lat": [39.9]})
    from analytics.detectors.clipping import water_limit_ratios

    p = _panel(r, s)
    (ratio,) = water_limit_ratios(p)
    # median DO 3.075 meets class IV (>= 3 mg/L): held just above it -> ratio 3 / DO in [0.9, 1)
    np.testing.assert_allclose(ratio[0, :, p.pindex("DO")], [3 / 3.1, 3 / 3.2, 3 / 3.05, 3 / 2.5])
    # median CODMn 9.7 meets class IV (<= 10 mg/L)
    np.testing.assert_allclose(ratio[0, :, p.pindex("CODMn")], [0.95, 0.99, 0.92, 1.2])


@pytest.fixture(scope="module")
def water():
    """The evaluation's 10 honest synthetic sections (Beiyun/Yongding/Nanyun cluster), 90 days."""
    from envtrust.evaluation.harness import water_network

    r, s, _ = water_network("2013-05-01", "2013-07-30", seed=7)
    return r, s


def test_water_section_held_inside_its_class_outranks_honest_sections(water):
    r, s = water
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inj, truth = inject_interference(r, s, kinds=["clipping"], n_per_kind=8, seed=3)
    assert len(truth) >= 5
    p_clean, p = _panel(r, s), _panel(inj, s)
    clean = clipping(p_clean)["clip_class"]
    out = clipping(p)["clip_class"]
    changed = (p.values != p_clean.values) & np.isfinite(p.values)
    assert changed.sum() > 200
    valid = np.isfinite(p.values)
    # the typical held hour ranks beyond 98 % of the honest readings; on average 20x the honest evidence
    assert np.median(out[changed]) > np.quantile(clean[valid], 0.98)
    assert out[changed].mean() > 20 * clean[valid].mean()
    from sklearn.metrics import average_precision_score

    assert average_precision_score(changed[valid], out[valid]) > 20 * changed[valid].mean()


def test_honest_water_sections_seldom_bunch_and_air_never_sees_water_limits(water):
    r, s = water
    out = clipping(_panel(r, s))
    bunch = out["clip_class"]
    assert out["clip_limit"].max() == 0  # the outlet model (its weight, its event rule) stays off water
    assert np.mean(bunch > 0) < 0.06  # honest slow wander just inside a class, ranked in-run
    from analytics.detectors.clipping import water_limit_ratios

    ra, sa = sample_readings()
    assert water_limit_ratios(panel_of(ra, sa)) == []


def test_air_and_outlet_clipping_models_are_unchanged(outlets):
    # pinned at engine 9217e71 (before the water evidence): the same sums to the last bits
    r, s = sample_readings()
    air = clipping(panel_of(r, s))
    assert float(np.abs(air["clip_neighbour"]).sum()) == pytest.approx(104.07457521753486, rel=1e-12)
    assert float(np.abs(air["clip_bunch"]).sum()) == pytest.approx(5697.241958634275, rel=1e-12)
    assert air["clip_limit"].max() == 0 and air["clip_class"].max() == 0
    ro, so = outlets
    so = so[so["station_id"] != "P-0701"].reset_index(drop=True)
    ro = ro[ro["station_id"].isin(so["station_id"]) & (ro["ts"] < "2016-11-30")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inj, _ = inject_interference(ro, so, kinds=["clipping"], n_per_kind=4, seed=11)
    out = clipping(_panel(inj, so))
    assert float(out["clip_limit"].sum()) == pytest.approx(7566.720297632606, rel=1e-9)
    assert out["clip_class"].max() == 0  # outlets are not water sections
