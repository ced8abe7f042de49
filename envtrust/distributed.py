"""Score on Dask the way a cluster does it: the readings live as date- and network-partitioned
Parquet (:mod:`data.partitions`, any fsspec path the workers can reach), the driver plans blocks
from a summary of that export (:func:`analytics.pipeline.blocks.plan_blocks`, the same plan the
single-process :func:`analytics.pipeline.score_blocks` makes), and each worker reads only its own
block's rows, scores them and writes the block's scores and events as Parquet under a stable name
(idempotent: a retried task rewrites the same files). The driver then reads the finished blocks
in plan order.

The pipeline, with its clean-data calibration and combiners, is loaded once by the driver and
broadcast to every worker. Networks that self-calibrate per run (water, outlets) do so per block,
exactly as the single-process run does with the same plan, so the distributed result equals the
single-process one (tested on the sample, to the last bit of every score). A block's time range
carries the halo of the plan (the family's whole span when it fits one panel, else 14 days either
side of a 90-day window - longer than the longest detector look-back, the 10-day drift window).

Finished blocks are not redone (their ``_SUCCESS`` marker is checked before submitting), so an
interrupted run resumes; a failing block raises :class:`BlockFailed` naming its network, time
block and stations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analytics.detectors.base import validate_readings, validate_stations
from analytics.events import EVENT_COLUMNS
from analytics.pipeline import Pipeline, ScoreResult, fit_fingerprint, load_pipeline
from analytics.pipeline.blocks import (
    DETECTOR_THREADS,
    Block,
    block_inner_threads,
    blocks_in_threads,
    join_results,
    longest_first,
    plan_blocks,
    score_block,
    split_station_groups,
)
from data.partitions import (
    block_done,
    export_signature,
    keep_blocks_only_for,
    read_block,
    read_block_rows,
    readings_summary_from_parquet,
    write_block,
)

# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which switches off glibc's
# growing mmap threshold: every array over 128 kB is then mapped fresh and unmapped when freed, and
# the engine's temporaries fault in page by page - 3.16 M minor faults and 6.5 s of system time for
# three slice blocks against 0.17 M and 0.9 s in one process (a worker spent ~25 % more CPU on the
# same blocks). Unset, a worker allocates like a plain Python process.
WORKER_MALLOC_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
# a worker is one core (one task, one detector thread); a cluster scales by workers, so a second
# thread per task would only oversubscribe the cores the other workers use
WORKER_TASK_THREADS = 1


class BlockFailed(RuntimeError):
    """A block could not be scored; the message names the stations and the time block."""


def describe_block(block: Block, station_ids: list[str]) -> str:
    """Network, time block and (up to 10) stations of a block, for error messages and progress."""
    ids = sorted(set(station_ids))
    more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    return (f"network {block.family}, {block.read_from:%Y-%m-%d %H:%M} to {block.read_to:%Y-%m-%d %H:%M} "
            f"({len(ids)} stations: {', '.join(ids[:10])}{more})")


def run_block(root: str, block: Block, stations: pd.DataFrame, pipe: Pipeline, threads: int = DETECTOR_THREADS) -> str:
    """Worker task: read the block's rows from Parquet, score them (``threads`` detectors at
    once), write the outputs. Returns the block's name."""
    rows = read_block_rows(root, block)
    try:
        r = validate_readings(rows, stations)
        res = score_block(r, stations, pipe, block, threads)
    except Exception as exc:  # noqa: BLE001 - re-raised with the block named
        raise BlockFailed(f"block {block.name} failed ({describe_block(block, rows['station_id'].unique().tolist())}): "
                          f"{type(exc).__name__}: {exc}") from exc
    write_block(root, block, None if res is None else res.scores, None if res is None else res.events)
    return block.name


@dataclass(frozen=True)
class DistributedRun:
    result: ScoreResult | None  # None with collect=False: the outputs stay in the block files
    blocks: int
    resumed: int  # blocks found finished and not redone
    plan: tuple[Block, ...] = ()


def score_parquet(root: str, stations: pd.DataFrame, pipeline: Pipeline | str = "default", *,
                  client=None, n_workers: int = 2, progress: Callable[[int, int], None] | None = None,
                  window_days: int = 90, halo_days: int = 14, max_cells: int | None = None,
                  max_block_rows: int | None = None, collect: bool = True,
                  threads: int = DETECTOR_THREADS) -> DistributedRun:
    """Score the readings exported under ``root`` (:func:`data.partitions.export_readings`) on a
    Dask cluster: ``client`` (e.g. ``Client("tcp://host:8786")``) or a LocalCluster of
    ``n_workers``; ``n_workers=0`` without a client runs the same block tasks one after another
    in this process (the single-process run in bounded memory), ``threads`` blocks at a time
    (:func:`analytics.pipeline.blocks.blocks_in_threads`; memory grows with it) and ``threads``
    detectors at a time within a block (a worker's task runs one: :data:`WORKER_TASK_THREADS`). ``progress(done,
    total)`` is told each finished block.

    ``max_block_rows``: cut large air blocks into station groups with a neighbour halo
    (:func:`analytics.pipeline.blocks.split_station_groups`) so no block reads more rows.
    ``collect=False`` leaves the results in the block files (``result`` is None; a province's
    year does not fit memory as one frame): load them with :func:`load_blocks_into_store`."""
    pipe = load_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    st = validate_stations(stations)
    plan = block_plan(root, st, window_days, halo_days, max_cells, max_block_rows)
    key = hashlib.sha256(f"{export_signature(root)}|{fit_fingerprint(pipe)}|{pipe!r}|{plan!r}".encode()).hexdigest()
    keep_blocks_only_for(root, key)
    todo = [b for b in plan if not block_done(root, b)]
    done = len(plan) - len(todo)
    if client is None and n_workers == 0:
        inner = block_inner_threads(threads, len(todo))
        for _b, _name in blocks_in_threads(todo, lambda b: run_block(root, b, st, pipe, inner), threads):
            done += 1
            if progress is not None:
                progress(done, len(plan))
    elif todo:
        finished = iter(range(done + 1, len(plan) + 1))
        _run_on_dask(root, todo, st, pipe, client, n_workers,
                     lambda: progress is not None and progress(next(finished), len(plan)))
    result = None
    if collect:
        parts = []
        for b in plan:
            out = read_block(root, b)
            parts.append(None if out is None else ScoreResult(scores=out[0], events=out[1]))
        result = join_results(parts)
    return DistributedRun(result, blocks=len(plan), resumed=len(plan) - len(todo), plan=tuple(plan))


def block_plan(root: str, stations: pd.DataFrame, window_days: int = 90, halo_days: int = 14,
               max_cells: int | None = None, max_block_rows: int | None = None) -> list[Block]:
    """The blocks of the export under ``root``: :func:`plan_blocks`, then (with ``max_block_rows``)
    large air blocks cut into station groups with their neighbour halo."""
    summary = readings_summary_from_parquet(root)
    plan = plan_blocks(summary, window_days, halo_days, max_cells)
    if max_block_rows is not None:
        plan = split_station_groups(plan, summary, stations, max_block_rows)
    return plan


def local_cluster(n_workers: int):
    """A LocalCluster of ``n_workers`` single-threaded worker processes that allocate memory like
    a plain process (:data:`WORKER_MALLOC_CONFIG`)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set(WORKER_MALLOC_CONFIG):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)


def _run_on_dask(root: str, todo: list[Block], st: pd.DataFrame, pipe: Pipeline, client, n_workers: int,
                 tell: Callable[[], object]) -> None:
    """Submit the blocks to the cluster (a LocalCluster of ``n_workers`` when ``client`` is None) and wait."""
    from dask.distributed import Client, as_completed

    own = client is None
    cluster = None
    if own:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    try:
        pipe_f = client.scatter(pipe, broadcast=True)
        st_f = client.scatter(st, broadcast=True)
        # the longest blocks first (a year of water sections is one block), so none is left alone at the end
        futures = [client.submit(run_block, root, b, st_f, pipe_f, WORKER_TASK_THREADS, key=f"envtrust-block-{b.name}", pure=False,
                                 priority=-i) for i, b in enumerate(sorted(todo, key=longest_first))]
        for fut in as_completed(futures):
            fut.result()  # raises BlockFailed with the block named
            tell()
    finally:
        if own:
            client.close()
            cluster.close()


def load_blocks_into_store(con, root: str, plan: list[Block], run_id: str) -> tuple[int, int, int]:
    """Replace the store's scores and events with the finished blocks' outputs, one block's scores
    at a time (bounded memory; a block's model columns become the same ``model_scores`` JSON as
    :func:`data.scoring.save_scores` writes). Returns (scores, events, events whose review
    status was carried over)."""
    from data.scoring import append_scores, save_events

    n_scores, events = 0, []
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM scores")
        for b in plan:
            out = read_block(root, b)
            if out is None:
                continue
            n_scores += append_scores(con, out[0], run_id)
            if not out[1].empty:
                events.append(out[1])
        ev = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=EVENT_COLUMNS)
        n_events, kept = save_events(con, ev[EVENT_COLUMNS], run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return n_scores, n_events, kept


def score_distributed(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
                      root: str | None = None, n_workers: int = 2, client=None, **kw) -> ScoreResult:
    """Readings in memory (the file contract): export them once to ``root`` (a temporary folder
    when None), then :func:`score_parquet`."""
    import tempfile

    from data.partitions import export_frame

    st = validate_stations(stations)
    r = validate_readings(readings, st)
    if root is None:
        with tempfile.TemporaryDirectory(prefix="envtrust-dist-") as tmp:
            export_frame(r, st, tmp)
            return score_parquet(tmp, st, pipeline, client=client, n_workers=n_workers, **kw).result
    export_frame(r, st, root)
    return score_parquet(root, st, pipeline, client=client, n_workers=n_workers, **kw).result
