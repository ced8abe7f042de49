"""Contractors' and labs' SQL: the registry, dated assignments, comparison samples (ingested like
readings: each bad row quarantined with a reason), the inputs of the scorecard, credit entries
and the blacklist.

Rules and statistics: :mod:`analytics.comparison`; the scorecard: :mod:`envtrust.contractors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from analytics.vocabulary import PARAMETERS

Con = duckdb.DuckDBPyConnection
CREDIT_KINDS: tuple[str, ...] = ("commendation", "warning", "penalty", "blacklist")
SAMPLE_COLUMNS: tuple[str, ...] = ("sample_id", "station_id", "ts", "duration_h", "parameter", "value", "lab_id")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def upsert_contractors(con: Con, contractors: pd.DataFrame) -> int:
    """Insert or replace contractors (contractor_id, name, kind, licence)."""
    bad = set(contractors["kind"]) - {"operator", "lab"}
    if bad:
        raise ValueError(f"unknown contractor kind(s) {sorted(bad)}; expected operator or lab")
    for row in contractors.itertuples(index=False):
        con.execute("INSERT OR REPLACE INTO contractors VALUES (?, ?, ?, ?, ?)",
                    [row.contractor_id, row.name, row.kind, getattr(row, "licence", None), _now()])
    return len(contractors)


def replace_assignments(con: Con, assignments: pd.DataFrame) -> int:
    """Replace the assignments of the stations in ``assignments`` (station_id, contractor_id,
    valid_from, valid_to, contract_ref); unknown stations or contractors are refused."""
    known_c = {r[0] for r in con.execute("SELECT contractor_id FROM contractors").fetchall()}
    missing = set(assignments["contractor_id"]) - known_c
    if missing:
        raise ValueError(f"unknown contractors {sorted(missing)}")
    frame = assignments[["station_id", "contractor_id", "valid_from", "valid_to", "contract_ref"]].copy()
    con.register("_et_assign", frame)
    try:
        unknown = con.execute("SELECT DISTINCT a.station_id FROM _et_assign a LEFT JOIN stations s "
                              "USING (station_id) WHERE s.station_id IS NULL").fetchall()
        if unknown:
            raise ValueError(f"unknown stations {[u[0] for u in unknown][:10]}")
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM contractor_assignments WHERE station_id IN (SELECT station_id FROM _et_assign)")
        con.execute("INSERT INTO contractor_assignments SELECT station_id, contractor_id, valid_from, valid_to, "
                    "contract_ref FROM _et_assign")
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_et_assign")
    return len(frame)


def contractors(con: Con) -> pd.DataFrame:
    return con.execute("SELECT contractor_id, name, kind, licence FROM contractors ORDER BY kind DESC, "
                       "contractor_id").df()


def assignments(con: Con, utc_first, utc_last) -> pd.DataFrame:
    """Assignments overlapping the window, clipped to it and to the station's service period
    (``active_from``/``active_to``: a station is not expected to report before it is commissioned
    or after it is retired), with station kind: station_id, contractor_id, kind, valid_from, valid_to
    (exclusive: the window's last hour is inclusive, so an open assignment ends an hour after it)."""
    lo = pd.Timestamp(utc_first).to_pydatetime()
    hi = (pd.Timestamp(utc_last) + pd.Timedelta(hours=1)).to_pydatetime()
    return con.execute(
        """
        SELECT * FROM (
            SELECT a.station_id, a.contractor_id, s.kind,
                   greatest(a.valid_from, ?, coalesce(s.active_from, a.valid_from)) AS valid_from,
                   least(coalesce(a.valid_to, ?), ?, coalesce(s.active_to, ?)) AS valid_to
            FROM contractor_assignments a JOIN stations s USING (station_id)
        ) WHERE valid_from < valid_to
        ORDER BY contractor_id, station_id
        """, [lo, hi, hi, hi]).df()


# ------------------------------------------------------------------------ comparison samples
@dataclass
class SampleReport:
    """What an ingest of comparison samples did; every offered row is accounted for."""

    batch_id: int
    rows_in: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if self.rows_in != self.rows_stored + self.rows_duplicate + self.rows_quarantined:
            raise AssertionError(f"comparison ingest accounting broken: {self}")


def _sample_problems(frame: pd.DataFrame, stations: set[str], labs: set[str]) -> pd.Series:
    """One reason per row ('' = clean), the first that applies."""
    reason = pd.Series("", index=frame.index, dtype=object)

    def mark(mask: pd.Series, code: str) -> None:
        reason.loc[mask & (reason == "")] = code

    for col in SAMPLE_COLUMNS:
        if col not in frame.columns:
            raise ValueError(f"comparison samples lack column {col!r}; need {', '.join(SAMPLE_COLUMNS)}")
    mark(frame["sample_id"].isna() | (frame["sample_id"].astype(str).str.strip() == ""), "missing_sample_id")
    ts = pd.to_datetime(frame["ts"], errors="coerce")
    mark(ts.isna(), "unparseable_time")
    mark(~frame["station_id"].astype(str).isin(stations), "unknown_station")
    mark(~frame["parameter"].isin(PARAMETERS), "unknown_parameter")
    mark(~frame["lab_id"].astype(str).isin(labs), "unknown_lab")
    value = pd.to_numeric(frame["value"], errors="coerce")
    mark(value.isna(), "missing_value")
    mark(value < 0, "negative_concentration")
    dur = pd.to_numeric(frame["duration_h"], errors="coerce")
    mark(dur.isna() | (dur <= 0) | (dur > 24 * 7), "bad_duration")
    return reason


def ingest_comparison_samples(con: Con, samples: pd.DataFrame, source: str) -> SampleReport:
    """Validate and store manual comparison results as one batch; bad rows go to quarantine.

    Columns: sample_id, station_id, ts (UTC start of the sampling window), duration_h, parameter,
    value (canonical unit), lab_id (a contractor of kind lab). A sample_id already stored with
    identical content is a duplicate (idempotent re-ingest); with different content it is
    quarantined (``conflicting_sample``).
    """
    stations = {r[0] for r in con.execute("SELECT station_id FROM stations").fetchall()}
    labs = {r[0] for r in con.execute("SELECT contractor_id FROM contractors WHERE kind = 'lab'").fetchall()}
    frame = samples.reset_index(drop=True)
    reason = _sample_problems(frame, stations, labs)
    clean = frame[reason == ""].copy()
    clean["ts"] = pd.to_datetime(clean["ts"])
    clean["value"] = pd.to_numeric(clean["value"])
    clean["duration_h"] = pd.to_numeric(clean["duration_h"])
    clean["sample_id"] = clean["sample_id"].astype(str)
    dup_in_batch = clean["sample_id"].duplicated(keep="first")
    reason.loc[clean.index[dup_in_batch]] = "duplicate_in_batch"
    clean = clean[~dup_in_batch]
    stored = con.execute("SELECT sample_id, station_id, ts, duration_h, parameter, value, lab_id "
                         "FROM comparison_samples WHERE sample_id IN (SELECT unnest(?))",
                         [clean["sample_id"].tolist()]).df().set_index("sample_id")
    same = pd.Series(False, index=clean.index)
    for i, row in clean[clean["sample_id"].isin(stored.index)].iterrows():
        old = stored.loc[row["sample_id"]]
        identical = (old["station_id"] == row["station_id"] and pd.Timestamp(old["ts"]) == row["ts"]
                     and old["parameter"] == row["parameter"] and float(old["value"]) == float(row["value"])
                     and old["lab_id"] == row["lab_id"])
        if identical:
            same.loc[i] = True
        else:
            reason.loc[i] = "conflicting_sample"
    new = clean[~same & ~clean["sample_id"].isin(stored.index)]
    rejected = frame[reason != ""]

    batch_id = int(con.execute("SELECT nextval('batch_seq')").fetchone()[0])
    report = SampleReport(batch_id, rows_in=len(frame), rows_stored=len(new), rows_duplicate=int(same.sum()),
                          rows_quarantined=len(rejected),
                          reasons={str(k): int(v) for k, v in reason[reason != ""].value_counts().items()})
    now = _now()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO ingest_batches (batch_id, source, format, started_at, finished_at, rows_in, "
                    "rows_stored, rows_duplicate, rows_quarantined, status) VALUES (?, ?, 'comparison', ?, ?, "
                    "?, ?, ?, ?, 'committed')",
                    [batch_id, source, now, now, report.rows_in, report.rows_stored, report.rows_duplicate,
                     report.rows_quarantined])
        for i, row in rejected.iterrows():
            raw = json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()}, ensure_ascii=False)
            con.execute("INSERT INTO quarantine VALUES (nextval('quarantine_seq'), ?, ?, ?, ?, ?, ?)",
                        [batch_id, source, raw, reason.loc[i], f"comparison sample rejected: {reason.loc[i]}", now])
        if not new.empty:
            ins = new[list(SAMPLE_COLUMNS)].assign(batch_id=batch_id)
            con.register("_et_samples", ins)
            con.execute("INSERT INTO comparison_samples SELECT sample_id, station_id, ts, duration_h, parameter, "
                        "value, lab_id, batch_id FROM _et_samples")
            con.unregister("_et_samples")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    report.check()
    return report


def comparison_pairs(con: Con, utc_first, utc_last) -> pd.DataFrame:
    """Comparison samples in the window with the analyser's mean over the sampling window
    (valid hourly readings, flag N): sample_id, station_id, ts, parameter, ref, auto, n_hours, lab_id."""
    return con.execute(
        """
        SELECT c.sample_id, c.station_id, c.ts, c.duration_h, c.parameter, c.value AS ref, c.lab_id,
               avg(r.value) FILTER (WHERE r.flag = 'N') AS auto,
               count(r.value) FILTER (WHERE r.flag = 'N') AS n_hours
        FROM comparison_samples c
        LEFT JOIN readings r ON r.station_id = c.station_id AND r.parameter = c.parameter
             AND r.ts >= c.ts AND r.ts < c.ts + to_microseconds(CAST(c.duration_h * 3600e6 AS BIGINT))
        WHERE c.ts BETWEEN ? AND ?
        GROUP BY ALL ORDER BY c.station_id, c.parameter, c.ts
        """, [pd.Timestamp(utc_first).to_pydatetime(), pd.Timestamp(utc_last).to_pydatetime()]).df()


def automatic_window_means(con: Con, windows: pd.DataFrame) -> pd.DataFrame:
    """Mean valid hourly value per (station_id, parameter, ts, duration_h) window: the generator
    derives its manual samples from them."""
    con.register("_et_windows", windows[["station_id", "parameter", "ts", "duration_h"]])
    try:
        return con.execute(
            """
            SELECT w.station_id, w.parameter, w.ts, w.duration_h,
                   avg(r.value) FILTER (WHERE r.flag = 'N') AS auto
            FROM _et_windows w JOIN readings r ON r.station_id = w.station_id AND r.parameter = w.parameter
                 AND r.ts >= w.ts AND r.ts < w.ts + to_microseconds(CAST(w.duration_h * 3600e6 AS BIGINT))
            GROUP BY ALL
            """).df()
    finally:
        con.unregister("_et_windows")


# ------------------------------------------------------------------------ scorecard inputs
def station_capture(con: Con, utc_first, utc_last) -> pd.DataFrame:
    """Per assigned station: valid hourly values and distinct parameters reported in the window."""
    return con.execute(
        """
        SELECT r.station_id, count(*) FILTER (WHERE r.flag = 'N' AND r.value IS NOT NULL) AS n_valid,
               count(DISTINCT r.parameter) AS n_parameters
        FROM readings r WHERE r.station_id IN (SELECT station_id FROM contractor_assignments)
          AND r.ts BETWEEN ? AND ?
        GROUP BY r.station_id
        """, [pd.Timestamp(utc_first).to_pydatetime(), pd.Timestamp(utc_last).to_pydatetime()]).df()


def station_events(con: Con, utc_first, utc_last) -> pd.DataFrame:
    """Engine events at assigned stations in the window (kind, status, start, end, latest verdict)."""
    return con.execute(
        """
        WITH latest AS (SELECT event_id, arg_max(verdict, reviewed_at) AS verdict FROM event_reviews GROUP BY 1)
        SELECT e.event_id, e.station_id, e.kind, e.status, e.start, e."end", l.verdict
        FROM events e LEFT JOIN latest l USING (event_id)
        WHERE e.station_id IN (SELECT station_id FROM contractor_assignments) AND e."end" >= ? AND e.start <= ?
        """, [pd.Timestamp(utc_first).to_pydatetime(), pd.Timestamp(utc_last).to_pydatetime()]).df()


# ------------------------------------------------------------------------ credit and blacklist
def add_credit_entry(con: Con, contractor_id: str, kind: str, reason: str, legal_basis: str,
                     start_date, end_date, recorded_by: str) -> int:
    """Record a dated credit entry; a blacklist or penalty entry needs a legal basis and an end date."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"unknown credit entry kind {kind!r}; known: {', '.join(CREDIT_KINDS)}")
    if not con.execute("SELECT count(*) FROM contractors WHERE contractor_id = ?", [contractor_id]).fetchone()[0]:
        raise ValueError(f"unknown contractor {contractor_id!r}")
    if not (legal_basis or "").strip():
        raise ValueError("a credit entry needs its legal basis")
    start = pd.Timestamp(start_date).date()
    end = pd.Timestamp(end_date).date() if end_date else None
    if kind in ("blacklist", "penalty") and end is None:
        raise ValueError(f"a {kind} entry needs an end date")
    if end is not None and end < start:
        raise ValueError(f"end date {end} before start date {start}")
    row = con.execute("INSERT INTO credit_entries VALUES (nextval('credit_entry_seq'), ?, ?, ?, ?, ?, ?, ?, ?) "
                      "RETURNING entry_id",
                      [contractor_id, kind, reason, legal_basis, start, end, recorded_by, _now()]).fetchone()
    return int(row[0])


def credit_history(con: Con, contractor_id: str | None = None) -> pd.DataFrame:
    """Credit entries, newest first (optionally of one contractor), with contractor names."""
    sql = ("SELECT e.entry_id, e.contractor_id, c.name, e.kind, e.reason, e.legal_basis, e.start_date, "
           "e.end_date, e.recorded_by, e.recorded_at FROM credit_entries e JOIN contractors c USING (contractor_id)")
    params: list = []
    if contractor_id:
        sql += " WHERE e.contractor_id = ?"
        params.append(contractor_id)
    return con.execute(sql + " ORDER BY e.start_date DESC, e.entry_id DESC", params).df()


def blacklist(con: Con, on: date | None = None) -> pd.DataFrame:
    """Blacklist entries in force on ``on`` (default today): start_date <= on <= end_date."""
    day = on or _now().date()
    return con.execute(
        "SELECT e.entry_id, e.contractor_id, c.name, e.reason, e.legal_basis, e.start_date, e.end_date, "
        "e.recorded_by FROM credit_entries e JOIN contractors c USING (contractor_id) "
        "WHERE e.kind = 'blacklist' AND e.start_date <= ? AND e.end_date >= ? ORDER BY e.start_date DESC",
        [day, day]).df()


def comparison_span(con: Con) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last comparison sample (UTC), or None: the scorecard's default window."""
    lo, hi = con.execute("SELECT min(ts), max(ts + to_microseconds(CAST(duration_h * 3600e6 AS BIGINT))) "
                         "FROM comparison_samples").fetchone()
    return None if lo is None else (pd.Timestamp(lo), pd.Timestamp(hi))
