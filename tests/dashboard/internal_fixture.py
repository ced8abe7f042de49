"""A real store for the internal-dashboard tests, built from the shipped sample through our own code.

The 12 Beijing stations with their real readings (2016-12-01..2017-01-10, ``data.ingest``), plus a
micro-station, two water sections (inbound/outbound) and a polluter outlet with a limit, whose few
days of readings are written through ``data.ingest.ingest_readings``; two events and their scores
through ``data.scoring.save_events/save_scores`` (as the engine stores them); an analyst account.

Loaded with ``importlib`` by the test files (tests are not a package here).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_LAST_UTC = pd.Timestamp("2017-01-10 15:00")
EVENT_START = pd.Timestamp("2016-12-20 00:00")  # UTC
EVENT_END = pd.Timestamp("2016-12-20 11:00")
ANALYST = ("ana", "ana-password-1", "analyst")
LEADER = ("boss", "boss-password-1", "leader")


def _extra_stations() -> pd.DataFrame:
    """A micro-sensor, two water sections and an outlet, commissioned for the sample's last 72 hours
    (their readings start then; capture rates count from there)."""
    frame = pd.DataFrame([
        {"station_id": "M9001", "name": "东四微站1", "kind": "air_micro", "lon": 116.420, "lat": 39.931,
         "parent_station": "1003A", "province": "北京市", "city": "北京市"},
        {"station_id": "W9001", "name": "古北口", "name_en": "Gubeikou", "kind": "water_section", "lon": 117.15,
         "lat": 40.69, "river": "潮河", "section_role": "inbound", "flow_bearing_deg": 200.0,
         "waterbody_type": "river", "province": "北京市", "city": "北京市"},
        {"station_id": "W9002", "name": "王家摆", "kind": "water_section", "lon": 117.02, "lat": 39.95,
         "river": "潮白河", "section_role": "outbound", "flow_bearing_deg": 160.0, "waterbody_type": "river",
         "province": "北京市", "city": "北京市"},
        {"station_id": "P9001", "name": "某热电厂1号排口", "kind": "polluter_outlet", "lon": 116.55, "lat": 39.88,
         "enterprise": "某热电厂", "outlet": "1号", "outlet_type": "flue_gas", "ref_o2_pct": 6.0,
         "limits_json": json.dumps({"flue_SO2": 35, "flue_NOx": 50}), "province": "北京市", "city": "北京市"},
    ])
    return frame.assign(active_from=SAMPLE_LAST_UTC - pd.Timedelta(hours=71))


def _extra_readings() -> pd.DataFrame:
    hours = pd.date_range(SAMPLE_LAST_UTC - pd.Timedelta(hours=71), SAMPLE_LAST_UTC, freq="h")
    rows = []
    for i, ts in enumerate(hours):
        rows.append(("M9001", ts, "PM2.5", 60.0 + (i % 12), "N"))
        for sid, do in (("W9001", 9.0), ("W9002", 4.0)):  # class I-II upstream, class IV downstream by DO
            for param, value in (("pH", 7.6), ("DO", do), ("CODMn", 3.0), ("NH3-N", 0.3), ("TP", 0.05)):
                rows.append((sid, ts, param, value, "N"))
        so2 = 80.0 if i >= 60 else 20.0  # over the 35 mg/m3 limit in the last 12 hours
        for param, value in (("flue_SO2", so2), ("flue_NOx", 30.0), ("flue_O2", 6.0)):
            rows.append(("P9001", ts, param, value, "N"))
    return pd.DataFrame(rows, columns=["station_id", "ts", "parameter", "value", "flag"])


def _events() -> pd.DataFrame:
    return pd.DataFrame([
        {"event_id": "ev-dongsi", "station_id": "1003A", "start": EVENT_START, "end": EVENT_END,
         "kind": "suppression", "score": 0.91, "parameters": "PM2.5,PM10",
         "summary": "Dongsi: PM2.5 -69% vs neighbours (PM2.5, PM10) for 12 h - suspected suppression | "
                    "东四：PM2.5较邻站偏低69%（PM2.5, PM10），持续12小时 - 疑似人为压低",
         "evidence": {"models": {"spatial_low": 6.2}, "neighbours": ["1001A", "1002A"], "hours": 12,
                      "deviation_pct_vs_neighbours": {"PM2.5": -69.0, "PM10": -60.0},
                      "neighbour_prediction": {"PM2.5": 180.0, "PM10": 240.0}, "kind_mass": {"suppression": 40.1},
                      "sentences": [{"model": "spatial_low", "surprise": 6.2,
                                     "zh": "PM2.5比2个邻站的预测值(180)低69%，持续12小时",
                                     "en": "PM2.5 69% below what 2 neighbouring stations predict (180) for 12 h"}],
                      "series": {"parameter": "PM2.5", "start": str(EVENT_START - pd.Timedelta(hours=2)), "hours": 16,
                                 "event_from": 2, "event_to": 13, "station": [150.0, 160.0] + [50.0] * 12 + [170.0, 165.0],
                                 "neighbours": [155.0] * 16}}},
        {"event_id": "ev-gucheng", "station_id": "1012A", "start": SAMPLE_LAST_UTC - pd.Timedelta(hours=30),
         "end": SAMPLE_LAST_UTC - pd.Timedelta(hours=20), "kind": "flatline", "score": 0.55,
         "parameters": "SO2", "summary": "SO2 constant for 10 h", "evidence": {"run_length_h": 10}},
    ])


def _scores(events: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, ev in events.iterrows():
        hours = pd.date_range(ev["start"] - pd.Timedelta(hours=24), ev["end"] + pd.Timedelta(hours=24), freq="h")
        inside = (hours >= ev["start"]) & (hours <= ev["end"])
        for param in ev["parameters"].split(","):
            for ts, hit in zip(hours, inside, strict=True):
                rows.append({"station_id": ev["station_id"], "ts": ts, "parameter": param,
                             "score": ev["score"] if hit else 0.05,
                             "spatial": 0.9 if hit else 0.1, "seasonal": 0.6 if hit else 0.0})
    return pd.DataFrame(rows)


def build_internal_store(path: Path, map_cache: bool = True) -> Path:
    """Build the store at ``path`` (a new file) and return it."""
    from data.ingest import ingest_files, ingest_readings
    from data.scoring import save_events, save_scores
    from data.stations import upsert_stations
    from data.store import connect, sort_readings
    from data.users import add_user
    from data.views import build_map_cache
    from envtrust.settings import SAMPLE_DIR

    con = connect(path)
    try:
        files = [SAMPLE_DIR / "beijing" / "stations_beijing12.csv",
                 *sorted((SAMPLE_DIR / "beijing").glob("PRSA_Data_*.csv.gz"))]
        ingest_files(con, files, progress=False)
        upsert_stations(con, _extra_stations())
        ingest_readings(con, _extra_readings(), source="h6-test", fmt="long")
        sort_readings(con)
        events = _events()
        save_events(con, events, run_id="test-run")
        save_scores(con, _scores(events), run_id="test-run")
        for name, password, role in (ANALYST, LEADER):
            add_user(con, name, password, role)
        if map_cache:
            build_map_cache(con)
    finally:
        con.close()
    return path


def copy_store(template: Path, dest: Path) -> Path:
    """A private copy of a built store (for tests that write)."""
    shutil.copyfile(template, dest)
    return dest


def as_float(x) -> float:
    return float(np.asarray(x, dtype=float))
