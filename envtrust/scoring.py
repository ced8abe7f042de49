"""Store scoring: read the store's readings, run the pipeline, save scores and events (one run).

The orchestration of the application layer: the SQL is in :mod:`data.scoring`, the engine in
:mod:`analytics.pipeline`.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analytics.detectors.iforest import FOREST_FORMAT, StationForest, forest_from_bytes, forest_to_bytes
from analytics.pipeline import at_capacity, fit_fingerprint, load_pipeline, score_blocks
from analytics.pipeline.run import DETECTOR_THREADS
from analytics.verdicts import fit_verdicts
from data.scoring import (
    ScoringInputError,
    batches_span,
    committed_batches,
    has_scored,
    latest_reading_ts,
    load_readings,
    load_station_fits,
    load_station_table,
    load_verdict_labels,
    new_run_id,
    record_scoring_state,
    save_run,
    save_station_fits,
    save_window,
    unscored_batches,
)
from envtrust import __version__
from envtrust.alarms import raise_alarms

#: a kept isolation forest is refitted once the hours being scored are this many days (times a
#: per-station factor in [1, 2), see :func:`forest_refit_due`) past the end of its fit window
FOREST_REFIT_DAYS = 7.0


@dataclass(frozen=True)
class StoreScoreSummary:
    run_id: str
    readings: int
    stations: int
    events: int
    events_kept_status: int
    seconds: float
    alarms: str = ""
    forests_fitted: int = 0  # stations whose isolation forest this run fitted (and kept)
    forests_kept: int = 0  # kept forests the run could apply instead of refitting


def score_store(con: duckdb.DuckDBPyConnection, pipeline="default", progress: bool = True,
                last_days: float | None = None, context_days: float = 14.0, *, client=None,
                n_workers: int | None = None, partitions: str | None = None,
                capacity: float | None = None, max_block_rows: int | None = None,
                threads: int = DETECTOR_THREADS) -> StoreScoreSummary:
    """Score the store's readings and replace the scores/events tables (one run).

    ``last_days`` limits the run to the most recent days before the store's latest reading, as a
    monitoring centre re-scores its recent window rather than years of history; ``context_days``
    of earlier data are read as context (rolling levels, drift windows) but not saved.
    Timestamps stay UTC (the store's clock). Stations are scored together so neighbours are
    available; event review statuses of events that persist are carried over.

    With a Dask ``client`` (or ``n_workers`` for a LocalCluster) the readings are exported as
    partitioned Parquet under ``partitions`` (a temporary folder when None) and scored by the
    workers (:mod:`envtrust.distributed`); the result is the same as in process.

    ``capacity``: the analysts' capacity for the air network (events per station-month, settings
    ``analyst_capacity["air"]``); the calibrated event thresholds follow it
    (:func:`analytics.pipeline.at_capacity`). None keeps the calibration's own budget.

    ``max_block_rows``: a store too large for memory (a province's year): the readings go through
    partitioned Parquet, air blocks larger than this are cut into station groups with a neighbour
    halo, the blocks are scored in this process (or on ``client`` / ``n_workers``) one at a time,
    and their outputs are loaded block by block (``docs/distributed.md``). No forests are kept, as
    in any run on Dask; it scores the whole store (no ``last_days``).

    ``threads``: blocks scored at once in this process (settings ``score_threads``); the same
    result for any number (:func:`analytics.pipeline.blocks.blocks_in_threads`).
    """
    t0 = time.perf_counter()
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    pipe = at_capacity(pipe, capacity)
    pipe = replace(pipe, verdicts=fit_verdicts(load_verdict_labels(con)))  # analysts' verdicts teach the run
    stations = load_station_table(con)
    cutoff = None
    if last_days is not None:
        if last_days <= 0:
            raise ScoringInputError(f"last_days must be positive, not {last_days}")
        latest = latest_reading_ts(con)
        if latest is not None:
            cutoff = pd.Timestamp(latest) - pd.Timedelta(days=last_days)
    start = None if cutoff is None else (cutoff - pd.Timedelta(days=context_days)).to_pydatetime()
    batches = committed_batches(con)  # listed before the read: every one of them is in it
    if max_block_rows is not None:
        if cutoff is not None:
            raise ScoringInputError("a run in station-group blocks scores the whole store; it takes no last_days")
        return _score_store_in_blocks(con, stations, pipe, client, n_workers or 0, partitions, progress,
                                      max_block_rows, batches, t0, threads)
    if client is not None or n_workers:
        result = _score_on_dask(con, stations, pipe, start, client, n_workers or 2, partitions, progress)
        n_read, n_stations = len(result.scores), int(result.scores["station_id"].nunique())
    else:
        readings = load_readings(con, start=start)
        if readings.empty:
            raise ScoringInputError("the store has no readings to score; ingest some first")
        n_read, n_stations = len(readings), int(readings["station_id"].nunique())
        if progress:
            window = "" if cutoff is None else f" (saving from {cutoff:%Y-%m-%d %H:%M} UTC on)"
            print(f"scoring {n_read:,} readings from {n_stations} stations{window} ...", flush=True)
        with _bar(progress) as tell:
            result = score_blocks(readings, stations, pipe, progress=tell, threads=threads, scores_from=cutoff)
        del readings
    if cutoff is not None:
        result = replace(result, scores=result.scores[result.scores["ts"] >= cutoff].reset_index(drop=True),
                         events=result.events[result.events["end"] >= cutoff].reset_index(drop=True))
    run_id = new_run_id()
    n_scores, n_events, kept = save_run(con, result.scores, result.events, run_id)
    record_scoring_state(con, batches, cutoff if cutoff is None else cutoff.to_pydatetime(),
                         _max_ts(result.scores), run_id, "full")
    n_fitted = save_station_fits(con, "iforest", forest_engine_version(pipe), forests_frame(result.forests), run_id)
    alarms = raise_alarms(con, run_id=run_id, since=None if cutoff is None else cutoff.to_pydatetime())
    return StoreScoreSummary(run_id=run_id, readings=n_scores, stations=n_stations,
                             events=n_events, events_kept_status=kept, seconds=time.perf_counter() - t0,
                             alarms=str(alarms), forests_fitted=n_fitted)


def score_new_readings(con: duckdb.DuckDBPyConnection, pipeline="default", context_days: float = 14.0,
                       progress: bool = False, refit_days: float = FOREST_REFIT_DAYS,
                       capacity: float | None = None) -> StoreScoreSummary | None:
    """Score only what arrived since the last run (None when nothing did).

    The readings of committed ingest batches no run has read yet (live HJ 212 hours, a new file,
    a resent backlog) decide the window: from their earliest hour on, scores are replaced and
    events reaching it are extended, closed or opened (:func:`data.scoring.save_window`; review
    statuses kept); ``context_days`` before it are read as the detectors' look-back (rolling
    levels, robust scales, drift windows) but not saved. History before the window is neither
    read nor re-scored. Needs one earlier full run (``envtrust score --db``), whose calibration
    the store's history defines.

    Each station's isolation forest kept in the store (fitted by an earlier run on its history) is
    applied to the window instead of being refitted; a station without one, or whose fit is
    older than ``refit_days`` (staggered per station, :func:`forest_refit_due`) or of another
    engine version, is fitted on its rows here and the fit kept. ``refit_days <= 0`` refits all.
    """
    if not has_scored(con):
        raise ScoringInputError("the store has not been scored yet: run `envtrust score --db` once first")
    t0 = time.perf_counter()
    batches = unscored_batches(con)
    if not batches:
        return None
    n_new, first, _last = batches_span(con, batches)
    if n_new == 0:  # batches that stored nothing (all duplicates or quarantined)
        record_scoring_state(con, batches, None, None, "", "incremental")
        return None
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    pipe = at_capacity(pipe, capacity)  # the operating point, as in score_store
    pipe = replace(pipe, verdicts=fit_verdicts(load_verdict_labels(con)))  # analysts' verdicts teach the run
    since = pd.Timestamp(first).floor("h")
    version = forest_engine_version(pipe)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="envtrust-read") as pool:
        # the window is read (DuckDB works without the GIL) while the kept forests are decoded:
        # 2,098 stations' forests take ~2 s of CPU in this thread, the read ~1.5 s
        reading = pool.submit(_window_readings, con, (since - pd.Timedelta(days=context_days)).to_pydatetime())
        kept_forests = {} if refit_days <= 0 else current_forests(load_station_fits(con, "iforest", version), since,
                                                                  refit_days)
        readings = reading.result()
    pipe = replace(pipe, kept_forests=kept_forests)
    stations = load_station_table(con)
    if progress:
        print(f"scoring {n_new:,} new readings from {since:%Y-%m-%d %H:%M} UTC on "
              f"({len(readings):,} read with {context_days:g} days of context) ...", flush=True)
    result = score_blocks(readings, stations, pipe, scores_from=since)
    n_stations = int(readings["station_id"].nunique())
    del readings
    run_id = new_run_id()
    n_scores, n_events, kept = save_window(con, result.scores, result.events, run_id, since.to_pydatetime())
    record_scoring_state(con, batches, since.to_pydatetime(), _max_ts(result.scores), run_id, "incremental")
    n_fitted = save_station_fits(con, "iforest", version, forests_frame(result.forests), run_id)
    alarms = raise_alarms(con, run_id=run_id, since=since.to_pydatetime())
    return StoreScoreSummary(run_id=run_id, readings=n_scores, stations=n_stations, events=n_events,
                             events_kept_status=kept, seconds=time.perf_counter() - t0, alarms=str(alarms),
                             forests_fitted=n_fitted, forests_kept=len(kept_forests))


def forest_engine_version(pipe) -> str:
    """What a kept isolation forest depends on besides its station's data: the envtrust version, the
    forest's storage format, scikit-learn (the tree builder) and the pipeline's fit fingerprint
    (detectors, their parameters, the neighbour panel). A kept forest of another version is refitted."""
    import sklearn

    return f"envtrust {__version__}; forest {FOREST_FORMAT}; scikit-learn {sklearn.__version__}; {fit_fingerprint(pipe)}"


def forest_refit_due(station_ids, fit_to: pd.Series, since: pd.Timestamp, refit_days: float) -> np.ndarray:
    """Bool per station: its kept forest's fit window ended at least ``refit_days`` x (1 + u) days
    before ``since``, u in [0, 1) fixed per station (crc32 of its id).

    Why staggered: a full run fits every station at once; a common age limit would refit all
    2,000 stations of a province in the same hour a week later (minutes of CPU in one run). Spread
    over a second week, about 1/168 of them refit in any hour, and stay spread."""
    u = np.array([zlib.crc32(str(s).encode("utf-8")) / 2**32 for s in station_ids])
    age_days = (since - pd.to_datetime(fit_to)).dt.total_seconds().to_numpy() / 86_400.0
    return age_days >= refit_days * (1.0 + u)


def current_forests(fits: pd.DataFrame, since: pd.Timestamp, refit_days: float) -> dict[str, StationForest]:
    """station_id -> kept forest for the stations whose fit is not due (:func:`forest_refit_due`);
    a fit that cannot be read (damaged, another layout) is left out, so the station is refitted."""
    if fits.empty:
        return {}
    keep = fits[~forest_refit_due(fits["station_id"], fits["fit_to"], since, refit_days)]
    out = {}
    for sid, blob in zip(keep["station_id"], keep["fit"], strict=True):
        try:
            out[sid] = forest_from_bytes(bytes(blob))
        except ValueError:
            continue
    return out


def forests_frame(forests: dict[str, StationForest]) -> pd.DataFrame:
    """The forests a run fitted as rows for :func:`data.scoring.save_station_fits`."""
    return pd.DataFrame({"station_id": list(forests), "fit_from": [f.fit_from for f in forests.values()],
                         "fit_to": [f.fit_to for f in forests.values()],
                         "fit_rows": [f.rows for f in forests.values()],
                         "fit": [forest_to_bytes(f) for f in forests.values()]})


def _window_readings(con: duckdb.DuckDBPyConnection, start) -> pd.DataFrame:
    """The readings from ``start`` on, on a cursor of its own (for a thread beside ``con``'s user)."""
    cur = con.cursor()
    try:
        return load_readings(cur, start=start)
    finally:
        cur.close()


def _max_ts(scores: pd.DataFrame):
    return None if scores.empty else pd.Timestamp(scores["ts"].max()).to_pydatetime()


@contextlib.contextmanager
def _bar(enabled: bool):
    """A tqdm bar over scored blocks, as a callable told each finished block (None when quiet)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="scoring blocks", unit="block")
    try:
        yield lambda _block: bar.update(1)
    finally:
        bar.close()


def _score_store_in_blocks(con, stations: pd.DataFrame, pipe, client, n_workers: int, partitions: str | None,
                           progress: bool, max_block_rows: int, batches: list[int], t0: float,
                           threads: int) -> StoreScoreSummary:
    """:func:`score_store` in bounded memory: export, score the blocks (station groups), load them block by block."""
    import tempfile

    from data.partitions import export_readings
    from envtrust.distributed import load_blocks_into_store, score_parquet

    run_id = new_run_id()

    def run(root: str):
        n = export_readings(con, root)
        if n == 0:
            raise ScoringInputError("the store has no readings to score; ingest some first")
        if progress:
            where = "in this process" if client is None and n_workers == 0 else "on Dask"
            print(f"scoring {n:,} readings {where} in blocks of <= {max_block_rows:,} rows (Parquet under {root}) ...",
                  flush=True)
        with _bar(progress) as tell:
            out = score_parquet(root, stations, pipe, client=client, n_workers=n_workers, max_block_rows=max_block_rows,
                                collect=False, progress=tell and (lambda done, total: tell(None)), threads=threads)
        return load_blocks_into_store(con, root, list(out.plan), run_id)

    if partitions is not None:
        n_scores, n_events, kept = run(partitions)
    else:
        with tempfile.TemporaryDirectory(prefix="envtrust-score-") as tmp:
            n_scores, n_events, kept = run(tmp)
    n_stations, last = con.execute("SELECT count(DISTINCT station_id), max(ts) FROM scores").fetchall()[0]
    record_scoring_state(con, batches, None, last, run_id, "full")
    alarms = raise_alarms(con, run_id=run_id, since=None)
    return StoreScoreSummary(run_id=run_id, readings=n_scores, stations=int(n_stations), events=n_events,
                             events_kept_status=kept, seconds=time.perf_counter() - t0, alarms=str(alarms))


def _score_on_dask(con, stations: pd.DataFrame, pipe, start, client, n_workers: int, partitions: str | None,
                   progress: bool):
    """Export the window as partitioned Parquet and score it on Dask (see :mod:`envtrust.distributed`)."""
    import tempfile

    from data.partitions import export_readings
    from envtrust.distributed import score_parquet

    def run(root: str):
        n = export_readings(con, root, start=start)
        if n == 0:
            raise ScoringInputError("the store has no readings to score; ingest some first")
        if progress:
            print(f"scoring {n:,} readings on Dask (Parquet under {root}) ...", flush=True)
        with _bar(progress) as tell:
            out = score_parquet(root, stations, pipe, client=client, n_workers=n_workers,
                                progress=tell and (lambda done, total: tell(None)))
        return out.result

    if partitions is not None:
        return run(partitions)
    with tempfile.TemporaryDirectory(prefix="envtrust-score-") as tmp:
        return run(tmp)
