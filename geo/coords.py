"""WGS-84 <-> GCJ-02 <-> BD-09 conversion, vectorised with numpy.

Why: Alibaba DataV boundaries (and Gaode/AMap, Tencent) are in GCJ-02, the "Mars" obfuscation of
WGS-84 required for maps published in China; Baidu adds a second transform (BD-09). Our stations
and the Tianditu layers are WGS-84 (CGCS2000 ~ WGS-84 within centimetres), so anything drawn
from DataV must be converted first (offset ~300-700 m in eastern China). PROJ/pyproj declined to
support GCJ-02 (OSGeo/PROJ #982), hence these functions (standards.md section 6).

The forward formula (Krasovsky ellipsoid a = 6378245 m, ee = 0.00669342162296594323) is the
public one found in googollee/eviltransform and wandergis/coordtransform. GCJ-02 -> WGS-84 has no
closed form: we iterate the forward transform (fixed point on the residual) until the residual is
below 1e-9 degree (~0.1 mm), which gives < 0.5 m error in a few iterations.

(eviltransform uses a = 6378137 instead; the difference is < 1 cm.)

Points outside the China bounding box used by those libraries (lon 72.004-137.8347,
lat 0.8293-55.8271) pass through unchanged (GCJ-02 and BD-09, as eviltransform does), as the obfuscation is only applied inside it.
All functions take scalars, lists, numpy arrays or pandas Series (lon, lat in degrees) and return
a ``(lon, lat)`` tuple of the same shape (floats for scalar input, numpy arrays otherwise). NaN
stays NaN.
"""

from __future__ import annotations

import numpy as np

KRASOVSKY_A_M = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
BD_X_PI = np.pi * 3000.0 / 180.0
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max

__all__ = [
    "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02",
    "wgs84_to_bd09", "bd09_to_wgs84", "out_of_china", "CHINA_BBOX",
]


def _as_arrays(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat must have the same shape; got {lon_a.shape} and {lat_a.shape}")
    return lon_a, lat_a, lon_a.ndim == 0


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon, lat) -> np.ndarray:
    """True where the point lies outside the GCJ-02 bounding box (no obfuscation applied there)."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    with np.errstate(invalid="ignore"):
        return (lon_a < lon_min) | (lon_a > lon_max) | (lat_a < lat_min) | (lat_a > lat_max)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 (degrees) at a WGS-84 point; zero outside China."""
    x = lon - 105.0
    y = lat - 35.0
    dlat = _transform_lat(x, y)
    dlon = _transform_lon(x, y)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A_M * (1.0 - KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A_M / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """WGS-84 -> GCJ-02 (degrees); outside China unchanged."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset_deg(lon_a, lat_a)
    return _result(lon_a + dlon, lat_a + dlat, scalar)


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-9, max_iter: int = 30):
    """GCJ-02 -> WGS-84 (degrees) by fixed-point iteration of the forward transform.

    Starts from the one-step approximation (WGS ~ GCJ - offset(GCJ), error 1-2 m) and refines
    ``wgs -= forward(wgs) - gcj`` until the largest residual is below ``tol_deg`` (default
    1e-9 degree, ~0.1 mm); the offset field is smooth, so this converges in 3-5 iterations.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset_deg(lon_a, lat_a)
    w_lon = lon_a - dlon
    w_lat = lat_a - dlat
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        r_lon = np.asarray(f_lon) - lon_a
        r_lat = np.asarray(f_lat) - lat_a
        w_lon = w_lon - r_lon
        w_lat = w_lat - r_lat
        resid = np.nanmax(np.abs(np.concatenate([np.ravel(r_lon), np.ravel(r_lat)])), initial=0.0)
        if resid < tol_deg:
            break
    return _result(w_lon, w_lat, scalar)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 -> BD-09 (Baidu): offset (+0.0065, +0.006) with a small rotation/scale term."""
    x, y, scalar = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * BD_X_PI)
    outside = out_of_china(x, y)
    b_lon = np.where(outside, x, z * np.cos(theta) + 0.0065)
    b_lat = np.where(outside, y, z * np.sin(theta) + 0.006)
    return _result(b_lon, b_lat, scalar)


def bd09_to_gcj02(lon, lat):
    """BD-09 -> GCJ-02 (the usual closed-form approximate inverse, error ~1e-6 degree)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    x = lon_a - 0.0065
    y = lat_a - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_X_PI)
    outside = out_of_china(lon_a, lat_a)
    g_lon = np.where(outside, lon_a, z * np.cos(theta))
    g_lat = np.where(outside, lat_a, z * np.sin(theta))
    return _result(g_lon, g_lat, scalar)


def wgs84_to_bd09(lon, lat):
    """WGS-84 -> BD-09 via GCJ-02."""
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(g_lon, g_lat)


def bd09_to_wgs84(lon, lat):
    """BD-09 -> WGS-84 via GCJ-02 (iterative inverse for the GCJ step)."""
    g_lon, g_lat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(g_lon, g_lat)
