"""Hourly surface-water readings for the demo sections (synthetic, seeded, documented).

What the generator models, and why (parameters in GB 3838-2002 units):

- **Water temperature** follows the season (cosine, warmest late July) with a small diurnal
  swing (warmest ~16:00 local); warmer further south (0.6 degC per degree of latitude).
- **Dissolved oxygen**: saturation from temperature by the Benson-Krause equation as given in
  APHA Standard Methods 4500-O (freshwater, 1 atm), times a section-specific saturation fraction
  (clean rivers ~95 %, organically polluted rivers ~55-65 %), plus a photosynthesis cycle peaking
  mid-afternoon (14:00-16:00 local) whose amplitude grows with temperature and nutrients.
- **pH** follows DO: photosynthesis removes CO2 by day, raising pH; respiration lowers it at night.
- **Pollution level** (CODMn, NH3-N, TP, TN) from each river's typical class (:data:`RIVER_CLASS`):
  Beijing outbound sections are worse than inbound (the Beiyun carries treated urban wastewater,
  class IV-V); the Luan and the drinking sources are class II.
- **Storms** (hourly rain in mm, the real Beijing RAIN series when supplied) raise turbidity, TP
  and CODMn after a runoff lag (gamma-shaped response peaking ~6 h after rain) and dilute
  conductivity.
- **Upstream-downstream coherence**: a section inherits its upstream section's anomaly, delayed
  by the travel time (``reach_km`` / flow velocity) and damped with distance (decay and dilution).
- **Instrument behaviour**: a few % multiplicative noise, reporting resolution, and occasional
  missing hours (single hours and multi-hour outages; missing hours have no row, as in HJ 212 uploads).

Everything is drawn from one ``numpy.random.Generator`` seeded by the caller: same seed, same data.
Times are naive UTC; the diurnal cycles are computed in local time (UTC+8).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.timeconv import CST_OFFSET

WATER_SECTION_PARAMETERS: tuple[str, ...] = (
    "pH", "DO", "CODMn", "NH3-N", "TP", "TN", "turbidity", "conductivity", "water_temp",
)

#: GB 3838-2002 table 1 limits for classes I..V (river TP): used to turn a class into concentrations.
CLASS_LIMITS: dict[str, tuple[float, ...]] = {
    "CODMn": (2.0, 4.0, 6.0, 10.0, 15.0),
    "NH3-N": (0.15, 0.5, 1.0, 1.5, 2.0),
    "TP": (0.02, 0.1, 0.2, 0.3, 0.4),
    "TN": (0.2, 0.5, 1.0, 1.5, 2.0),
}

#: Typical water class (1..5, fractional = between classes) per river; demo assumption, documented.
RIVER_CLASS: dict[str, float] = {
    "北运河": 4.6, "永定河": 3.0, "海河": 4.0, "子牙河": 4.3, "南运河": 4.2, "滦河": 2.0,
    "闪电河": 2.5, "黄河": 3.0, "长江": 2.0,
}
ROLE_CLASS_SHIFT: dict[str, float] = {"inbound": 0.0, "outbound": 0.4, "control": 0.2, "drinking_source": -1.0}
BEIJING_OUTBOUND_SHIFT = 0.4      # extra for sections leaving Beijing (urban wastewater load)
CONDUCTIVITY_US_CM: dict[str, float] = {"黄河": 900.0, "长江": 330.0}
DEFAULT_CONDUCTIVITY_US_CM = 1100.0  # Hai-basin rivers are hard and saline
FLOW_VELOCITY_KM_H = 1.8          # ~0.5 m/s


def do_saturation_mg_l(water_temp_c):
    """DO saturation in fresh water at 1 atm (mg/L), Benson & Krause (1984) as in APHA 4500-O."""
    t = np.asarray(water_temp_c, dtype=float) + 273.15
    ln_c = (-139.34411 + 1.575701e5 / t - 6.642308e7 / t**2 + 1.243800e10 / t**3 - 8.621949e11 / t**4)
    return np.exp(ln_c)


def class_concentration(parameter: str, water_class):
    """Concentration at a fractional class: 80 % of the way to the class upper limit (interpolated)."""
    limits = np.asarray(CLASS_LIMITS[parameter])
    c = np.clip(np.asarray(water_class, dtype=float), 1.0, 6.0)
    upper = np.interp(c, np.arange(1, 6), limits, right=np.nan)
    beyond = limits[-1] * (1.0 + 0.5 * (c - 5.0))
    upper = np.where(c > 5.0, beyond, upper)
    lower = np.interp(c - 1.0, np.arange(0, 6), np.concatenate([[0.0], limits]))
    return lower + 0.8 * (upper - lower)


def section_class(sections: pd.DataFrame) -> pd.Series:
    """Each section's typical class from its river, role and (for Beijing) direction."""
    base = sections["river"].map(RIVER_CLASS).fillna(3.0)
    shift = sections["section_role"].map(ROLE_CLASS_SHIFT).fillna(0.0)
    names = sections["name"].fillna("") if "name" in sections else pd.Series("", index=sections.index)
    beijing_out = (sections["section_role"] == "outbound") & names.str.contains("京")
    return (base + shift + BEIJING_OUTBOUND_SHIFT * beijing_out).clip(1.0, 5.8)


def runoff_response(rain_mm: np.ndarray, peak_h: float = 6.0, tail_h: float = 48) -> np.ndarray:
    """Storm response: rain convolved with a gamma-shaped unit hydrograph (peak ``peak_h`` after rain)."""
    k = np.arange(int(tail_h))
    shape = 3.0
    kernel = (k / peak_h) ** (shape - 1) * np.exp(-(shape - 1) * (k / peak_h - 1.0))
    kernel /= kernel.sum()
    return np.convolve(np.nan_to_num(rain_mm), kernel)[: len(rain_mm)]


def synthetic_rain_mm(hours: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Hourly rain (mm) when no real series is given: seasonal Poisson storms (wet summer monsoon)."""
    doy = hours.day_of_year.to_numpy()
    p_start = 0.002 + 0.012 * np.clip(np.cos(2 * np.pi * (doy - 205) / 365), 0, None) ** 2
    starts = rng.random(len(hours)) < p_start
    rain = np.zeros(len(hours))
    for i in np.flatnonzero(starts):
        dur = int(rng.integers(2, 12))
        rain[i:i + dur] += rng.gamma(1.5, 2.0, size=len(rain[i:i + dur]))
    return rain


def _ar1(n: int, rho: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) series with lag-1 correlation ``rho`` and stationary std ``sigma``."""
    from scipy.signal import lfilter

    e = rng.normal(0.0, sigma * np.sqrt(1 - rho**2), n)
    e[0] = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -rho], e)


def _topological(sections: pd.DataFrame) -> list[int]:
    """Row positions, every upstream section before its downstream ones."""
    ids = list(sections["station_id"])
    pos = {s: i for i, s in enumerate(ids)}
    up = [pos.get(u) if isinstance(u, str) else None for u in sections["upstream_station"]]
    order, done = [], set()

    def visit(i: int, depth: int = 0) -> None:
        if i in done or depth > len(ids):
            return
        if up[i] is not None:
            visit(up[i], depth + 1)
        done.add(i)
        order.append(i)

    for i in range(len(ids)):
        visit(i)
    return order


def generate_water(sections: pd.DataFrame, start, end, *, seed: int = 0,
                   rain_mm: pd.Series | None = None, missing_rate: float = 0.01) -> pd.DataFrame:
    """Hourly readings (long format, naive UTC) for each section from ``start`` to ``end`` inclusive.

    ``sections`` needs station_id, name, river, section_role, lat, upstream_station, reach_km
    (as made by ``geo.sections``). ``rain_mm``: hourly rain (mm) indexed by naive UTC hour, used for
    the Hai-basin sections (the real Beijing RAIN series in the demo); elsewhere, and when absent,
    rain is synthetic. Returns station_id, ts, parameter, value, flag.
    """
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(end).floor("h"), freq="h")
    n = len(hours)
    if n == 0 or sections.empty:
        return pd.DataFrame({"station_id": [], "ts": [], "parameter": [], "value": [], "flag": []})
    rng = np.random.default_rng(seed)
    sections = sections.reset_index(drop=True)
    local = hours + CST_OFFSET
    doy = local.day_of_year.to_numpy()
    hod = local.hour.to_numpy() + 0.5
    season = np.cos(2 * np.pi * (doy - 205) / 365.25)            # +1 late July, -1 late January
    light = np.clip(np.sin(np.pi * (hod - 6.0) / 13.0), 0, None)  # daylight 06:00-19:00
    basin_rain = None
    if rain_mm is not None:
        basin_rain = rain_mm.reindex(hours).fillna(0.0).to_numpy()
    water_class = section_class(sections).to_numpy()
    anomalies: dict[int, np.ndarray] = {}
    frames = []
    for i in _topological(sections):
        s = sections.iloc[i]
        lat = float(s["lat"])
        hai = s["river"] not in ("黄河", "长江")
        rain = basin_rain if (hai and basin_rain is not None) else synthetic_rain_mm(hours, rng)
        storm = runoff_response(rain)
        # slow anomaly in log-concentration, shared downstream with delay and decay
        own = _ar1(n, 0.995, 0.15, rng)
        anom = own
        up = s["upstream_station"]
        if isinstance(up, str) and up in set(sections["station_id"]):
            j = int(np.flatnonzero(sections["station_id"].to_numpy() == up)[0])
            reach = float(s["reach_km"]) if pd.notna(s["reach_km"]) else 20.0
            lag = int(round(reach / FLOW_VELOCITY_KM_H))
            weight = 0.9 * np.exp(-reach / 300.0)
            shifted = np.concatenate([np.full(lag, anomalies[j][0]), anomalies[j][: n - lag]])[:n]
            anom = weight * shifted + np.sqrt(1 - weight**2) * own
            storm = np.maximum(storm, np.concatenate([np.zeros(lag), storm[: n - lag]])[:n] * weight)
        anomalies[i] = anom
        c = water_class[i]
        # water temperature and oxygen
        wt = 13.0 + (40.0 - lat) * 0.6 + 12.5 * season + 0.8 * np.cos(2 * np.pi * (hod - 16.0) / 24.0)
        wt = np.clip(wt + _ar1(n, 0.98, 0.6, rng), 0.2, 34.0)
        sat = do_saturation_mg_l(wt)
        sat_frac = np.clip(1.05 - 0.1 * c, 0.35, 1.0) - 0.03 * anom
        photo_amp = (0.4 + 0.25 * c) * np.clip((wt - 4.0) / 20.0, 0.05, 1.3)
        photo = photo_amp * (light - light.mean()) * 2.0
        photo = np.roll(photo, 2)  # oxygen accumulates: peak ~2 h after the light maximum (14-16 h)
        do = np.clip(sat * sat_frac + photo, 0.2, None)
        ph = 7.9 - 0.05 * (c - 3.0) + 0.18 * photo + rng.normal(0, 0.03, n)
        # nutrients and organics: log-normal around the class level, with storms
        base = {p: float(class_concentration(p, c)) for p in CLASS_LIMITS}
        flush = storm / (storm.std() + 1e-9) if storm.std() > 0 else storm
        flush = np.clip(flush, 0, 30)
        codmn = base["CODMn"] * np.exp(anom + 0.04 * flush)
        nh3 = base["NH3-N"] * np.exp(1.2 * anom + 0.2 * (c > 4) * np.cos(2 * np.pi * (doy - 20) / 365.25))
        tp = base["TP"] * np.exp(anom + 0.08 * flush)
        tn = np.maximum(base["TN"] * np.exp(0.8 * anom), nh3 * 1.3)
        turb = (8.0 + 4.0 * c) * np.exp(0.5 * anom + 0.15 * flush)
        cond0 = CONDUCTIVITY_US_CM.get(s["river"], DEFAULT_CONDUCTIVITY_US_CM) * (0.8 + 0.08 * c)
        cond = cond0 * np.exp(0.3 * anom - 0.03 * flush)
        values = {
            "water_temp": np.round(wt, 1),
            "DO": np.round(do * rng.normal(1, 0.02, n), 2),
            "pH": np.round(np.clip(ph, 6.0, 9.5), 2),
            "CODMn": np.round(codmn * rng.normal(1, 0.04, n), 2),
            "NH3-N": np.round(np.clip(nh3 * rng.normal(1, 0.05, n), 0.025, None), 3),
            "TP": np.round(np.clip(tp * rng.normal(1, 0.05, n), 0.01, None), 3),
            "TN": np.round(tn * rng.normal(1, 0.04, n), 2),
            "turbidity": np.round(turb * rng.normal(1, 0.05, n), 1),
            "conductivity": np.round(cond * rng.normal(1, 0.01, n), 0),
        }
        # ammonia nitrogen is part of total nitrogen: the two analysers' noise must not make an honest
        # section report the impossible NH3-N > TN (3 of 62,360 section-hours of the sample demo did)
        values["NH3-N"] = np.minimum(values["NH3-N"], values["TN"])
        keep = _present_hours(n, missing_rate, rng)
        for p in WATER_SECTION_PARAMETERS:
            v = np.clip(values[p], 0.0, None)
            frames.append(pd.DataFrame({"station_id": s["station_id"], "ts": hours[keep],
                                        "parameter": p, "value": v[keep], "flag": "N"}))
    return pd.concat(frames, ignore_index=True)


def _present_hours(n: int, missing_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of reported hours: scattered single missing hours plus a few multi-hour outages."""
    keep = rng.random(n) >= missing_rate / 2
    for start in np.flatnonzero(rng.random(n) < missing_rate / 2 / 12):
        keep[start:start + int(rng.integers(4, 21))] = False
    return keep
