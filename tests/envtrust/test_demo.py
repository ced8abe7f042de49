"""Build the sample demo into a temp store (real DuckDB, real ingest, no mocks) and check counts
and accounting. Scoring is left to tests of the engine (``score=False``)."""

from __future__ import annotations

import pytest

from data.demo import demo_exists
from data.store import connect
from envtrust.demo import DEMO_ACCOUNTS, accounts_file, build_demo

pytestmark = pytest.mark.slow
BEIJING = [f"{n}A" for n in range(1001, 1013)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    summary = build_demo(db, full=False, progress=False, score=False)
    return db, summary


def _one(con, sql, params=()):
    return con.execute(sql, list(params)).fetchone()[0]


def test_stations_of_all_networks(built):
    db, summary = built
    con = connect(db)
    try:
        kinds = dict(con.execute("SELECT kind, count(*) FROM stations GROUP BY kind").fetchall())
        assert kinds["air_station"] > 2000                      # national list (a few lack coordinates)
        assert 6 * 4 <= kinds["air_micro"] <= 6 * 8
        assert kinds["water_section"] >= 40
        assert kinds["polluter_outlet"] >= 15
        assert _one(con, "SELECT count(*) FROM stations WHERE station_id IN (SELECT unnest(?))", [BEIJING]) == 12
        # admin codes assigned; micro-stations point at real parents
        assert _one(con, "SELECT count(*) FROM stations WHERE kind = 'water_section' AND province_code IS NULL") == 0
        assert _one(con, "SELECT count(*) FROM stations m LEFT JOIN stations p ON m.parent_station = p.station_id "
                         "WHERE m.kind = 'air_micro' AND p.station_id IS NULL") == 0
        assert summary.stations == kinds
    finally:
        con.close()


def test_every_reading_is_accounted_for(built):
    db, summary = built
    con = connect(db)
    try:
        assert summary.rows_in == summary.rows_stored + summary.rows_duplicate + summary.rows_quarantined
        assert _one(con, "SELECT count(*) FROM readings") == summary.rows_stored
        batches = con.execute("SELECT sum(rows_in), sum(rows_stored), sum(rows_duplicate), sum(rows_quarantined) "
                              "FROM ingest_batches WHERE status = 'committed'").fetchone()
        assert batches[0] == batches[1] + batches[2] + batches[3]
        assert _one(con, "SELECT count(*) FROM quarantine") >= summary.rows_quarantined
    finally:
        con.close()


def test_real_beijing_sample_and_national_day(built):
    db, _ = built
    con = connect(db)
    try:
        hours = _one(con, "SELECT count(DISTINCT (station_id, ts)) FROM readings "
                          "WHERE station_id IN (SELECT unnest(?))", [BEIJING])
        assert hours == 12 * 984                                    # the shipped sample, every station-hour
        n_national = _one(con, "SELECT count(DISTINCT station_id) FROM readings r JOIN stations s USING (station_id) "
                               "WHERE s.kind = 'air_station' AND r.ts >= '2016-12-31 16:00' AND r.ts < '2017-01-01 16:00'")
        assert n_national > 1000
    finally:
        con.close()


def test_synthetic_networks_cover_the_sample_window(built):
    db, _ = built
    con = connect(db)
    try:
        for kind in ("air_micro", "water_section", "polluter_outlet"):
            lo, hi, n = con.execute(
                "SELECT min(ts), max(ts), count(*) FROM readings JOIN stations USING (station_id) WHERE kind = ?",
                [kind]).fetchone()
            assert n > 10_000, kind
            assert str(lo) >= "2016-11-30 16:00:00" and str(hi) <= "2017-01-10 15:00:00", kind
        flags = {r[0] for r in con.execute(
            "SELECT DISTINCT flag FROM readings JOIN stations USING (station_id) WHERE kind = 'polluter_outlet'"
        ).fetchall()}
        assert {"N", "C", "F"} <= flags
        truth = con.execute("SELECT kind, count(*) FROM demo_truth GROUP BY kind").fetchall()
        assert truth and {k for k, _ in truth} <= {"flag_abuse", "clipping", "flatline"}
    finally:
        con.close()


def test_users_accounts_file_and_if_missing(built, capsys):
    db, _ = built
    con = connect(db)
    try:
        from data.users import verify_user

        for user, pw, role, _ in DEMO_ACCOUNTS:
            assert verify_user(con, user, pw) == role
        assert demo_exists(con)
    finally:
        con.close()
    text = accounts_file(db).read_text(encoding="utf-8")
    assert all(pw in text for _, pw, _, _ in DEMO_ACCOUNTS)
    from envtrust.cli import main

    assert main(["demo", "--db", str(db), "--if-missing", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "already holds the demo" in out and "leader-demo-2017" in out


def test_rebuild_is_idempotent(built):
    db, first = built
    again = build_demo(db, full=False, progress=False, score=False)
    assert again.rows_stored == 0
    assert again.rows_in == again.rows_duplicate + again.rows_quarantined
    assert again.truth_events == first.truth_events


def test_cli_rejects_a_directory(tmp_path, capsys):
    from envtrust.cli import main

    assert main(["demo", "--db", str(tmp_path), "--no-progress"]) == 2
    assert "directory" in capsys.readouterr().err


def test_demo_has_contractors_and_a_comparison_season(built):
    db, summary = built
    con = connect(db)
    try:
        assert _one(con, "SELECT count(*) FROM contractors WHERE kind = 'operator'") >= 4
        assert _one(con, "SELECT count(DISTINCT station_id) FROM contractor_assignments WHERE station_id IN "
                         "(SELECT unnest(?))", [BEIJING]) == 12
        assert _one(con, "SELECT count(*) FROM comparison_samples") == summary.contractors["samples_stored"] > 50
        assert _one(con, "SELECT count(*) FROM credit_entries WHERE kind = 'blacklist'") >= 1
    finally:
        con.close()
