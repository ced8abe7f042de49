"""Incremental scoring: what arrives after a run (a new hour, a resent backlog) is scored without
re-scoring history, events at the edge are extended or closed, review statuses survive, and the
serving process does it on a schedule (a real thread on a real DuckDB store)."""

import time

import duckdb
import pandas as pd
import pytest

from data.ingest import ingest_files, ingest_readings
from data.scoring import ScoringInputError, has_scored, unscored_batches
from data.store import connect
from envtrust.scheduler import ScoringScheduler
from envtrust.scoring import score_new_readings, score_store


@pytest.fixture(scope="module")
def sample_readings(sample_dir, tmp_path_factory) -> pd.DataFrame:
    """The sample's Beijing readings (UTC), read once through the real file ingest."""
    con = connect(tmp_path_factory.mktemp("src") / "src.duckdb")
    ingest_files(con, sorted((sample_dir / "beijing").glob("*")), progress=False)
    frame = con.execute("SELECT station_id, ts, parameter, value, flag FROM readings ORDER BY ALL").fetchdf()
    con.close()
    return frame


def _store_with(tmp_path, sample_dir, readings: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A store with the sample's stations and the given readings as one batch."""
    con = connect(tmp_path / "inc.duckdb")
    ingest_files(con, sorted((sample_dir / "beijing").glob("*")), progress=False)  # stations + readings
    con.execute("DELETE FROM readings")  # keep the stations; the test decides which readings exist
    ingest_readings(con, readings, "test:history", "synthetic")
    return con


def _scores(con, since=None) -> pd.DataFrame:
    sql = "SELECT station_id, ts, parameter, score, run_id FROM scores"
    return con.execute(sql + (" WHERE ts < ?" if since is not None else "") + " ORDER BY ALL",
                       [since] if since is not None else []).fetchdf()


def test_new_hours_are_scored_and_history_is_not_touched(tmp_path, sample_dir, sample_readings):
    cut = sample_readings["ts"].max() - pd.Timedelta(hours=30)
    con = _store_with(tmp_path, sample_dir, sample_readings[sample_readings["ts"] <= cut])
    with pytest.raises(ScoringInputError, match="not been scored"):
        score_new_readings(con)
    first = score_store(con, progress=False, last_days=10)
    assert unscored_batches(con) == [] and score_new_readings(con) is None  # nothing new yet
    before = _scores(con)
    reviewed = con.execute("SELECT event_id FROM events ORDER BY \"end\" LIMIT 1").fetchall()
    if reviewed:
        con.execute("UPDATE events SET status = 'false_alarm' WHERE event_id = ?", [reviewed[0][0]])

    ingest_readings(con, sample_readings[sample_readings["ts"] > cut], "test:live", "synthetic")
    run = score_new_readings(con)

    assert run is not None and run.run_id != first.run_id
    new_rows = int((sample_readings["ts"] > cut).sum())
    assert run.readings == new_rows  # one score per new reading, none for the context
    since = (cut + pd.Timedelta(hours=1)).to_pydatetime()
    pd.testing.assert_frame_equal(_scores(con, since), before)  # history: the same rows, same run
    assert con.execute("SELECT count(*) FROM scores WHERE ts >= ? AND run_id = ?",
                       [since, run.run_id]).fetchall()[0][0] == new_rows
    if reviewed:
        assert con.execute("SELECT status FROM events WHERE event_id = ?",
                           reviewed[0]).fetchall() == [("false_alarm",)]
    assert unscored_batches(con) == [] and score_new_readings(con) is None  # and once is enough


def test_a_resent_backlog_is_scored_from_its_own_first_hour(tmp_path, sample_dir, sample_readings):
    latest = sample_readings["ts"].max()
    gap = (sample_readings["station_id"] == "1001A") & sample_readings["ts"].between(
        latest - pd.Timedelta(hours=100), latest - pd.Timedelta(hours=90))
    con = _store_with(tmp_path, sample_dir, sample_readings[~gap])
    score_store(con, progress=False, last_days=10)
    n_before = con.execute("SELECT count(*) FROM scores").fetchall()[0][0]

    ingest_readings(con, sample_readings[gap], "hj212:resent", "synthetic")  # the logger's backlog
    run = score_new_readings(con)

    first_resent = sample_readings.loc[gap, "ts"].min().to_pydatetime()
    assert run is not None
    assert con.execute("SELECT min(ts) FROM scores WHERE run_id = ?", [run.run_id]).fetchall()[0][0] == first_resent
    assert con.execute("SELECT count(*) FROM scores").fetchall()[0][0] == n_before + int(gap.sum())
    assert con.execute("SELECT count(*) FROM readings r ANTI JOIN scores s USING (station_id, ts, parameter) "
                       "WHERE r.ts >= ?", [first_resent]).fetchall()[0][0] == 0


def test_the_serving_schedule_scores_a_new_store_then_what_arrives(tmp_path, sample_dir, sample_readings):
    cut = sample_readings["ts"].max() - pd.Timedelta(hours=12)
    con = _store_with(tmp_path, sample_dir, sample_readings[sample_readings["ts"] <= cut])
    opened = []
    scheduler = ScoringScheduler(con, every_s=3600, first_days=5, after_first=opened.append).start()
    try:
        _wait(lambda: scheduler.status.runs >= 1)
        assert has_scored(con.cursor()) and len(opened) == 1 and scheduler.status.last_error is None
        ingest_readings(con, sample_readings[sample_readings["ts"] > cut], "test:live", "synthetic")
        scheduler.poke()  # the interval is an hour: only the poke makes it run now
        _wait(lambda: scheduler.status.runs >= 2)
    finally:
        scheduler.stop()
    assert scheduler.status.last_summary.readings == int((sample_readings["ts"] > cut).sum())
    assert unscored_batches(con) == [] and len(opened) == 1


def test_a_failed_scheduled_run_is_reported_and_retried(tmp_path, sample_dir, sample_readings):
    con = _store_with(tmp_path, sample_dir, sample_readings.head(0))  # no readings: the run must fail
    scheduler = ScoringScheduler(con, every_s=3600, first_days=5)
    assert scheduler.tick() is None and "no readings" in scheduler.status.last_error
    ingest_readings(con, sample_readings, "test:late", "synthetic")
    assert scheduler.tick() is not None and scheduler.status.last_error is None


def _wait(condition, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the scheduler did not finish in time"
        time.sleep(0.2)
