"""Where store scoring spends its time: per scored block (network family / time window), per
detector and per pipeline stage, plus the save into the store.

    .venv/bin/python benchmarks/profile_store.py --db var/noscore.duckdb [--last-days 92]

Reads the readings `envtrust score --db DB --last-days N` would read (the demo scores 92 days
with 14 days of context), scores them with :func:`analytics.pipeline.score_blocks` with timers
around every detector and stage (CPU seconds of the thread that runs it; iforest runs in a
background thread, so its time overlaps the numpy detectors; the block's own figure is wall and
process CPU), then times :func:`data.scoring.save_run` into a scratch copy.
Prints a Markdown table per block and the totals.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TIMES: dict[str, float] = defaultdict(float)
BLOCKS: list[dict] = []


def _timed(label: str, fn):
    """``fn`` timed in CPU seconds of the calling thread (the iforest thread's own CPU, not the
    wall time it spends waiting beside the numpy detectors on a shared machine)."""
    def wrapper(*a, **k):
        t0 = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            TIMES[label] += time.thread_time() - t0
    return wrapper


def instrument() -> None:
    """Wrap every registered detector and the pipeline's stages with wall-clock timers."""
    import analytics.pipeline.blocks as blocks
    import analytics.pipeline.run as run
    from analytics.registry import default_registry

    reg = default_registry()
    for name in reg.names():
        spec = reg.get(name)
        reg._specs[name] = replace(spec, fn=_timed(f"detector {name}", spec.fn))
    run.default_registry = lambda: reg  # the pipeline builds a fresh registry per call otherwise
    for stage in ("build_panel", "log_values", "scoring_surprise", "combine", "add_persistence", "emphasise_peaks",
                  "combiner_surprise", "learned_order", "final_score", "in_run_thresholds", "build_events",
                  "validate_readings", "validate_stations"):
        setattr(run, stage, _timed(f"stage {stage}", getattr(run, stage)))
    inner = blocks.score_partition

    def per_block(readings, stations, pipe, *a, **k):
        before = dict(TIMES)
        t0, c0 = time.perf_counter(), time.process_time()
        res = inner(readings, stations, pipe, *a, **k)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        kinds = stations.set_index("station_id").loc[readings["station_id"].unique(), "kind"].value_counts()
        hours = int((readings["ts"].max() - readings["ts"].min()) / _hour()) + 1
        BLOCKS.append({"kinds": dict(kinds), "readings": len(readings), "stations": int(kinds.sum()),
                       "hours": hours, "parameters": readings["parameter"].nunique(), "wall_s": wall, "cpu_s": cpu,
                       "parts": {k: v - before.get(k, 0.0) for k, v in TIMES.items() if v - before.get(k, 0.0) > 0}})
        return res
    blocks.score_partition = per_block


def _hour():
    import pandas as pd
    return pd.Timedelta(hours=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a store built with `envtrust demo --no-score`")
    ap.add_argument("--last-days", type=float, default=92.0)
    ap.add_argument("--context-days", type=float, default=14.0)
    ap.add_argument("--no-save", action="store_true", help="skip timing the save into the store")
    args = ap.parse_args(argv)

    import pandas as pd

    from analytics.pipeline import load_pipeline, score_blocks
    from data.scoring import latest_reading_ts, load_readings, load_station_table, new_run_id, save_run
    from data.store import connect

    instrument()
    con = connect(args.db, read_only=True) if "read_only" in connect.__code__.co_varnames else connect(args.db)
    stations = load_station_table(con)
    cutoff = pd.Timestamp(latest_reading_ts(con)) - pd.Timedelta(days=args.last_days)
    t0 = time.perf_counter()
    readings = load_readings(con, start=(cutoff - pd.Timedelta(days=args.context_days)).to_pydatetime())
    t_load = time.perf_counter() - t0
    con.close()
    pipe = load_pipeline("default")
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    result = score_blocks(readings, stations, pipe)
    t_score, c_score = time.perf_counter() - t0, time.process_time() - c0
    print(f"# scoring profile: {len(readings):,} readings, {readings['station_id'].nunique()} stations; "
          f"load {t_load:.1f} s, score_blocks {t_score:.1f} s wall, {c_score:.1f} s CPU "
          f"({len(readings) / c_score:,.0f} readings per CPU s), "
          f"load average before {load0:.1f}")
    for b in BLOCKS:
        print(f"\n## block {b['kinds']}: {b['readings']:,} readings, {b['stations']} stations x {b['hours']} h x "
              f"{b['parameters']} parameters; {b['wall_s']:.1f} s wall, {b['cpu_s']:.1f} s CPU "
              f"({b['readings'] / b['cpu_s']:,.0f} readings per CPU s)\n")
        print("| part | CPU s |\n|---|---|")
        for k, v in sorted(b["parts"].items(), key=lambda kv: -kv[1]):
            if v >= 0.05:
                print(f"| {k} | {v:.2f} |")
    if not args.no_save:
        scratch = Path(args.db).with_suffix(".profile-scratch.duckdb")
        shutil.copy(args.db, scratch)
        c2 = connect(scratch)
        scores = result.scores[result.scores["ts"] >= cutoff].reset_index(drop=True)
        events = result.events[result.events["end"] >= cutoff].reset_index(drop=True)
        t0 = time.perf_counter()
        save_run(c2, scores, events, new_run_id())
        print(f"\nsave_run: {len(scores):,} scores, {len(events)} events in {time.perf_counter() - t0:.1f} s")
        c2.close()
        scratch.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
