import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import build_panel, validate_readings, validate_stations
from analytics.detectors.clipping import band_bunching_llr, clipping, outlet_limit_ratio
from analytics.detectors.testing import panel_of, sample_readings
from analytics.evaluation.inject import inject_interference
from data.synthetic.polluters import generate_polluters, polluter_outlets


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
