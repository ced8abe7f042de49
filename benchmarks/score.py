"""Scoring speed and peak memory: envtrust's pipeline and the naive baselines on the same readings.

Each method runs in its own child process (so peak RSS is that method's, data included):

    .venv/bin/python benchmarks/score.py                 # full Beijing set when present, else the sample
    .venv/bin/python benchmarks/score.py --sample        # the shipped sample
    .venv/bin/python benchmarks/score.py --methods envtrust,rules
    .venv/bin/python benchmarks/score.py --store var/noscore.duckdb   # each network alone + the mix

With ``--store`` (a store built by `envtrust demo --no-score`) the demo's scoring window (92 days
+ 14 of context, as `make run` scores it) is taken from the store and scored through
:func:`analytics.pipeline.score_blocks` once per network family alone and once as the mix, next
to the Beijing air reference (``envtrust`` on the Beijing set), all in one run - each with
``--threads`` 1 and 2 (blocks and detectors at once; the method reads ``network:air:2``).

Prints one line per method: readings, wall and CPU seconds (scoring only, data loading
excluded; process CPU time includes all threads), readings/s (wall), the 1-minute load average
before scoring (the machine is shared), peak RSS of the process (MB) and RSS after loading (MB).
The engine's one-time imports (the pipeline and scikit-learn's tree builder, ~1-1.5 s CPU once per
process, paid in each child here and once in a real run) happen before the clock starts and are
reported apart (``import_cpu_s``, the "import" column).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METHODS = ("envtrust", "rules", "buddy", "stl", "iforest")
NETWORKS = ("air", "water", "polluter", "mix")


def _store_window(db: str, family: str):
    """The demo's scoring window from a store, one network family or the mix (all)."""
    import pandas as pd

    from analytics.pipeline.blocks import station_family
    from data.scoring import latest_reading_ts, load_readings, load_station_table
    from data.store import connect

    con = connect(db, read_only=True)
    try:
        stations = load_station_table(con)
        cutoff = pd.Timestamp(latest_reading_ts(con)) - pd.Timedelta(days=92 + 14)
        readings = load_readings(con, start=cutoff.to_pydatetime())
    finally:
        con.close()
    if family != "mix":
        readings = readings[readings["station_id"].map(station_family(stations)).to_numpy() == family]
    return readings.reset_index(drop=True), stations


def run_network(family: str, db: str, threads: int) -> dict:
    """Score one network family (or the mix) of the store's demo window in this process,
    ``threads`` blocks and detectors at once."""
    readings, stations = _store_window(db, family)
    import_cpu = _import_engine()
    from analytics.pipeline import load_pipeline, score_blocks

    rss_loaded = _rss_mb()
    load_before = os.getloadavg()[0]
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = score_blocks(readings, stations, load_pipeline("default"), threads=threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": f"network:{family}:{threads}", "source": db, "threads": threads, "data": db, "readings": len(readings),
            "rows_out": len(result.scores), "wall_s": round(wall, 2), "readings_per_s": round(len(readings) / wall),
            "cpu_readings_per_s": round(len(readings) / cpu), "cpu_s": round(cpu, 2),
            "load_avg_1min_before": round(load_before, 2), "peak_rss_mb": round(peak),
            "rss_after_load_mb": round(rss_loaded), "import_cpu_s": import_cpu}


def _import_engine() -> float:
    """Import the scoring engine and the scikit-learn modules its forests are grown with; the
    CPU seconds it took (once per process: a run scoring every network pays it once)."""
    cpu0 = time.process_time()
    from analytics.detectors.iforest import import_tree_builder
    from analytics.pipeline import score_blocks, score_partition  # noqa: F401

    import_tree_builder()
    return round(time.process_time() - cpu0, 2)


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc), for the after-load figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _load(sample: bool):
    from envtrust.evaluation.harness import _beijing_source, read_prsa_pollutants
    from envtrust.settings import load_settings

    beijing_dir, source = _beijing_source(None, sample, load_settings())
    readings, stations = read_prsa_pollutants(beijing_dir)
    return readings, stations, source, beijing_dir


def run_one(method: str, sample: bool) -> dict:
    """Score once with ``method`` in this process; returns the figures as a dict."""
    readings, stations, source, beijing_dir = _load(sample)
    import_cpu = _import_engine() if method == "envtrust" else 0.0
    rss_loaded = _rss_mb()
    load_before = os.getloadavg()[0]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if method == "envtrust":
        from analytics.pipeline import load_pipeline, score_partition
        result = score_partition(readings, stations, load_pipeline("default"))
        n_out = len(result.scores)
    else:
        from analytics.evaluation.baselines import BASELINES
        n_out = len(BASELINES[method](readings))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    return {"method": method, "source": source, "data": str(beijing_dir), "readings": len(readings),
            "rows_out": n_out, "wall_s": round(wall, 2), "readings_per_s": round(len(readings) / wall),
            "cpu_s": round(cpu, 2), "load_avg_1min_before": round(load_before, 2),
            "peak_rss_mb": round(peak), "rss_after_load_mb": round(rss_loaded), "import_cpu_s": import_cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", action="store_true", help="use the shipped sample even when full data exist")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--store", help="a demo store (envtrust demo --no-score): score each network and the mix")
    ap.add_argument("--threads", default="1,2",
                    help="with --store: blocks and detectors at once, one run per number (default 1,2: one "
                         "thread against two; envtrust's default is the cores)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.one:
        from envtrust.allocator import tune_allocator

        tune_allocator()  # as the envtrust command does, before any thread starts
        if args.one.startswith("network:"):
            _, family, threads = args.one.split(":")
            row = run_network(family, args.store, int(threads))
        else:
            row = run_one(args.one, args.sample)
        print(json.dumps(row))
        return 0
    rows = []
    methods = [x.strip() for x in args.methods.split(",") if x.strip()]
    if args.store:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
        methods = ["envtrust", *(f"network:{n}:{t}" for n in NETWORKS for t in threads)]
    for m in methods:
        if m not in METHODS and not (args.store and m.startswith("network:")):
            print(f"unknown method {m!r}; known: {', '.join(METHODS)}", file=sys.stderr)
            return 2
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", m] + (["--sample"] if args.sample else []) \
            + (["--store", str(Path(args.store).resolve())] if args.store else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            print(f"{m}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            rows.append({"method": m, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{m:18s} {row['readings']:>10,} readings  {row['wall_s']:8.2f} s wall  {row['cpu_s']:8.2f} s CPU  "
              f"{row['readings_per_s']:>10,} readings/s  import {row.get('import_cpu_s', 0.0):4.2f} s CPU  "
              f"load {row['load_avg_1min_before']:.1f}  "
              f"peak {row['peak_rss_mb']:>6,} MB (after load {row['rss_after_load_mb']:,} MB)  [{row['source']}]",
              flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                               "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
