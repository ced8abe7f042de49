"""River sections: upstream and downstream sections are neighbours, shifted by the travel time,
and a storm's runoff is not raised as interference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.detectors.base import RIVER_FLOW_KM_H, build_panel, validate_readings, validate_stations
from analytics.detectors.spatial import neighbour_fit
from analytics.events import natural_runoff

REACH_KM = 36.0
LAG_H = int(round(REACH_KM / RIVER_FLOW_KM_H))


def _river(with_links: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three sections in a row on one river; a pollution wave passes A, then B LAG_H hours later,
    then C; each is 15-20 km from the next, so all are within the neighbour distance."""
    stations = pd.DataFrame({"station_id": ["A", "B", "C"], "kind": "water_section",
                             "lon": [116.0, 116.2, 116.4], "lat": [40.0, 40.0, 40.0],
                             "reach_km": [np.nan, REACH_KM, REACH_KM]})
    if with_links:
        stations["upstream_station"] = [None, "A", "B"]
    hours = pd.date_range("2017-01-01", periods=24 * 20, freq="h")
    rng = np.random.default_rng(3)
    base = np.exp(rng.normal(0, 0.03, (3, len(hours))))
    wave = np.zeros(len(hours))
    wave[200:212] = 3.0
    rows = []
    for k, sid in enumerate(["A", "B", "C"]):
        v = 2.0 * base[k] * np.exp(np.roll(wave, k * LAG_H))
        rows.append(pd.DataFrame({"station_id": sid, "ts": hours, "parameter": "CODMn", "value": v}))
    return pd.concat(rows, ignore_index=True), stations


def _wave_z(with_links: bool) -> float:
    readings, stations = _river(with_links)
    st = validate_stations(stations)
    panel, _ = build_panel(validate_readings(readings, st), st)
    z = neighbour_fit(panel)["z"]
    b = list(panel.stations["station_id"]).index("B")
    return float(np.nanmax(np.abs(z[b, 200 + LAG_H:212 + LAG_H, 0])))


def test_upstream_and_downstream_sections_are_lagged_neighbours():
    readings, stations = _river(True)
    st = validate_stations(stations)
    panel, _ = build_panel(validate_readings(readings, st), st)
    b = list(panel.stations["station_id"]).index("B")
    ids = list(panel.stations["station_id"])
    linked = {ids[j]: int(lag) for j, lag in zip(panel.neighbours.index[b], panel.neighbours.lag_h[b], strict=True)
              if j >= 0}
    assert linked["A"] == LAG_H and linked["C"] == -LAG_H


def test_a_wave_arriving_with_the_water_is_not_a_deviation():
    assert _wave_z(with_links=True) < 3.0  # instrument noise only
    assert _wave_z(with_links=False) > 20.0  # the same wave judged against same-hour neighbours


def test_runoff_is_not_raised_but_a_lone_turbidity_rise_is():
    storm = {"TP": 42.0, "turbidity": 85.0, "conductivity": -11.5, "CODMn": 18.0}
    assert natural_runoff("spike", storm, "water")
    assert not natural_runoff("spike", storm, "air")
    assert not natural_runoff("suppression", storm, "water")
    assert not natural_runoff("spike", {"turbidity": 85.0}, "water")  # one analyser: no runoff pattern
    assert not natural_runoff("drift", {**storm, "conductivity": 12.0}, "water")  # ions up: not dilution
