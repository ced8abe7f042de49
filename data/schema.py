"""DuckDB schema, versioned migrations.

Why this shape:

- ``readings`` is long (station, ts, parameter) so that every network (air, water, CEMS)
  shares one table and one scoring seam; DuckDB's columnar compression makes the repeated
  keys cheap. (station_id, ts, parameter) is unique, but not by a PRIMARY KEY or UNIQUE index:
  measured with DuckDB 2.0.1 (``benchmarks/readings_key.py``, benchmarks/RESULTS.md), a unique
  ART index on 3*10^7 rows takes 218 s to build, grows the file from ~0.3 to 3.2 GB, holds ~1 GB
  in memory and makes a 10,000-row insert take 16-23 s instead of ~0.1 s; 10^8 rows (a province
  over a few years) would be >3x that. The key is enforced by ``data.ingest`` instead, the only
  code that writes readings: one writer per process (``WRITE_LOCK``; DuckDB allows one writing
  process), an anti-join against stored keys inside the batch transaction, and a last check of
  the batch's keys against the store before COMMIT (``DuplicateKeyError`` rolls back). Times
  outside the plausible window (``implausible_time``) never enter, so every key sits in a range
  the checks can scan. ``store.sort_readings`` rewrites the table
  in (station_id, parameter, ts) order after bulk loads, which makes a one-station drill-down
  ~40x faster (measured on the benchmark store, benchmarks/results/dashboard.md).
- Every timestamp is naive UTC. Adapters convert from China Standard Time.
- Migrations are numbered SQL files in ``data/migrations``; ``schema_version`` records which
  ran, and every file not yet recorded runs, in number order (subsystems own number ranges, so
  a file merged later with a lower number still reaches a store that is further along). Add a
  file, never edit an applied one.
"""

from __future__ import annotations

from importlib import resources

import duckdb

SCHEMA_DOC = __doc__


def migration_files() -> list[tuple[int, str]]:
    """(version, sql) for each migration, in order."""
    folder = resources.files("data") / "migrations"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(out)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
    return int(rows[0][0]) if rows else 0


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    current_version(con)  # creates the table on a new store
    return {int(v) for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations in one transaction each; return the resulting version."""
    done = applied_versions(con)
    version = max(done, default=0)
    for number, sql in migration_files():
        if number in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = max(version, number)
    return version
