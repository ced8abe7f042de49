"""Incremental scoring: what arrives after a run (a new hour, a resent backlog) is scored without
re-scoring history, events at the edge are extended or closed, review statuses survive, and the
serving process does it on a schedule (a real thread on a real DuckDB store)."""

import time
import zlib

import duckdb
import numpy as np
import pandas as pd
import pytest

from data.ingest import ingest_files, ingest_readings
from data.scoring import ScoringInputError, has_scored, unscored_batches
from data.store import connect
from data.views import record_review
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
    assert reviewed  # the sample's history has events: the oldest one's review must stay
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
    assert con.execute("SELECT status FROM events WHERE event_id = ?", reviewed[0]).fetchall() == [("false_alarm",)]
    assert unscored_batches(con) == [] and score_new_readings(con) is None  # and once is enough


def test_an_event_open_at_the_edge_is_extended_and_keeps_its_review(tmp_path, sample_dir, sample_readings):
    cut = sample_readings["ts"].max() - pd.Timedelta(hours=30)
    stuck = sample_readings.copy()  # PM2.5 and PM10 of one station stuck low from 6 h before the cut to 8 h after
    fault = ((stuck["station_id"] == "1003A") & stuck["parameter"].isin(["PM2.5", "PM10"])
             & stuck["ts"].between(cut - pd.Timedelta(hours=6), cut + pd.Timedelta(hours=8)))
    stuck.loc[fault, "value"] = 3.0
    con = _store_with(tmp_path, sample_dir, stuck[stuck["ts"] <= cut])
    score_store(con, progress=False, last_days=10)
    at_edge = con.execute("SELECT event_id, kind FROM events WHERE station_id = '1003A' AND \"end\" = ?",
                          [cut.to_pydatetime()]).fetchall()
    assert len(at_edge) == 1  # the stuck hours so far: one event, open at the history's last hour
    event_id, kind = at_edge[0]
    record_review(con, event_id, "confirmed", "stuck low, logger checked", "analyst")

    ingest_readings(con, stuck[stuck["ts"] > cut], "test:live", "synthetic")
    run = score_new_readings(con)

    assert run is not None and run.events_kept_status >= 1
    row = con.execute("SELECT \"end\", status, run_id FROM events WHERE event_id = ?", [event_id]).fetchall()
    assert len(row) == 1  # the same event (its id), not a new one beside it
    end, status, run_id = row[0]
    assert pd.Timestamp(end) > cut and run_id == run.run_id  # extended into the new hours by this run
    assert pd.Timestamp(end) < sample_readings["ts"].max()  # and closed once the values came back
    assert status == "confirmed"  # the analyst's verdict survives the extension
    assert con.execute("SELECT count(*) FROM events WHERE station_id = '1003A' AND kind = ? AND \"end\" >= ?",
                       [kind, cut.to_pydatetime()]).fetchall()[0][0] == 1  # no second event beside it


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


def test_incremental_runs_apply_kept_forests_until_the_engine_changes(tmp_path, sample_dir, sample_readings,
                                                                      monkeypatch):
    import analytics.detectors.iforest as forest_module
    import envtrust.scoring as scoring

    latest = sample_readings["ts"].max()
    hours = [latest - pd.Timedelta(hours=h) for h in (2, 1, 0)]
    con = _store_with(tmp_path, sample_dir, sample_readings[sample_readings["ts"] < hours[0]])
    n_stations = sample_readings["station_id"].nunique()
    assert score_store(con, progress=False, last_days=10).forests_fitted == n_stations  # the history's fits, kept
    fits = []
    real_fit = forest_module.isolation_trees
    monkeypatch.setattr(forest_module, "isolation_trees", lambda X, **k: fits.append(len(X)) or real_fit(X, **k))

    runs = []
    for i, hour in enumerate(hours):
        if i == 2:
            monkeypatch.setattr(scoring, "__version__", "99.0")  # an engine upgrade: no kept forest applies
        ingest_readings(con, sample_readings[sample_readings["ts"] == hour], f"test:hour{i}", "synthetic")
        runs.append((score_new_readings(con), len(fits)))

    (first, fits_1), (second, fits_2), (upgraded, fits_3) = runs
    assert (first.forests_kept, first.forests_fitted, fits_1) == (n_stations, 0, 0)
    assert (second.forests_kept, second.forests_fitted, fits_2) == (n_stations, 0, 0)
    assert (upgraded.forests_kept, upgraded.forests_fitted, fits_3) == (0, n_stations, n_stations)
    versions = con.execute("SELECT DISTINCT engine_version FROM station_fits").fetchall()
    assert len(versions) == 1 and versions[0][0].startswith("envtrust 99.0;")
    assert con.execute("SELECT count(*) FROM scores WHERE ts = ?", [latest.to_pydatetime()]).fetchall()[0][0] == \
        int((sample_readings["ts"] == latest).sum())

    con.execute("DELETE FROM scored_batches WHERE run_id = ?", [upgraded.run_id])  # the last hour again ...
    assert score_new_readings(con, refit_days=0).forests_fitted == n_stations  # ... with every forest refitted


def test_kept_forests_fall_due_staggered_over_a_second_period():
    from envtrust.scoring import forest_refit_due

    ids = pd.Series([f"{i:04d}A" for i in range(400)])
    since = pd.Timestamp("2017-02-01")
    due = {age: forest_refit_due(ids, pd.Series([since - pd.Timedelta(days=age)] * len(ids)), since, 7.0).mean()
           for age in (6.9, 7.5, 10.5, 14.0)}
    assert due[6.9] == 0.0 and due[14.0] == 1.0
    assert 0.0 < due[7.5] < 0.2 < 0.35 < due[10.5] < 0.65  # about (age / 7 - 1) of the stations


def test_a_damaged_kept_forest_is_refitted_not_fatal():
    from analytics.detectors.iforest import fit_station_forest, forest_to_bytes
    from envtrust.scoring import current_forests

    hours = pd.date_range("2017-01-01", periods=100, freq="h")
    X = np.random.default_rng(2).normal(size=(100, 5))
    good = fit_station_forest(X, tuple("abcde"), np.zeros(1), np.ones(1), hours, n_estimators=5, max_samples=64, seed=0)
    fits = pd.DataFrame({"station_id": ["1001A", "1002A", "1003A", "1004A"], "fit_to": [hours[-1]] * 4,
                         "fit": [forest_to_bytes(good), b"not a forest", forest_to_bytes(good)[:-9],
                                 zlib.compress(b"PK\x03\x04 not a zip")]})
    kept = current_forests(fits, hours[-1] + pd.Timedelta(hours=1), 7.0)
    assert list(kept) == ["1001A"] and kept["1001A"].rows == 100


def _wait(condition, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the scheduler did not finish in time"
        time.sleep(0.2)
