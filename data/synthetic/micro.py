"""Low-cost micro-stations (微站) ringing real Beijing stations, derived from their real readings.

Each parent station gets a ring of ``n`` sensors 0.5-3 km away (random bearing, kept inside the
``land`` polygon when one is given). A sensor's reading is built from the parent's real hourly
value in four steps, each a documented property of low-cost optical PM and electrochemical NO2
sensors (e.g. Crilley et al. 2018, AMT 11:709; Castell et al. 2017, Env. Int. 99:293):

1. **Local air** differs a little from the parent's: a per-sensor factor (lognormal, ~8 %), a
   slow local fluctuation (AR(1), ~10 %) and a per-sensor additive offset (a road, a canteen).
2. **Hygroscopic growth** (optical sensors see wet particles): the reported mass is multiplied by
   ``1 + (kappa / 1.65) / (1 / a_w - 1)`` (kappa-Koehler, Crilley et al. 2018 eq. 3) with
   ``a_w = RH / 100`` capped at 0.98 and ``kappa`` 0.15-0.45 per sensor. RH comes from the parent's
   TEMP and DEWP by the Magnus formula (Alduchov & Eskridge 1996 constants), so sensors read high in
   humid hours. NO2 sensors instead drift with temperature.
3. **Calibration error**: multiplicative (0.7-1.3) and additive (+-3 ug/m3) bias per sensor;
   optical sensors under-count coarse particles, so PM10 sees only part of PM10 - PM2.5.
4. **Noise and dropouts**: noise of 2 ug/m3 + 6 %, integer reporting, a 1000 ug/m3 ceiling, ~2 %
   random missing hours and a few multi-hour outages (lost Wi-Fi/power). Hours where the parent
   has no value have no micro reading.

Pure and seeded: same readings, stations and seed give the same output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from geo.neighbours import EARTH_RADIUS_M

MICRO_PARAMETERS: tuple[str, ...] = ("PM2.5", "PM10", "NO2")
#: Parents of the demo rings: the urban and suburban stations with the most neighbours.
DEFAULT_PARENTS: tuple[str, ...] = ("1001A", "1003A", "1004A", "1006A", "1008A", "1011A")
MAGNUS_A, MAGNUS_B_C = 17.625, 243.04
KAPPA_DENSITY = 1.65


def relative_humidity_pct(temp_c, dewpoint_c):
    """RH (%) from air temperature and dew point (degC) by the Magnus formula (Alduchov & Eskridge 1996)."""
    t = np.asarray(temp_c, dtype=float)
    td = np.asarray(dewpoint_c, dtype=float)
    rh = 100.0 * np.exp(MAGNUS_A * td / (MAGNUS_B_C + td) - MAGNUS_A * t / (MAGNUS_B_C + t))
    return np.clip(rh, 0.0, 100.0)


def hygroscopic_growth_factor(rh_pct, kappa):
    """Mass growth seen by an optical sensor, kappa-Koehler (Crilley et al. 2018): 1 at dry air."""
    aw = np.clip(np.asarray(rh_pct, dtype=float) / 100.0, 0.0, 0.98)
    return 1.0 + (np.asarray(kappa, dtype=float) / KAPPA_DENSITY) / (1.0 / np.maximum(aw, 1e-6) - 1.0)


def offset_point(lon: float, lat: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """Point ``distance_m`` from (lon, lat) along ``bearing_deg`` (spherical Earth)."""
    d = distance_m / EARTH_RADIUS_M
    b = math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(l2), math.degrees(p2)


def micro_stations(parents: pd.DataFrame, *, seed: int = 0, n_range: tuple[int, int] = (4, 8),
                   distance_m: tuple[float, float] = (500.0, 3000.0), land=None) -> pd.DataFrame:
    """The ring of sensors around each parent (``station_id, name, lon, lat``): station rows.

    ``land``: optional shapely geometry the sensors must lie in (e.g. the Beijing boundary).
    Returns station_id (``<parent>-M<k>``), name, name_en, kind=air_micro, lon, lat,
    parent_station, control_level=town, plus the per-sensor error parameters (columns prefixed
    ``err_``) that :func:`generate_micro` uses; drop them before storing.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _, p in parents.sort_values("station_id").iterrows():
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        bearings = (rng.uniform(0, 360) + np.arange(n) * 360.0 / n + rng.normal(0, 12, n)) % 360
        for k in range(n):
            for _attempt in range(50):
                lon, lat = offset_point(float(p["lon"]), float(p["lat"]), float(bearings[k]),
                                        float(rng.uniform(*distance_m)))
                if land is None or land.contains(_point(lon, lat)):
                    break
                bearings[k] = rng.uniform(0, 360)
            rows.append({
                "station_id": f"{p['station_id']}-M{k + 1}",
                "name": f"{p.get('name', p['station_id'])} 微站{k + 1}",
                "name_en": f"micro-sensor {k + 1} near {p.get('name_en') or p['station_id']}",
                "kind": "air_micro", "lon": round(lon, 6), "lat": round(lat, 6),
                "parent_station": p["station_id"], "control_level": "town",
                "err_local_factor": float(np.exp(rng.normal(0, 0.08))),
                "err_local_offset": float(abs(rng.normal(0, 4.0))),
                "err_kappa": float(rng.uniform(0.15, 0.45)),
                "err_gain": float(rng.uniform(0.7, 1.3)),
                "err_bias": float(rng.normal(0, 3.0)),
                "err_coarse_fraction": float(rng.uniform(0.4, 0.8)),
                "err_no2_temp_coef": float(rng.normal(0.6, 0.2)),
            })
    return pd.DataFrame(rows)


def _point(lon: float, lat: float):
    from shapely.geometry import Point
    return Point(lon, lat)


def _ar1(n: int, rho: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import lfilter

    e = rng.normal(0.0, sigma * math.sqrt(1 - rho**2), n)
    if n:
        e[0] = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -rho], e)


def _present(n: int, rng: np.random.Generator, missing_rate: float = 0.02) -> np.ndarray:
    keep = rng.random(n) >= missing_rate
    for start in np.flatnonzero(rng.random(n) < 1.0 / (24 * 45)):  # an outage every ~45 days
        keep[start:start + int(rng.integers(2, 73))] = False
    return keep


def generate_micro(parent_readings: pd.DataFrame, sensors: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Hourly micro-sensor readings (long format, same clock as the input) from the parents' real ones.

    ``parent_readings``: long readings of the parents with PM2.5, PM10, NO2, TEMP, DEWP.
    ``sensors``: from :func:`micro_stations` (needs the ``err_`` columns). Returns
    station_id, ts, parameter, value, flag ('N').
    """
    rng = np.random.default_rng(seed)
    need = ("PM2.5", "PM10", "NO2", "TEMP", "DEWP")
    sub = parent_readings[parent_readings["parameter"].isin(need)
                          & parent_readings["station_id"].isin(set(sensors["parent_station"]))]
    wide = sub.pivot_table(index=["station_id", "ts"], columns="parameter", values="value",
                           aggfunc="first", dropna=False)
    for c in need:
        if c not in wide.columns:
            wide[c] = np.nan
    frames = []
    for _, s in sensors.sort_values("station_id").iterrows():
        try:
            w = wide.xs(s["parent_station"], level="station_id")
        except KeyError:
            continue
        w = w.sort_index()
        n = len(w)
        ts = w.index.to_numpy()
        rh = relative_humidity_pct(w["TEMP"].to_numpy(), w["DEWP"].to_numpy())
        rh = np.where(np.isnan(rh), 50.0, rh)
        growth = hygroscopic_growth_factor(rh, s["err_kappa"])
        local = s["err_local_factor"] * np.exp(_ar1(n, 0.9, 0.10, rng))
        pm25_true = w["PM2.5"].to_numpy() * local + s["err_local_offset"]
        coarse_true = np.clip(w["PM10"].to_numpy() - w["PM2.5"].to_numpy(), 0, None) * local
        pm25 = s["err_gain"] * pm25_true * growth + s["err_bias"]
        pm10 = pm25 + s["err_gain"] * s["err_coarse_fraction"] * coarse_true * growth
        no2 = (w["NO2"].to_numpy() * local * rng.uniform(0.85, 1.2)
               + s["err_no2_temp_coef"] * (np.nan_to_num(w["TEMP"].to_numpy(), nan=15.0) - 15.0)
               + rng.normal(0, 4.0))
        out = {
            "PM2.5": _report(pm25, rng),
            "PM10": _report(np.maximum(pm10, pm25), rng),
            "NO2": np.round(np.clip(no2 + rng.normal(0, 5.0, n), 0, 1000), 1),
        }
        keep = _present(n, rng)
        for p in MICRO_PARAMETERS:
            v = out[p]
            m = keep & ~np.isnan(v)
            frames.append(pd.DataFrame({"station_id": s["station_id"], "ts": ts[m], "parameter": p,
                                        "value": v[m], "flag": "N"}))
    if not frames:
        return pd.DataFrame({"station_id": [], "ts": [], "parameter": [], "value": [], "flag": []})
    return pd.concat(frames, ignore_index=True)


def _report(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise (2 ug/m3 + 6 %), integer resolution, 0..1000 ug/m3 sensor range."""
    noisy = value + rng.normal(0, 1, len(value)) * (2.0 + 0.06 * np.abs(np.nan_to_num(value)))
    return np.round(np.clip(noisy, 0, 1000))
