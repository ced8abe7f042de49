"""What a unique (station_id, ts, parameter) index costs on ``readings``: build time, peak RSS,
file size, and the time of a 10,000-row batch insert against it, at a given row count.

Why: data/schema.py kept readings without a PRIMARY KEY for memory; issue 11 asks for a key
that no path can bypass. Each configuration runs in a fresh process (peak RSS is per process).

    python benchmarks/readings_key.py --rows 10000000 --mode index
    python benchmarks/readings_key.py --rows 10000000 --mode none
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import duckdb


def build(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """readings-shaped rows: 2,000 stations x 10 parameters x hours (the Beijing-like key mix)."""
    con.execute("CREATE TABLE readings (station_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, parameter VARCHAR NOT NULL,"
                " value DOUBLE, flag VARCHAR NOT NULL DEFAULT 'N', source VARCHAR, batch_id BIGINT)")
    con.execute(
        "INSERT INTO readings SELECT 'ST' || lpad(CAST(i % 2000 AS VARCHAR), 5, '0'), "
        "TIMESTAMP '2015-01-01' + to_hours(CAST(i // 20000 AS BIGINT)), "
        "'param_' || CAST((i // 2000) % 10 AS VARCHAR), random() * 100, 'N', 'bench', 1 FROM range(?) t(i)",
        [rows])


def insert_hours_after(con: duckdb.DuckDBPyConnection, first_hour: int, batch: int) -> float:
    """Seconds to insert 10,000 readings for new hours starting ``first_hour`` after the start."""
    t0 = time.perf_counter()
    con.execute(
        "INSERT INTO readings SELECT 'ST' || lpad(CAST(i % 2000 AS VARCHAR), 5, '0'), "
        "TIMESTAMP '2015-01-01' + to_hours(CAST(? + i // 20000 AS BIGINT)), "
        "'param_' || CAST((i // 2000) % 10 AS VARCHAR), 1.0, 'N', 'bench', ? FROM range(10000) t(i)",
        [first_hour, batch])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--mode", choices=["none", "index"], default="index")
    ap.add_argument("--memory-limit", default="4GB")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.duckdb"
        con = duckdb.connect(str(path), config={"memory_limit": args.memory_limit, "threads": 2})
        t0 = time.perf_counter()
        build(con, args.rows)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        if args.mode == "index":
            con.execute("CREATE UNIQUE INDEX readings_key ON readings (station_id, ts, parameter)")
        t_index = time.perf_counter() - t0
        con.execute("CHECKPOINT")
        hours = args.rows // 20000
        t_insert = insert_hours_after(con, hours + 1, 2)
        mem = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        con.close()
        # reopen: does the index have to be loaded to insert?
        con = duckdb.connect(str(path), config={"memory_limit": args.memory_limit, "threads": 2})
        t_reopen_insert = insert_hours_after(con, hours + 3, 3)
        mem_reopen = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        con.close()
        size = path.stat().st_size
    print(json.dumps({
        "rows": args.rows, "mode": args.mode, "duckdb": duckdb.__version__, "load_s": round(t_load, 1),
        "index_s": round(t_index, 1), "insert_10k_s": round(t_insert, 3),
        "reopen_insert_10k_s": round(t_reopen_insert, 3),
        "duckdb_mem_mb": round(mem / 2**20), "duckdb_mem_after_reopen_insert_mb": round(mem_reopen / 2**20),
        "file_mb": round(size / 2**20), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
