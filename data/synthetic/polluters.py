"""Key polluters (重点排污单位): enterprises, CEMS flue-gas and wastewater outlets, hourly data.

NOT real enterprises. The sites are chosen by us in real industrial districts of
Beijing-Tianjin-Hebei (coordinates in :data:`ENTERPRISES`, picked from maps as plausible
locations for the industry, not the position of any actual plant); names are invented and
carry "示例" (demo). Contractors (运维机构) are invented too.

How an outlet behaves (hourly values; times naive UTC, schedules in local time UTC+8):

- **Production load** per industry: power (combined heat and power) follows heating demand
  (heating season 15 Nov - 15 Mar in the north), day/night and weekday; cement kilns stop for
  the winter "staggered production" (错峰生产) in the heating season; steel runs around the clock;
  chemical boilers follow shifts; wastewater treatment follows the sewage diurnal curve.
- **Start-ups and shut-downs**: planned overhauls and random trips. A stopped unit reports
  O2 ~20.8 %, flow near 0, flue temperature decaying to ambient, concentrations near 0, flag F.
  After a start, the SCR is not yet hot and the FGD not in service: NOx and SO2 are high for the
  first ~8 h while O2 falls from 21 % to normal.
- **Measured values**: flue concentrations are stored as measured (dry, actual O2); the
  O2-corrected value ``C * (21 - O2_ref) / (21 - O2)`` (HJ 75-2017, GB 13223-2011) is what the
  limit applies to. Honest outlets run at 30-75 % of their limits with rare short excursions.
- **HJ 212 flags as real plants use them**: a daily calibration (C) of the gas analysers
  (SO2, NOx, O2) taking one hour (sometimes two) at a fixed time of day; monthly maintenance (M,
  2-6 h on a weekday); rare instrument faults (D, hours to two days, values missing); F when stopped.
- **Limits** (mg/m3 at the reference O2; ``limits_json``/``ref_o2_pct``): coal power ultra-low
  emission SO2 35, NOx 50, dust 10 at 6 % O2 (2015 plan on GB 13223-2011); cement kiln
  special limits GB 4915-2013 (dust 20, SO2 100, NOx 320 at 10 % O2); sintering special limits
  GB 28662-2012 (dust 40, SO2 180, NOx 300 at 16 % O2); gas boilers GB 13271-2014 special limits
  (dust 20, SO2 50, NOx 150 at 3.5 % O2); municipal wastewater GB 18918-2002 class 1A (COD 50,
  NH3-N 5 mg/L); industrial wastewater to a sewer GB 8978-1996 (COD 500, NH3-N 45 mg/L, demo values).
  Only the GB 13223 values are checked in ``standards.md``; the others are from the standards'
  texts as we recall them, marked unverified in ``docs/demo-network.md``.

Dishonest outlets (the ground truth is returned, ``envtrust.demo`` stores it in ``demo_truth``):

- ``flag_abuse``: during real exceedance episodes the outlet flags the hours M or D, so the
  high values are excluded from compliance averages.
- ``clipping``: during high-emission episodes the reported corrected value is held just under
  the limit (92-99 %).
- ``flatline``: the data logger repeats one value for days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.standards.cems import measured_from_corrected_mg_m3, o2_corrected_mg_m3
from analytics.timeconv import CST_OFFSET


@dataclass(frozen=True)
class IndustryProfile:
    name_zh: str
    ref_o2_pct: float | None
    limits: dict[str, float]
    o2_normal_pct: float
    flow_m3_h: float
    flue_temp_c: float
    level_fraction: dict[str, float]  # typical corrected concentration / limit


INDUSTRIES: dict[str, IndustryProfile] = {
    "power": IndustryProfile("火电", 6.0, {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 10.0}, 6.0,
                             1.6e6, 48.0, {"flue_SO2": 0.5, "flue_NOx": 0.7, "flue_dust": 0.35}),
    "cement": IndustryProfile("水泥", 10.0, {"flue_SO2": 100.0, "flue_NOx": 320.0, "flue_dust": 20.0}, 10.0,
                              4.5e5, 115.0, {"flue_SO2": 0.3, "flue_NOx": 0.6, "flue_dust": 0.4}),
    "steel": IndustryProfile("钢铁", 16.0, {"flue_SO2": 180.0, "flue_NOx": 300.0, "flue_dust": 40.0}, 15.5,
                             1.1e6, 135.0, {"flue_SO2": 0.35, "flue_NOx": 0.6, "flue_dust": 0.4}),
    "chemical": IndustryProfile("化工", 3.5, {"flue_SO2": 50.0, "flue_NOx": 150.0, "flue_dust": 20.0}, 4.0,
                                1.2e5, 95.0, {"flue_SO2": 0.2, "flue_NOx": 0.55, "flue_dust": 0.3}),
    "wastewater": IndustryProfile("污水处理", None, {"ww_COD": 50.0, "ww_NH3-N": 5.0}, 0.0,
                                  0.0, 0.0, {"ww_COD": 0.5, "ww_NH3-N": 0.3}),
}
INDUSTRIAL_WW_LIMITS: dict[str, float] = {"ww_COD": 500.0, "ww_NH3-N": 45.0}

CONTRACTORS: tuple[str, ...] = (
    "示例环保科技运维有限公司", "示例环境监测技术服务有限公司", "示例智慧环保运营有限公司", "示例清源环境工程有限公司",
)

#: (key, name, industry, lon, lat, flue outlets, wastewater outlets, contractor index)
ENTERPRISES: tuple[tuple[str, str, str, float, float, int, int, int], ...] = (
    ("01", "示例·唐山丰润热电有限公司", "power", 118.160, 39.835, 2, 0, 0),
    ("02", "示例·天津滨海北疆发电有限公司", "power", 117.780, 39.230, 2, 0, 1),
    ("03", "示例·廊坊热电有限公司", "power", 116.720, 39.540, 1, 0, 2),
    ("04", "示例·鹿泉水泥有限公司", "cement", 114.310, 38.080, 1, 0, 3),
    ("05", "示例·迁安钢铁有限公司", "steel", 118.700, 40.020, 2, 0, 0),
    ("06", "示例·武安钢铁有限公司", "steel", 114.200, 36.700, 1, 0, 2),
    ("07", "示例·沧州临港化工有限公司", "chemical", 117.520, 38.360, 1, 1, 1),
    ("08", "示例·天津南港石化有限公司", "chemical", 117.550, 38.760, 1, 1, 3),
    ("09", "示例·北京房山石化有限公司", "chemical", 115.980, 39.720, 1, 1, 0),
    ("10", "示例·北京朝阳再生水厂", "wastewater", 116.550, 39.900, 0, 1, 1),
    ("11", "示例·北京南郊再生水厂", "wastewater", 116.450, 39.830, 0, 1, 2),
    ("12", "示例·保定满城污水处理有限公司", "wastewater", 115.330, 38.950, 0, 1, 3),
)

#: Dishonest outlets: station_id -> (kind, parameters affected)
DISHONEST: dict[str, tuple[str, tuple[str, ...]]] = {
    "P-0201": ("flag_abuse", ("flue_SO2", "flue_NOx", "flue_dust")),
    "P-0501": ("clipping", ("flue_SO2",)),
    "P-0401": ("clipping", ("flue_NOx",)),
    "P-0701": ("flatline", ("flue_SO2",)),
    "P-1101": ("flatline", ("ww_COD",)),
    "P-0601": ("flag_abuse", ("flue_SO2", "flue_dust")),
}


def polluter_outlets() -> pd.DataFrame:
    """Station rows for every outlet (kind polluter_outlet), with limits_json and ref_o2_pct."""
    rows = []
    for key, name, industry, lon, lat, n_flue, n_ww, ci in ENTERPRISES:
        prof = INDUSTRIES[industry]
        for k in range(n_flue):
            sid = f"P-{key}{k + 1:02d}"
            rows.append(_outlet_row(sid, name, f"{k + 1}#烟气排放口", "flue_gas", industry, lon + 0.004 * k,
                                    lat, ci, prof.limits, prof.ref_o2_pct))
        for k in range(n_ww):
            sid = f"P-{key}{n_flue + k + 1:02d}"
            limits = INDUSTRIES["wastewater"].limits if industry == "wastewater" else INDUSTRIAL_WW_LIMITS
            rows.append(_outlet_row(sid, name, f"{k + 1}#废水排放口", "wastewater", industry, lon - 0.003,
                                    lat - 0.002, ci, limits, None))
    return pd.DataFrame(rows)


def _outlet_row(sid, name, outlet, outlet_type, industry, lon, lat, ci, limits, ref_o2) -> dict:
    return {
        "station_id": sid, "name": f"{name} {outlet}", "name_en": f"demo {industry} outlet {sid}",
        "kind": "polluter_outlet", "lon": round(lon, 6), "lat": round(lat, 6), "control_level": "enterprise",
        "enterprise": name, "outlet": outlet, "outlet_type": outlet_type, "industry": INDUSTRIES[industry].name_zh,
        "contractor": CONTRACTORS[ci], "hj212_mn": f"DEMO{sid.replace('-', '')}{0:010d}",
        "ref_o2_pct": ref_o2, "limits_json": json.dumps(limits, ensure_ascii=False), "source": "synthetic:polluters",
    }


#: floor of (21 - O2) in the outlets' reference-O2 values (start-up hours with the flue nearly ambient)
O2_GAP_FLOOR_PCT = 0.5


def o2_corrected(conc_mg_m3, o2_pct, ref_o2_pct):
    """Reference-O2 concentration as the synthetic outlets' data loggers compute it (HJ 75-2017)."""
    return np.asarray(o2_corrected_mg_m3(conc_mg_m3, o2_pct, ref_o2_pct, min_gap_pct=O2_GAP_FLOOR_PCT))


def production_load(local: pd.DatetimeIndex, industry: str) -> np.ndarray:
    """Load fraction 0..1 by local time for a running unit of ``industry``."""
    hod = local.hour.to_numpy()
    dow = local.day_of_week.to_numpy()
    heating = heating_season(local)
    day = np.cos(2 * np.pi * (hod - 14) / 24)
    weekend = dow >= 5
    if industry == "power":
        return np.clip(0.62 + 0.22 * heating + 0.1 * day - 0.05 * weekend, 0.4, 1.0)
    if industry == "cement":
        return np.clip(0.9 + 0.03 * day, 0, 1)
    if industry == "steel":
        return np.clip(0.88 - 0.12 * heating + 0.02 * day, 0, 1)
    if industry == "chemical":
        return np.clip(0.65 + 0.15 * ((hod >= 8) & (hod < 20)) - 0.1 * weekend, 0, 1)
    # sewage inflow: morning and evening peaks, night minimum ~04:00-06:00
    return np.clip(0.8 + 0.15 * np.cos(2 * np.pi * (hod - 11) / 24) + 0.08 * np.cos(4 * np.pi * (hod - 10) / 24), 0.4, 1.1)


def heating_season(local: pd.DatetimeIndex) -> np.ndarray:
    """True from 15 November to 15 March (northern China district heating)."""
    md = local.month.to_numpy() * 100 + local.day.to_numpy()
    return (md >= 1115) | (md <= 315)


def running_state(local: pd.DatetimeIndex, industry: str, rng: np.random.Generator) -> np.ndarray:
    """True when the unit runs: planned overhauls, random trips, cement winter stop."""
    n = len(local)
    run = np.ones(n, dtype=bool)
    if industry == "wastewater":
        return run
    if industry == "cement":
        run &= ~heating_season(local)
    hours_per_year = 8766
    years = max(n / hours_per_year, 0.1)
    # planned overhaul in spring or autumn, 5-20 days
    for _ in range(int(np.ceil(years))):
        month = rng.choice([4, 5, 9, 10])
        cand = np.flatnonzero(local.month.to_numpy() == month)
        if cand.size:
            s = int(rng.choice(cand))
            run[s:s + int(rng.integers(5, 21)) * 24] = False
    # random trips: ~2 per year, 12-72 h
    for s in np.flatnonzero(rng.random(n) < 2.0 / hours_per_year):
        run[s:s + int(rng.integers(12, 73))] = False
    return run


def _ar1(n: int, rho: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import lfilter

    e = rng.normal(0.0, sigma * np.sqrt(1 - rho**2), n)
    if n:
        e[0] = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -rho], e)


def _episodes(n: int, rng: np.random.Generator, per_year: float, min_h: int, max_h: int,
              allowed: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) hour windows, about ``per_year`` of them per year."""
    count = max(1, int(round(per_year * n / 8766)))
    out: list[tuple[int, int]] = []
    for _ in range(count * 20):
        if len(out) >= count:
            break
        s = int(rng.integers(0, max(n - max_h, 1)))
        e = min(n, s + int(rng.integers(min_h, max_h + 1)))
        if allowed is not None and not allowed[s:e].all():
            continue
        if any(s < b + 24 and a < e + 24 for a, b in out):
            continue
        out.append((s, e))
    return sorted(out)


def generate_polluters(outlets: pd.DataFrame, start, end, *, seed: int = 0,
                       dishonest: dict[str, tuple[str, tuple[str, ...]]] | None = None,
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly CEMS readings for ``outlets`` from ``start`` to ``end`` (naive UTC, inclusive).

    Returns ``(readings, truth)``: readings in long format (station_id, ts, parameter, value, flag);
    truth = planted interference (event_id, station_id, start, end, kind, parameters, detail).
    ``dishonest`` defaults to :data:`DISHONEST`; pass ``{}`` for an honest network.
    """
    dishonest = DISHONEST if dishonest is None else dishonest
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(end).floor("h"), freq="h")
    local = hours + CST_OFFSET
    frames, truth = [], []
    for idx, (_, o) in enumerate(outlets.sort_values("station_id").iterrows()):
        rng = np.random.default_rng([seed, idx])
        industry = next(k for k, p in INDUSTRIES.items() if p.name_zh == o["industry"])
        limits = json.loads(o["limits_json"])
        if o["outlet_type"] == "flue_gas":
            values, flags = _flue_outlet(local, industry, rng)
        else:
            values, flags = _ww_outlet(local, industry, limits, rng)
        sid = o["station_id"]
        if sid in dishonest:
            kind, params = dishonest[sid]
            truth += _plant(kind, params, values, flags, limits, o, local, hours, rng)
        for p, v in values.items():
            frames.append(pd.DataFrame({"station_id": sid, "ts": hours, "parameter": p,
                                        "value": v, "flag": flags[p]}))
    readings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"station_id": [], "ts": [], "parameter": [], "value": [], "flag": []})
    truth_df = pd.DataFrame(truth, columns=["event_id", "station_id", "start", "end", "kind", "parameters", "detail"])
    return readings, truth_df


def _flue_outlet(local: pd.DatetimeIndex, industry: str, rng: np.random.Generator):
    prof = INDUSTRIES[industry]
    n = len(local)
    run = running_state(local, industry, rng)
    load = production_load(local, industry) * np.exp(_ar1(n, 0.9, 0.03, rng))
    # hours since start (start-up transient) and since stop (cool-down)
    since_start = _hours_since(run)
    since_stop = _hours_since(~run)
    startup = run & (since_start < 8)
    o2 = prof.o2_normal_pct - 1.5 * (load - 0.8) + _ar1(n, 0.8, 0.25, rng)
    o2 = np.where(startup, 21.0 - (21.0 - o2) * (since_start + 1) / 9.0, o2)
    o2 = np.where(run, np.clip(o2, 2.0, 19.5), np.clip(20.8 + rng.normal(0, 0.08, n), 20.5, 20.95))
    # flue-gas flow follows the firing rate; during a start-up it ramps up with the load
    ramp = np.where(startup, (since_start + 1) / 9.0, 1.0)
    flow = prof.flow_m3_h * load * ramp * (1.0 + 0.03 * (o2 - prof.o2_normal_pct))
    flow = np.where(run, flow, prof.flow_m3_h * rng.uniform(0.0, 0.02, n))
    temp = prof.flue_temp_c + 4 * (load - 0.8) + rng.normal(0, 0.8, n)
    temp = np.where(run, temp, 12.0 + (prof.flue_temp_c - 12.0) * np.exp(-since_stop / 10.0) + rng.normal(0, 0.5, n))
    values = {"flue_O2": np.round(o2, 2), "flue_flow": np.round(flow, -2), "flue_temp": np.round(temp, 1)}
    for p, limit in prof.limits.items():
        level = limit * prof.level_fraction[p] * np.exp(_ar1(n, 0.97, 0.18, rng))
        # rare short honest excursions (FGD pump trip, SCR ammonia slip control): 2-6 h, ~6 a year
        for s, e in _episodes(n, rng, 6, 2, 6, allowed=run):
            level[s:e] *= rng.uniform(1.2, 2.0)
        if p in ("flue_SO2", "flue_NOx"):
            level = np.where(startup, level * (3.0 + 4.0 * (8 - since_start) / 8), level)
        measured = measured_from_corrected_mg_m3(level, o2, prof.ref_o2_pct)
        measured = np.where(run, measured, rng.uniform(0.0, 1.5, n))
        values[p] = np.round(np.clip(measured * rng.normal(1, 0.03, n), 0, None), 2)
    flags = {p: np.where(run, "N", "F").astype(object) for p in values}
    _service_flags(values, flags, run, local, rng, gas=("flue_SO2", "flue_NOx", "flue_O2"))
    return values, flags


def _ww_outlet(local: pd.DatetimeIndex, industry: str, limits: dict, rng: np.random.Generator):
    n = len(local)
    if industry == "wastewater":
        load = production_load(local, "wastewater") * np.exp(_ar1(n, 0.95, 0.05, rng))
        flow = 4000.0 * load
        winter = heating_season(local)
        cod = 50.0 * 0.5 * np.exp(_ar1(n, 0.98, 0.15, rng))
        nh3 = 5.0 * (0.2 + 0.25 * winter) * np.exp(_ar1(n, 0.98, 0.3, rng))  # nitrification slows in cold water
        run = np.ones(n, dtype=bool)
    else:
        run = running_state(local, industry, rng)
        load = production_load(local, industry) * np.exp(_ar1(n, 0.9, 0.05, rng))
        flow = np.where(run, 120.0 * load, rng.uniform(0, 3, n))
        cod = limits["ww_COD"] * 0.35 * np.exp(_ar1(n, 0.97, 0.2, rng))
        nh3 = limits["ww_NH3-N"] * 0.25 * np.exp(_ar1(n, 0.97, 0.25, rng))
    values = {"ww_flow": np.round(flow, 1), "ww_COD": np.round(cod * rng.normal(1, 0.03, n), 1),
              "ww_NH3-N": np.round(nh3 * rng.normal(1, 0.04, n), 2)}
    flags = {p: np.where(run, "N", "F").astype(object) for p in values}
    _service_flags(values, flags, run, local, rng, gas=("ww_COD", "ww_NH3-N"))
    return values, flags


def _hours_since(mask: np.ndarray) -> np.ndarray:
    """Hours since the current run of True values began (1e6 where it began before the series)."""
    n = len(mask)
    if n == 0:
        return np.zeros(0)
    idx = np.arange(n)
    prev = np.concatenate([[mask[0]], mask[:-1]])
    begins = mask & ~prev
    last = np.maximum.accumulate(np.where(begins, idx, -1))
    out = (idx - last).astype(float)
    out[last < 0] = 1e6
    return out


def _service_flags(values, flags, run, local, rng, gas) -> None:
    """Daily calibration (C) of the analysers, monthly maintenance (M), rare faults (D)."""
    n = len(local)
    hod = local.hour.to_numpy()
    cal_hour = int(rng.integers(8, 11))
    cal = run & (hod == cal_hour)
    cal |= run & (hod == cal_hour + 1) & (rng.random(n) < 0.25)  # calibration runs over into the next hour
    for p in gas:
        span = values[p][cal] * rng.uniform(0.2, 1.6, cal.sum())
        values[p][cal] = np.round(span, 2)
        flags[p][cal] = "C"
    weekday_day = run & (local.day_of_week.to_numpy() < 5) & (hod >= 9) & (hod < 16)
    for s, e in _episodes(n, rng, 12, 2, 6, allowed=weekday_day):
        for p in values:
            flags[p][s:e] = "M"
            values[p][s:e] = np.round(values[p][s:e] * rng.uniform(0.0, 1.2, e - s), 2)
    for s, e in _episodes(n, rng, 1.5, 3, 48, allowed=run):
        p = str(rng.choice(list(gas)))
        flags[p][s:e] = "D"
        values[p][s:e] = np.nan
    if "flue_O2" in values:
        values["flue_O2"] = np.clip(values["flue_O2"], 0.0, 20.95)


def _plant(kind, params, values, flags, limits, o, local, hours, rng) -> list[list]:
    """Apply one kind of dishonesty to an outlet's series in place; return truth rows."""
    n = len(hours)
    sid = o["station_id"]
    ref = o["ref_o2_pct"] if pd.notna(o["ref_o2_pct"]) else None
    o2 = values.get("flue_O2")
    running = np.isin(flags[params[0]], ["N", "C"])
    rows = []

    def corr_factor():
        return o2_corrected(1.0, o2, ref) if ref is not None else np.ones(n)

    if kind == "flag_abuse":
        episodes = _episodes(n, rng, 10, 4, 24, allowed=np.isin(flags[params[0]], ["N"]))
        for s, e in episodes:
            for p in params:
                limit = limits[p]
                values[p][s:e] = np.round(limit * rng.uniform(2.0, 4.0, e - s) / corr_factor()[s:e], 2)
                flags[p][s:e] = "M" if rng.random() < 0.6 else "D"
            rows.append(_truth(sid, hours, s, e, "flag_abuse", params,
                               "high emissions hidden under maintenance/fault flags"))
    elif kind == "clipping":
        p = params[0]
        for s, e in _episodes(n, rng, 5, 72, 240, allowed=running):
            limit = limits[p]
            # the unit really runs above its limit (e.g. a desulphuriser bypassed to save cost)
            true_corr = limit * rng.uniform(1.05, 1.5) * np.exp(rng.normal(0, 0.08, e - s))
            held = np.minimum(true_corr, limit * rng.uniform(0.92, 0.99, e - s))
            ok = flags[p][s:e] == "N"
            values[p][s:e] = np.where(ok, np.round(held / corr_factor()[s:e], 2), values[p][s:e])
            rows.append(_truth(sid, hours, s, e, "clipping", params,
                               f"corrected {p} held just under the limit {limit:g}"))
    elif kind == "flatline":
        p = params[0]
        for s, e in _episodes(n, rng, 4, 72, 240, allowed=running):
            stuck = float(np.nanmedian(values[p][s:e]))
            values[p][s:e] = np.where(flags[p][s:e] == "C", values[p][s:e], round(stuck, 2))
            rows.append(_truth(sid, hours, s, e, "flatline", params, f"{p} repeats {stuck:.2f}"))
    else:
        raise ValueError(f"unknown dishonesty kind {kind!r}")
    return rows


def _truth(sid, hours, s, e, kind, params, detail) -> list:
    start, end = hours[s], hours[e - 1]
    return [f"truth-{sid}-{kind}-{start:%Y%m%d%H}", sid, start, end, kind, ",".join(params), detail]
