"""The evaluation run behind ``envtrust evaluate``.

Loads the real Beijing data (full 2013-03..2017-02 set from the shared data folder when present,
else the shipped sample), injects interference with :mod:`analytics.evaluation.inject`, scores
the result with envtrust and with the naive baselines, and reports the same metrics for all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

AIR_COLUMNS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
CST_TO_UTC = pd.Timedelta(hours=8)


def _read_prsa_file(path: Path, code_by_name: dict[str, str]) -> pd.DataFrame:
    """One PRSA station file -> long readings (ts naive UTC, CO converted ug/m3 -> mg/m3)."""
    df = pd.read_csv(path, usecols=["year", "month", "day", "hour", *AIR_COLUMNS, "station"])
    name = str(df["station"].iloc[0])
    if name not in code_by_name:
        raise ValueError(f"{path.name}: station {name!r} is not in stations_beijing12.csv")
    ts = pd.to_datetime(df[["year", "month", "day", "hour"]]) - CST_TO_UTC
    wide = df[list(AIR_COLUMNS)].apply(pd.to_numeric, errors="coerce").astype(float)
    wide["CO"] = wide["CO"] / 1000.0  # PRSA CO is ug/m3; canonical unit is mg/m3
    n = len(df)
    return pd.DataFrame({
        "station_id": np.repeat(code_by_name[name], n * len(AIR_COLUMNS)),
        "ts": np.tile(ts.to_numpy(), len(AIR_COLUMNS)),
        "parameter": np.repeat(np.array(AIR_COLUMNS), n),
        "value": wide.to_numpy().T.ravel(),
        "flag": "N",
    })


def load_beijing(beijing_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the PRSA Beijing multi-site files in ``beijing_dir`` -> ``(readings, stations)``.

    Readings are long format with naive UTC ``ts`` (source is China Standard Time), the six
    air pollutants only (meteorology is not scored). Stations use CNEMC codes (1001A..1012A).
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
