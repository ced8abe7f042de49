"""SQL of the case service (:mod:`envtrust.cases`): cases, their event log, links, evidence packs,
published decisions and public tips.

A case's state is never stored as a mutable column: it is the ``to_state`` of its newest row in
``case_events``. The primary key (case_id, version) is the optimistic check: a transition inserts
``expected_version + 1``, so of two concurrent transitions from the same version one fails.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pandas as pd

Con = duckdb.DuckDBPyConnection


class VersionConflict(Exception):
    """Another transition changed the case since the caller read it."""


def insert_case(con: Con, case_id: str, title: str, station_id: str | None, origin: str,
                legal_type: str | None, opened_at: datetime, opened_by: str) -> None:
    con.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?)",
                [case_id, title, station_id, origin, legal_type, opened_at, opened_by])


def next_case_number(con: Con, year: int) -> int:
    """1 + the number of cases opened in ``year`` (case ids read C<year>-<nnnn>)."""
    row = con.execute("SELECT count(*) FROM cases WHERE case_id LIKE ?", [f"C{year}-%"]).fetchone()
    return int(row[0]) + 1


def append_event(con: Con, case_id: str, expected_version: int, at: datetime, actor: str, actor_role: str,
                 action: str, from_state: str | None, to_state: str, reason: str | None,
                 fields: dict | None) -> int:
    """Append one transition as version ``expected_version + 1``; VersionConflict when the case moved."""
    current = case_version(con, case_id)
    if current != expected_version:
        raise VersionConflict(f"case {case_id} is at version {current}, not {expected_version}; reload it")
    version = expected_version + 1
    fields_json = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str) if fields else None
    try:
        con.execute("INSERT INTO case_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [case_id, version, at, actor, actor_role, action, from_state, to_state, reason, fields_json])
    except duckdb.ConstraintException as exc:
        raise VersionConflict(f"case {case_id} changed meanwhile (version {version} exists); reload it") from exc
    except duckdb.TransactionException as exc:
        raise VersionConflict(f"case {case_id} changed meanwhile (concurrent transition); reload it") from exc
    return version


def ref_station(con: Con, kind: str, ref_id: str) -> tuple[bool, str | None]:
    """(exists, station_id) of an alarm, an event or a station id."""
    table, key = {"alarm": ("alarms", "alarm_id"), "event": ("events", "event_id"),
                  "station": ("stations", "station_id")}[kind]
    row = con.execute(f"SELECT station_id FROM {table} WHERE {key} = ?", [ref_id]).fetchone()
    return (row is not None, row[0] if row else None)


def alarm_event_id(con: Con, alarm_id: str) -> str | None:
    """The engine event an interference alarm stands for (from its evidence), if any."""
    row = con.execute("SELECT json_extract_string(evidence_json, '$.event_id') FROM alarms WHERE alarm_id = ?",
                      [alarm_id]).fetchone()
    return row[0] if row else None


def planted_outlets(con: Con) -> pd.DataFrame:
    """The demo's planted interference, one row per outlet (its first kind and span)."""
    return con.execute('SELECT t.station_id, min(t.kind) AS kind, min(t.start) AS start, max(t."end") AS "end", '
                       "coalesce(min(s.enterprise), min(s.name)) AS name FROM demo_truth t "
                       "LEFT JOIN stations s USING (station_id) GROUP BY t.station_id ORDER BY t.station_id").df()


def station_has_case(con: Con, station_id: str) -> bool:
    return con.execute("SELECT 1 FROM cases WHERE station_id = ? LIMIT 1", [station_id]).fetchone() is not None


def top_events(con: Con, station_id: str, n: int) -> list[str]:
    return [e for (e,) in con.execute("SELECT event_id FROM events WHERE station_id = ? ORDER BY score DESC, "
                                      "event_id LIMIT ?", [station_id, int(n)]).fetchall()]


def case_version(con: Con, case_id: str) -> int:
    return int(con.execute("SELECT coalesce(max(version), 0) FROM case_events WHERE case_id = ?",
                           [case_id]).fetchone()[0])


def case_row(con: Con, case_id: str) -> dict | None:
    """The case's attributes with its derived state, version and when it entered that state."""
    df = con.execute(
        "SELECT c.*, e.to_state AS state, e.version, e.occurred_at AS state_since, s.name AS station_name, "
        "s.enterprise, s.county, s.city, s.kind AS station_kind, s.contractor "
        "FROM cases c JOIN (SELECT * FROM case_events WHERE case_id = ? "
        "ORDER BY version DESC LIMIT 1) e USING (case_id) LEFT JOIN stations s ON s.station_id = c.station_id "
        "WHERE c.case_id = ?", [case_id, case_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def case_history(con: Con, case_id: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM case_events WHERE case_id = ? ORDER BY version", [case_id]).df()


def cases_table(con: Con) -> pd.DataFrame:
    """Every case with its derived state, the time it entered it, and where it is (station, county)."""
    return con.execute(
        "WITH last AS (SELECT case_id, arg_max(to_state, version) AS state, max(version) AS version, "
        "arg_max(occurred_at, version) AS state_since, arg_max(action, version) AS last_action "
        "FROM case_events GROUP BY case_id), "
        "closed AS (SELECT case_id, max(occurred_at) AS closed_at FROM case_events WHERE to_state = 'closed' "
        "GROUP BY case_id) "
        "SELECT c.case_id, c.title, c.station_id, c.origin, c.legal_type, c.opened_at, c.opened_by, l.state, "
        "l.version, l.state_since, l.last_action, cl.closed_at, s.name AS station_name, s.enterprise, s.contractor, "
        "s.county, s.city, s.kind AS station_kind "
        "FROM cases c JOIN last l USING (case_id) LEFT JOIN closed cl USING (case_id) "
        "LEFT JOIN stations s ON s.station_id = c.station_id ORDER BY c.opened_at DESC, c.case_id DESC").df()


def link(con: Con, case_id: str, kind: str, ref_id: str, at: datetime) -> None:
    con.execute("INSERT INTO case_links VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [case_id, kind, ref_id, at])


def links(con: Con, case_id: str) -> pd.DataFrame:
    return con.execute("SELECT kind, ref_id, linked_at FROM case_links WHERE case_id = ? ORDER BY kind, ref_id",
                       [case_id]).df()


def cases_linked_to(con: Con, kind: str, ref_ids: list[str]) -> set[str]:
    if not ref_ids:
        return set()
    marks = ", ".join("?" for _ in ref_ids)
    rows = con.execute(f"SELECT DISTINCT ref_id FROM case_links WHERE kind = ? AND ref_id IN ({marks})",
                       [kind, *ref_ids]).fetchall()
    return {r[0] for r in rows}


def linked_events(con: Con, case_id: str) -> pd.DataFrame:
    """The engine events linked to a case (directly, or through a linked alarm's event id)."""
    return con.execute(
        "SELECT e.* FROM events e WHERE e.event_id IN (SELECT ref_id FROM case_links WHERE case_id = ? "
        "AND kind = 'event') ORDER BY e.start", [case_id]).df()


def linked_alarms(con: Con, case_id: str) -> pd.DataFrame:
    return con.execute(
        "SELECT a.* FROM alarms a WHERE a.alarm_id IN (SELECT ref_id FROM case_links WHERE case_id = ? "
        "AND kind = 'alarm') ORDER BY a.episode_start", [case_id]).df()


# ---------------------------------------------------------------- evidence pack

def save_evidence(con: Con, case_id: str, frozen_at: datetime, html: str, html_sha256: str,
                  pdf: bytes | None, pdf_sha256: str | None, readings_sha256: str, engine_version: str) -> None:
    """Store the pack once; a second freeze of the same case is refused (it never changes)."""
    con.execute("INSERT INTO case_evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [case_id, frozen_at, html, html_sha256, pdf, pdf_sha256, readings_sha256, engine_version])


def evidence(con: Con, case_id: str) -> dict | None:
    df = con.execute("SELECT * FROM case_evidence WHERE case_id = ?", [case_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def pack_readings(con: Con, station_ids: list[str], start: datetime, end: datetime,
                  parameters: list[str] | None = None) -> pd.DataFrame:
    """Readings for an evidence pack, in a fixed order so their hash is reproducible."""
    marks = ", ".join("?" for _ in station_ids)
    sql = (f"SELECT station_id, ts, parameter, value, flag FROM readings WHERE station_id IN ({marks}) "
           "AND ts >= ? AND ts <= ?")
    args: list = [*station_ids, start, end]
    if parameters:
        sql += f" AND parameter IN ({', '.join('?' for _ in parameters)})"
        args += parameters
    return con.execute(sql + " ORDER BY station_id, parameter, ts", args).df()


def pack_scores(con: Con, station_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    return con.execute("SELECT ts, parameter, score, run_id FROM scores WHERE station_id = ? AND ts >= ? "
                       "AND ts <= ? ORDER BY parameter, ts", [station_id, start, end]).df()


# ---------------------------------------------------------------- disclosure (public)

def save_disclosure(con: Con, case_id: str, published_at: datetime, subject_name: str, finding: str,
                    penalty: str, decided_on: date, legal_basis: str) -> None:
    con.execute("INSERT OR REPLACE INTO case_disclosures VALUES (?, ?, ?, ?, ?, ?, ?)",
                [case_id, published_at, subject_name, finding, penalty, decided_on, legal_basis])


def public_decisions(con: Con, limit: int = 200) -> pd.DataFrame:
    """Published decisions only: the columns the public page shows, newest first (no case id)."""
    return con.execute(
        "SELECT subject_name, finding, penalty, decided_on, legal_basis, published_at FROM case_disclosures "
        "ORDER BY decided_on DESC, published_at DESC LIMIT ?", [int(limit)]).df()


# ---------------------------------------------------------------- public tips

def insert_tip(con: Con, tip_id: str, received_at: datetime, what: str, where_text: str, when_text: str,
               contact: str | None, file_name: str | None, file_type: str | None, file_bytes: bytes | None,
               file_sha256: str | None, client_hash: str) -> None:
    con.execute("INSERT INTO public_tips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new')",
                [tip_id, received_at, what, where_text, when_text, contact, file_name, file_type, file_bytes,
                 file_sha256, client_hash])


def recent_tip_count(con: Con, client_hash: str | None, since: datetime) -> int:
    """Tips received since ``since`` (from one client when ``client_hash`` is given)."""
    if client_hash is None:
        return int(con.execute("SELECT count(*) FROM public_tips WHERE received_at >= ?", [since]).fetchone()[0])
    return int(con.execute("SELECT count(*) FROM public_tips WHERE client_hash = ? AND received_at >= ?",
                           [client_hash, since]).fetchone()[0])


def tips_table(con: Con, statuses: tuple[str, ...] = ("new",)) -> pd.DataFrame:
    marks = ", ".join("?" for _ in statuses)
    return con.execute(
        "SELECT tip_id, received_at, what, where_text, when_text, contact, file_name, file_sha256, status "
        f"FROM public_tips WHERE status IN ({marks}) ORDER BY received_at DESC", list(statuses)).df()


def tip(con: Con, tip_id: str) -> dict | None:
    df = con.execute("SELECT * EXCLUDE (client_hash) FROM public_tips WHERE tip_id = ?", [tip_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def set_tip_status(con: Con, tip_id: str, status: str) -> None:
    con.execute("UPDATE public_tips SET status = ? WHERE tip_id = ?", [status, tip_id])
