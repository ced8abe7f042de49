"""Micro-sensor rings: geometry of the ring, Magnus RH, kappa-Koehler growth, and sensors derived
from the real Beijing sample that read high in humid hours and follow their parent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from data.synthetic.micro import (
    generate_micro,
    hygroscopic_growth_factor,
    micro_stations,
    offset_point,
    relative_humidity_pct,
)
from geo.neighbours import haversine_m

PARENTS = pd.DataFrame([
    {"station_id": "1001A", "name": "万寿西宫", "lon": 116.3621, "lat": 39.8784},
    {"station_id": "1003A", "name": "东四", "lon": 116.434, "lat": 39.9522},
])


@pytest.fixture(scope="module")
def parent_readings(sample_dir) -> pd.DataFrame:
    from data.adapters.beijing import read_beijing_csv

    frames = [read_beijing_csv(sample_dir / "beijing" / f"PRSA_Data_{n}_20161201-20170110.csv.gz").readings
              for n in ("Wanshouxigong", "Dongsi")]
    return pd.concat(frames, ignore_index=True)


def test_magnus_relative_humidity():
    assert_allclose(relative_humidity_pct(10.0, 10.0), 100.0)
    assert_allclose(relative_humidity_pct(20.0, 10.0), 52.5, atol=0.3)  # Magnus, Alduchov-Eskridge
    assert relative_humidity_pct(-5.0, -20.0) < 35


def test_growth_factor_is_one_when_dry_and_large_when_humid():
    assert_allclose(hygroscopic_growth_factor(0.0, 0.4), 1.0, rtol=1e-5)
    assert_allclose(hygroscopic_growth_factor(90.0, 0.4), 1 + (0.4 / 1.65) * 9, rtol=1e-9)
    assert hygroscopic_growth_factor(99.0, 0.4) == hygroscopic_growth_factor(98.0, 0.4)  # capped


def test_offset_point_distance_and_bearing():
    lon, lat = offset_point(116.4, 39.9, 90.0, 2000.0)
    assert_allclose(haversine_m(116.4, 39.9, lon, lat), 2000.0, rtol=1e-6)
    assert lon > 116.4 and abs(lat - 39.9) < 1e-3


def test_ring_geometry_and_determinism():
    ring = micro_stations(PARENTS, seed=1)
    again = micro_stations(PARENTS, seed=1)
    pd.testing.assert_frame_equal(ring, again)
    counts = ring.groupby("parent_station").size()
    assert counts.between(4, 8).all() and set(counts.index) == {"1001A", "1003A"}
    merged = ring.merge(PARENTS, left_on="parent_station", right_on="station_id", suffixes=("", "_p"))
    d = haversine_m(merged["lon"], merged["lat"], merged["lon_p"], merged["lat_p"])
    assert (d >= 499).all() and (d <= 3001).all()
    assert (ring["kind"] == "air_micro").all() and ring["station_id"].is_unique


def test_ring_stays_on_land():
    from shapely.geometry import box

    land = box(116.30, 39.85, 116.50, 39.98)  # a rectangle standing in for "land"
    ring = micro_stations(PARENTS, seed=2, land=land)
    from shapely.geometry import Point

    assert all(land.contains(Point(x, y)) for x, y in zip(ring.lon, ring.lat, strict=True))


def test_sensors_follow_parent_and_read_high_when_humid(parent_readings):
    ring = micro_stations(PARENTS, seed=3)
    micro = generate_micro(parent_readings, ring, seed=3)
    again = generate_micro(parent_readings, ring, seed=3)
    pd.testing.assert_frame_equal(micro, again)
    assert set(micro["parameter"]) == {"PM2.5", "PM10", "NO2"}
    assert (micro["value"] >= 0).all() and (micro["value"] <= 1000).all()
    wide = parent_readings.pivot_table(index=["station_id", "ts"], columns="parameter", values="value")
    wide["RH"] = relative_humidity_pct(wide["TEMP"], wide["DEWP"])
    pm = micro[micro.parameter == "PM2.5"].merge(ring[["station_id", "parent_station"]], on="station_id")
    pm = pm.join(wide[["PM2.5", "RH"]], on=["parent_station", "ts"]).dropna()
    assert np.corrcoef(pm["value"], pm["PM2.5"])[0, 1] > 0.8
    ratio = (pm["value"] + 1) / (pm["PM2.5"] + 1)
    assert ratio[pm["RH"] > 80].median() > 1.3 * ratio[pm["RH"] < 40].median()
    # dropouts: some hours missing, most present
    n_parent = parent_readings[(parent_readings.parameter == "PM2.5") & parent_readings["value"].notna()]
    per_sensor = pm.groupby("station_id").size()
    assert (per_sensor < len(n_parent) / 2).all() and (per_sensor > 0.8 * len(n_parent) / 2).all()
