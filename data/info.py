"""What is in a store: stations by kind, readings by parameter, quarantine by reason, batches,
and the row-accounting check ``rows in = stored + duplicates + quarantined`` over all batches.

Times are stored as naive UTC and shown in the display zone (default Asia/Shanghai).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.vocabulary import PARAMETERS
from data.scoring import scoring_state


@dataclass(frozen=True)
class StoreInfo:
    stations: pd.DataFrame    # kind, stations, active (active_to NULL)
    readings: pd.DataFrame    # parameter, unit, readings, missing, stations, first_utc, last_utc
    quarantine: pd.DataFrame  # reason, rows
    batches: pd.DataFrame     # format, status, batches, rows_in, rows_stored, rows_duplicate, rows_quarantined
    totals: dict[str, int]    # rows_in, rows_stored, rows_duplicate, rows_quarantined (committed batches),
                              # readings, readings_without_batch, quarantine_rows
    scoring: dict | None = None  # the last scoring run and the batches waiting (data.scoring.scoring_state)

    @property
    def rows_balance(self) -> int:
        """rows_in - (stored + duplicates + quarantined) over committed batches; 0 = nothing lost."""
        t = self.totals
        return t["rows_in"] - t["rows_stored"] - t["rows_duplicate"] - t["rows_quarantined"]


def store_info(con: duckdb.DuckDBPyConnection) -> StoreInfo:
    """Summaries computed in DuckDB (a few GROUP BYs; fast on 10^8 readings)."""
    stations = con.execute(
        "SELECT kind, count(*) AS stations, count(*) FILTER (active_to IS NULL) AS active "
        "FROM stations GROUP BY kind ORDER BY kind"
    ).df()
    readings = con.execute(
        "SELECT parameter, count(*) AS readings, count(*) FILTER (value IS NULL) AS missing, "
        "count(DISTINCT station_id) AS stations, min(ts) AS first_utc, max(ts) AS last_utc "
        "FROM readings GROUP BY parameter ORDER BY parameter"
    ).df()
    readings.insert(1, "unit", readings["parameter"].map(lambda p: PARAMETERS[p].unit if p in PARAMETERS else "?"))
    quarantine = con.execute(
        "SELECT reason, count(*) AS rows FROM quarantine GROUP BY reason ORDER BY reason"
    ).df()
    batches = con.execute(
        "SELECT format, status, count(*) AS batches, CAST(coalesce(sum(rows_in), 0) AS BIGINT) AS rows_in, "
        "CAST(coalesce(sum(rows_stored), 0) AS BIGINT) AS rows_stored, CAST(coalesce(sum(rows_duplicate), 0) AS BIGINT) AS rows_duplicate, "
        "CAST(coalesce(sum(rows_quarantined), 0) AS BIGINT) AS rows_quarantined FROM ingest_batches "
        "GROUP BY format, status ORDER BY format, status"
    ).df()
    committed = batches[batches["status"] == "committed"]
    n_readings, n_orphan = con.execute(
        "SELECT count(*), count(*) FILTER (batch_id IS NULL OR batch_id NOT IN "
        "(SELECT batch_id FROM ingest_batches WHERE status = 'committed')) FROM readings"
    ).fetchall()[0]
    n_quarantine = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
    totals = {k: int(committed[k].sum()) for k in ("rows_in", "rows_stored", "rows_duplicate", "rows_quarantined")}
    totals.update(readings=int(n_readings), readings_without_batch=int(n_orphan), quarantine_rows=int(n_quarantine))
    return StoreInfo(stations, readings, quarantine, batches, totals, scoring_state(con))


def to_display_time(utc: pd.Series, display_tz: str = "Asia/Shanghai") -> pd.Series:
    """Naive UTC -> naive wall time in ``display_tz``."""
    stamps = pd.to_datetime(utc)
    return stamps.dt.tz_localize("UTC").dt.tz_convert(display_tz).dt.tz_localize(None)


def format_info(info: StoreInfo, display_tz: str = "Asia/Shanghai") -> str:
    """The ``envtrust info`` text."""
    out: list[str] = []
    n_st = int(info.stations["stations"].sum()) if len(info.stations) else 0
    out.append(f"Stations: {n_st:,}")
    for row in info.stations.itertuples():
        out.append(f"  {row.kind:<16} {row.stations:>8,}  ({row.active:,} active)")
    out.append(f"Readings: {info.totals['readings']:,} (times in {display_tz})")
    if len(info.readings):
        first = to_display_time(info.readings["first_utc"], display_tz)
        last = to_display_time(info.readings["last_utc"], display_tz)
        for row, f, last_ts in zip(info.readings.itertuples(), first, last, strict=True):
            out.append(f"  {row.parameter:<13} {row.unit:<6} {row.readings:>12,}  missing {row.missing:>10,}  "
                       f"stations {row.stations:>5,}  {f:%Y-%m-%d %H:%M} .. {last_ts:%Y-%m-%d %H:%M}")
    out.append(f"Quarantined rows: {info.totals['quarantine_rows']:,}")
    for row in info.quarantine.itertuples():
        out.append(f"  {row.reason:<24} {row.rows:>10,}")
    out.append(f"Ingest batches: {int(info.batches['batches'].sum()) if len(info.batches) else 0:,}")
    for row in info.batches.itertuples():
        out.append(f"  {row.format:<18} {row.status:<10} {row.batches:>6,} batches  in {row.rows_in:>12,}  "
                   f"stored {row.rows_stored:>12,}  dup {row.rows_duplicate:>10,}  quar {row.rows_quarantined:>8,}")
    t = info.totals
    ok = "OK" if info.rows_balance == 0 else f"MISMATCH by {info.rows_balance:,}"
    out.append(f"rows in = stored + duplicates + quarantined: {t['rows_in']:,} = {t['rows_stored']:,} + "
               f"{t['rows_duplicate']:,} + {t['rows_quarantined']:,}  {ok}")
    if t["readings_without_batch"]:
        out.append(f"note: {t['readings_without_batch']:,} readings were written outside an ingest batch")
    out.append(scoring_line(info.scoring))
    return "\n".join(out)


def scoring_line(state: dict | None) -> str:
    """How far the readings are scored: the last run and the ingest batches still waiting."""
    if state is None:
        return "Scoring: never run (`envtrust score --db ...`, or `envtrust serve` scores it in the background)"
    waiting = state["batches_waiting"]
    return (f"Scoring: last run {state['run_id'] or '-'} ({state['mode']}, finished {state['finished_at']:%Y-%m-%d %H:%M} "
            f"UTC); {waiting:,} ingest batch{'es' if waiting != 1 else ''} waiting"
            + (" (`envtrust score --db ... --new`)" if waiting else ""))
