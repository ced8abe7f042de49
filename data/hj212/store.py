"""SQL of the HJ 212 receiver: station lookup by MN and the packet log (migration 005).

All statements are parameterised; the receiver's single writer connection runs them.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from data.store import finish_pending_result

PACKET_LOG_COLUMNS = ["received_at", "peer", "mn", "st", "cn", "qn", "data_time", "station_id",
                      "cp_sha256", "status", "readings_in", "batch_id", "raw"]
DUP_KEY = ["mn", "cn", "data_time", "cp_sha256"]
# Arrow types of the packet log's columns (migration 005): the receiver builds each batch's log and
# keys column by column as Arrow, which DuckDB scans as it is (a pandas frame of strings is
# converted at every registration, ~1.5 ms per frame and batch)
_TS = pa.timestamp("us")
PACKET_LOG_TYPES = {"received_at": _TS, "peer": pa.string(), "mn": pa.string(), "st": pa.string(),
                    "cn": pa.string(), "qn": pa.string(), "data_time": _TS, "station_id": pa.string(),
                    "cp_sha256": pa.string(), "status": pa.string(), "readings_in": pa.int32(),
                    "batch_id": pa.int64(), "raw": pa.string()}


def arrow_columns(rows: list[tuple], columns: list[str]) -> pa.Table:
    """Row tuples (in ``columns`` order, types from :data:`PACKET_LOG_TYPES`) as an Arrow table."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pa.table([pa.array(v, type=PACKET_LOG_TYPES[c]) for v, c in zip(values, columns, strict=True)],
                    names=columns)


# what a packet-log row carries of its own: the time received and the ingest batch are the commit's
LOGGED_COLUMNS = [c for c in PACKET_LOG_COLUMNS if c not in ("received_at", "batch_id")]


def packet_log_table(rows: list[tuple], received_at: datetime, batch_id: int | None) -> pa.Table:
    """Packet-log rows (:data:`LOGGED_COLUMNS` order) of one commit, received at ``received_at``
    (naive UTC), of ingest batch ``batch_id`` (None: no readings or quarantine rows), as Arrow."""
    table = arrow_columns(rows, LOGGED_COLUMNS)
    n = table.num_rows
    return (table.append_column("received_at", pa.array([received_at] * n, _TS))
            .append_column("batch_id", pa.array([batch_id] * n, pa.int64())))


def stations_by_mn(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, object]]:
    """``{hj212_mn: {station_id, kind, outlet_type}}`` for every station with a data-logger id."""
    rows = con.execute(
        "SELECT hj212_mn, station_id, kind, outlet_type FROM stations "
        "WHERE hj212_mn IS NOT NULL AND hj212_mn <> ''"
    ).fetchall()
    return {mn: {"station_id": sid, "kind": kind, "outlet_type": otype} for mn, sid, kind, otype in rows}


def known_packet_keys(con: duckdb.DuckDBPyConnection, keys: list[tuple]) -> set[tuple]:
    """Which (mn, cn, data_time naive UTC or None, cp_sha256) of ``keys`` are already in the packet log."""
    if not keys:
        return set()
    con.register("_hj212_keys", arrow_columns(keys, DUP_KEY))
    sql = ("SELECT DISTINCT p.mn, p.cn, p.data_time, p.cp_sha256 FROM hj212_packets p "
           "JOIN _hj212_keys k ON p.mn = k.mn AND p.cn = k.cn AND p.cp_sha256 = k.cp_sha256 "
           "AND p.data_time IS NOT DISTINCT FROM k.data_time")
    params: list = []
    times = [k[2] for k in keys]
    if None not in times:
        # the log grows by every packet; a time range lets DuckDB skip row groups by their min/max
        sql += " WHERE p.data_time BETWEEN ? AND ?"
        params = [min(times), max(times)]
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        con.unregister("_hj212_keys")
    return {(mn, cn, dt, sha) for mn, cn, dt, sha in rows}


def log_packets(con: duckdb.DuckDBPyConnection, log: pa.Table, *, own_transaction: bool = True) -> int:
    """Append rows (columns ``PACKET_LOG_COLUMNS``, :func:`arrow_columns`) to the packet log, in one
    transaction of its own or (``own_transaction=False``) in the caller's."""
    if not log.num_rows:
        return 0
    finish_pending_result(con)
    con.register("_hj212_log", log.select(PACKET_LOG_COLUMNS))
    cols = ", ".join(PACKET_LOG_COLUMNS)
    insert = f"INSERT INTO hj212_packets (packet_id, {cols}) SELECT nextval('hj212_packet_seq'), {cols} FROM _hj212_log"
    try:
        if not own_transaction:
            con.execute(insert)
            return log.num_rows
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(insert)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("_hj212_log")
    return log.num_rows


def packet_log(con: duckdb.DuckDBPyConnection, mn: str | None = None) -> pd.DataFrame:
    """The packet log (optionally one device), oldest first."""
    if mn is None:
        return con.execute("SELECT * FROM hj212_packets ORDER BY packet_id").df()
    return con.execute("SELECT * FROM hj212_packets WHERE mn = ? ORDER BY packet_id", [mn]).df()
