"""Bulk downloads of released data: daily Parquet and CSV files partitioned by date, and the
station/section layers as GeoParquet and GeoJSON (written with geopandas), each listed with its
licence and SHA-256 checksum.

Layout under the output folder::

    LICENSE.txt                                   the data licence
    measurements/date=2017-01-01/measurements.parquet   one China Standard Time day (Hive-style partition)
    measurements/date=2017-01-01/measurements.csv
    layers/air_stations.geoparquet, layers/air_stations.geojson
    layers/water_sections.geoparquet, layers/water_sections.geojson
    manifest.json                                 every file: rows, bytes, sha256, licence
    SHA256SUMS                                    the same checksums, for ``sha256sum -c``

Only current released values (``data.release``) go out; a department reads yesterday's water
sections with ``pandas.read_parquet(".../date=YYYY-MM-DD/measurements.parquet")``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analytics.vocabulary import CST_UTC_OFFSET_H, PARAMETERS
from data import release as sql
from envtrust.release import DATA_LICENCE, DATA_LICENCE_TEXT

LAYER_NAMES: dict[str, str] = {"air_station": "air_stations", "water_section": "water_sections"}


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the output folder, with '/'
    rows: int
    bytes: int
    sha256: str
    licence: str = DATA_LICENCE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(out_dir: Path, path: Path, rows: int) -> ExportedFile:
    return ExportedFile(path.relative_to(out_dir).as_posix(), rows, path.stat().st_size, sha256_of(path))


def day_frame(con: duckdb.DuckDBPyConnection, day) -> pd.DataFrame:
    """The released hourly values of one CST day as published in the bulk files."""
    df = sql.current_day_rows(con, day)
    df.insert(3, "local_time", pd.to_datetime(df["ts"]) + pd.Timedelta(hours=CST_UTC_OFFSET_H))
    df.insert(5, "unit", df["parameter"].map(lambda p: PARAMETERS[p].unit))
    return df.rename(columns={"ts": "utc_time", "station_id": "location_id"})


def write_day(con: duckdb.DuckDBPyConnection, out_dir: Path, day) -> list[ExportedFile]:
    """Write one day's Parquet (licence in its metadata) and CSV partition."""
    frame = day_frame(con, day)
    folder = out_dir / "measurements" / f"date={pd.Timestamp(day):%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"licence": DATA_LICENCE.encode()})
    pq.write_table(table, folder / "measurements.parquet", compression="zstd")
    frame.to_csv(folder / "measurements.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S")
    return [_record(out_dir, folder / "measurements.parquet", len(frame)),
            _record(out_dir, folder / "measurements.csv", len(frame))]


def location_layer(con: duckdb.DuckDBPyConnection, kind: str) -> gpd.GeoDataFrame:
    """Official locations of one kind as WGS-84 points."""
    rows = sql.location_rows(con, (kind,))
    geometry = gpd.points_from_xy(rows["lon"], rows["lat"], crs="EPSG:4326")
    return gpd.GeoDataFrame(rows.rename(columns={"station_id": "location_id"}), geometry=geometry)


def write_layers(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[ExportedFile]:
    folder = out_dir / "layers"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for kind, name in LAYER_NAMES.items():
        layer = location_layer(con, kind)
        layer.to_parquet(folder / f"{name}.geoparquet", index=False)
        layer.to_file(folder / f"{name}.geojson", driver="GeoJSON")
        files += [_record(out_dir, folder / f"{name}.geoparquet", len(layer)),
                  _record(out_dir, folder / f"{name}.geojson", len(layer))]
    return files


def export_release(con: duckdb.DuckDBPyConnection, out_dir: Path, first_day=None, last_day=None,
                   layers: bool = True) -> list[ExportedFile]:
    """Write the bulk files of the released days in [first_day, last_day] (all by default) and the
    layers; (re)write LICENSE.txt, manifest.json and SHA256SUMS over every file in the folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    days = [d for d in sql.released_days(con)
            if (first_day is None or pd.Timestamp(d) >= pd.Timestamp(first_day))
            and (last_day is None or pd.Timestamp(d) <= pd.Timestamp(last_day))]
    written: list[ExportedFile] = []
    for day in days:
        written += write_day(con, out_dir, day)
    if layers:
        written += write_layers(con, out_dir)
    (out_dir / "LICENSE.txt").write_text(f"{DATA_LICENCE}\n{DATA_LICENCE_TEXT}\n", encoding="utf-8")
    write_manifest(out_dir, written)
    return written


def write_manifest(out_dir: Path, written: list[ExportedFile]) -> None:
    """Merge ``written`` into manifest.json (earlier days' entries stay) and rewrite SHA256SUMS."""
    manifest_path = out_dir / "manifest.json"
    entries: dict[str, dict] = {}
    if manifest_path.is_file():
        entries = {e["path"]: e for e in json.loads(manifest_path.read_text(encoding="utf-8"))["files"]}
    entries.update({f.path: asdict(f) for f in written})
    files = [entries[k] for k in sorted(entries)]
    manifest_path.write_text(json.dumps({"licence": DATA_LICENCE, "licence_text": DATA_LICENCE_TEXT,
                                         "files": files}, indent=1, ensure_ascii=False), encoding="utf-8")
    (out_dir / "SHA256SUMS").write_text("".join(f"{e['sha256']}  {e['path']}\n" for e in files), encoding="utf-8")
