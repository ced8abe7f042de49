"""A province on one machine: the province-year benchmark (``--year``), and full scoring against
incremental scoring of one new hour.

    nice -n 10 .venv/bin/python benchmarks/province.py --year --dask-days 7 --max-block-rows 6000000 --no-load
    # the year built once and kept (~15 min), then the one-process year alone from it (2 blocks at once)
    nice -n 19 .venv/bin/python benchmarks/province.py --year --build-only --workdir /work/var-shared/year
    .venv/bin/python benchmarks/province.py --year --reuse --workdir /work/var-shared/year \
        --max-block-rows 3000000 --threads 2 --no-load
    .venv/bin/python benchmarks/province.py --year --reuse --workdir /work/var-shared/year \
        --max-block-rows 3000000 --sample-blocks 4     # a CPU estimate of the year from 6 of its blocks
    .venv/bin/python benchmarks/province.py --year --days 7 --dask-days 7 --slice-block-rows 250000 \
        --max-block-rows 250000 --no-load --slice-only     # Dask 2 vs 1 worker: 14 blocks, 12 equal
    .venv/bin/python benchmarks/province.py                       # all national stations, 15 days
    .venv/bin/python benchmarks/province.py --stations 500 --days 15
    .venv/bin/python benchmarks/province.py --incremental-only     # skip the full-run baseline timing
    # the province's new hour: 2,016 air positions + 64 water sections + 18 outlets (~6 min)
    nice -n 10 .venv/bin/python benchmarks/province.py --all-positions --incremental-only --kept-only

``--year``: a store of every national station position (2,016 with coordinates; the ~600 without
a real 2017-01-01 profile borrow their nearest station's), the demo's 64 water sections and 18
polluter outlets, a year hourly (~110 M readings; generated a month at a time, one ingest batch
per month), under ``--workdir`` (removed at the end). Then: export to partitioned Parquet; with
``--dask-days N`` the first N days are scored in one process (once per ``--threads`` number:
blocks and detectors at once) and on Dask with 1 and 2 workers (a declared slice); the whole
year is scored in one process, block by block
(:func:`envtrust.distributed.score_parquet` with ``n_workers=0``: station groups of at most
``--max-block-rows`` rows read, bounded memory), and (without ``--no-load``) loaded into the
store; without ``--dask-days`` the whole year is also scored on Dask with 1 and 2 workers. Each
phase reports wall and CPU seconds (the process and its worker processes), readings/s, the
peak RSS of the process tree and the load average; the JSON is rewritten after each phase.
``--build-only`` stops after the export and keeps ``--workdir`` (with ``built.json``, the store's
counts); ``--reuse`` starts from such a workdir: no generation, no export, no Dask - the year in
one process only (``--threads`` blocks at once; earlier block outputs are removed first).

Without ``--year``:

Builds a store in a temporary folder: the real national station positions with a real
2017-01-01 profile (``data/sample/cnemc``: 1,421), each with ``--days`` of hourly readings from
:func:`data.synthetic.province.province_readings` (the station's profile, a regional AR(1)
weather field and local noise; seeded); with ``--all-positions`` the province as ``--year``
builds it instead (all 2,016 positions, those without a profile borrowing their nearest
station's, the 64 water sections and 18 outlets: 2,098 stations), ``--days`` of it. Then, in order:

1. **baseline - full run**: ``score_store`` over everything (what a centre without incremental
   scoring would run every hour);
2. **one new hour**: every event open at the history's last hour is reviewed (``confirmed``, as
   an analyst would); the next hour of every station is ingested as one batch (as a group commit
   of the HJ 212 receiver stores it) and ``score_new_readings`` scores it with 14 days of context:
   first applying the isolation forests the baseline run kept, then (the same hour again, not with
   ``--kept-only``) refitting every station's forest, as before forests were kept. Each run
   reports what became of the events open at the edge: extended into the new hour, closed, lost,
   reviews kept, and events opened;
3. **reference**: a full run of the baseline's window, now with the new hour; the new hour's
   scores of the runs are compared pairwise (Spearman, top-1 % overlap, largest difference).

Prints wall and CPU seconds (all threads; CPU also per station), readings/s and the peak RSS of each phase (sampled every 0.5 s), the load
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
    """Peak resident memory (MB) and CPU seconds of this process and its children (Dask's worker
    processes) while the block runs, sampled every 0.5 s (walking the process tree every 0.1 s took ~3 % of
    the scoring thread's samples in py-spy, through the GIL); the peak is of the tree's summed RSS.
    ``tree=False``: this process only - a run without worker processes; psutil finds children by
    reading every process's ``/proc`` entry, 3 % of the CPU of the in-process new hour on a busy machine."""

    def __init__(self, tree: bool = True):
        self.tree = tree

    def __enter__(self):
        import psutil

        self._proc = psutil.Process()
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self.peak_mb = 0.0
        self._take()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _take(self):
        import psutil

        rss = 0.0
        for proc in [self._proc, *(self._proc.children(recursive=True) if self.tree else [])]:
            try:
                rss += proc.memory_info().rss / 2**20
                t = proc.cpu_times()
                cpu = t.user + t.system
            except psutil.Error:
                continue
            self._cpu_first.setdefault(proc.pid, 0.0 if proc.pid != self._proc.pid else cpu)
            self._cpu_last[proc.pid] = cpu
        self.peak_mb = max(self.peak_mb, rss)

    def _sample(self):
        while not self._stop.wait(0.5):
            self._take()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._take()

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the tree during the block (a child counts from its start)."""
        return sum(self._cpu_last[pid] - self._cpu_first[pid] for pid in self._cpu_last)


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


REVIEW_VERDICT = "confirmed"  # what the benchmark's analyst says of every event open at the edge


def events_reaching(con, since):
    """Stored events whose last hour is ``since`` or later: id, station, kind, hours, status."""
    return con.execute('SELECT event_id, station_id, kind, start, "end", status FROM events WHERE "end" >= ?',
                       [since.to_pydatetime()]).fetchdf()


def review_events_at_edge(con, edge) -> int:
    """Review every event open at the history's last hour (``REVIEW_VERDICT``), as an analyst
    would before the next hour arrives; returns how many."""
    from data.views import record_review

    ids = list(events_reaching(con, edge)["event_id"])
    for event_id in ids:
        record_review(con, event_id, REVIEW_VERDICT, "province benchmark", "benchmark")
    return len(ids)


def edge_outcome(before, after, new_ts) -> dict[str, int]:
    """What an incremental run did to the events open at the edge (``before``, read just before
    it): extended into the new hour, closed (same id, ending before it), lost (id gone), reviews
    kept (same id, same status); and events opened in the new hour (ids not seen before)."""
    import pandas as pd

    both = before.merge(after, on="event_id", how="left", suffixes=("", "_after"))
    new_ts = pd.Timestamp(new_ts)
    return {"open_before": len(before),
            "extended": int((both["end_after"] >= new_ts).sum()),
            "closed": int((both["end_after"] < new_ts).sum()),
            "lost": int(both["end_after"].isna().sum()),
            "reviews_kept": int(((both["status"] != "open") & (both["status_after"] == both["status"])).sum()),
            "reviewed_before": int((before["status"] != "open").sum()),
            "opened": int((~after["event_id"].isin(set(before["event_id"])) & (after["end"] >= new_ts)).sum())}


def build_year_store(db: Path, n_stations: int | None, days: int, seed: int, memory_limit: str,
                     hold_new_hour: bool = False) -> dict:
    """A province-year store: every national station position (``--stations``: the first N), those
    without a real 2017-01-01 profile borrowing their nearest station's, plus the demo's water
    sections and polluter outlets (all of them), ``days`` hourly from 2017-01-02. Readings are
    generated a month at a time and ingested as one batch per month (bounded memory).

    ``hold_new_hour``: one hour more is generated for every network and held back, not ingested
    (the returned ``new_hour``: the next hour a province's loggers send, for the incremental run)."""
    import pandas as pd

    from data.adapters.cnemc import read_cnemc_station_list
    from data.demo import store_columns
    from data.ingest import ingest_files, ingest_readings, ingest_stations
    from data.store import connect
    from data.synthetic.polluters import generate_polluters, polluter_outlets
    from data.synthetic.province import province_reading_chunks
    from data.synthetic.water import generate_water
    from geo.admin import assign_admin
    from geo.sections import demo_sections

    sample = REPO / "data" / "sample" / "cnemc"
    con = connect(db)
    con.execute(f"SET memory_limit = '{memory_limit}'")  # DuckDB's sorts spill to disk beyond it
    con.execute("SET enable_progress_bar = false")
    national = read_cnemc_station_list(sample / "station_list_cnemc_2024.csv")
    if n_stations:
        national = national.sort_values("station_id").head(n_stations)
    sections, outlets = demo_sections(), polluter_outlets()
    for frame, fmt in ((national, "cnemc_stations"), (sections, "synthetic"), (outlets, "synthetic")):
        ingest_stations(con, store_columns(con, assign_admin(frame)), "province-year", fmt).check()
    list(ingest_files(con, [sample / "china_sites_20170101.csv.gz"], fmt="cnemc_day", progress=False))
    day = con.execute("SELECT station_id, ts, parameter, value FROM readings").fetchdf()
    con.execute("DELETE FROM readings")
    pos = con.execute("SELECT station_id, lon, lat FROM stations WHERE kind = 'air_station' AND lon IS NOT NULL "
                      "ORDER BY station_id").fetchdf()
    start, hours = pd.Timestamp("2017-01-02 00:00"), days * 24 + int(hold_new_hour)
    end = start + pd.Timedelta(hours=hours - 1)
    held: list[pd.DataFrame] = []

    def ingest(frame: pd.DataFrame, source: str) -> None:
        if hold_new_hour:
            held.append(frame[frame["ts"] == end])
            frame = frame[frame["ts"] < end]
        ingest_readings(con, frame, source, "synthetic").check()

    for chunk in province_reading_chunks(day, pos, start, hours, chunk_hours=24 * 31, seed=seed, borrow_profiles=True):
        ingest(chunk, "synthetic:province")
    ingest(generate_water(sections, start, end, seed=seed), "synthetic:water")
    cems, _truth = generate_polluters(outlets, start, end, seed=seed)
    ingest(cems, "synthetic:polluters")
    new_hour = pd.concat(held, ignore_index=True) if held else None
    return {"con": con, "air_positions": len(pos), "start": start,
            "end": end - pd.Timedelta(hours=int(hold_new_hour)), "new_hour": new_hour}


def store_counts(con) -> dict[str, int]:
    """Stations and readings per station kind."""
    rows = con.execute("SELECT s.kind, count(DISTINCT r.station_id), count(*) FROM readings r JOIN stations s "
                       "USING (station_id) GROUP BY ALL ORDER BY 1").fetchall()
    return {kind: {"stations": int(n_st), "readings": int(n)} for kind, n_st, n in rows}


def timed_scoring(label: str, run, out: dict, key: str, n_readings: int, json_path: Path) -> dict:
    """Run ``run()`` under the tree's memory and CPU sampler; record and print wall, CPU, readings/s,
    peak RSS and the load before and after; the JSON is rewritten after every phase."""
    load = os.getloadavg()
    with PeakRss() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        extra = run() or {}
        wall, driver = time.perf_counter() - t0, time.process_time() - c0
    # the driver's own CPU (on Dask: planning, submitting, waiting) - workers must not wait on it
    extra = {**extra, "driver_cpu_s": round(driver, 1)}
    rec = {"wall_s": round(wall, 1), "cpu_s": round(mem.cpu_s, 1), "readings": n_readings,
           "readings_per_s": round(n_readings / wall), "peak_rss_mb": round(mem.peak_mb),
           "load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in os.getloadavg()], **extra}
    out[key] = rec
    json_path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    print(f"{label}: {wall:,.1f} s wall, CPU {mem.cpu_s:,.1f} s, {n_readings / wall:,.0f} readings/s, "
          f"peak RSS {mem.peak_mb:,.0f} MB (load {load[0]:.1f} -> {os.getloadavg()[0]:.1f}) {extra or ''}", flush=True)
    return rec


BUILT = "built.json"  # the workdir's record of a finished build and export (what ``--reuse`` needs)


def build_year_workdir(args, work: Path, out: dict, json_path: Path):
    """Build the year's store under ``work`` and export it to partitioned Parquet, recording both
    in ``work/built.json``; with ``--reuse``, open what an earlier ``--keep`` run left instead
    (no generation, no export). Returns (connection, readings, first hour)."""
    import shutil

    import pandas as pd

    from data.partitions import export_readings
    from data.store import connect

    if args.reuse:
        built = json.loads((work / BUILT).read_text(encoding="utf-8"))
        out["store"], out["export"] = built["store"], built["export"]
        print(f"reusing {work}: {built['store']['readings']:,} readings, built and exported earlier", flush=True)
        return connect(work / "province.duckdb"), built["store"]["readings"], pd.Timestamp(built["start"])
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0, c0 = time.perf_counter(), time.process_time()
    built = build_year_store(work / "province.duckdb", args.stations, args.days, args.seed, args.duckdb_memory)
    con = built["con"]
    counts = store_counts(con)
    n_all = sum(v["readings"] for v in counts.values())
    out["store"] = {"air_positions": built["air_positions"], "by_kind": counts, "readings": n_all,
                    "days": args.days, "build_s": round(time.perf_counter() - t0, 1),
                    "build_cpu_s": round(time.process_time() - c0, 1),
                    "db_mb": round((work / "province.duckdb").stat().st_size / 2**20)}
    print(f"store: {n_all:,} readings {counts} over {args.days} days, built in {out['store']['build_s']} s "
          f"(CPU {out['store']['build_cpu_s']} s), {out['store']['db_mb']:,} MB", flush=True)
    root = str(work / "parquet")
    timed_scoring("export to partitioned Parquet", lambda: {"rows": export_readings(con, root)}, out, "export",
                  n_all, json_path)
    (work / BUILT).write_text(json.dumps({"store": out["store"], "export": out["export"], "start": str(built["start"])},
                                         indent=2), encoding="utf-8")
    return con, n_all, built["start"]


def sample_blocks(root: str, stations, plan: list, n_air: int) -> list:
    """The whole-family blocks (water, outlets) and ``n_air`` air station-group blocks spread
    evenly over the plan: enough to estimate the year's CPU from the CPU per row read."""
    groups = [b for b in plan if b.group is not None]
    step = max(len(groups) // max(n_air, 1), 1)
    return [b for b in plan if b.group is None] + groups[::step][:n_air]


def block_rows_read(summary, block) -> int:
    """Rows a block reads (its family's stations, or its read stations; whole-span blocks)."""
    fam = summary[summary["family"] == block.family]
    if block.stations is not None:
        fam = fam[fam["station_id"].isin(set(block.stations))]
    return int(fam["rows"].sum())


def estimate_year_cpu(args, root: str, stations, out: dict, json_path: Path) -> None:
    """Score a sample of the year's blocks (``--sample-blocks``), ``--threads`` blocks at a time,
    recording each block's thread CPU and the rows it read; extrapolate each family's CPU per row
    read to the whole plan (the year's CPU estimate; wall ~ CPU / cores on an idle machine)."""
    from analytics.detectors.base import validate_stations
    from analytics.pipeline import load_pipeline
    from analytics.pipeline.blocks import block_inner_threads, blocks_in_threads
    from data.partitions import readings_summary_from_parquet
    from envtrust.distributed import block_plan, run_block

    summary = readings_summary_from_parquet(root)
    plan = block_plan(root, stations, max_cells=args.max_cells, max_block_rows=args.max_block_rows)
    todo = sample_blocks(root, stations, plan, args.sample_blocks)
    st, pipe = validate_stations(stations), load_pipeline("default")
    threads = args.threads[-1]
    inner = block_inner_threads(threads, len(plan))  # as in the whole run, not the sample
    per_block: dict[str, dict] = {}

    def task(b):
        c0, t0 = time.thread_time(), time.perf_counter()
        run_block(root, b, st, pipe, inner)
        per_block[b.name] = {"family": b.family, "rows_read": block_rows_read(summary, b),
                             "thread_cpu_s": round(time.thread_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1)}
        print(f"  {b.name}: {per_block[b.name]}", file=sys.stderr, flush=True)

    def run():
        for _ in blocks_in_threads(todo, task, threads):
            pass
        return {"blocks": len(todo)}

    n_sample = sum(block_rows_read(summary, b) for b in todo)
    timed_scoring(f"sample of {len(todo)} of the year's {len(plan)} blocks, {threads} thread(s)", run, out,
                  "year_sample", n_sample, json_path)
    est = 0.0
    for family in sorted({b.family for b in plan}):
        done = [v for v in per_block.values() if v["family"] == family]
        cpu_per_row = sum(v["thread_cpu_s"] for v in done) / max(sum(v["rows_read"] for v in done), 1)
        est += cpu_per_row * sum(block_rows_read(summary, b) for b in plan if b.family == family)
    out["year_sample"]["blocks_sampled"] = per_block
    out["year_sample"]["year_cpu_s_estimate"] = round(est)
    json_path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    print(f"year estimate: {est:,.0f} CPU s for {len(plan)} blocks ({est / 60:,.1f} CPU min)", flush=True)


def province_year(args) -> int:
    """The province-year benchmark (``--year``): build, export, then score the export in one
    process (bounded memory) and on Dask with 1 and 2 workers - at full size, or on the declared
    ``--dask-days`` slice when ``--dask-days`` is given. ``--build-only`` stops after the export
    (with ``--keep``); ``--reuse`` starts from such a workdir and scores the year in one process."""
    import shutil

    import pandas as pd

    from data.partitions import export_readings
    from data.scoring import load_station_table, new_run_id
    from envtrust.distributed import block_plan, load_blocks_into_store, score_parquet

    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir)
    out: dict[str, object] = {"args": vars(args), "cpus": os.cpu_count()}
    con = None
    try:
        con, n_all, start = build_year_workdir(args, work, out, json_path)
        if args.build_only:
            return 0
        stations = load_station_table(con)
        root = str(work / "parquet")
        if args.reuse:  # nothing of an earlier run's scores is resumed
            shutil.rmtree(Path(root) / "blocks", ignore_errors=True)
        if args.sample_blocks:
            estimate_year_cpu(args, root, stations, out, json_path)
            return 0

        def score(where: str, n_workers: int, max_block_rows: int = args.max_block_rows, threads: int = 2):
            def run():
                t0 = time.perf_counter()
                res = score_parquet(where, stations, n_workers=n_workers, max_block_rows=max_block_rows,
                                    threads=threads,
                                    max_cells=args.max_cells, collect=False, progress=lambda done, total: print(
                                        f"  block {done}/{total} done at {time.perf_counter() - t0:,.1f} s",
                                        file=sys.stderr, flush=True))
                return {"blocks": res.blocks}
            return run

        def describe_plan(where: str, key: str, max_block_rows: int = args.max_block_rows) -> None:
            plan = block_plan(where, stations, max_cells=args.max_cells, max_block_rows=max_block_rows)
            groups = [b for b in plan if b.group is not None]
            out[key] = {"blocks": len(plan), "station_group_blocks": len(groups),
                        "group_stations": [min((len(b.keep_stations) for b in groups), default=0),
                                           max((len(b.keep_stations) for b in groups), default=0)],
                        "read_stations_max": max((len(b.stations) for b in groups), default=0),
                        "halo_share": round(sum(len(b.stations) for b in groups)
                                            / max(sum(len(b.keep_stations) for b in groups), 1) - 1, 3)}
            print(f"plan of {where}: {out[key]}", flush=True)

        if args.dask_days:  # 0: no Dask runs at all
            until = start + pd.Timedelta(days=args.dask_days) - pd.Timedelta(hours=1)
            n_slice = export_readings(con, root + "-slice", start, until)
            out["dask_slice"] = {"days": args.dask_days, "readings": n_slice}
            describe_plan(root + "-slice", "slice_plan", args.slice_block_rows)
            print(f"declared slice for the Dask comparison: the first {args.dask_days} days, {n_slice:,} readings",
                  flush=True)
            runs = [(0, t) for t in args.threads] + [(1, 1), (2, 1)]  # a worker's task: one thread (its own choice)
            for n_workers, threads in runs:
                shutil.rmtree(Path(root + "-slice") / "blocks", ignore_errors=True)
                label = f"slice, one process, {threads} thread(s)" if n_workers == 0 else f"slice, Dask {n_workers} worker(s)"
                key = f"slice_one_process_threads_{threads}" if n_workers == 0 else f"slice_workers_{n_workers}"
                timed_scoring(label, score(root + "-slice", n_workers, args.slice_block_rows, threads), out, key,
                              n_slice, json_path)
        if args.dask_days and args.slice_only:
            return 0
        describe_plan(root, "full_plan")
        timed_scoring(f"full, one process, {args.threads[-1]} thread(s) (blocks to Parquet)",
                      score(root, 0, threads=args.threads[-1]), out, "full_one_process", n_all, json_path)

        def load():
            plan = block_plan(root, stations, max_cells=args.max_cells, max_block_rows=args.max_block_rows)
            n_scores, n_events, _kept = load_blocks_into_store(con, root, plan, new_run_id())
            return {"scores": n_scores, "events": n_events}

        if not args.no_load:
            timed_scoring("full, loading the blocks into the store", load, out, "full_load", n_all, json_path)
        if args.dask_days is None and not args.reuse:
            for n_workers in (1, 2):
                shutil.rmtree(Path(root) / "blocks", ignore_errors=True)
                timed_scoring(f"full, Dask {n_workers} worker(s)", score(root, n_workers), out,
                              f"full_workers_{n_workers}", n_all, json_path)
        out["disk_mb"] = round(sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 2**20)
    finally:
        if con is not None:
            con.close()
        if not (args.keep or args.reuse or args.build_only):
            shutil.rmtree(work, ignore_errors=True)
        json_path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=None, help="first N national stations (default all)")
    ap.add_argument("--days", type=int, default=15, help="days of history (default 15: the 14-day context + 1)")
    ap.add_argument("--seed", type=int, default=20170102)
    ap.add_argument("--incremental-only", action="store_true",
                    help="score the history in a window of the last day only (no full-run baseline figure)")
    ap.add_argument("--all-positions", dest="all_positions", action="store_true",
                    help="every national position (those without a profile borrow their nearest station's) plus "
                         "the water sections and outlets, as --year builds them; the new hour of every network")
    ap.add_argument("--kept-only", dest="kept_only", action="store_true",
                    help="score the new hour with the kept forests only (skip refitting every forest)")
    ap.add_argument("--context-days", dest="context_days", default="14",
                    type=lambda text: [float(x) for x in text.split(",")],
                    help="context of the incremental run, days; a list (e.g. 14,3) compares them (default 14)")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "province.json"))
    ap.add_argument("--year", action="store_true",
                    help="the province-year benchmark: every national position, water and outlets, --days 365 "
                         "by default; one process against Dask with 1 and 2 workers")
    ap.add_argument("--dask-days", dest="dask_days", type=int, default=None,
                    help="with --year: compare one process and Dask 1/2 workers on the first N days only "
                         "(the full year is scored in one process)")
    ap.add_argument("--max-block-rows", dest="max_block_rows", type=int, default=4_000_000,
                    help="with --year: air blocks larger than this are cut into station groups")
    ap.add_argument("--max-cells", dest="max_cells", type=int, default=2_000_000_000,
                    help="with --year: panel cells above which a family is cut into 90-day windows (default: never; "
                         "the station groups bound the memory, and a group's year needs no time halo)")
    ap.add_argument("--slice-block-rows", dest="slice_block_rows", type=int, default=1_000_000,
                    help="with --dask-days: the slice's --max-block-rows (smaller: blocks enough for two workers)")
    ap.add_argument("--slice-only", dest="slice_only", action="store_true",
                    help="with --dask-days: stop after the slice's three runs (no full run)")
    ap.add_argument("--threads", default=[1, 2], type=lambda text: [int(x) for x in text.split(",")],
                    help="with --year: blocks and detectors at once in the one-process runs; the slice runs each, "
                         "the full year the last (default 1,2; memory grows with it)")
    ap.add_argument("--duckdb-memory", dest="duckdb_memory", default="3GB", help="with --year: DuckDB memory_limit")
    ap.add_argument("--workdir", default=str(REPO / "var" / "province-year"),
                    help="with --year: where the store and the Parquet go (removed at the end unless --keep)")
    ap.add_argument("--no-load", dest="no_load", action="store_true",
                    help="with --year: leave the scores in the block Parquet files (skip loading them into the store)")
    ap.add_argument("--keep", action="store_true", help="with --year: keep --workdir")
    ap.add_argument("--build-only", dest="build_only", action="store_true",
                    help="with --year: build the store and the Parquet export under --workdir, keep them, stop")
    ap.add_argument("--reuse", action="store_true",
                    help="with --year: score the year in one process from the store and export an earlier "
                         "--build-only (or --keep) run left in --workdir: no generation, no export, no Dask")
    ap.add_argument("--sample-blocks", dest="sample_blocks", type=int, default=0,
                    help="with --reuse: score the whole-family blocks and N air group blocks only, and estimate "
                         "the year's CPU from their CPU per row read")
    args = ap.parse_args()
    from envtrust.allocator import tune_allocator

    tune_allocator()  # as the envtrust command does, before any thread starts
    if args.reuse and (args.dask_days is not None or not args.year):
        ap.error("--reuse scores the year in one process: give --year, and no --dask-days")
    if args.year:
        if args.days == 15:
            args.days = 365
        return province_year(args)

    import pandas as pd

    from data.ingest import ingest_readings
    from envtrust.scoring import FOREST_REFIT_DAYS, score_new_readings, score_store

    out: dict[str, object] = {"args": vars(args), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="envtrust-province-") as tmp:
        t0 = time.perf_counter()
        if args.all_positions:
            built = build_year_store(Path(tmp) / "province.duckdb", args.stations, args.days, args.seed,
                                     args.duckdb_memory, hold_new_hour=True)
            con, new_hour = built["con"], built["new_hour"]
        else:
            con, new_hour = build_store(Path(tmp) / "province.duckdb", args.stations, args.days, args.seed)
        n_hist, n_st = con.execute("SELECT count(*), count(DISTINCT station_id) FROM readings").fetchall()[0]
        out["store"] = {"readings": n_hist, "stations": n_st, "by_kind": store_counts(con),
                        "build_s": round(time.perf_counter() - t0, 1)}
        print(f"store: {n_hist:,} readings of {n_st:,} stations over {args.days} days {out['store']['by_kind']} "
              f"(built in {out['store']['build_s']} s)", flush=True)

        load = os.getloadavg()[0]
        with PeakRss(tree=False) as mem:
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

        edge = new_hour["ts"].max() - pd.Timedelta(hours=1)  # the history's last hour
        out["reviewed_at_edge"] = review_events_at_edge(con, edge)
        ingest_readings(con, new_hour, "hj212:group-commit", "synthetic")
        new_batch = con.execute("SELECT max(batch_id) FROM ingest_batches").fetchall()[0][0]
        out["incremental"] = {}
        hour_scores = {}
        # the kept forests (fitted by the baseline run on the history) first, then every forest refitted
        variants = [("kept forests", args.context_days[0], FOREST_REFIT_DAYS)]
        if not args.kept_only:
            variants += [("refit every forest", context, 0.0) for context in args.context_days]
        for how, context, refit_days in variants:
            key = f"{context:g}d, {how}"
            con.execute("DELETE FROM scored_batches WHERE batch_id = ?", [new_batch])  # score the same hour again
            before = events_reaching(con, edge)
            load = os.getloadavg()[0]
            with PeakRss(tree=False) as mem:
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
                "peak_rss_mb": round(mem.peak_mb), "load_before": round(load, 1), "target_s": 60,
                "events_at_edge": edge_outcome(before, events_reaching(con, edge), new_hour["ts"].max())}
            print(f"one new hour ({len(new_hour):,} readings), {key}: {wall:.1f} s (CPU {cpu:.1f} s, "
                  f"{1000 * cpu / n_st:.1f} ms per station; {inc.forests_kept if inc else 0} forests kept, "
                  f"{inc.forests_fitted if inc else 0} fitted), {inc.events if inc else 0} events in the window, "
                  f"peak RSS {mem.peak_mb:,.0f} MB (load {load:.1f}); target <= 60 s: "
                  f"{'met' if wall <= 60 else 'NOT met'}; events at the edge: "
                  f"{out['incremental'][key]['events_at_edge']}", flush=True)
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
        pairs = [(kept, full_key)] if args.kept_only else [(kept, refit), (kept, full_key), (refit, full_key)]
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
