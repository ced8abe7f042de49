"""Score the plausibility of every reading and find interference events.

File mode (no store needed; timestamps naive China Standard Time, outputs on the same clock):
    envtrust score --readings readings.parquet --stations stations.csv --out DIR
writes DIR/scores.parquet (one row per input reading: station_id, ts, parameter, score + one
column per model) and DIR/events.parquet (event_id, station_id, start, end, kind, score,
parameters, summary, evidence_json).

Store mode (timestamps UTC in the store):
    envtrust score --db var/envtrust.duckdb
replaces the scores and events tables with a new run; review statuses of events that persist
are kept.
    envtrust score --db var/envtrust.duckdb --new
scores only the readings that arrived since the last run (14 days before them read as
context); history is not re-scored, events at the edge are extended or closed.

On Dask (local cluster or a running scheduler; readings go through partitioned Parquet under
--partitions, a folder or fsspec URL every worker can read; finished blocks are not redone):
    envtrust score --db var/envtrust.duckdb --scheduler tcp://HOST:8786 --partitions /shared/run1
    envtrust score --readings r.parquet --stations s.csv --out DIR --workers 2

A store too large for memory (a province's year), in this process, block by block:
    envtrust score --db var/province.duckdb --max-block-rows 6000000 --partitions var/run1

Calibration (writes the pipeline's clean-data calibration next to its TOML):
    envtrust score --calibrate-on clean.parquet --stations stations.csv [--pipeline default]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from envtrust.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readings", help="long readings file (Parquet or CSV)")
    parser.add_argument("--stations", help="stations CSV: station_id, name, kind, lon, lat")
    parser.add_argument("--out", help="output folder for scores.parquet and events.parquet")
    parser.add_argument("--db", help="score the DuckDB store instead of files")
    parser.add_argument("--pipeline", default="default", help="pipeline name or TOML path (default: default)")
    parser.add_argument("--workers", type=int, default=0,
                        help="run on a local Dask cluster with this many workers (0 = in process)")
    parser.add_argument("--scheduler", help="run on the Dask scheduler at this address (tcp://HOST:PORT)")
    parser.add_argument("--partitions", help="with --workers/--scheduler: folder or fsspec URL for the Parquet "
                                             "readings and block outputs, shared with the workers (default: a "
                                             "temporary folder; give one to resume an interrupted run)")
    parser.add_argument("--max-block-rows", dest="max_block_rows", type=int, default=None,
                        help="with --db: score a store too large for memory (a province's year) block by block: "
                             "air blocks above N rows are cut into station groups with a neighbour halo, scored "
                             "in this process (or on --workers/--scheduler) and loaded block by block")
    parser.add_argument("--calibrate-on", dest="calibrate_on",
                        help="readings taken as clean: write the pipeline's calibration from them")
    parser.add_argument("--last-days", dest="last_days", type=float, default=None,
                        help="with --db: score only the most recent N days before the latest reading "
                             "(14 earlier days are read as context); default: everything")
    parser.add_argument("--new", action="store_true",
                        help="with --db: score only readings that arrived since the last run (incremental)")
    parser.add_argument("--context-days", dest="context_days", type=float, default=14.0,
                        help="with --new: days before the new readings read as the detectors' look-back "
                             "(default 14; shorter is faster, see benchmarks/province.py)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from analytics.detectors.base import InputError
    from data.scoring import ScoringInputError

    try:
        if args.calibrate_on:
            return _calibrate(args)
        if args.db:
            if args.readings or args.out:
                raise UserError("use either --db or --readings/--stations/--out, not both")
            return _score_db(args)
        if not (args.readings and args.stations and args.out):
            raise UserError("need --readings, --stations and --out (or --db PATH)")
        return _score_files(args)
    except (InputError, ScoringInputError) as exc:
        raise UserError(str(exc)) from None


def _score_files(args) -> int:
    from analytics.pipeline import at_capacity, load_pipeline, score_blocks
    from data.scoring import read_readings_file, read_stations_file, write_results

    t0 = time.perf_counter()
    readings = read_readings_file(args.readings)
    stations = read_stations_file(args.stations)
    pipe = at_capacity(load_pipeline(args.pipeline), _air_capacity())
    if args.workers or args.scheduler:
        from envtrust.distributed import score_distributed

        with _dask_client(args) as client, _progress_bar(args) as bar:
            result = score_distributed(readings, stations, pipe, root=args.partitions, client=client,
                                       n_workers=args.workers or 2, progress=bar)
    else:
        with _progress_bar(args) as bar:
            result = score_blocks(readings, stations, pipe, progress=bar and (lambda _b: bar(None, None)),
                                  threads=_score_threads())
    s_path, e_path = write_results(args.out, result.scores, result.events)
    dt = time.perf_counter() - t0
    if not args.quiet:
        print(f"scored {len(result.scores):,} readings from {result.scores['station_id'].nunique()} stations "
              f"in {dt:.1f} s; {len(result.events)} events")
        for kind, n in result.events["kind"].value_counts().items():
            print(f"  {kind:12s} {n}")
        print(f"wrote {s_path} and {e_path}")
    return 0


def _air_capacity() -> float:
    """The analysts' capacity for the air network (settings): the operating point of the run."""
    from envtrust.settings import load_settings

    return load_settings().analyst_capacity["air"]


def _score_threads() -> int:
    """Blocks scored at once in this process (settings ``score_threads``)."""
    from envtrust.settings import load_settings

    return load_settings().score_threads


def _score_db(args) -> int:
    from data.store import connect
    from envtrust.scoring import score_new_readings, score_store

    if not Path(args.db).exists():
        raise UserError(f"no envtrust store at {args.db}; build one with `envtrust demo` or `envtrust ingest`")
    if args.context_days <= 0:
        raise UserError(f"--context-days must be positive, not {args.context_days}")
    if args.max_block_rows is not None and (args.new or args.last_days):
        raise UserError("--max-block-rows scores the whole store; it takes no --new or --last-days")
    if args.new and (args.last_days or args.workers or args.scheduler):
        raise UserError("--new scores what arrived since the last run in process; it takes no --last-days, "
                        "--workers or --scheduler")
    con = connect(args.db)
    if args.new:
        try:
            summary = score_new_readings(con, pipeline=args.pipeline, progress=not args.quiet,
                                         context_days=args.context_days, capacity=_air_capacity())
        finally:
            con.close()
        if not args.quiet:
            print("nothing new to score" if summary is None else
                  f"run {summary.run_id}: scored {summary.readings:,} new readings in {summary.seconds:.1f} s; "
                  f"{summary.events} events from the window ({summary.events_kept_status} kept their review status); "
                  f"isolation forests: {summary.forests_kept} kept, {summary.forests_fitted} fitted")
        return 0
    try:
        with _dask_client(args) as client:
            summary = score_store(con, pipeline=args.pipeline, progress=not args.quiet, last_days=args.last_days,
                                  client=client, partitions=args.partitions,
                                  n_workers=args.workers if args.workers else None, capacity=_air_capacity(),
                                  max_block_rows=args.max_block_rows, threads=_score_threads())
    finally:
        con.close()
    if not args.quiet:
        print(f"run {summary.run_id}: scored {summary.readings:,} readings from {summary.stations} stations in "
              f"{summary.seconds:.1f} s; {summary.events} events ({summary.events_kept_status} kept their review status)")
    return 0


@contextlib.contextmanager
def _dask_client(args):
    """A client of the scheduler at --scheduler (None without one: in process, or a LocalCluster of
    --workers made by the distributed run itself)."""
    if not args.scheduler:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise UserError("--scheduler needs dask.distributed: pip install 'envtrust[distributed]'") from None
    try:
        client = Client(args.scheduler, timeout="20s")
    except OSError as exc:
        raise UserError(f"cannot reach the Dask scheduler at {args.scheduler}: {exc}") from None
    if not args.quiet:
        print(f"Dask scheduler {args.scheduler}; dashboard {client.dashboard_link}", flush=True)
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def _progress_bar(args):
    """A tqdm bar over the scored blocks, as a callable (done, total) (None with --quiet)."""
    if args.quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="scoring blocks", unit="block")

    def tell(done, total) -> None:
        if total is not None:
            bar.total = total
            bar.n = done
            bar.refresh()
        else:
            bar.update(1)

    try:
        yield tell
    finally:
        bar.close()


def _calibrate(args) -> int:
    from analytics.pipeline import PIPELINE_DIR, calibrate
    from data.scoring import read_readings_file, read_stations_file

    if not args.stations:
        raise UserError("--calibrate-on needs --stations")
    readings = read_readings_file(args.calibrate_on)
    stations = read_stations_file(args.stations)
    cal = calibrate(readings, stations, args.pipeline)
    name = Path(args.pipeline)
    target = name.with_name(name.stem + ".calibration.json") if name.suffix == ".toml" \
        else PIPELINE_DIR / f"{args.pipeline}.calibration.json"
    target.write_text(json.dumps(cal, indent=1), encoding="utf-8")
    if not args.quiet:
        print(f"calibrated {len(cal['models'])} models on {cal['readings']:,} readings "
              f"({cal['station_months']:.0f} station-months); event threshold {cal['event_threshold']}; wrote {target}")
    return 0
