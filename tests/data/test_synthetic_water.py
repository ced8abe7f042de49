"""The water generator: deterministic, physically shaped (DO saturation, afternoon DO peak),
coherent along the river (downstream lags upstream by the travel time), storms, river classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.vocabulary import PARAMETERS
from data.synthetic.water import (
    FLOW_VELOCITY_KM_H,
    WATER_SECTION_PARAMETERS,
    class_concentration,
    do_saturation_mg_l,
    generate_water,
    runoff_response,
)


def _sections(reach_km: float = 36.0) -> pd.DataFrame:
    return pd.DataFrame([
        {"station_id": "W-A", "name": "滦河 上游", "river": "滦河", "section_role": "inbound", "lat": 40.4,
         "upstream_station": None, "reach_km": None},
        {"station_id": "W-B", "name": "滦河 下游", "river": "滦河", "section_role": "control", "lat": 40.1,
         "upstream_station": "W-A", "reach_km": reach_km},
        {"station_id": "W-C", "name": "北运河 京冀界 (出境)", "river": "北运河", "section_role": "outbound",
         "lat": 39.77, "upstream_station": None, "reach_km": None},
    ])


@pytest.fixture(scope="module")
def summer() -> pd.DataFrame:
    return generate_water(_sections(), "2016-06-01", "2016-08-31 23:00", seed=3)


def _wide(df: pd.DataFrame, station: str, parameter: str) -> pd.Series:
    s = df[(df.station_id == station) & (df.parameter == parameter)].set_index("ts")["value"]
    return s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h"))


def test_do_saturation_matches_apha_table():
    # APHA 4500-O table (Benson-Krause, 1 atm, zero salinity): 0, 20, 25 degC
    assert_allclose(do_saturation_mg_l([0.0, 20.0, 25.0]), [14.621, 9.092, 8.263], rtol=2e-3)


def test_class_concentration_lies_inside_the_class():
    # GB 3838 class III CODMn band is (4, 6]; class II NH3-N (0.15, 0.5]
    assert 4.0 < class_concentration("CODMn", 3.0) <= 6.0
    assert 0.15 < class_concentration("NH3-N", 2.0) <= 0.5


def test_deterministic_with_seed(summer):
    again = generate_water(_sections(), "2016-06-01", "2016-08-31 23:00", seed=3)
    pd.testing.assert_frame_equal(summer, again)
    other = generate_water(_sections(), "2016-06-01", "2016-08-31 23:00", seed=4)
    assert not np.allclose(summer["value"].to_numpy()[:1000], other["value"].to_numpy()[:1000])


def test_all_parameters_valid_and_in_physical_range(summer):
    assert set(summer["parameter"]) == set(WATER_SECTION_PARAMETERS)
    for p, g in summer.groupby("parameter"):
        spec = PARAMETERS[p]
        assert g["value"].notna().all()
        assert (g["value"] >= spec.min_value).all() and (g["value"] <= spec.max_value).all(), p
    assert set(summer["flag"]) == {"N"}


def test_some_hours_missing_but_few(summer):
    n_hours = len(pd.date_range("2016-06-01", "2016-08-31 23:00", freq="h"))
    per_station = summer[summer.parameter == "DO"].groupby("station_id").size()
    missing = 1 - per_station / n_hours
    assert (missing > 0).all() and (missing < 0.05).all()


def test_do_peaks_mid_afternoon_local_time(summer):
    do = summer[summer.parameter == "DO"]
    local_hour = (do["ts"] + pd.Timedelta(hours=8)).dt.hour
    by_hour = do.groupby(local_hour)["value"].mean()
    assert 13 <= by_hour.idxmax() <= 17
    assert by_hour.idxmin() in (*range(19, 24), *range(0, 8))


def test_ph_follows_do(summer):
    do = _wide(summer, "W-B", "DO")
    ph = _wide(summer, "W-B", "pH")
    # remove the daily means: the diurnal parts must move together (photosynthesis takes up CO2)
    day = do.index.floor("D")
    r = np.corrcoef((do - do.groupby(day).transform("mean")).fillna(0),
                    (ph - ph.groupby(day).transform("mean")).fillna(0))[0, 1]
    assert r > 0.5


def test_downstream_lags_upstream_by_travel_time():
    reach = 36.0
    df = generate_water(_sections(reach), "2016-03-01", "2016-09-30 23:00", seed=11)
    up = np.log(_wide(df, "W-A", "CODMn")).interpolate().bfill()
    down = np.log(_wide(df, "W-B", "CODMn")).interpolate().bfill()
    up, down = up - up.rolling(24 * 14, center=True, min_periods=1).mean(), down - down.rolling(
        24 * 14, center=True, min_periods=1).mean()
    lags = range(0, 60)
    corr = [np.corrcoef(up.to_numpy()[: len(up) - k], down.to_numpy()[k:])[0, 1] for k in lags]
    expected = reach / FLOW_VELOCITY_KM_H
    assert abs(int(np.argmax(corr)) - expected) <= 3
    assert max(corr) > 0.3


def test_storm_raises_turbidity_after_a_lag():
    hours = pd.date_range("2016-07-01", "2016-07-20 23:00", freq="h")
    rain = pd.Series(0.0, index=hours)
    rain["2016-07-10 00:00":"2016-07-10 05:00"] = 20.0
    df = generate_water(_sections().iloc[[2]], hours[0], hours[-1], seed=5, rain_mm=rain, missing_rate=0.0)
    turb = _wide(df, "W-C", "turbidity")
    before = turb["2016-07-08":"2016-07-09"].mean()
    after = turb["2016-07-10 06:00":"2016-07-11 06:00"].mean()
    assert after > 1.5 * before
    # the response peaks hours after the rain, not at once (runoff lag)
    resp = runoff_response(rain.to_numpy())
    assert 3 <= int(np.argmax(resp)) - int(np.argmax(rain.to_numpy())) <= 12


def test_beijing_outbound_beiyun_is_worse_than_luan(summer):
    means = summer[summer.parameter.isin(["CODMn", "NH3-N"])].groupby(["station_id", "parameter"])["value"].mean()
    assert means["W-C", "CODMn"] > 10.0           # class V territory (GB 3838 IV limit 10)
    assert means["W-A", "CODMn"] < 4.0            # class II
    assert means["W-C", "NH3-N"] > 3 * means["W-A", "NH3-N"]


def test_empty_window_gives_empty_frame():
    out = generate_water(_sections(), "2016-06-02", "2016-06-01", seed=1)
    assert out.empty and list(out.columns) == ["station_id", "ts", "parameter", "value", "flag"]


def test_ammonia_never_exceeds_total_nitrogen_on_the_polluted_rivers():
    """NH3-N is part of TN: an honest section reporting more would open an impossible-value event on
    an honest network (the sample demo's W-0004 read NH3-N 2.017 beside TN 1.96). The Nanyun and
    Beiyun run close to the ratio; half a year of their 8 sections drew one such hour before."""
    from geo.sections import demo_sections

    sections = demo_sections()
    sections = sections[(sections["kind"] == "water_section") & sections["river"].isin(["南运河", "北运河"])]
    df = generate_water(sections.reset_index(drop=True), "2016-01-01", "2016-06-30 23:00", seed=7)
    wide = df.pivot_table(index=["station_id", "ts"], columns="parameter", values="value")
    assert len(wide) > 30_000
    assert not (wide["NH3-N"] > wide["TN"]).any()
