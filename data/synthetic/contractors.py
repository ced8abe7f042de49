"""Seeded demo contractors, labs, dated assignments and a season of manual comparison samples.

Four operators run the demo's Beijing air stations, polluter outlets and water sections; two labs
measure the manual samples. The manual (reference) value is derived from the analyser's own mean
over the sampling window: ref = auto / (1 + b) x lab noise, where b is the analyser's bias. For
three operators b ~ 0; for :data:`WORSE_OPERATOR` b drifts from 0 to :data:`WORSE_DRIFT` over the
season (its analysers read ever lower than the reference method - what a blocked sampler head or
a tampered span looks like), so its comparison pass rate and bias are visibly worse.

Sampling plan (a simplification of HJ 817 / HJ 75 practice): air stations a 24 h PM2.5 and PM10
filter every 7 days; flue-gas outlets three 1 h pairs of SO2, NOx, dust every 14 days; water
sections a 4 h composite of CODMn and NH3-N every 14 days. A few malformed rows are added on
purpose (unknown station, negative value, unparseable time) so the quarantine is exercised.

Pure: frames in, frames out; the demo (``envtrust.demo``) stores them through ``data.contractors``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTRACTORS: tuple[tuple[str, str, str, str], ...] = (
    ("OP-JH", "京环运维有限公司", "operator", "运维资质 甲级"),
    ("OP-HC", "华测环境运维有限公司", "operator", "运维资质 甲级"),
    ("OP-XY", "信远环保运维有限公司", "operator", "运维资质 乙级"),
    ("OP-BS", "北水监测服务站", "operator", "运维资质 乙级"),
    ("OP-OLD", "旧城环保设备有限公司", "operator", "资质已注销"),
    ("LAB-CENTRE", "北京市环境监测中心实验室", "lab", "CMA"),
    ("LAB-3P", "谱尼检测实验室", "lab", "CMA"),
)
WORSE_OPERATOR = "OP-XY"
WORSE_DRIFT = -0.35
LAB_NOISE_SD = 0.04
PLAN: dict[str, tuple[tuple[str, ...], int, float, int]] = {
    # kind -> (parameters, every n days, window hours, samples per visit)
    "air_station": (("PM2.5", "PM10"), 7, 24.0, 1),
    "polluter_outlet": (("flue_SO2", "flue_NOx", "flue_dust"), 14, 1.0, 3),
    "water_section": (("CODMn", "NH3-N"), 14, 4.0, 1),
}


def demo_contractors() -> pd.DataFrame:
    return pd.DataFrame(CONTRACTORS, columns=["contractor_id", "name", "kind", "licence"])


def demo_assignments(stations: pd.DataFrame, beijing_air: list[str], valid_from) -> pd.DataFrame:
    """Dated assignments: Beijing air stations 5/3/4 to OP-JH/OP-HC/OP-XY; outlets round-robin over
    those three; the first two water sections to OP-BS (a contractor with few stations), the rest
    alternating OP-JH/OP-HC. ``stations``: station_id, kind."""
    rows = []
    air = sorted(beijing_air)
    for i, sid in enumerate(air):
        rows.append((sid, "OP-JH" if i < 5 else ("OP-HC" if i < 8 else WORSE_OPERATOR)))
    outlets = sorted(stations.loc[stations["kind"] == "polluter_outlet", "station_id"])
    for i, sid in enumerate(outlets):
        rows.append((sid, ("OP-JH", "OP-HC", WORSE_OPERATOR)[i % 3]))
    water = sorted(stations.loc[stations["kind"] == "water_section", "station_id"])
    for i, sid in enumerate(water):
        rows.append((sid, "OP-BS" if i < 2 else ("OP-JH", "OP-HC")[i % 2]))
    out = pd.DataFrame(rows, columns=["station_id", "contractor_id"])
    out["valid_from"] = pd.Timestamp(valid_from)
    out["valid_to"] = pd.NaT
    out["contract_ref"] = "运维合同 " + out["contractor_id"] + " 2016"
    return out


def comparison_windows(assignments: pd.DataFrame, kinds: pd.Series, start, end, *, seed: int = 0) -> pd.DataFrame:
    """Sampling windows (station_id, parameter, ts UTC, duration_h, visit) over ``[start, end)``.

    ``kinds``: station kind by station_id. Visits start at local midnight (air) or local 10:00.
    """
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    rows = []
    for sid in assignments["station_id"]:
        kind = kinds.get(sid)
        if kind not in PLAN:
            continue
        params, every, hours, per_visit = PLAN[kind]
        offset = int(rng.integers(0, every))
        day = start.normalize() + pd.Timedelta(days=offset)
        visit = 0
        while day + pd.Timedelta(days=1) <= end:
            first = day - pd.Timedelta(hours=8) if kind == "air_station" else day + pd.Timedelta(hours=2)
            for k in range(per_visit):
                for p in params:
                    rows.append((sid, p, first + pd.Timedelta(hours=k * hours), hours, visit))
            visit += 1
            day += pd.Timedelta(days=every)
    return pd.DataFrame(rows, columns=["station_id", "parameter", "ts", "duration_h", "visit"])


def manual_samples(windows: pd.DataFrame, contractor_of: pd.Series, start, end, *, seed: int = 0,
                   bad_rows: bool = True) -> pd.DataFrame:
    """Reference-method results for windows that have an automatic mean (column ``auto``).

    Returns sample_id, station_id, ts, duration_h, parameter, value, lab_id (+ malformed rows).
    """
    rng = np.random.default_rng(seed + 1)
    w = windows.dropna(subset=["auto"]).sort_values(["station_id", "parameter", "ts"]).reset_index(drop=True)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    frac = ((w["ts"] - start) / (end - start)).clip(0, 1).to_numpy(dtype=float)
    worse = (w["station_id"].map(contractor_of) == WORSE_OPERATOR).to_numpy()
    bias = np.where(worse, WORSE_DRIFT * frac, rng.normal(0, 0.01, len(w)))
    noise = rng.lognormal(0, LAB_NOISE_SD, len(w))
    value = np.round(w["auto"].to_numpy(dtype=float) / (1 + bias) * noise, 3)
    lab = np.where(w["parameter"].isin(["PM2.5", "PM10"]), "LAB-CENTRE", "LAB-3P")
    out = pd.DataFrame({
        "sample_id": [f"CMP-{s}-{p}-{t:%Y%m%d%H}" for s, p, t in zip(w["station_id"], w["parameter"], w["ts"], strict=True)],
        "station_id": w["station_id"], "ts": w["ts"], "duration_h": w["duration_h"], "parameter": w["parameter"],
        "value": value, "lab_id": lab,
    })
    if bad_rows and not out.empty:
        first = out.iloc[0]
        bad = pd.DataFrame([
            {**first.to_dict(), "sample_id": "CMP-BAD-1", "station_id": "NO-SUCH-STATION"},
            {**first.to_dict(), "sample_id": "CMP-BAD-2", "value": -12.0},
            {**first.to_dict(), "sample_id": "CMP-BAD-3", "ts": "2016-13-45 99:00"},
        ])
        out = pd.concat([out.astype({"ts": object}), bad], ignore_index=True)
    return out


def demo_credit_entries(season_start) -> list[dict]:
    """A credit history: an expired-contract operator blacklisted, a warning for the worse operator."""
    d0 = pd.Timestamp(season_start).date()
    return [
        {"contractor_id": "OP-OLD", "kind": "blacklist", "reason": "篡改自动监测数据（2015年查实）",
         "legal_basis": "《环境监测数据弄虚作假行为判定及处理办法》(环发〔2015〕175号) 第六条",
         "start_date": d0 - pd.Timedelta(days=200), "end_date": d0 + pd.Timedelta(days=900)},
        {"contractor_id": WORSE_OPERATOR, "kind": "warning", "reason": "比对监测连续两次不合格",
         "legal_basis": "HJ 818-2018 质控要求；运维合同第 8 条", "start_date": d0 + pd.Timedelta(days=60),
         "end_date": None},
    ]
