"""Reading inputs for the plausibility engine and saving its results (files and the store).

All SQL of the engine lives here. The analytics side (``analytics.pipeline.score_partition``)
never touches files or the database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

BEIJING_POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")


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


# ---------------------------------------------------------------- the real Beijing files (PRSA format)

def read_prsa_long(paths: list[str | Path], stations_csv: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PRSA hourly CSVs (UCI Beijing multi-site set) -> (long readings in CST, stations).

    CO is converted from ug/m3 (as published) to mg/m3 (the canonical unit). Used by tests and the
    evaluation when H1's adapter is not at hand; ``data.adapters.beijing`` is the production path.
    """
    st_raw = pd.read_csv(stations_csv)
    code = dict(zip(st_raw["station"], st_raw["cnemc_code"], strict=True))
    frames = []
    for path in paths:
        df = pd.read_csv(path, na_values=["NA", " "])
        ts = pd.to_datetime(df[["year", "month", "day", "hour"]])
        long = df[list(BEIJING_POLLUTANTS)].copy()
        long["CO"] = long["CO"] / 1000.0
        long["ts"] = ts.astype("datetime64[us]")
        long["station_id"] = df["station"].map(code)
        frames.append(long.melt(id_vars=["station_id", "ts"], var_name="parameter", value_name="value"))
    readings = pd.concat(frames, ignore_index=True)
    readings["flag"] = "N"
    stations = pd.DataFrame({
        "station_id": st_raw["cnemc_code"], "name": st_raw["name_zh"], "name_en": st_raw["station"],
        "kind": "air_station", "lon": st_raw["lon"], "lat": st_raw["lat"],
    })
    return readings, stations


def beijing_files(folder: str | Path) -> list[Path]:
    """The PRSA_Data_*.csv(.gz) files in a folder, sorted."""
    return sorted(Path(folder).glob("PRSA_Data_*.csv*"))


# ---------------------------------------------------------------- the store

@dataclass(frozen=True)
class StoreScoreSummary:
    run_id: str
    readings: int
    stations: int
    events: int
    events_kept_status: int
    seconds: float


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
        "SELECT station_id, name, kind, lon, lat, parent_station, limits_json, ref_o2_pct, waterbody_type FROM stations "
        "ORDER BY station_id"
    ).fetchdf()


def save_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, run_id: str) -> int:
    """Replace the scores table's content with this run (model columns -> JSON ``model_scores``)."""
    model_cols = [c for c in scores.columns if c not in ("station_id", "ts", "parameter", "score")]
    if model_cols:
        m = scores[model_cols].round(4)
        model_json = [json.dumps({k: v for k, v in row.items() if v and v == v}) for row in m.to_dict("records")]
    else:
        model_json = ["{}"] * len(scores)
    frame = pd.DataFrame({
        "station_id": scores["station_id"].astype(str), "ts": scores["ts"], "parameter": scores["parameter"],
        "score": scores["score"].astype(float), "model_scores": model_json, "run_id": run_id,
    })
    con.register("_scores_new", frame)
    try:
        con.execute("DELETE FROM scores")
        con.execute("INSERT INTO scores SELECT station_id, ts, parameter, score, model_scores, run_id FROM _scores_new")
    finally:
        con.unregister("_scores_new")
    return len(frame)


def save_events(con: duckdb.DuckDBPyConnection, events: pd.DataFrame, run_id: str) -> tuple[int, int]:
    """Replace the events table with this run's events. An event that persists (same station and
    kind, overlapping period) keeps the previous event's id and review status, so analysts'
    verdicts survive a re-score. Returns (events written, statuses kept)."""
    ev = events_for_storage(events)
    old = con.execute('SELECT event_id, station_id, kind, start, "end", status FROM events').fetchdf()
    ev = ev.copy()
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
    })
    con.register("_events_new", frame)
    try:
        con.execute("DELETE FROM events")
        con.execute('INSERT INTO events (event_id, station_id, start, "end", kind, score, parameters, summary, '
                    'evidence_json, status, run_id, created_at) SELECT event_id, station_id, start, "end", kind, '
                    'score, parameters, summary, evidence_json, status, run_id, created_at FROM _events_new')
    finally:
        con.unregister("_events_new")
    return len(frame), kept


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


def score_store(con: duckdb.DuckDBPyConnection, pipeline="default", progress: bool = True,
                last_days: float | None = None, context_days: float = 14.0) -> StoreScoreSummary:
    """Score the store's readings and replace the scores/events tables (one run).

    ``last_days`` limits the run to the most recent days before the store's latest reading, as a
    monitoring centre re-scores its recent window rather than years of history; ``context_days``
    of earlier data are read as context (rolling levels, drift windows) but not saved.
    Timestamps stay UTC (the store's clock). Stations are scored together so neighbours are
    available; event review statuses of events that persist are carried over.
    """
    import time

    from analytics.pipeline import load_pipeline, score_blocks

    t0 = time.perf_counter()
    pipe = load_pipeline(pipeline) if isinstance(pipeline, (str, Path)) else pipeline
    stations = load_station_table(con)
    cutoff = None
    if last_days is not None:
        if last_days <= 0:
            raise ScoringInputError(f"last_days must be positive, not {last_days}")
        latest = con.execute("SELECT max(ts) FROM readings").fetchall()[0][0]
        if latest is not None:
            cutoff = pd.Timestamp(latest) - pd.Timedelta(days=last_days)
    if cutoff is None:
        readings = load_readings(con)
    else:
        readings = load_readings(con, start=(cutoff - pd.Timedelta(days=context_days)).to_pydatetime())
    if readings.empty:
        raise ScoringInputError("the store has no readings to score; ingest some first")
    if progress:
        window = "" if cutoff is None else f" (saving from {cutoff:%Y-%m-%d %H:%M} UTC on)"
        print(f"scoring {len(readings):,} readings from {readings['station_id'].nunique()} stations{window} ...",
              flush=True)
    result = score_blocks(readings, stations, pipe)
    if cutoff is not None:
        result = type(result)(scores=result.scores[result.scores["ts"] >= cutoff].reset_index(drop=True),
                              events=result.events[result.events["end"] >= cutoff].reset_index(drop=True))
    run_id = new_run_id()
    con.execute("BEGIN TRANSACTION")
    try:
        n_scores = save_scores(con, result.scores, run_id)
        n_events, kept = save_events(con, result.events, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return StoreScoreSummary(run_id=run_id, readings=n_scores, stations=int(readings["station_id"].nunique()),
                             events=n_events, events_kept_status=kept, seconds=time.perf_counter() - t0)
