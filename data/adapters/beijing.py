"""The UCI Beijing Multi-Site Air-Quality files (``PRSA_Data_<Station>_*.csv[.gz]``).

One row per station-hour: ``No, year, month, day, hour, PM2.5, PM10, SO2, NO2, CO, O3, TEMP,
PRES, DEWP, RAIN, wd, WSPM, station``. Each row becomes 12 long readings:

- PM2.5, PM10, SO2, NO2, O3 in ug/m3 as given; **CO is given in ug/m3** (300 = 0.3 mg/m3) and
  converted to the canonical mg/m3 (divide by 1000);
- meteorology: TEMP (degC), PRES (hPa), DEWP (degC), RAIN (mm in the hour), WS from WSPM (m/s),
  WD from the 16-point compass text ``wd`` (N = 0 deg, E = 90 deg, clockwise; calm ``CV`` -> NULL).
- ``NA`` (or a blank cell) is a reported-missing reading: stored with value NULL so completeness
  can be computed per station-hour (420,768 station-hours in the full set).
- Time: year/month/day/hour are Beijing time (UTC+8) and converted to UTC. The hour label is kept
  as published (the Beijing centre, like CNEMC, labels an hourly mean by the hour it ends; the UCI
  files do not say); we do not shift it. 2017-01-01 hour 0 CST -> 2016-12-31 16:00 UTC.
- Station names map to CNEMC codes (1001A..1012A) via ``stations_beijing12.csv`` next to the file
  (or the shipped copy in ``data/sample/beijing``). An unknown name quarantines the row
  (``unknown_station``); so do an unparseable time (``unparseable_time``, once per source row)
  and an unparseable cell (``unparseable_value``, per reading).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.timeconv import CST_OFFSET, cst_to_utc
from analytics.vocabulary import AIR_POLLUTANTS
from data.adapters.base import AdapterResult, IngestError, empty_quarantine, is_gzip

SHIPPED_STATIONS_CSV = Path(__file__).resolve().parents[1] / "sample" / "beijing" / "stations_beijing12.csv"

# source column -> canonical parameter
VALUE_COLUMNS: dict[str, str] = {
    "PM2.5": "PM2.5", "PM10": "PM10", "SO2": "SO2", "NO2": "NO2", "CO": "CO", "O3": "O3",
    "TEMP": "TEMP", "PRES": "PRES", "DEWP": "DEWP", "RAIN": "RAIN", "WSPM": "WS",
}
CO_UG_PER_MG = 1000.0
REQUIRED_COLUMNS: tuple[str, ...] = ("year", "month", "day", "hour", "wd", "station", *VALUE_COLUMNS)
MISSING_CELLS: frozenset[str] = frozenset({"", "NA", "NaN", "nan"})

# 16-point compass -> degrees clockwise from north; CV (calm, variable) has no direction
COMPASS_16_DEG: dict[str, float] = {
    name: i * 22.5
    for i, name in enumerate(["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
                              "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"])
}
CALM_WORDS: frozenset[str] = frozenset({"CV", "C", "CALM"})


def compass_to_deg(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """16-point compass text -> (degrees, unparseable mask). Missing and calm give NaN, not an error."""
    t = text.astype(str).str.strip().str.upper()
    deg = t.map(COMPASS_16_DEG).astype("float64")
    missing = t.isin({c.upper() for c in MISSING_CELLS}) | t.isin(CALM_WORDS) | text.isna()
    return deg, deg.isna() & ~missing


def read_beijing_stations(path: str | Path = SHIPPED_STATIONS_CSV) -> pd.DataFrame:
    """``stations_beijing12.csv`` -> stations rows (CNEMC code as station_id, UCI name as name_en)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.DataFrame({
        "station_id": raw["cnemc_code"].str.strip(),
        "name": raw["name_zh"].str.strip(),
        "name_en": raw["station"].str.strip(),
        "kind": "air_station",
        "lon": pd.to_numeric(raw["lon"], errors="coerce"),
        "lat": pd.to_numeric(raw["lat"], errors="coerce"),
        "control_level": "national",
        "is_background": raw["is_background_site"].str.strip().str.upper().eq("Y"),
        "province": "北京市",
        "city": "北京市",
        "source": "beijing_stations",
    })


def station_codes(stations_csv: str | Path) -> dict[str, str]:
    """UCI station name (e.g. ``Aotizhongxin``) -> CNEMC code (``1011A``)."""
    raw = pd.read_csv(stations_csv, dtype=str, keep_default_na=False)
    return dict(zip(raw["station"].str.strip(), raw["cnemc_code"].str.strip(), strict=True))


def _locate_stations_csv(path: Path) -> Path:
    local = path.parent / "stations_beijing12.csv"
    return local if local.is_file() else SHIPPED_STATIONS_CSV


def _quarantine_rows(raw: pd.DataFrame, mask: pd.Series, reason: str, detail: pd.Series | str) -> pd.DataFrame:
    if not mask.any():
        return empty_quarantine()
    rows = raw.loc[mask]
    details = detail[mask] if isinstance(detail, pd.Series) else detail
    return pd.DataFrame({
        "raw": [json.dumps(r, ensure_ascii=False) for r in rows.to_dict("records")],
        "reason": reason,
        "detail": details,
    })


def read_beijing_csv(path: str | Path, stations_csv: str | Path | None = None) -> AdapterResult:
    """One PRSA file -> long readings (ts naive UTC, canonical units) and rejected records."""
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, compression="gzip" if is_gzip(path) else None)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise IngestError(f"{path}: not a Beijing PRSA file, missing column(s) {', '.join(missing)}")
    codes = station_codes(stations_csv or _locate_stations_csv(path))

    parts = {k: pd.to_numeric(raw[k], errors="coerce") for k in ("year", "month", "day", "hour")}
    ts_cst = pd.to_datetime(pd.DataFrame(parts), errors="coerce")
    ts = cst_to_utc(ts_cst)
    name = raw["station"].str.strip()
    station_id = name.map(codes)
    bad_time = ts.isna()
    bad_station = station_id.isna() & ~bad_time
    rejected = [
        _quarantine_rows(raw, bad_time, "unparseable_time",
                         "year/month/day/hour " + raw["year"] + "/" + raw["month"] + "/" + raw["day"] + "/"
                         + raw["hour"] + " is not a valid Beijing-time hour"),
        _quarantine_rows(raw, bad_station, "unknown_station",
                         "station name '" + name + "' is not in stations_beijing12.csv"),
    ]
    good = ~(bad_time | bad_station)

    frames = []
    for column, param in [*VALUE_COLUMNS.items(), ("wd", "WD")]:
        cells = raw[column]
        if column == "wd":
            value, bad_value = compass_to_deg(cells)
        else:
            value = pd.to_numeric(cells, errors="coerce")
            bad_value = value.isna() & ~cells.str.strip().isin(MISSING_CELLS)
            if param == "CO":
                value = value / CO_UG_PER_MG
        rejected.append(_quarantine_rows(raw, good & bad_value, "unparseable_value",
                                         f"{column} cell '" + cells + "' is not a number"
                                         if column != "wd" else "wd cell '" + cells + "' is not a 16-point compass direction"))
        keep = good & ~bad_value
        frames.append(pd.DataFrame({
            "station_id": station_id[keep].to_numpy(),
            "ts": ts[keep].to_numpy(),
            "parameter": param,
            "value": value[keep].to_numpy(dtype=np.float64),
            "flag": "N",
        }))
    readings = pd.concat(frames, ignore_index=True)
    quarantined = pd.concat([q for q in rejected if len(q)] or [empty_quarantine()], ignore_index=True)
    return AdapterResult(readings, quarantined)


# ---------------------------------------------------------------- fast pollutant reader

def _read_prsa_file(path: Path, code_by_name: dict[str, str]) -> pd.DataFrame:
    """One PRSA station file -> long readings (ts naive UTC, CO converted ug/m3 -> mg/m3)."""
    df = pd.read_csv(path, usecols=["year", "month", "day", "hour", *AIR_POLLUTANTS, "station"])
    name = str(df["station"].iloc[0])
    if name not in code_by_name:
        raise ValueError(f"{path.name}: station {name!r} is not in stations_beijing12.csv")
    ts = pd.to_datetime(df[["year", "month", "day", "hour"]]) - CST_OFFSET
    wide = df[list(AIR_POLLUTANTS)].apply(pd.to_numeric, errors="coerce").astype(float)
    wide["CO"] = wide["CO"] / CO_UG_PER_MG  # PRSA CO is ug/m3; canonical unit is mg/m3
    n = len(df)
    return pd.DataFrame({
        "station_id": np.repeat(code_by_name[name], n * len(AIR_POLLUTANTS)),
        "ts": np.tile(ts.to_numpy(), len(AIR_POLLUTANTS)),
        "parameter": np.repeat(np.array(AIR_POLLUTANTS), n),
        "value": wide.to_numpy().T.ravel(),
        "flag": "N",
    })


def read_prsa_pollutants(beijing_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the PRSA Beijing multi-site files in ``beijing_dir`` -> ``(readings, stations)``.

    The fast path for scoring and evaluation, without the per-cell quarantine of
    :func:`read_beijing_csv` (the ingest path): the six air pollutants only (meteorology is not
    scored), long format with naive UTC ``ts`` (the source is China Standard Time), CO in mg/m3,
    stations with CNEMC codes (1001A..1012A). Unparseable cells become NaN.
    """
    beijing_dir = Path(beijing_dir)
    table = beijing_dir / "stations_beijing12.csv"
    files = sorted(beijing_dir.glob("PRSA_Data_*.csv*"))
    if not table.is_file() or not files:
        raise FileNotFoundError(f"{beijing_dir} holds no PRSA_Data_*.csv files and stations_beijing12.csv")
    st = pd.read_csv(table, dtype=str)
    code_by_name = dict(zip(st["station"], st["cnemc_code"], strict=True))
    readings = pd.concat([_read_prsa_file(f, code_by_name) for f in files], ignore_index=True)
    readings = readings.sort_values(["station_id", "ts", "parameter"], kind="stable").reset_index(drop=True)
    stations = pd.DataFrame({
        "station_id": st["cnemc_code"], "name": st["name_zh"], "kind": "air_station",
        "lon": st["lon"].astype(float), "lat": st["lat"].astype(float),
        "is_background": st["is_background_site"].eq("Y"),
    })
    return readings, stations
