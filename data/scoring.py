"""Reading inputs for the plausibility engine and saving its results (files and the store).

All SQL of the engine lives here. The analytics side (``analytics.pipeline.score_partition``)
never touches files or the database.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


class ScoringInputError(ValueError):
    """An input file the engine cannot read; the message says which and why."""


# ---------------------------------------------------------------- files

def read_readings_file(path: str | Path) -> pd.DataFrame:
    """Long readings from Parquet or CSV (station_id, ts, parameter, value[, flag]); values kept raw
    (strings are checked later by ``analytics.detectors.base.validate_readings``)."""
    path = Path(path)
    if not path.exists():
        raise ScoringInputError(f"readings file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            df = pd.read_parquet(path)
        elif ".csv" in suffixes or suffixes.endswith(".txt"):
            df = pd.read_csv(path, dtype={"station_id": str, "parameter": str, "flag": str},
                             keep_default_na=True, low_memory=False)
        else:
            raise ScoringInputError(f"{path}: unknown readings format (use .parquet or .csv)")
    except ScoringInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure becomes one clear message
        raise ScoringInputError(f"cannot read readings file {path}: {exc}") from None
    return df


def read_stations_file(path: str | Path) -> pd.DataFrame:
    """Stations CSV (station_id, name, kind, lon, lat + optional columns)."""
    path = Path(path)
    if not path.exists():
        raise ScoringInputError(f"stations file not found: {path}")
    try:
        return pd.read_csv(path, dtype={"station_id": str, "parent_station": str})
    except Exception as exc:  # noqa: BLE001
        raise ScoringInputError(f"cannot read stations file {path}: {exc}") from None


def write_results(out_dir: str | Path, scores: pd.DataFrame, events: pd.DataFrame) -> tuple[Path, Path]:
    """Write DIR/scores.parquet and DIR/events.parquet (events without the evidence column,
    plus evidence_json so nothing is lost)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s_path, e_path = out / "scores.parquet", out / "events.parquet"
    scores.to_parquet(s_path, index=False)
    ev = events_for_storage(events)
    ev.to_parquet(e_path, index=False)
    return s_path, e_path


def events_for_storage(events: pd.DataFrame) -> pd.DataFrame:
    """Events with the evidence dict serialised to ``evidence_json`` (JSON text)."""
    ev = events.copy()
    if "evidence" in ev.columns:
        ev["evidence_json"] = [json.dumps(e, ensure_ascii=False, default=_json_default) for e in ev["evidence"]]
        ev = ev.drop(columns=["evidence"])
    elif "evidence_json" not in ev.columns:
        ev["evidence_json"] = pd.Series([], dtype=str) if ev.empty else "{}"
    return ev


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# ---------------------------------------------------------------- the store

def load_readings(con: duckdb.DuckDBPyConnection, station_ids: list[str] | None = None,
                  start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Readings from the store (ts naive UTC), optionally for some stations / a time range."""
    sql = "SELECT station_id, ts, parameter, value, flag FROM readings WHERE 1=1"
    params: list[object] = []
    if station_ids is not None:
        sql += " AND station_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(station_ids))
    if start is not None:
        sql += " AND ts >= ?"
        params.append(start)
    if end is not None:
        sql += " AND ts <= ?"
        params.append(end)
    return con.execute(sql, params).fetchdf()


def load_station_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Stations with the columns the engine uses."""
    return con.execute(
        "SELECT station_id, name, kind, lon, lat, parent_station, limits_json, ref_o2_pct, waterbody_type, upstream_station "
        "FROM stations "
        "ORDER BY station_id"
    ).fetchdf()


def model_scores_json(scores: pd.DataFrame) -> list[str]:
    """One JSON object per row: the model columns rounded to 4 decimals, zeros and NaN left out
    (:func:`model_scores_arrow` as Python strings)."""
    return model_scores_arrow(scores).to_pylist()


def model_scores_arrow(scores: pd.DataFrame):
    """:func:`model_scores_json` as an Arrow string array (no Python string per row: a province's
    block of 5 M scores held ~2 GB of them).

    The same text as ``json.dumps`` of each row's dict (tested), built column by column: a rounded
    column holds at most ~10,000 distinct values, so each distinct ``"model": value`` piece is
    formatted once and Arrow joins the pieces per row. Why: a dict and a dumps call per row took
    113 s of the demo's 2.2 M scores."""
    import pyarrow as pa
    import pyarrow.compute as pc

    model_cols = [c for c in scores.columns if c not in ("station_id", "ts", "parameter", "score")]
    n = len(scores)
    if not model_cols or n == 0:
        return pa.array(["{}"] * n, pa.string())
    pieces = []
    for col in model_cols:
        v = scores[col].round(4).to_numpy()
        keep = (v != 0) & (v == v)
        distinct, where = np.unique(v[keep], return_inverse=True)
        text = pa.array(["", *(f", {json.dumps(col)}: {x!r}" for x in distinct.astype(np.float64).tolist())],
                        pa.string())
        index = np.zeros(n, dtype=np.int64)  # 0: the empty piece (a zero or NaN is left out)
        index[keep] = where + 1
        pieces.append(pc.take(text, pa.array(index)))
    body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*pieces, ""), 2)  # drop the first ", "
    return pc.binary_join_element_wise("{", body, "}", "")


def save_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, run_id: str,
                since: datetime | None = None) -> int:
    """Replace the scores table's content with this run (model columns -> JSON ``model_scores``);
    with ``since``, only the scores of hours at or after it (an incremental run)."""
    if since is None:
        con.execute("DELETE FROM scores")
    else:
        con.execute("DELETE FROM scores WHERE ts >= ?", [since])
    return append_scores(con, scores, run_id)


def append_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, run_id: str,
                  chunk_rows: int = 1_000_000) -> int:
    """Add one run's scores (model columns -> JSON ``model_scores``) to the scores table, as Arrow
    tables of ``chunk_rows`` (bounded memory); a run saved block by block appends each block's."""
    import pyarrow as pa

    for lo in range(0, len(scores), chunk_rows):
        part = scores.iloc[lo:lo + chunk_rows]
        table = pa.table({
            "station_id": pa.array(part["station_id"].astype(str).to_numpy(), pa.string()),
            "ts": pa.array(pd.to_datetime(part["ts"]).to_numpy()),
            "parameter": pa.array(part["parameter"].astype(str).to_numpy(), pa.string()),
            "score": pa.array(part["score"].astype(float).to_numpy()),
            "model_scores": model_scores_arrow(part),
        })
        con.register("_scores_new", table)
        try:
            con.execute("INSERT INTO scores SELECT station_id, ts, parameter, score, model_scores, ? FROM _scores_new",
                        [run_id])
        finally:
            con.unregister("_scores_new")
    return len(scores)


def save_events(con: duckdb.DuckDBPyConnection, events: pd.DataFrame, run_id: str) -> tuple[int, int]:
    """Replace the events table with this run's events. An event that persists (same station and
    kind, overlapping period) keeps the previous event's id and review status, so analysts'
    verdicts survive a re-score. Returns (events written, statuses kept)."""
    old = con.execute('SELECT event_id, station_id, kind, start, "end", status FROM events').fetchdf()
    frame, kept = _events_frame(events, old, run_id)
    con.execute("DELETE FROM events")
    _insert_events(con, frame)
    return len(frame), kept


def _events_frame(events: pd.DataFrame, old: pd.DataFrame, run_id: str) -> tuple[pd.DataFrame, int]:
    """A run's events as rows of the events table, ids and review statuses carried over from ``old``."""
    ev = events_for_storage(events).copy()
    ev["status"] = "open"
    kept = 0
    if not old.empty and not ev.empty:
        ev, kept = _carry_over_status(ev, old)
    now = datetime.now(UTC).replace(tzinfo=None)
    frame = pd.DataFrame({
        "event_id": ev["event_id"].astype(str), "station_id": ev["station_id"].astype(str),
        "start": ev["start"], "end": ev["end"], "kind": ev["kind"], "score": ev["score"].astype(float),
        "parameters": ev["parameters"], "summary": ev["summary"], "evidence_json": ev["evidence_json"],
        "status": ev["status"], "run_id": run_id, "created_at": now,
        "rank_score": (pd.to_numeric(ev["rank_score"], errors="coerce") if "rank_score" in ev.columns
                       else pd.Series(np.nan, index=ev.index)).astype(float),
    })
    return frame, kept


def _insert_events(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    con.register("_events_new", frame)
    try:
        con.execute('INSERT INTO events (event_id, station_id, start, "end", kind, score, parameters, summary, '
                    'evidence_json, status, run_id, created_at, rank_score) SELECT event_id, station_id, start, '
                    '"end", kind, score, parameters, summary, evidence_json, status, run_id, created_at, rank_score '
                    'FROM _events_new')
    finally:
        con.unregister("_events_new")


def _carry_over_status(ev: pd.DataFrame, old: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Match new events to previous ones (same station + kind, overlapping hours); reuse id and status."""
    ev = ev.reset_index(drop=True)
    used: set[str] = set()
    kept = 0
    old_by = {k: g for k, g in old.groupby(["station_id", "kind"])}
    for i, row in ev.iterrows():
        g = old_by.get((row["station_id"], row["kind"]))
        if g is None:
            continue
        hit = g[(g["start"] <= row["end"]) & (g["end"] >= row["start"]) & ~g["event_id"].isin(used)]
        if hit.empty:
            continue
        prev = hit.iloc[0]
        used.add(prev["event_id"])
        ev.at[i, "event_id"] = prev["event_id"]
        ev.at[i, "status"] = prev["status"]
        kept += prev["status"] != "open"
    return ev, int(kept)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def latest_reading_ts(con: duckdb.DuckDBPyConnection):
    """The newest reading's time (naive UTC), or None for an empty store."""
    return con.execute("SELECT max(ts) FROM readings").fetchall()[0][0]


def save_run(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, events: pd.DataFrame,
             run_id: str) -> tuple[int, int, int]:
    """Replace the scores and events of the store with one run's, in one transaction.

    Returns (scores saved, events saved, events whose review status was carried over)."""
    con.execute("BEGIN TRANSACTION")
    try:
        n_scores = save_scores(con, scores, run_id)
        n_events, kept = save_events(con, events, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return n_scores, n_events, kept


def save_window(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, events: pd.DataFrame, run_id: str,
                since: datetime) -> tuple[int, int, int]:
    """Save an incremental run over the hours from ``since`` on, in one transaction.

    Scores: those of hours >= ``since`` are replaced; older ones stay. Events: the run's events
    that reach ``since`` replace the stored events that reach it or overlap one of them (same
    station and kind) - an event open at the edge is extended or closed, and keeps its id and
    review status; older events stay. The run's events that end before ``since`` lie in its
    context only and are dropped (the earlier run owns them).
    Returns (scores saved, events saved, events whose review status was carried over)."""
    sc = scores[scores["ts"] >= pd.Timestamp(since)]
    ev = events[events["end"] >= pd.Timestamp(since)] if not events.empty else events
    con.execute("BEGIN TRANSACTION")
    try:
        n_scores = save_scores(con, sc, run_id, since=since)
        old = con.execute('SELECT event_id, station_id, kind, start, "end", status FROM events').fetchdf()
        replaced = _events_replaced(old, ev, since)
        frame, kept = _events_frame(ev, old[old["event_id"].isin(replaced)], run_id)
        con.execute("DELETE FROM events WHERE event_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(replaced)])
        _insert_events(con, frame)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return n_scores, len(frame), kept


def _events_replaced(old: pd.DataFrame, new: pd.DataFrame, since: datetime) -> set[str]:
    """Ids of stored events an incremental run from ``since`` replaces: those reaching ``since``
    and those overlapping a new event of the same station and kind."""
    if old.empty:
        return set()
    out = set(old.loc[old["end"] >= pd.Timestamp(since), "event_id"])
    if not new.empty:
        both = old.merge(new[["station_id", "kind", "start", "end"]], on=["station_id", "kind"], suffixes=("", "_new"))
        hit = both[(both["start"] <= both["end_new"]) & (both["end"] >= both["start_new"])]
        out |= set(hit["event_id"])
    return out


# ---------------------------------------------------------------- incremental scoring state

def committed_batches(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Ingest batches committed so far: listed before a run reads the readings, so every one of
    them is in what it reads."""
    return [r[0] for r in con.execute("SELECT batch_id FROM ingest_batches WHERE status = 'committed' "
                                      "ORDER BY batch_id").fetchall()]


def unscored_batches(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Committed ingest batches whose readings no scoring run has read yet."""
    return [r[0] for r in con.execute(
        "SELECT batch_id FROM ingest_batches WHERE status = 'committed' "
        "AND batch_id NOT IN (SELECT batch_id FROM scored_batches) ORDER BY batch_id").fetchall()]


def has_scored(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any scoring run has recorded its batches (an incremental run needs a first full run)."""
    return bool(con.execute("SELECT count(*) FROM scoring_state").fetchall()[0][0])


def batches_span(con: duckdb.DuckDBPyConnection, batch_ids: list[int]) -> tuple[int, datetime | None, datetime | None]:
    """Readings of the given batches: (count, first ts, last ts), ts naive UTC."""
    n, lo, hi = con.execute("SELECT count(*), min(ts), max(ts) FROM readings WHERE batch_id IN "
                            "(SELECT unnest(?::BIGINT[]))", [batch_ids]).fetchall()[0]
    return int(n), lo, hi


def record_scoring_state(con: duckdb.DuckDBPyConnection, batch_ids: list[int], scored_from: datetime | None,
                         scored_to: datetime | None, run_id: str, mode: str) -> None:
    """Mark the batches a run read as scored and remember the run (one transaction)."""
    con.execute("BEGIN TRANSACTION")
    try:
        if batch_ids:
            con.execute("INSERT OR REPLACE INTO scored_batches SELECT unnest(?::BIGINT[]), ?", [batch_ids, run_id])
        con.execute("INSERT OR REPLACE INTO scoring_state VALUES (1, ?, ?, ?, ?, ?)",
                    [scored_from, scored_to, run_id, mode, datetime.now(UTC).replace(tzinfo=None)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def first_scoring_pending(con: duckdb.DuckDBPyConnection) -> bool:
    """True while a store with readings has never been scored (no run recorded, no scores)."""
    if scoring_state(con) is not None:
        return False
    return con.execute("SELECT (SELECT count(*) FROM scores) = 0 AND EXISTS (SELECT 1 FROM readings)").fetchall()[0][0]


def scoring_state(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The last scoring run: window, run id, mode, finish time, and how many batches wait."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scoring_state'").fetchall()[0][0]:
        return None  # a store opened read-only before migration 050
    row = con.execute("SELECT scored_from, scored_to, run_id, mode, finished_at FROM scoring_state").fetchall()
    if not row:
        return None
    keys = ("scored_from", "scored_to", "run_id", "mode", "finished_at")
    return dict(zip(keys, row[0], strict=True)) | {"batches_waiting": len(unscored_batches(con))}


# ---------------------------------------------------------------- analysts' verdicts as labels

def load_verdict_labels(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Analysts' verdicts the next run learns from (``analytics.verdicts.LABEL_COLUMNS``): the
    latest review of each event when it is ``confirmed`` or ``false_alarm`` (a later ``reopened``
    withdraws it), with the station, kind, hours and fired models the review recorded. Case
    outcomes arrive here too: closing a case as 误报 or deciding a penalty reviews its events."""
    return con.execute(
        'SELECT station_id, kind, start, "end", verdict, models_json AS models FROM ('
        "  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY reviewed_at DESC, rowid DESC) AS latest FROM event_reviews"
        ") WHERE latest = 1 AND verdict IN ('confirmed', 'false_alarm') AND station_id IS NOT NULL "
        "ORDER BY station_id, start"
    ).fetchdf()


# ---------------------------------------------------------------- kept per-station fits

def load_station_fits(con: duckdb.DuckDBPyConnection, model: str, engine_version: str) -> pd.DataFrame:
    """The kept fits of ``model`` made by this ``engine_version``: station_id, fit_to (UTC), fit (bytes)."""
    return con.execute("SELECT station_id, fit_to, fit FROM station_fits WHERE model = ? AND engine_version = ? "
                       "ORDER BY station_id", [model, engine_version]).fetchdf()


def save_station_fits(con: duckdb.DuckDBPyConnection, model: str, engine_version: str, fits: pd.DataFrame,
                      run_id: str) -> int:
    """Keep the fits a run made (columns station_id, fit_from, fit_to, fit_rows, fit), replacing each
    station's earlier fit of ``model`` whatever its version; returns how many."""
    if fits.empty:
        return 0
    frame = fits[["station_id", "fit_from", "fit_to", "fit_rows", "fit"]].assign(
        model=model, engine_version=engine_version, fitted_at=datetime.now(UTC).replace(tzinfo=None), run_id=run_id)
    con.register("_station_fits_new", frame)
    try:  # one statement: DuckDB commits it whole or not at all
        con.execute("INSERT OR REPLACE INTO station_fits (station_id, model, engine_version, fit_from, fit_to, "
                    "fit_rows, fitted_at, run_id, fit) SELECT station_id, model, engine_version, fit_from, fit_to, "
                    "fit_rows, fitted_at, run_id, fit FROM _station_fits_new")
    finally:
        con.unregister("_station_fits_new")
    return len(frame)
