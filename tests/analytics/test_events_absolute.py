"""Events whose numbers support them in absolute terms: a deviation from the neighbours within
what two honest analysers may read apart (HJ 654-2013 / HJ 653-2013) raises no spike or
suppression, however large it is in relative terms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.events import EventSettings, build_events, kind_supported
from analytics.pipeline import load_pipeline, score_partition
from analytics.standards.analysers import analyser_disagreement, indication_error


@pytest.mark.parametrize("parameter,expected", [
    ("O3", 0.04 * 500 * 48.00 / 24.465),   # 20 nmol/mol at 298.15 K: 39.2 ug/m3
    ("NO2", 0.02 * 500 * 46.01 / 24.465),  # 10 nmol/mol: 18.8 ug/m3
    ("SO2", 0.02 * 500 * 64.06 / 24.465),  # 10 nmol/mol: 26.2 ug/m3
    ("CO", 0.02 * 50 * 28.01 / 24.465),    # 1 umol/mol: 1.14 mg/m3
    ("PM2.5", 10.0), ("PM10", 10.0),
])
def test_indication_error_in_the_parameters_unit(parameter, expected):
    assert indication_error(parameter) == pytest.approx(expected)
    assert analyser_disagreement(parameter) == pytest.approx(2 * expected)


def test_parameters_without_an_acceptance_limit_are_not_judged():
    assert indication_error("NH3-N") is None and analyser_disagreement("flue_SO2") is None
    assert kind_supported("spike", {"NH3-N": 3.0}, {"NH3-N": 0.01})


def test_the_absolute_difference_decides_where_the_relative_one_cannot():
    # +1,600% but 61 ug/m3 of O3: within two O3 analysers' allowed error (78 ug/m3)
    assert not kind_supported("spike", {"O3": 1646.0}, {"O3": 61.0})
    assert kind_supported("spike", {"O3": 480.0}, {"O3": 230.0})
    # a station below its neighbours is no spike, whatever the models say
    assert not kind_supported("spike", {"O3": -26.0}, {"O3": -8.5})
    # an impossible value (PM2.5 above PM10) needs no neighbour
    assert kind_supported("spike", {"PM2.5": 24.0}, {"PM2.5": 8.0}, {"pm_ratio": 5.0})
    # a suppression needs the drop in absolute terms too: -20% of 60 ug/m3 is 12 ug/m3
    assert not kind_supported("suppression", {"PM2.5": -20.0}, {"PM2.5": -12.0})
    assert kind_supported("suppression", {"PM2.5": -62.0}, {"PM2.5": -112.0})


def test_an_air_suppression_needs_particulate_matter_down():
    # a gas analyser alone at its floor for an hour is its zero check, not spraying or a blocked inlet
    assert not kind_supported("suppression", {"NO2": -98.0}, {"NO2": -158.0})
    assert kind_supported("suppression", {"NO2": -98.0, "PM2.5": -60.0}, {"NO2": -158.0, "PM2.5": -90.0})
    # other networks: any parameter (water dilution lowers the nutrients)
    assert kind_supported("suppression", {"TP": -50.0}, {"TP": -0.1}, network="water")


def _o3_panel(blip_ugm3: float):
    """Two stations, 48 h of O3 at the night-time analyser floor (2 ug/m3); station A reads
    ``blip_ugm3`` for one hour."""
    from analytics.detectors.base import build_panel, validate_readings, validate_stations

    ts = pd.date_range("2020-01-01", periods=48, freq="h")
    stations = pd.DataFrame({"station_id": ["A", "B"], "kind": "air_station", "lon": [116.3, 116.35],
                             "lat": [39.9, 39.92]})
    rows = []
    for sid in ("A", "B"):
        v = np.full(48, 2.0)
        if sid == "A":
            v[20] = blip_ugm3
        rows.append(pd.DataFrame({"station_id": sid, "ts": ts, "parameter": "O3", "value": v}))
    st = validate_stations(stations)
    panel, _ = build_panel(validate_readings(pd.concat(rows, ignore_index=True), st), st)
    return panel


@pytest.mark.parametrize("blip_ugm3,raised", [(65.0, False), (300.0, True)])
def test_a_one_hour_o3_blip_at_the_floor_is_a_spike_only_beyond_analyser_error(blip_ugm3, raised):
    panel = _o3_panel(blip_ugm3)
    spike = np.zeros(panel.shape)
    spike[0, 20, 0] = 9.0  # the spike model's strongest evidence: rare in log space
    expected = np.full(panel.shape, 4.0)  # the neighbours predict 4 ug/m3
    ev = build_events(panel, spike, spike, {"spike": spike}, {"spike": "spike"}, EventSettings(threshold=4.0),
                      expected=expected, score_of=lambda x: 0.9999)
    assert (list(ev["kind"]) == ["spike"]) is raised
    if raised:
        assert ev["evidence"].iloc[0]["difference_vs_neighbours"]["O3"] == pytest.approx(296.0)


def test_the_samples_night_time_o3_blips_raise_no_event():
    """The real Beijing sample (Dec 2016): from 04:00 CST O3 analysers at several stations report
    one hour of 40-75 ug/m3 between hours at their 2 ug/m3 floor; none of these is an event, and no
    spike or suppression on the list sits within two analysers' allowed error."""
    from data.adapters.beijing import read_prsa_pollutants
    from envtrust.settings import SAMPLE_DIR

    readings, stations = read_prsa_pollutants(SAMPLE_DIR / "beijing")
    ev = score_partition(readings, stations, load_pipeline("default")).events
    assert len(ev) >= 10
    blips = ev[(ev["station_id"] == "1004A") & (ev["start"] == pd.Timestamp("2016-12-15 20:00"))]
    assert blips.empty  # Tiantan O3 65 ug/m3 at 04:00 CST on 2016-12-16, neighbours predict ~4
    for e in ev.itertuples(index=False):
        if e.kind not in ("spike", "suppression") or {"range", "pm_ratio"} & set(e.evidence["models"]):
            continue
        sign = 1 if e.kind == "spike" else -1
        assert any(sign * d >= (analyser_disagreement(p) or 0.0)
                   for p, d in e.evidence["difference_vs_neighbours"].items()), e.summary


def test_own_level_difference_is_the_event_against_the_hours_around_it():
    from analytics.events import own_level_difference

    series = np.full(48, 2.0)
    series[20] = 65.0
    assert own_level_difference(series, 20, 20) == pytest.approx(63.0)
    series[14:20] = np.nan
    series[21:27] = np.nan
    assert own_level_difference(series, 20, 20) is None  # nothing around it to compare with


def test_a_blip_no_neighbour_measures_is_judged_against_the_stations_own_hours():
    """A reference station among PM-only sensors has no O3 prediction (the demo's Tiantan): its
    one-hour O3 of 65 ug/m3 between hours at 2 is still no spike; one of 300 still is."""
    for blip, raised in ((65.0, False), (300.0, True)):
        panel = _o3_panel(blip)
        spike = np.zeros(panel.shape)
        spike[0, 20, 0] = 9.0
        no_prediction = np.full(panel.shape, np.nan)
        ev = build_events(panel, spike, spike, {"spike": spike}, {"spike": "spike"}, EventSettings(threshold=4.0),
                          expected=no_prediction, score_of=lambda x: 0.9999)
        assert (list(ev["kind"]) == ["spike"]) is raised
        if raised:
            assert ev["evidence"].iloc[0]["difference_vs_own_level"]["O3"] == pytest.approx(298.0)
