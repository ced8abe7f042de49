"""Readings as date- and network-partitioned Parquet, and block results as Parquet files: the
storage a distributed scoring run shares between the driver and its workers.

Layout under a root (a local or NFS folder, or any fsspec URL such as ``s3://bucket/run``):

    readings/network=<family>/month=<YYYY-MM>/*.parquet      (station_id, ts, parameter, value, flag)
    blocks/<block name>/scores.parquet, events.parquet, _SUCCESS

Workers read only the month folders and rows their block needs (:func:`read_block_rows`); a
block's outputs are written under its stable name with the ``_SUCCESS`` marker last, so a retried
task rewrites the same files and a resumed run skips finished blocks (:func:`block_done`).
"""

from __future__ import annotations

import functools
import json
import operator
from pathlib import Path

import duckdb
import pandas as pd

from analytics.pipeline.blocks import FAMILY, Block

READINGS = "readings"
BLOCKS = "blocks"
SUCCESS = "_SUCCESS"


def filesystem(root: str):
    """(fsspec filesystem, path inside it) for a local path or URL."""
    import fsspec

    return fsspec.core.url_to_fs(str(root))


def _family_sql() -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in FAMILY.items())
    return f"CASE s.kind {cases} ELSE 'other' END"


def export_readings(con: duckdb.DuckDBPyConnection, root: str, start=None, end=None) -> int:
    """Write the store's readings (optionally ts in [start, end]) under ``root``/readings,
    partitioned by network family and month; replaces an earlier export. Returns the rows written."""
    fs, base = filesystem(root)
    target = f"{base.rstrip('/')}/{READINGS}"
    if fs.exists(target):
        fs.rm(target, recursive=True)
    where, params = ["1=1"], []
    if start is not None:
        where.append("r.ts >= ?")
        params.append(start)
    if end is not None:
        where.append("r.ts <= ?")
        params.append(end)
    sql = (f"SELECT r.station_id, r.ts, r.parameter, r.value, r.flag, {_family_sql()} AS network, "
           f"strftime(r.ts, '%Y-%m') AS month FROM readings r JOIN stations s USING (station_id) "
           f"WHERE {' AND '.join(where)} ORDER BY network, month, r.station_id, r.parameter, r.ts")
    return _copy_partitioned(con, sql, params, fs, target)


def export_frame(readings: pd.DataFrame, stations: pd.DataFrame, root: str) -> int:
    """The same export for readings already in memory (the file contract: ``envtrust score
    --readings ... --scheduler``); the driver writes them once, the workers read their blocks."""
    con = duckdb.connect()
    try:
        cols = [c for c in ("station_id", "ts", "parameter", "value", "flag") if c in readings.columns]
        r = readings[cols].copy()
        if "flag" not in r.columns:
            r["flag"] = "N"
        r["station_id"] = r["station_id"].astype(str)
        r["ts"] = pd.to_datetime(r["ts"]).astype("datetime64[us]")
        r["value"] = pd.to_numeric(r["value"], errors="coerce").astype(float)
        con.register("readings", r)
        con.register("stations", stations[["station_id", "kind"]].astype({"station_id": str}))
        return export_readings(con, root)
    finally:
        con.close()


def _copy_partitioned(con, sql: str, params: list, fs, target: str) -> int:
    """COPY the query's rows to ``target`` partitioned by network and month; the rows written
    (COPY counts them: a separate count(*) ran the sorted query twice)."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if proto in ("file", "local"):
        Path(target).mkdir(parents=True, exist_ok=True)
    else:
        con.register_filesystem(fs)  # object stores and other fsspec targets
        target = f"{proto}://{target}"
    return int(con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, PARTITION_BY (network, month), "
                           "OVERWRITE_OR_IGNORE true)", params).fetchall()[0][0])


def export_signature(root: str) -> str:
    """What the export holds (rows, time span, value sum per network), from the Parquet files."""
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT network, count(*), min(ts), max(ts), sum(value) FROM {_readings_sql(con, root)} "
                           "GROUP BY ALL ORDER BY network").fetchall()
    finally:
        con.close()
    return json.dumps(rows, default=str)


def _readings_sql(con: duckdb.DuckDBPyConnection, root: str) -> str:
    """The export's readings as a DuckDB table expression, streamed from the files (a province's
    year is ~100 M rows: aggregating them through one Arrow table in memory took GBs)."""
    fs, base = filesystem(root)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    path = f"{base.rstrip('/')}/{READINGS}/*/*/*.parquet"
    if proto not in ("file", "local"):
        con.register_filesystem(fs)
        path = f"{proto}://{path}"
    return f"read_parquet('{path}', hive_partitioning = true)"


def keep_blocks_only_for(root: str, run_key: str) -> bool:
    """Resume safety: finished blocks count only for the same readings and pipeline. When the key
    recorded under ``root`` differs from ``run_key``, the block outputs are removed. Returns
    whether earlier blocks were kept."""
    fs, base = filesystem(root)
    marker, blocks = f"{base.rstrip('/')}/_RUN_KEY", f"{base.rstrip('/')}/{BLOCKS}"
    same = fs.exists(marker) and fs.cat_file(marker).decode("utf-8") == run_key
    if not same:
        if fs.exists(blocks):
            fs.rm(blocks, recursive=True)
        fs.makedirs(base, exist_ok=True)
        with fs.open(marker, "w") as fh:
            fh.write(run_key)
    return same


def _dataset(root: str):
    import pyarrow.dataset as ds

    fs, base = filesystem(root)
    return ds.dataset(f"{base.rstrip('/')}/{READINGS}", filesystem=fs, format="parquet", partitioning="hive")


def readings_summary_from_parquet(root: str) -> pd.DataFrame:
    """Per network family and station: first/last ts, distinct hours, rows, sorted parameters -
    the table :func:`analytics.pipeline.blocks.plan_blocks` plans from, without loading readings."""
    con = duckdb.connect()
    try:
        df = con.execute(
            "SELECT network AS family, station_id, min(ts) AS first_ts, max(ts) AS last_ts, "
            "count(DISTINCT ts) AS hours, count(*) AS rows, list(DISTINCT parameter ORDER BY parameter) AS parameters "
            f"FROM {_readings_sql(con, root)} GROUP BY ALL ORDER BY family, station_id").fetchdf()
    finally:
        con.close()
    df["parameters"] = [tuple(p) for p in df["parameters"]]
    df["hours"] = df["hours"].astype(int)
    df["rows"] = df["rows"].astype(int)
    return df


def read_block_rows(root: str, block: Block) -> pd.DataFrame:
    """The readings one block reads: only its network's month folders, rows in its time range
    (and of its stations, when the block names them)."""
    import pyarrow.dataset as ds

    months = [m.strftime("%Y-%m") for m in pd.period_range(block.read_from, block.read_to, freq="M")]
    f = ((ds.field("network") == block.family) & ds.field("month").isin(months)
         & (ds.field("ts") >= block.read_from.to_pydatetime()) & (ds.field("ts") <= block.read_to.to_pydatetime()))
    if block.stations is not None:
        f = f & ds.field("station_id").isin(list(block.stations))
    if block.id_ranges:  # lets Arrow skip other stations' row groups
        f = f & functools.reduce(operator.or_, [(ds.field("station_id") >= lo) & (ds.field("station_id") <= hi)
                                                for lo, hi in block.id_ranges])
    table = _dataset(root).to_table(columns=["station_id", "ts", "parameter", "value", "flag"], filter=f)
    df = table.to_pandas()
    df["ts"] = df["ts"].astype("datetime64[us]")
    return df


def block_dir(root: str, block: Block) -> tuple[object, str]:
    fs, base = filesystem(root)
    return fs, f"{base.rstrip('/')}/{BLOCKS}/{block.name}"


def block_done(root: str, block: Block) -> bool:
    """Whether a block's outputs are complete (its ``_SUCCESS`` marker exists)."""
    fs, d = block_dir(root, block)
    return fs.exists(f"{d}/{SUCCESS}")


def write_block(root: str, block: Block, scores: pd.DataFrame | None, events: pd.DataFrame | None) -> None:
    """Write a block's scores and events (None: the block held nothing of its own), then the
    marker. Same block, same files: a retried or repeated task overwrites, never duplicates."""
    from data.scoring import events_for_storage

    fs, d = block_dir(root, block)
    fs.makedirs(d, exist_ok=True)
    if fs.exists(f"{d}/{SUCCESS}"):
        fs.rm(f"{d}/{SUCCESS}")
    if scores is not None:
        with fs.open(f"{d}/scores.parquet", "wb") as fh:
            scores.to_parquet(fh, index=False)
        with fs.open(f"{d}/events.parquet", "wb") as fh:
            events_for_storage(events).to_parquet(fh, index=False)
    with fs.open(f"{d}/{SUCCESS}", "w") as fh:
        fh.write(json.dumps({"block": block.name, "rows": 0 if scores is None else len(scores)}))


def read_block(root: str, block: Block) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A finished block's (scores, events with the evidence dict back), or None for an empty block."""
    fs, d = block_dir(root, block)
    if not fs.exists(f"{d}/scores.parquet"):
        return None
    with fs.open(f"{d}/scores.parquet", "rb") as fh:
        scores = pd.read_parquet(fh)
    with fs.open(f"{d}/events.parquet", "rb") as fh:
        events = pd.read_parquet(fh)
    events["evidence"] = [json.loads(e) for e in events.pop("evidence_json")]
    return scores, events
