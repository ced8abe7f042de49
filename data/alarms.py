"""SQL of the alarms and the outbound webhook (:mod:`envtrust.alarms`, :mod:`envtrust.webhook`).

Inputs of the alarm rules (events, daily means, missing hours, flag counts) are read here; the
rules themselves are pure functions in :mod:`envtrust.alarms`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

Con = duckdb.DuckDBPyConnection

ALARM_COLUMNS = ["alarm_id", "rule", "station_id", "episode_start", "episode_end", "parameter", "severity",
                 "standard", "summary", "evidence_json", "status", "raised_at", "updated_at", "run_id", "pushed_at",
                 "pushed_by"]


# ---------------------------------------------------------------- rule inputs

def stored_events(con: Con, since: datetime | None = None) -> pd.DataFrame:
    sql = ('SELECT event_id, station_id, start, "end", kind, score, parameters, summary, status, run_id '
           "FROM events WHERE status <> 'false_alarm'")
    args: list = []
    if since is not None:
        sql += ' AND "end" >= ?'
        args.append(since)
    return con.execute(sql + " ORDER BY station_id, start", args).df()


def station_info(con: Con) -> pd.DataFrame:
    return con.execute("SELECT station_id, name, kind, enterprise, ref_o2_pct, limits_json, county, city "
                       "FROM stations").df()


def station_kinds(con: Con) -> dict[str, str]:
    """station_id -> station kind (who an alarm goes to depends on it)."""
    return dict(con.execute("SELECT station_id, kind FROM stations").fetchall())


def hourly_readings(con: Con, kinds: tuple[str, ...], parameters: tuple[str, ...] | None,
                    since: datetime | None) -> pd.DataFrame:
    """Hourly readings (all flags) of stations of ``kinds`` since ``since`` (UTC)."""
    sql = ("SELECT r.station_id, r.ts, r.parameter, r.value, r.flag FROM readings r JOIN stations s "
           f"USING (station_id) WHERE s.kind IN ({', '.join('?' for _ in kinds)})")
    args: list = list(kinds)
    if parameters:
        sql += f" AND r.parameter IN ({', '.join('?' for _ in parameters)})"
        args += list(parameters)
    if since is not None:
        sql += " AND r.ts >= ?"
        args.append(since)
    return con.execute(sql, args).df()


def reporting_hours(con: Con, since: datetime | None) -> pd.DataFrame:
    """Per station, each hour with at least one non-missing value (value not NULL)."""
    sql = "SELECT DISTINCT station_id, ts FROM readings WHERE value IS NOT NULL"
    args: list = []
    if since is not None:
        sql += " AND ts >= ?"
        args.append(since)
    return con.execute(sql + " ORDER BY station_id, ts", args).df()


def station_feed_ends(con: Con, since: datetime | None) -> pd.DataFrame:
    """Per station reporting since ``since``: the newest hour of the data sources it reports through
    (``readings.source``; a station's feed has stopped when its source carries on without it) and
    its end of service in the registry (``stations.active_to``, NULL while in service).
    Columns station_id, source_last, active_to."""
    where, args = ("WHERE ts >= ?", [since, since]) if since is not None else ("", [])
    return con.execute(
        f"""
        WITH src AS (SELECT coalesce(source, '') AS source, max(ts) AS source_last FROM readings {where}
                     GROUP BY 1),
             fed AS (SELECT DISTINCT station_id, coalesce(source, '') AS source FROM readings {where})
        SELECT fed.station_id, max(src.source_last) AS source_last, any_value(s.active_to) AS active_to
        FROM fed JOIN src USING (source) LEFT JOIN stations s USING (station_id)
        GROUP BY fed.station_id ORDER BY fed.station_id
        """, args).df()


def latest_ts(con: Con) -> datetime | None:
    return con.execute("SELECT max(ts) FROM readings").fetchone()[0]


def daily_flag_counts(con: Con, since: datetime | None, day_offset_h: int) -> pd.DataFrame:
    """Per station and local day (UTC + ``day_offset_h``; ``day`` is the day's first hour in UTC):
    readings in total and with a flag other than N."""
    sql = ("SELECT station_id, date_trunc('day', ts + to_hours(?)) - to_hours(?) AS day, count(*) AS n, "
           "count(*) FILTER (WHERE flag <> 'N') AS n_flagged, "
           "string_agg(DISTINCT flag, '') FILTER (WHERE flag <> 'N') AS flags FROM readings")
    args: list = [day_offset_h, day_offset_h]
    if since is not None:
        sql += " WHERE ts >= ?"
        args.append(since)
    return con.execute(sql + " GROUP BY station_id, day ORDER BY station_id, day", args).df()


# ---------------------------------------------------------------- alarms

def alarms_since(con: Con, since: datetime) -> pd.DataFrame:
    """Stored alarms (any status) whose episode ends at or after ``since`` (the dedup candidates)."""
    return con.execute("SELECT * FROM alarms WHERE episode_end >= ?", [since]).df()


def open_alarms(con: Con) -> pd.DataFrame:
    return con.execute("SELECT * FROM alarms WHERE status = 'open' ORDER BY station_id, rule, episode_start").df()


def insert_alarms(con: Con, frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    con.register("_alarms_in", frame[ALARM_COLUMNS])
    try:
        con.execute(f"INSERT INTO alarms ({', '.join(ALARM_COLUMNS)}) SELECT {', '.join(ALARM_COLUMNS)} "
                    "FROM _alarms_in")
    finally:
        con.unregister("_alarms_in")
    return len(frame)


def extend_alarm(con: Con, alarm_id: str, episode_end: datetime, severity: float, summary: str,
                 evidence_json: str, at: datetime) -> None:
    """The condition lasts: the open alarm's episode grows (no new alarm, no new push)."""
    con.execute("UPDATE alarms SET episode_end = greatest(episode_end, ?), severity = greatest(severity, ?), "
                "summary = ?, evidence_json = ?, updated_at = ? WHERE alarm_id = ?",
                [episode_end, severity, summary, evidence_json, at, alarm_id])


def alarms_table(con: Con, statuses: tuple[str, ...] = ("open",), limit: int = 5000) -> pd.DataFrame:
    """Alarms with their station's name and kind, and for an engine event's alarm the event's graded
    figure (``event_rank_score``, NULL for other rules)."""
    marks = ", ".join("?" for _ in statuses)
    return con.execute(
        "SELECT a.alarm_id, a.rule, a.station_id, s.name AS station_name, s.kind AS station_kind, s.enterprise, "
        "s.county, a.episode_start, "
        "a.episode_end, a.parameter, a.severity, a.standard, a.summary, a.evidence_json, a.status, a.raised_at, "
        "a.pushed_at, "
        "e.rank_score AS event_rank_score "
        "FROM alarms a LEFT JOIN stations s USING (station_id) "
        "LEFT JOIN events e ON e.event_id = json_extract_string(a.evidence_json, '$.event_id') "
        f"WHERE a.status IN ({marks}) "
        "ORDER BY a.raised_at DESC, a.severity DESC LIMIT ?", [*statuses, int(limit)]).df()


def alarm(con: Con, alarm_id: str) -> dict | None:
    df = con.execute("SELECT * FROM alarms WHERE alarm_id = ?", [alarm_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def set_alarm_status(con: Con, alarm_ids: list[str], status: str, at: datetime) -> None:
    if alarm_ids:
        marks = ", ".join("?" for _ in alarm_ids)
        con.execute(f"UPDATE alarms SET status = ?, updated_at = ? WHERE alarm_id IN ({marks})",
                    [status, at, *alarm_ids])


def mark_pushed(con: Con, alarm_ids: list[str], by: str, at: datetime) -> pd.DataFrame:
    """Record that the alarms not yet put to enforcement are now (by ``by`` at ``at``); return those
    rows (the ones to push). Run inside the caller's transaction: of two concurrent callers only the
    first finds the alarm unpushed, so an alarm is pushed once."""
    if not alarm_ids:
        return pd.DataFrame(columns=ALARM_COLUMNS)
    marks = ", ".join("?" for _ in alarm_ids)
    return con.execute(f"UPDATE alarms SET pushed_at = ?, pushed_by = ?, updated_at = ? WHERE pushed_at IS NULL "
                       f"AND alarm_id IN ({marks}) RETURNING *", [at, by, at, *alarm_ids]).df()


def interference_alarm_ids(con: Con, event_ids: list[str], statuses: tuple[str, ...]) -> list[str]:
    """The suspected-interference alarms of ``statuses`` that stand for the engine events ``event_ids``."""
    if not event_ids:
        return []
    return [a for (a,) in con.execute(
        f"SELECT alarm_id FROM alarms WHERE rule = 'suspected_interference' AND status IN "
        f"({', '.join('?' for _ in statuses)}) AND json_extract_string(evidence_json, '$.event_id') IN "
        f"({', '.join('?' for _ in event_ids)}) ORDER BY alarm_id", [*statuses, *event_ids]).fetchall()]


def case_interference_alarm_ids(con: Con, case_id: str) -> list[str]:
    """Suspected-interference alarms linked to a case, directly or through a linked engine event."""
    return [a for (a,) in con.execute(
        "SELECT alarm_id FROM alarms WHERE rule = 'suspected_interference' AND (alarm_id IN (SELECT ref_id "
        "FROM case_links WHERE case_id = ? AND kind = 'alarm') OR json_extract_string(evidence_json, '$.event_id') "
        "IN (SELECT ref_id FROM case_links WHERE case_id = ? AND kind = 'event')) ORDER BY alarm_id",
        [case_id, case_id]).fetchall()]


def event_confirmers(con: Con, event_ids: list[str]) -> dict[str, str]:
    """Of ``event_ids``, the engine events an analyst has confirmed, each with the analyst of its
    latest confirmation ('rule' when the status was set without a review row)."""
    ids = [e for e in event_ids if e is not None]
    if not ids:
        return {}
    return dict(con.execute(
        "SELECT e.event_id, coalesce((SELECT r.username FROM event_reviews r WHERE r.event_id = e.event_id AND "
        "r.verdict = 'confirmed' ORDER BY r.reviewed_at DESC LIMIT 1), 'rule') FROM events e "
        f"WHERE e.status = 'confirmed' AND e.event_id IN ({', '.join('?' for _ in ids)})", ids).fetchall())


def has_push(con: Con, alarm_id: str) -> bool:
    """True when the outbox already holds the alarm's push (a store older than migration 012)."""
    return bool(con.execute("SELECT count(*) FROM webhook_outbox WHERE topic = 'alarm.raised' AND subject = ?",
                            [alarm_id]).fetchone()[0])


def station_ids_with_alarm_events(con: Con) -> pd.DataFrame:
    return con.execute("SELECT station_id, count(*) AS n FROM alarms WHERE status = 'open' GROUP BY station_id").df()


# ---------------------------------------------------------------- webhook outbox

def enqueue(con: Con, delivery_id: str, topic: str, subject: str, payload_json: str, at: datetime) -> None:
    con.execute("INSERT INTO webhook_outbox VALUES (?, ?, ?, ?, ?, 0, ?, NULL, NULL)",
                [delivery_id, topic, subject, payload_json, at, at])


def due_deliveries(con: Con, now: datetime, limit: int = 100) -> pd.DataFrame:
    return con.execute(
        "SELECT delivery_id, topic, subject, payload_json, attempts FROM webhook_outbox WHERE delivered_at IS NULL "
        "AND next_attempt_at <= ? ORDER BY created_at, delivery_id LIMIT ?", [now, int(limit)]).df()


def record_attempt(con: Con, delivery_id: str, attempt: int, at: datetime, url: str, http_status: int | None,
                   error: str | None, delivered: bool, next_attempt_at: datetime) -> None:
    """Log one attempt and update the outbox row, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO webhook_attempts VALUES (?, ?, ?, ?, ?, ?)",
                    [delivery_id, attempt, at, url, http_status, error])
        con.execute("UPDATE webhook_outbox SET attempts = ?, delivered_at = ?, next_attempt_at = ?, last_error = ? "
                    "WHERE delivery_id = ?",
                    [attempt, at if delivered else None, next_attempt_at, None if delivered else error, delivery_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def outbox_table(con: Con, limit: int = 500) -> pd.DataFrame:
    return con.execute(
        "SELECT delivery_id, topic, subject, created_at, attempts, next_attempt_at, delivered_at, last_error "
        "FROM webhook_outbox ORDER BY created_at DESC LIMIT ?", [int(limit)]).df()


def attempts_of(con: Con, delivery_id: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt", [delivery_id]).df()


def outbox_counts(con: Con) -> dict[str, int]:
    row = con.execute("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL), "
                      "count(*) FILTER (WHERE delivered_at IS NULL AND attempts = 0), "
                      "count(*) FILTER (WHERE delivered_at IS NULL AND attempts > 0) FROM webhook_outbox").fetchone()
    return {"delivered": int(row[0] or 0), "pending": int(row[1] or 0), "failing": int(row[2] or 0)}
