"""CNEMC national air-quality files as redistributed by quotsoft.net (``china_sites_YYYYMMDD.csv``)
and the national station list.

Daily file: wide, ``date`` (YYYYMMDD), ``hour`` (0-23, Beijing time), ``type``, then one column
per station code. Of the 15 types only the six hourly measurements become readings: PM2.5, PM10,
SO2, NO2, O3 (ug/m3) and CO (mg/m3, already canonical). ``AQI``, ``*_24h`` (trailing 24-h means),
``O3_8h`` and ``O3_8h_24h`` are values CNEMC derives from those hours; storing them as readings
would double-count the measurement and let a derived number be scored as if measured, so they
are skipped (counted in the report notes) and recomputed where needed (``analytics.standards``).
An empty cell is a reported-missing reading (value NULL). CNEMC labels an hourly mean by the
hour it ends (value at 16 = 15:00-16:00); the label is kept and converted to UTC.
Station codes not in the stations table are quarantined by ingest (``unknown_station``):
ingest the station list first.

Station list (``监测点编码, 监测点名称, 城市, 经度, 纬度, 对照点, 省级行政区, 地级行政区``; UTF-8
or the original GB18030): notes in the name are parsed - ``(停运161122)`` / ``(161122停运)`` /
``(停用...)`` -> ``active_to`` 2016-11-22 00:00 CST, ``(启用yymmdd)`` -> ``active_from``,
``(对照点)`` or 对照点 = Y -> ``is_background``. ``(已停运)`` has no date: active_to stays NULL.
The name is kept as published (with the note).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.timeconv import cst_to_utc
from analytics.vocabulary import AIR_POLLUTANTS
from data.adapters.base import AdapterResult, IngestError, decode_bytes, empty_quarantine, is_gzip

HOURLY_TYPES: tuple[str, ...] = AIR_POLLUTANTS
DERIVED_TYPES: tuple[str, ...] = (
    "AQI", "PM2.5_24h", "PM10_24h", "SO2_24h", "NO2_24h", "O3_24h", "O3_8h", "O3_8h_24h", "CO_24h",
)
LIST_COLUMNS: dict[str, str] = {
    "监测点编码": "station_id", "监测点名称": "name", "城市": "city_short", "经度": "lon", "纬度": "lat",
    "对照点": "background_col", "省级行政区": "province", "地级行政区": "city",
}


def _read_csv_text(path: Path) -> pd.DataFrame:
    data = Path(path).read_bytes()
    if is_gzip(path):
        import gzip

        data = gzip.decompress(data)
    return pd.read_csv(io.StringIO(decode_bytes(data)), dtype=str, keep_default_na=False)


def read_cnemc_day(path: str | Path) -> AdapterResult:
    """A quotsoft daily wide file -> long hourly readings (ts naive UTC) and rejected records."""
    path = Path(path)
    raw = _read_csv_text(path)
    if list(raw.columns[:3]) != ["date", "hour", "type"]:
        raise IngestError(f"{path}: not a CNEMC daily file (header must start date,hour,type)")
    stations = [c for c in raw.columns[3:]]
    ts_cst = pd.to_datetime(raw["date"].str.strip(), format="%Y%m%d", errors="coerce") + pd.to_timedelta(
        pd.to_numeric(raw["hour"], errors="coerce"), unit="h")
    hour = pd.to_numeric(raw["hour"], errors="coerce")
    ts_cst = ts_cst.where((hour >= 0) & (hour <= 23))
    ts = cst_to_utc(ts_cst)
    kind = raw["type"].str.strip()
    bad_time = ts.isna()
    unknown_type = ~kind.isin(HOURLY_TYPES + DERIVED_TYPES) & ~bad_time
    derived = kind.isin(DERIVED_TYPES) & ~bad_time
    rejected = []
    for mask, reason, detail in (
        (bad_time, "unparseable_time", "date/hour '" + raw["date"] + "' '" + raw["hour"] + "' is not a Beijing-time hour"),
        (unknown_type, "unknown_parameter", "type '" + kind + "' is not a CNEMC hourly or derived type"),
    ):
        if mask.any():
            rejected.append(pd.DataFrame({
                "raw": [json.dumps(r, ensure_ascii=False) for r in raw.loc[mask].to_dict("records")],
                "reason": reason, "detail": detail[mask].to_numpy(),
            }))
    keep = kind.isin(HOURLY_TYPES) & ~bad_time
    wide = raw.loc[keep, stations]
    wide.index = pd.MultiIndex.from_arrays([ts[keep], kind[keep]], names=["ts", "parameter"])
    long = wide.stack(future_stack=True).rename("cell").reset_index().rename(columns={"level_2": "station_id"})
    long = long.rename(columns={long.columns[2]: "station_id"})
    cell = long["cell"].astype(str).str.strip()
    value = pd.to_numeric(cell, errors="coerce")
    bad_value = value.isna() & ~cell.isin({"", "NA", "NaN", "nan", "—", "-"})
    if bad_value.any():
        bad = long[bad_value]
        rejected.append(pd.DataFrame({
            "raw": [json.dumps({"ts_utc": str(r.ts), "type": r.parameter, "station": r.station_id,
                                "cell": r.cell}, ensure_ascii=False) for r in bad.itertuples()],
            "reason": "unparseable_value",
            "detail": ("cell '" + bad["cell"].astype(str) + "' is not a number").to_numpy(),
        }))
    good = long[~bad_value]
    readings = pd.DataFrame({
        "station_id": good["station_id"].astype(str).str.strip().to_numpy(),
        "ts": good["ts"].to_numpy(),
        "parameter": good["parameter"].to_numpy(),
        "value": value[~bad_value].to_numpy(dtype=np.float64),
        "flag": "N",
    }).sort_values(["station_id", "parameter", "ts"], kind="stable").reset_index(drop=True)
    n_derived = int(derived.sum()) * len(stations)
    notes = (f"skipped {n_derived:,} derived cells (AQI, *_24h, O3_8h): computed by CNEMC, not measured",)
    quarantined = pd.concat(rejected, ignore_index=True) if rejected else empty_quarantine()
    return AdapterResult(readings, quarantined, notes)


_NOTE_RE = r"[(（]([^)）]*)[)）]"


def _dates_from_notes(notes: pd.Series, words: str) -> pd.Series:
    """yymmdd next to one of ``words`` (e.g. 停运|停用) in the notes -> CST midnight timestamps."""
    digits = notes.str.extract(rf"(?:(?:{words})(\d{{6}})|(\d{{6}})(?:{words}))")
    yymmdd = digits[0].fillna(digits[1])
    return pd.to_datetime("20" + yymmdd, format="%Y%m%d", errors="coerce")


def read_cnemc_station_list(path: str | Path) -> pd.DataFrame:
    """The national station list -> stations rows (kind air_station, CNEMC code as station_id)."""
    raw = _read_csv_text(Path(path))
    missing = [c for c in LIST_COLUMNS if c not in raw.columns]
    if missing:
        raise IngestError(f"{path}: not a CNEMC station list, missing column(s) {', '.join(missing)}")
    frame = raw[list(LIST_COLUMNS)].rename(columns=LIST_COLUMNS)
    name = frame["name"].str.strip()
    notes = name.str.findall(_NOTE_RE).str.join(";")
    active_to = _dates_from_notes(notes, "停运|停用")
    active_from = _dates_from_notes(notes, "启用")
    return pd.DataFrame({
        "station_id": frame["station_id"].str.strip(),
        "name": name,
        "kind": "air_station",
        "lon": pd.to_numeric(frame["lon"], errors="coerce"),
        "lat": pd.to_numeric(frame["lat"], errors="coerce"),
        "control_level": "national",
        "is_background": frame["background_col"].str.strip().str.upper().eq("Y") | notes.str.contains("对照点"),
        "province": frame["province"].str.strip().replace("", None),
        "city": frame["city"].str.strip().replace("", None),
        "active_from": cst_to_utc(active_from),
        "active_to": cst_to_utc(active_to),
        "source": "cnemc_station_list",
    })
