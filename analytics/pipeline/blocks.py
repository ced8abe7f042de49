"""Block scoring: a store-sized mix of networks and years, scored per network family and, where
one dense panel would be too big or mostly empty, in time windows (:func:`score_blocks`).

The cut is a plan of :class:`Block` values (:func:`plan_blocks`), made from a summary of the
readings (:func:`readings_summary`) - not from the readings themselves - so the distributed run
(:mod:`envtrust.distributed`) makes the same plan from Parquet metadata and every worker reads
only its own block's rows. Scoring the same plan in one process or on many workers gives the same
result, block by block.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from analytics.detectors.base import InputError, validate_readings, validate_stations
from analytics.events import EVENT_COLUMNS
from analytics.pipeline.config import Pipeline
from analytics.pipeline.load import load_pipeline
from analytics.pipeline.run import DETECTOR_THREADS, ScoreResult, score_partition
from geo.neighbours import nearest_neighbours

MAX_PANEL_CELLS = 60_000_000  # ~0.5 GB per float64 array; above this the run is cut into time windows
SPARSE_MIN_CELLS = 5_000_000  # ... and so is a panel this big that is less than SPARSE_FILL full
SPARSE_FILL = 0.25
SPARSE_WINDOW_DAYS = 7
SPARSE_HALO_DAYS = 3
DENSE_COVER = 0.5  # share of a family's hours a station must report to count as long-running
T = TypeVar("T")
FAMILY = {"air_station": "air", "air_micro": "air", "water_section": "water", "polluter_outlet": "polluter"}


@dataclass(frozen=True)
class Block:
    """One scoring task: the ``family``'s readings in [``read_from``, ``read_to``] (of ``stations``
    only, when given), scored together; the scores with ts in [``keep_from``, ``keep_to``] and the
    events starting there are kept, of ``keep_stations`` only when given."""

    family: str
    read_from: pd.Timestamp
    read_to: pd.Timestamp
    keep_from: pd.Timestamp
    keep_to: pd.Timestamp
    stations: tuple[str, ...] | None = None
    keep_stations: tuple[str, ...] | None = None
    group: int | None = None  # the station group of a block cut by :func:`split_station_groups`
    id_ranges: tuple[tuple[str, str], ...] | None = None  # ``stations`` as runs of the family's sorted ids

    @property
    def name(self) -> str:
        """A stable file-name-safe id (the same plan gives the same names: idempotent outputs)."""
        if self.group is not None:
            return f"{self.family}-{self.keep_from:%Y%m%dT%H}-{self.keep_to:%Y%m%dT%H}-group{self.group:04d}"
        part = "dense" if self.stations is not None else ("sparse" if self.keep_stations is not None else "all")
        return f"{self.family}-{self.keep_from:%Y%m%dT%H}-{self.keep_to:%Y%m%dT%H}-{part}"


def station_family(stations: pd.DataFrame) -> pd.Series:
    """station_id -> network family (air incl. micro-stations, water, polluter; 'other')."""
    return stations.set_index("station_id")["kind"].map(FAMILY).fillna("other")


def readings_summary(readings: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Per family and station: first and last ts, distinct hours, rows and the family's distinct
    parameters (a sorted tuple per station) - everything :func:`plan_blocks` needs (the distributed run computes the same table
    with SQL over the Parquet export).

    Grouped on integer codes of the station ids and parameters, not on the strings: the demo air
    window's summary took 0.34 s CPU grouped by (family, station_id) strings, this 0.10 s."""
    codes, ids = pd.factorize(readings["station_id"])
    by_code = pd.DataFrame({"code": codes, "ts": readings["ts"].to_numpy()}).groupby("code", sort=False)["ts"]
    stats = by_code.agg(["min", "max", "nunique", "size"])
    seen = stats.index.to_numpy()
    per_station = pd.DataFrame({"family": ids.map(station_family(stations)), "station_id": ids}).iloc[seen]
    per_station = per_station.reset_index(drop=True).assign(
        first_ts=stats["min"].to_numpy(), last_ts=stats["max"].to_numpy(),
        hours=stats["nunique"].to_numpy(), rows=stats["size"].to_numpy())
    # distinct (station, parameter) pairs first: a per-station Python set over every row took
    # 1.7 s CPU for 1,400 stations x 14 days
    p_codes, p_names = pd.factorize(readings["parameter"])
    pairs = np.unique(codes.astype(np.int64) * len(p_names) + p_codes)
    names = np.asarray(p_names, dtype=object)
    params = {int(c): tuple(sorted(names[p])) for c, p in pd.Series(pairs % len(p_names)).groupby(pairs // len(p_names))}
    per_station["parameters"] = [params[c] for c in seen]
    return per_station.sort_values(["family", "station_id"]).reset_index(drop=True)


def row_families(station_ids: pd.Series, stations: pd.DataFrame) -> np.ndarray:
    """Each row's network family (object array), mapped once per distinct station: mapping the
    demo air window's 0.8 M ids row by row took 0.14 s CPU."""
    codes, ids = pd.factorize(station_ids)
    return np.asarray(ids.map(station_family(stations)), dtype=object)[codes]


def plan_blocks(summary: pd.DataFrame, window_days: int = 90, halo_days: int = 14,
                max_cells: int | None = None) -> list[Block]:
    """The blocks of a store-sized mix: each network family separately, and within a family time
    windows (with ``halo_days`` of context on each side) whenever one dense panel would exceed
    ``max_cells``.

    Why: a store holds 4 years of 12 Beijing stations next to one day of 2,000 national stations
    and a year of outlets; one dense station x hour x parameter panel over all of it would need
    tens of GB although almost every cell is empty. When everything fits one panel (the file
    contract's usual case) there is one block per family.

    A mostly empty family whose long-running stations (data in at least ``DENSE_COVER`` of its
    hours) fit one panel scores those stations in one block - a 7-day window gives the rolling
    levels, robust scales and the isolation forest far less history than the calibration assumed,
    and raised the Beijing stations' events in the sample demo from 27 to 60 - and only the
    short-lived stations (the national day) in 7-day windows, with the long-running ones as context.
    """
    max_cells = MAX_PANEL_CELLS if max_cells is None else max_cells
    blocks: list[Block] = []
    for family, fs in summary.groupby("family", sort=True):
        t0, t1 = fs["first_ts"].min(), fs["last_ts"].max()
        hours = int((t1 - t0) / pd.Timedelta(hours=1)) + 1
        n_params = _n_parameters(fs)
        cells = len(fs) * hours * n_params
        rows = int(fs["rows"].sum())
        sparse = cells > SPARSE_MIN_CELLS and rows < SPARSE_FILL * cells
        if cells <= max_cells and not sparse:
            blocks.append(Block(family, t0, t1, t0, t1))
            continue
        wd, hd = (SPARSE_WINDOW_DAYS, SPARSE_HALO_DAYS) if sparse else (window_days, halo_days)
        halo, step = pd.Timedelta(days=hd), pd.Timedelta(days=wd)
        windows = [(a, min(a + step - pd.Timedelta(hours=1), t1)) for a in pd.date_range(t0.floor("D"), t1, freq=step)]
        keep = None
        if sparse:
            dense = _dense_stations(fs, hours, max_cells)
            if dense:
                blocks.append(Block(family, t0, t1, t0, t1, stations=tuple(sorted(dense))))
                keep = tuple(sorted(set(fs["station_id"]) - dense))
        own = fs if keep is None else fs[fs["station_id"].isin(keep)]
        for a, b in windows:
            lo, hi = (a - halo, b + halo) if len(windows) > 1 else (a, b)
            keep_from, keep_to = (a, b) if len(windows) > 1 else (lo, hi)
            if sparse:
                span = _own_span(own, lo, hi)
                if span is None:  # a window none of whose own stations reports is skipped
                    continue
                lo, hi = span
                if hi < keep_from or lo > keep_to:  # ... and one that would read only its halo
                    continue
            blocks.append(Block(family, lo, hi, keep_from, keep_to, keep_stations=keep))
    return blocks


GROUPED_FAMILIES = ("air",)  # families whose spatial neighbours are the k nearest (no river links)


def split_station_groups(plan: list[Block], summary: pd.DataFrame, stations: pd.DataFrame, max_rows: int,
                         k_neighbours: int = 8, max_distance_m: float = 80_000.0) -> list[Block]:
    """Cut each plain block of a large air family whose rows would exceed ``max_rows`` into
    spatial station groups: a group's block reads the group and its stations' ``k_neighbours``
    nearest stations within ``max_distance_m`` (the neighbour halo, the panel's own neighbour
    rule) and keeps only the group's scores, events and forests.

    Why: a province's year of ~2,000 stations is ~34 M readings per 90-day window; the engine
    needs ~1 kB per reading scored at once, so a window must be cut by stations as well as time
    to score in bounded memory. Groups are compact (recursive halving along the wider axis), so
    the halo is a thin ring. The spatial models see the same neighbours as in one panel; what is
    computed over the whole panel (robust scales and levels per run) is computed over the group
    and its halo, so scores may differ slightly from an uncut run."""
    out: list[Block] = []
    rows = summary.set_index("station_id")
    for block in plan:
        fam = rows[rows["family"] == block.family]
        est = _rows_in(fam, block.read_from, block.read_to)
        if (block.family not in GROUPED_FAMILIES or block.stations is not None
                or block.keep_stations is not None or est <= max_rows):
            out.append(block)
            continue
        st = stations[stations["station_id"].isin(set(fam.index))].dropna(subset=["lon", "lat"])
        halo_factor = 1.5  # a compact group's neighbour ring adds roughly half again (measured 1.3-1.6)
        groups = spatial_groups(st, int(np.ceil(est * halo_factor / max_rows)))
        nb = nearest_neighbours(st[["station_id", "lon", "lat"]], k=k_neighbours, max_distance_m=max_distance_m)
        nb_of = nb.groupby("station_id")["neighbour_id"].agg(list)
        family_ids = sorted(fam.index)
        for g, ids in enumerate(groups):
            ring = {n for sid in ids for n in nb_of.get(sid, [])} - set(ids)
            read = sorted(set(ids) | ring)
            out.append(replace(block, stations=tuple(read), keep_stations=tuple(sorted(ids)), group=g,
                               id_ranges=id_runs(read, family_ids)))
    return out


def id_runs(ids: list[str], family_ids: list[str]) -> tuple[tuple[str, str], ...]:
    """``ids`` as (first, last) runs of consecutive ids in the family's sorted ``family_ids``.

    Why: the Parquet export is sorted by station within each month, so a reader that filters on
    id ranges skips the row groups of other stations (Arrow prunes ranges by the row groups'
    statistics, not ``isin`` lists): a group's year read 3 M of 10 M rows in 1.4 s by ranges,
    2.8-4.5 s by ``isin``, and the full province's scan grows with its 100 M rows."""
    where = {sid: i for i, sid in enumerate(family_ids)}
    pos = sorted(where[s] for s in ids)
    runs, start = [], 0
    for k in range(1, len(pos) + 1):
        if k == len(pos) or pos[k] != pos[k - 1] + 1:
            runs.append((family_ids[pos[start]], family_ids[pos[k - 1]]))
            start = k
    return tuple(runs)


def spatial_groups(stations: pd.DataFrame, n_groups: int) -> list[list[str]]:
    """``n_groups`` compact groups of about equal size (station ids): the stations are halved
    along the wider extent (km) again and again, in proportion to the groups each half gets."""
    def cut(sub: pd.DataFrame, n: int) -> list[list[str]]:
        if n <= 1 or len(sub) <= 1:
            return [sorted(sub["station_id"])]
        x = sub["lon"].to_numpy() * np.cos(np.radians(sub["lat"].to_numpy().mean()))
        y = sub["lat"].to_numpy()
        order = np.argsort(x if np.ptp(x) >= np.ptp(y) else y, kind="stable")
        left = n // 2
        at = round(len(sub) * left / n)
        return cut(sub.iloc[order[:at]], left) + cut(sub.iloc[order[at:]], n - left)

    return [g for g in cut(stations.sort_values("station_id"), max(n_groups, 1)) if g]


def _rows_in(per_station: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    """Readings of a summary's stations in [lo, hi], assuming each station's rows spread evenly over its span."""
    span = (per_station["last_ts"] - per_station["first_ts"]) / pd.Timedelta(hours=1) + 1
    cover = ((per_station["last_ts"].clip(upper=hi) - per_station["first_ts"].clip(lower=lo))
             / pd.Timedelta(hours=1) + 1).clip(lower=0)
    return int((per_station["rows"] * (cover / span).clip(upper=1)).sum())


def _own_span(own: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The part of [lo, hi] where a sparse window's own stations report (None: they do not).

    Why: the national day's 1,486 stations report 24 hours; reading the whole 7-day window plus
    its halo made a 1,522 x 312-hour panel, 13 times the cells the day needs, and two thirds of the
    sample demo's scoring time. Hours where none of the block's own stations has data add nothing
    to their scores (their look-back is empty there). A window whose span lies wholly in its halo
    keeps nothing (no score or event of its own hours) and is not planned: the national day three
    days before a window boundary was otherwise scored twice, once for nothing."""
    hit = own[(own["first_ts"] <= hi) & (own["last_ts"] >= lo)]
    if hit.empty:
        return None
    return max(lo, hit["first_ts"].min()), min(hi, hit["last_ts"].max())


def _n_parameters(fs: pd.DataFrame) -> int:
    """Distinct parameters over the stations of a summary."""
    return len(set().union(*fs["parameters"]))


def _dense_stations(fs: pd.DataFrame, hours: int, max_cells: int) -> set[str]:
    """Long-running stations of a sparse family, if they fit one reasonably full panel (else none)."""
    cover = fs.set_index("station_id")["hours"] / max(hours, 1)
    dense = set(cover[cover >= DENSE_COVER].index)
    if not dense or len(dense) == cover.size:
        return set()
    d = fs[fs["station_id"].isin(dense)]
    d_cells = len(dense) * hours * _n_parameters(d)
    return dense if d_cells <= max_cells and d["rows"].sum() >= SPARSE_FILL * d_cells else set()


def block_readings(readings: pd.DataFrame, block: Block, row_family: np.ndarray) -> pd.DataFrame:
    """The rows of ``readings`` (validated) a block reads; ``row_family``: each row's network
    family (mapped once for all blocks: mapping 2.5 M station ids per block took 0.45 s a block)."""
    r = readings[(row_family == block.family)
                 & (readings["ts"] >= block.read_from).to_numpy() & (readings["ts"] <= block.read_to).to_numpy()]
    if block.stations is not None:
        r = r[r["station_id"].isin(set(block.stations))]
    return r


def score_block(rows: pd.DataFrame, stations: pd.DataFrame, pipe: Pipeline, block: Block,
                threads: int = DETECTOR_THREADS, scores_from: pd.Timestamp | None = None) -> ScoreResult | None:
    """Score one block's rows (``threads`` detectors at once) and keep what the block owns (see
    :class:`Block`); None when the block holds nothing of its own to score. ``rows`` are
    :func:`validate_readings`' output (the callers validate once for all blocks).
    ``scores_from``: scores of earlier hours are left out (:func:`score_partition`)."""
    if rows.empty or (block.keep_stations is not None and not rows["station_id"].isin(set(block.keep_stations)).any()):
        return None
    ids = set(rows["station_id"].unique())
    res = score_partition(rows, stations[stations["station_id"].isin(ids)], pipe, threads=threads, validated=True,
                          scores_from=scores_from)
    sc, ev, forests = res.scores, res.events, res.forests
    if (block.read_from, block.read_to) != (block.keep_from, block.keep_to):
        sc = sc[(sc["ts"] >= block.keep_from) & (sc["ts"] <= block.keep_to)]
        ev = ev[(ev["start"] >= block.keep_from) & (ev["start"] <= block.keep_to)]
    if block.keep_stations is not None:
        keep = set(block.keep_stations)
        sc, ev = sc[sc["station_id"].isin(keep)], ev[ev["station_id"].isin(keep)]
        forests = {k: f for k, f in forests.items() if k in keep}
    return ScoreResult(scores=sc, events=ev, forests=forests)


def join_results(parts: list[ScoreResult | None]) -> ScoreResult:
    """The blocks' results as one (in plan order): model columns a block lacks are 0; of a station's
    forests fitted in several time windows the one fitted up to the latest hour is kept."""
    parts = [p for p in parts if p is not None]
    if not parts:
        raise InputError("no readings to score")
    scores = pd.concat([p.scores for p in parts], ignore_index=True)
    model_cols = [c for c in scores.columns if c not in ("station_id", "ts", "parameter", "score")]
    scores[model_cols] = scores[model_cols].fillna(0.0)
    non_empty = [p.events for p in parts if not p.events.empty]
    events = pd.concat(non_empty, ignore_index=True) if non_empty else parts[0].events
    forests: dict = {}
    for p in parts:
        for station, forest in p.forests.items():
            if station not in forests or forest.fit_to >= forests[station].fit_to:
                forests[station] = forest
    return ScoreResult(scores=scores, events=events[EVENT_COLUMNS].reset_index(drop=True), forests=forests)


def blocks_in_threads(plan: list[Block], task: Callable[[Block], T], threads: int = 1) -> Iterator[tuple[Block, T]]:
    """``(block, task(block))`` for every block, ``threads`` blocks at a time, yielded as they
    finish (the caller puts them back in plan order). The longest blocks start first.

    Why threads: blocks are independent and the engine's numpy and scikit-learn work releases the
    GIL for much of its time, so two blocks at once use the second core without a second process's
    imports, pickling and memory (docs/distributed.md, "Two blocks at once"). ``threads=1`` runs
    them one after another in this thread. Each block's result depends only on its own rows, so it
    is the same bits in any order."""
    if threads <= 1 or len(plan) <= 1:
        for block in plan:
            yield block, task(block)
        return
    order = sorted(plan, key=longest_first)
    # the detectors silence RuntimeWarning inside warnings.catch_warnings, which swaps the process-wide
    # filter list: two blocks entering and leaving it at once would briefly drop (or leave behind)
    # each other's filter, so it is held here, around both, once
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=min(threads, len(plan)),
                                                       thread_name_prefix="envtrust-block") as pool:
        warnings.simplefilter("ignore", RuntimeWarning)
        futures = {pool.submit(task, b): b for b in order}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def longest_first(block: Block) -> tuple[bool, float]:
    """Sort key: a family's whole-span block (a year of water sections or outlets, one task) before
    station-group and time-window blocks, then the longer time range first - so no long block is
    left alone at the end of a run."""
    return block.stations is not None or block.keep_stations is not None, -(block.read_to - block.read_from).total_seconds()


def score_blocks(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
                 window_days: int = 90, halo_days: int = 14,
                 max_cells: int = MAX_PANEL_CELLS, progress=None, threads: int = DETECTOR_THREADS,
                 scores_from: pd.Timestamp | None = None) -> ScoreResult:
    """Score a mixed store-sized set block by block (:func:`plan_blocks`), ``threads`` blocks at
    a time (:func:`blocks_in_threads`) and ``threads`` detectors at a time within a block - the
    result is the same bits for any number; ``progress``: an optional callable told each finished
    :class:`Block`. ``scores_from``: the scores start at this hour (the readings before it are
    context; events are found over all of them, :func:`score_partition`)."""
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    st = validate_stations(stations)
    r = validate_readings(readings, st)
    if r.empty:
        raise InputError("no readings to score")
    row_family = row_families(r["station_id"], st)
    summary = readings_summary(r, st)
    plan = plan_blocks(summary, window_days, halo_days, max_cells)
    parts: dict[int, ScoreResult | None] = {}
    index = {id(b): i for i, b in enumerate(plan)}
    inner = dict(zip(map(id, plan), blocks_inner_threads(plan, summary, threads), strict=True))

    def task(b: Block) -> ScoreResult | None:
        return score_block(block_readings(r, b, row_family), st, pipe, b, inner[id(b)], scores_from)

    for block, res in blocks_in_threads(plan, task, threads):
        parts[index[id(block)]] = res
        if progress is not None:
            progress(block)
    return join_results([parts[i] for i in range(len(plan))])



def block_inner_threads(threads: int, n_blocks: int) -> int:
    """Threads inside each block (detectors, their pieces, the post-detector phases) when
    ``n_blocks`` blocks share ``threads`` block threads.

    Why: with more blocks than threads the blocks already keep every core busy, and threads
    inside them only contend for the GIL and the caches (the province slice's 14 blocks on 2
    cores: 81.6 s CPU with inner threads against 57.2 s without, benchmarks/results/score.md,
    session 10); with as many blocks as threads or fewer, a block keeps its inner threads for the
    time it runs alone (demo air's two unequal blocks: 9.4 s against 11.5 s without). Scores are
    the same bits either way."""
    return threads if n_blocks <= threads else 1


def blocks_inner_threads(plan: list[Block], summary: pd.DataFrame, threads: int) -> list[int]:
    """Threads inside each block of ``plan`` (:func:`block_inner_threads`), except that when a few
    blocks share the threads, only the biggest (most readings by ``summary``) keeps its inner
    threads and the others run theirs one at a time.

    Why: a run ends when its biggest block does. Demo air's dense block (623 k readings, ~80 % of
    the CPU) and the national day's (174 k) each with two inner threads shared the cores
    half and half, so the small block finished early and the dense block ran its remaining
    seconds alone, the second core idle in its serial stretches; with one thread the small block
    takes a third of the cores for longer and fills those stretches (benchmarks/results/score.md,
    session 12). Scores are the same bits either way."""
    inner = block_inner_threads(threads, len(plan))
    if len(plan) <= 1 or inner <= 1:
        return [inner] * len(plan)
    size = [block_rows(summary, b) for b in plan]
    biggest = size.index(max(size))
    return [inner if i == biggest else 1 for i in range(len(plan))]


def block_rows(summary: pd.DataFrame, block: Block) -> int:
    """Readings a block reads, estimated from the summary (each station's rows spread evenly over its span)."""
    fam = summary[summary["family"] == block.family]
    if block.stations is not None:
        fam = fam[fam["station_id"].isin(set(block.stations))]
    return _rows_in(fam, block.read_from, block.read_to)
