"""Bulk-ingest throughput: ``envtrust ingest`` (validated, deduplicated, atomic) against a plain
DuckDB ``read_parquet`` / ``read_csv`` into a table of the same file, in the same run.

Generates (seeded) a long-format file for the real 12 Beijing stations (CNEMC codes from
``data/sample/beijing/stations_beijing12.csv``), 13 parameters, hourly, naive China Standard
Time; writes it as Parquet and CSV; then runs each measurement in a fresh child process and
reports readings/s and the child's peak RSS (``ru_maxrss``; DuckDB allocates outside Python,
so tracemalloc would not see it).

    .venv/bin/python benchmarks/ingest.py                 # ~2.7 M readings (2 years)
    .venv/bin/python benchmarks/ingest.py --years 4 --write benchmarks/results/ingest.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PARAMETERS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WS", "WD", "RH")
# (median, spread) for a lognormal concentration or (mean, sd) for a normal met value
SHAPES = {
    "PM2.5": ("log", 60, 0.9), "PM10": ("log", 90, 0.8), "SO2": ("log", 10, 0.8), "NO2": ("log", 45, 0.6),
    "CO": ("log", 1.0, 0.7), "O3": ("log", 50, 0.8), "TEMP": ("norm", 13, 11), "PRES": ("norm", 1012, 10),
    "DEWP": ("norm", 2, 13), "RAIN": ("log", 0.05, 1.5), "WS": ("log", 1.6, 0.6), "WD": ("unif", 0, 359.9),
    "RH": ("unif", 10, 99),
}


def generate(years: int, seed: int) -> pd.DataFrame:
    """Long readings for the 12 Beijing stations: station-major, then parameter, then hour."""
    stations = pd.read_csv(REPO / "data" / "sample" / "beijing" / "stations_beijing12.csv")["cnemc_code"].tolist()
    hours = pd.date_range("2013-03-01 00:00", periods=years * 8760, freq="h")
    rng = np.random.default_rng(seed)
    n = len(hours)
    parts = []
    for station in stations:
        for param in PARAMETERS:
            kind, a, b = SHAPES[param]
            if kind == "log":
                values = a * np.exp(b * rng.standard_normal(n))
            elif kind == "norm":
                values = a + b * rng.standard_normal(n)
            else:
                values = rng.uniform(a, b, n)
            values = np.round(values, 1)
            values[rng.random(n) < 0.02] = np.nan  # reported missing
            parts.append(pd.DataFrame({"station_id": station, "ts": hours, "parameter": param,
                                       "value": values, "flag": "N"}))
    return pd.concat(parts, ignore_index=True)


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads): stable where wall time is not (shared cores)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child(mode: str, path: str, db: str) -> dict:
    """One measurement in this (fresh) process."""
    import duckdb

    if mode.startswith("envtrust"):
        from data.adapters.beijing import read_beijing_stations
        from data.ingest import ingest_files
        from data.stations import upsert_stations
        from data.store import connect

        con = connect(db)
        upsert_stations(con, read_beijing_stations())
        t0, c0 = time.perf_counter(), cpu_seconds()
        report = ingest_files(con, [path], progress=False)[0]
        first, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        t0 = time.perf_counter()
        again = ingest_files(con, [path], progress=False)[0]
        second = time.perf_counter() - t0
        assert again.rows_stored == 0 and again.rows_duplicate == again.rows_in
        rows, stored = report.rows_in, report.rows_stored
        con.close()
    else:
        con = duckdb.connect(db)
        reader = "read_parquet(?)" if mode == "duckdb_parquet" else "read_csv(?)"
        t0, c0 = time.perf_counter(), cpu_seconds()
        con.execute(f"CREATE TABLE r AS SELECT * FROM {reader}", [path])
        first, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        rows = stored = con.execute("SELECT count(*) FROM r").fetchall()[0][0]
        second = None
        con.close()
    return {"mode": mode, "rows": rows, "stored": stored, "seconds": first, "cpu_seconds": cpu, "reingest_seconds": second,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(mode: str, path: Path, workdir: Path) -> dict:
    db = workdir / f"{mode}.duckdb"
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(db)],
                         check=True, capture_output=True, text=True, cwd=REPO)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    Path(db).unlink(missing_ok=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=2, help="hours of data per station-parameter, in years")
    parser.add_argument("--seed", type=int, default=20170101)
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / "out" / "ingest"))
    parser.add_argument("--write", help="also write the results as markdown to this file")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frame = generate(args.years, args.seed)
    parquet, csv = workdir / "readings.parquet", workdir / "readings.csv"
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False, date_format="%Y-%m-%d %H:%M:%S")
    n = len(frame)
    del frame
    print(f"generated {n:,} readings (12 stations x {len(PARAMETERS)} parameters x {args.years} years) "
          f"in {time.perf_counter() - t0:.1f} s; parquet {parquet.stat().st_size / 1e6:.0f} MB, "
          f"csv {csv.stat().st_size / 1e6:.0f} MB")
    load_before = os.getloadavg()[0]
    rows = []
    for mode, path in (("envtrust_parquet", parquet), ("duckdb_parquet", parquet),
                       ("envtrust_csv", csv), ("duckdb_csv", csv)):
        r = measure(mode, path, workdir)
        rows.append(r)
        again = (f", re-ingest (all duplicates) {r['rows'] / r['reingest_seconds']:,.0f}/s"
                 if r["reingest_seconds"] else "")
        print(f"{mode:<17} {r['rows']:>10,} readings in {r['seconds']:6.2f} s = "
              f"{r['rows'] / r['seconds']:>11,.0f} readings/s (CPU {r['cpu_seconds']:.2f} s = "
              f"{r['rows'] / r['cpu_seconds']:,.0f} readings per CPU-second), peak RSS {r['maxrss_mb']:,.0f} MB{again}")
    load = (load_before + os.getloadavg()[0]) / 2
    print(f"machine load average during the run: ~{load:.1f} on {os.cpu_count()} CPUs")
    if args.write:
        write_markdown(Path(args.write), rows, n, args, load)
    return 0


def write_markdown(path: Path, rows: list[dict], n: int, args: argparse.Namespace, load: float) -> None:
    lines = [
        "# Ingest throughput",
        "",
        f"Command: `.venv/bin/python benchmarks/ingest.py --years {args.years} --write {args.write}`",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, load average ~{load:.1f} during the run "
        "(shared with other work), "
        f"Python {platform.python_version()}, duckdb {__import__('duckdb').__version__}. "
        f"Data: {n:,} seeded long readings, 12 real Beijing station codes x {len(PARAMETERS)} parameters x "
        f"{args.years} years hourly, naive CST, 2% missing. Each row is one fresh child process; peak RSS "
        "is that process's ru_maxrss (Python + DuckDB).",
        "",
        "| measurement | readings | wall s | readings/s (wall) | CPU s | readings per CPU-s | peak RSS MB "
        "| re-ingest readings/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        again = f"{r['rows'] / r['reingest_seconds']:,.0f}" if r["reingest_seconds"] else "-"
        lines.append(f"| {r['mode']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['cpu_seconds']:.2f} | {r['rows'] / r['cpu_seconds']:,.0f} | {r['maxrss_mb']:,.0f} | {again} |")
    by_mode = {r["mode"]: r for r in rows}
    lines.append("")
    for kind in ("parquet", "csv"):
        ours, bare = by_mode[f"envtrust_{kind}"], by_mode[f"duckdb_{kind}"]
        lines.append(f"- {kind}: envtrust takes {ours['seconds'] / bare['seconds']:.1f}x the wall time and "
                     f"{ours['cpu_seconds'] / bare['cpu_seconds']:.1f}x the CPU of the bare DuckDB load.")
    lines += [
        "",
        "`envtrust_*` = `data.ingest.ingest_files` on a fresh store holding the 12 stations: CST->UTC, "
        "validation of every reading (station, parameter, unit, flag, ranges), in-batch duplicate check, "
        "anti-join against stored keys, insert, quarantine and batch record in one transaction. "
        "`duckdb_*` = `CREATE TABLE r AS SELECT * FROM read_parquet/read_csv(file)` with no checks. "
        "Re-ingest = the same file again into the now-full store (everything is a duplicate). "
        "CPU s = user + system time of the child over all DuckDB threads: on a shared machine it is "
        "the steadier figure; wall readings/s on two idle cores is at most 2x the per-CPU-second rate.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
