"""A province-sized air network on one machine: full scoring against incremental scoring of one
new hour, in one run.

    .venv/bin/python benchmarks/province.py                       # all national stations, 15 days
    .venv/bin/python benchmarks/province.py --stations 500 --days 15
    .venv/bin/python benchmarks/province.py --incremental-only     # skip the full-run baseline timing

Builds a store in a temporary folder: the ~2,000 real national station positions
(``data/sample/cnemc``), each with ``--days`` of hourly readings from
:func:`data.synthetic.province.province_readings` (the station's real 2017-01-01 profile, a
regional AR(1) weather field and local noise; seeded). Then, in order:

1. **baseline - full run**: ``score_store`` over everything (what a centre without incremental
   scoring would run every hour);
2. **one new hour**: the next hour of every station is ingested as one batch (as a group commit of
   the HJ 212 receiver stores it) and ``score_new_readings`` scores it with 14 days of context:
   first applying the isolation forests the baseline run kept, then (the same hour again)
   refitting every station's forest, as before forests were kept;
3. **reference**: a full run of the baseline's window, now with the new hour; the new hour's
   scores of the runs are compared pairwise (Spearman, top-1 % overlap, largest difference).

Prints wall and CPU seconds (all threads; CPU also per station), readings/s and the peak RSS of each phase (sampled every 0.1 s), the load
average before each phase (the machine is shared), and writes a JSON next to ``--json``.
Target (issue 12): the new hour of a 2,000-station province scored and its events updated in <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


class PeakRss:
    """Peak resident memory of this process while the block runs (sampled, MB)."""

    def __enter__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak_mb = self._proc.memory_info().rss / 2**20
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.1):
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def build_store(db: Path, n_stations: int | None, days: int, seed: int):
    """The store with stations and ``days`` of readings; returns (connection, the new hour's readings)."""
    import pandas as pd

    from data.adapters.cnemc import read_cnemc_station_list
    from data.demo import store_columns
    from data.ingest import ingest_files, ingest_readings, ingest_stations
    from data.store import connect
    from data.synthetic.province import province_readings
    from geo.admin import assign_admin

    sample = REPO / "data" / "sample" / "cnemc"
    con = connect(db)
    stations = read_cnemc_station_list(sample / "station_list_cnemc_2024.csv")
    ingest_stations(con, store_columns(con, assign_admin(stations)), "cnemc", "cnemc_stations").check()
    list(ingest_files(con, [sample / "china_sites_20170101.csv.gz"], fmt="cnemc_day", progress=False))
    day = con.execute("SELECT station_id, ts, parameter, value FROM readings").fetchdf()
    con.execute("DELETE FROM readings")
    pos = con.execute("SELECT station_id, lon, lat FROM stations WHERE lon IS NOT NULL ORDER BY station_id").fetchdf()
    if n_stations:
        pos = pos.head(n_stations)
    start = pd.Timestamp("2017-01-02 00:00")
    readings = province_readings(day, pos, start, days * 24 + 1, seed=seed)
    last = readings["ts"].max()
    history, new_hour = readings[readings["ts"] < last], readings[readings["ts"] == last]
    ingest_readings(con, history, "synthetic:province", "synthetic")
    return con, new_hour


def scores_agreement(a, b) -> dict[str, float]:
    """How two runs' scores of the same readings agree: largest difference, Spearman, top-1 % overlap."""
    import numpy as np
    import pandas as pd

    top_a, top_b = a >= np.quantile(a, 0.99), b >= np.quantile(b, 0.99)
    return {"max_abs_diff": round(float(np.max(np.abs(a - b))), 3),
            "spearman": round(float(pd.Series(a).corr(pd.Series(b), method="spearman")), 3),
            "top1pct_overlap": round(float((top_a & top_b).sum() / max(top_a.sum(), 1)), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=None, help="first N national stations (default all)")
    ap.add_argument("--days", type=int, default=15, help="days of history (default 15: the 14-day context + 1)")
    ap.add_argument("--seed", type=int, default=20170102)
    ap.add_argument("--incremental-only", action="store_true",
                    help="score the history in a window of the last day only (no full-run baseline figure)")
    ap.add_argument("--context-days", dest="context_days", default="14",
                    type=lambda text: [float(x) for x in text.split(",")],
                    help="context of the incremental run, days; a list (e.g. 14,3) compares them (default 14)")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "province.json"))
    args = ap.parse_args()

    from data.ingest import ingest_readings
    from envtrust.scoring import FOREST_REFIT_DAYS, score_new_readings, score_store

    out: dict[str, object] = {"args": vars(args), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="envtrust-province-") as tmp:
        t0 = time.perf_counter()
        con, new_hour = build_store(Path(tmp) / "province.duckdb", args.stations, args.days, args.seed)
        n_hist, n_st = con.execute("SELECT count(*), count(DISTINCT station_id) FROM readings").fetchall()[0]
        out["store"] = {"readings": n_hist, "stations": n_st, "build_s": round(time.perf_counter() - t0, 1)}
        print(f"store: {n_hist:,} readings of {n_st:,} stations over {args.days} days "
              f"(built in {out['store']['build_s']} s)", flush=True)

        load = os.getloadavg()[0]
        with PeakRss() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            full = score_store(con, progress=False, last_days=1.0 if args.incremental_only else None)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out["full"] = {"wall_s": round(wall, 1), "readings_scored": full.readings,
                       "readings_per_s": round(n_hist / wall), "cpu_s": round(cpu, 1), "events": full.events,
                       "peak_rss_mb": round(mem.peak_mb), "load_before": round(load, 1),
                       "window": "last day" if args.incremental_only else "everything"}
        print(f"baseline, {'window of the last day' if args.incremental_only else 'full run'}: {wall:.1f} s, "
              f"{n_hist / wall:,.0f} readings/s read, CPU {cpu:.1f} s, {full.events} events, peak RSS {mem.peak_mb:,.0f} MB "
              f"(load {load:.1f})", flush=True)

        ingest_readings(con, new_hour, "hj212:group-commit", "synthetic")
        new_batch = con.execute("SELECT max(batch_id) FROM ingest_batches").fetchall()[0][0]
        out["incremental"] = {}
        hour_scores = {}
        # the kept forests (fitted by the baseline run on the history) first, then every forest refitted
        variants = [("kept forests", args.context_days[0], FOREST_REFIT_DAYS)]
        variants += [("refit every forest", context, 0.0) for context in args.context_days]
        for how, context, refit_days in variants:
            key = f"{context:g}d, {how}"
            con.execute("DELETE FROM scored_batches WHERE batch_id = ?", [new_batch])  # score the same hour again
            load = os.getloadavg()[0]
            with PeakRss() as mem:
                t0, c0 = time.perf_counter(), time.process_time()
                inc = score_new_readings(con, context_days=context, refit_days=refit_days)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            hour_scores[key] = con.execute("SELECT station_id, parameter, score FROM scores WHERE ts = ? "
                                           "ORDER BY station_id, parameter",
                                           [new_hour["ts"].max().to_pydatetime()]).fetchdf()
            out["incremental"][key] = {
                "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_s_per_station": round(cpu / n_st, 4),
                "new_readings": len(new_hour), "readings_scored": inc.readings if inc else 0,
                "events_in_window": inc.events if inc else 0, "forests_kept": inc.forests_kept if inc else 0,
                "forests_fitted": inc.forests_fitted if inc else 0,
                "peak_rss_mb": round(mem.peak_mb), "load_before": round(load, 1), "target_s": 60}
            print(f"one new hour ({len(new_hour):,} readings), {key}: {wall:.1f} s (CPU {cpu:.1f} s, "
                  f"{1000 * cpu / n_st:.1f} ms per station; {inc.forests_kept if inc else 0} forests kept, "
                  f"{inc.forests_fitted if inc else 0} fitted), {inc.events if inc else 0} events in the window, "
                  f"peak RSS {mem.peak_mb:,.0f} MB (load {load:.1f}); target <= 60 s: "
                  f"{'met' if wall <= 60 else 'NOT met'}", flush=True)
        # the reference: a full run (the baseline's window) that now includes the new hour
        t0, c0 = time.perf_counter(), time.process_time()
        score_store(con, progress=False, last_days=1.0 if args.incremental_only else None)
        full_key = "full run with the new hour"
        hour_scores[full_key] = con.execute("SELECT station_id, parameter, score FROM scores WHERE ts = ? "
                                            "ORDER BY station_id, parameter",
                                            [new_hour["ts"].max().to_pydatetime()]).fetchdf()
        out["full_with_new_hour"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                     "cpu_s": round(time.process_time() - c0, 1)}
        refit = f"{args.context_days[0]:g}d, refit every forest"
        kept = f"{args.context_days[0]:g}d, kept forests"
        out["agreement"] = []
        pairs = [(kept, refit), (kept, full_key), (refit, full_key)]
        pairs += [(key, refit) for key in hour_scores if key not in (kept, refit, full_key)]
        for one, other in pairs:
            agree = scores_agreement(hour_scores[one]["score"].to_numpy(), hour_scores[other]["score"].to_numpy())
            out["agreement"].append({"run": one, "against": other, **agree})
            print(f"  the new hour's scores, {one} vs {other}: {agree}", flush=True)
        con.close()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
