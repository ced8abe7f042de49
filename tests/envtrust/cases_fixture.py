"""A small real store for the closed-loop tests: two air stations, one flue-gas outlet with its own
limit, readings with a daily exceedance, a data gap and a flagged day, and one engine event (its
summary in both languages, as the engine writes it)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from data.store import connect
from data.users import add_user

T0 = pd.Timestamp("2017-01-01 00:00")  # UTC
HOURS = 96
OUTLET = "OUT1"
AIR = ("AIR1", "AIR2")
#: the engine event's evidence as the engine writes it: raw figures and a sentence per model that fired
E1_EVIDENCE = {"hours": 20, "peak_surprise": 6.2, "kind_mass": {"clipping": 3.1},
               "sentences": [{"model": "clipping", "surprise": 3.0,
                              "zh": "烟气二氧化硫20小时贴近排放限值35 mg/m3(干净数据中约1,000个读数才出现一次)",
                              "en": "flue_SO2 within 2% of its 35 mg/m3 limit for 20 h (about 1 in 1,000 clean readings)"}]}


def _station(con, sid, name, kind, lon, lat, **extra):
    cols = {"station_id": sid, "name": name, "kind": kind, "lon": lon, "lat": lat, "county": "海淀区",
            "city": "北京市", **extra}
    con.execute(f"INSERT INTO stations ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                list(cols.values()))


def build_store(path):
    """Create the store and return an open connection."""
    con = connect(path)
    _station(con, AIR[0], "测试站1", "air_station", 116.30, 39.95)
    _station(con, AIR[1], "测试站2", "air_station", 116.32, 39.96)
    _station(con, OUTLET, "一号排口", "polluter_outlet", 116.31, 39.94, enterprise="示例电厂",
             contractor="运维甲", ref_o2_pct=6.0, limits_json=json.dumps({"flue_SO2": 35.0}))
    ts = T0 + pd.to_timedelta(np.arange(HOURS), unit="h")
    rows = []
    for sid in AIR:
        for i, t in enumerate(ts):
            if sid == AIR[1] and 30 <= i < 40:       # a 10-hour transmission gap at AIR2
                continue
            pm = 120.0 if (sid == AIR[0] and i < 40) else 30.0 + (i % 5)  # AIR1 exceeds PM2.5 on 2 Jan (CST)
            rows.append((sid, t, "PM2.5", pm, "N"))
    for i, t in enumerate(ts):
        flag = "M" if 48 <= i < 72 else "N"         # a maintenance-flagged day at the outlet
        so2 = 60.0 if 72 <= i < 96 else 20.0          # the last day above 35 mg/m3 at 6 % O2
        rows.append((OUTLET, t, "flue_SO2", so2, flag))
        rows.append((OUTLET, t, "flue_O2", 6.0, flag))
    frame = pd.DataFrame(rows, columns=["station_id", "ts", "parameter", "value", "flag"])
    con.register("_r", frame)
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) SELECT * FROM _r")
    con.unregister("_r")
    con.execute("INSERT INTO events (event_id, station_id, start, \"end\", kind, score, parameters, summary, evidence_json, status, run_id, created_at) VALUES ('E1', ?, ?, ?, 'clipping', 0.93, 'flue_SO2', "
                "'flue_SO2 held just below its limit for 20 h | 烟气二氧化硫持续20小时贴近排放限值', ?, 'open', 'run-1', "
                "now())",
                [OUTLET, T0 + pd.Timedelta(hours=50), T0 + pd.Timedelta(hours=70),
                 json.dumps(E1_EVIDENCE, ensure_ascii=False)])
    con.execute("INSERT INTO scores VALUES (?, ?, 'flue_SO2', 0.9, NULL, 'run-1')",
                [OUTLET, T0 + pd.Timedelta(hours=55)])
    for user, role in (("ana", "analyst"), ("enf", "enforcement"), ("lead", "leader")):
        add_user(con, user, f"{user}-password-1", role)
    return con
