"""GCJ-02 / BD-09 conversion against published test vectors.

Vectors (public, cited):
- googollee/eviltransform ``python/test.py`` and ``go/transform_test.go``: WGS-84/GCJ-02 pairs for
  Shanghai, Shenzhen, Beijing (forward to 6 decimals; exact inverse within 0.5 m). The same file's
  two BD-09 -> WGS-84 pairs are NOT used: they disagree by ~10 m with eviltransform's own bd2wgs
  formula (and with every other public BD-09 implementation), so they look like readings from
  Baidu's web service rather than outputs of the formula.
- wandergis/coordtransform ``README.md`` (and its jest test): results for (116.404, 39.915).
  Its ``gcj02towgs84`` is the ONE-STEP approximation (lon - offset), so we compare ours with a 5 m
  tolerance there and check our exact inverse by round trip instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.neighbours import haversine_m

# (wgs_lat, wgs_lng, gcj_lat, gcj_lng) from googollee/eviltransform python/test.py
EVIL_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
@pytest.mark.parametrize("wlat,wlon,glat,glon", EVIL_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-6)
    assert lat == pytest.approx(glat, abs=1e-6)


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVIL_WGS_GCJ)
def test_gcj02_to_wgs84_exact_within_half_metre(wlat, wlon, glat, glon):
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert haversine_m(lon, lat, wlon, wlat) < 0.5


def test_wandergis_readme_values():
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.39762729119315, 39.90865673957631), abs=1e-9)
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert haversine_m(lon, lat, 116.39775550083061, 39.91359571849836) < 5.0


def test_round_trip_error_below_one_metre_over_china_grid():
    lon, lat = np.meshgrid(np.linspace(73.5, 134.5, 60), np.linspace(18.5, 53.0, 40))
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert w_lon.shape == lon.shape
    err = haversine_m(w_lon, w_lat, lon, lat)
    assert err.max() < 1.0
    # and the obfuscation itself is the expected hundreds of metres somewhere in the east
    offset = haversine_m(g_lon, g_lat, lon, lat)
    assert 100 < np.median(offset) < 1000


def test_bd09_round_trip():
    lon = np.array([116.39, 121.47, 113.26])
    lat = np.array([39.91, 31.23, 23.13])
    b_lon, b_lat = wgs84_to_bd09(lon, lat)
    w_lon, w_lat = bd09_to_wgs84(b_lon, b_lat)
    assert haversine_m(w_lon, w_lat, lon, lat).max() < 1.0


def test_outside_china_passthrough_and_nan():
    lon = np.array([2.35, -74.0, 116.4, np.nan])
    lat = np.array([48.85, 40.7, 39.9, 39.9])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon[0] == 2.35 and g_lat[0] == 48.85
    assert g_lon[1] == -74.0 and g_lat[1] == 40.7
    assert g_lon[2] != 116.4
    assert np.isnan(g_lon[3]) and np.isnan(g_lat[3])
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    assert w_lon[0] == 2.35 and np.isnan(w_lon[3])
    assert list(out_of_china(lon[:3], lat[:3])) == [True, True, False]
    b_lon, b_lat = wgs84_to_bd09(lon[:2], lat[:2])
    np.testing.assert_array_equal(b_lon, lon[:2])


def test_accepts_series_and_lists_and_rejects_shape_mismatch():
    s_lon = pd.Series([116.4, 117.2])
    s_lat = pd.Series([39.9, 39.1])
    lon, lat = wgs84_to_gcj02(s_lon, s_lat)
    assert isinstance(lon, np.ndarray) and lon.shape == (2,)
    lon2, _ = wgs84_to_gcj02([116.4, 117.2], [39.9, 39.1])
    np.testing.assert_allclose(lon, lon2)
    with pytest.raises(ValueError, match="same shape"):
        wgs84_to_gcj02([1.0, 2.0], [1.0])
