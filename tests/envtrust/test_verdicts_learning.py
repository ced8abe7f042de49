"""Analysts' verdicts teach the next scoring run, and never reach the public side.

Real DuckDB store with the shipped Beijing sample, real scoring runs, reviews through the same
service the dashboard calls, the public API and embeds served by the real server over TCP.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import waitress

from analytics.verdicts import demote_events, fit_verdicts
from dashboard.server import close_server, create_server, dash_callback_body
from data.ingest import ingest_files
from data.release import raise_generation
from data.scoring import load_verdict_labels
from data.views import record_review
from envtrust import release
from envtrust.scoring import score_store
from envtrust.settings import load_settings

SECRET = "VERDICT-SECRET-7Q"


def test_false_alarms_lower_the_models_that_raised_them_at_that_station_only():
    labels = pd.DataFrame({
        "station_id": ["A", "A", "A", "B"], "kind": ["spike"] * 4, "start": pd.Timestamp("2017-01-01"),
        "end": pd.Timestamp("2017-01-01"), "verdict": ["false_alarm", "false_alarm", "confirmed", "confirmed"],
        "models": [{"spatial_high": 6.0, "iforest": 3.0}, json.dumps({"spatial_high": 5.0}),
                   {"flatline": 4.0}, {"spatial_high": 8.0}]})
    cal = fit_verdicts(labels)
    assert cal.penalty[("A", "spatial_high")] == pytest.approx(np.log10(3.0), abs=1e-3)
    assert cal.penalty[("A", "iforest")] == pytest.approx(np.log10(1.5), abs=1e-3)  # joined in at half strength
    assert ("A", "flatline") not in cal.penalty and ("B", "spatial_high") not in cal.penalty
    events = pd.DataFrame({"station_id": ["A", "A", "B"], "rank_score": [5.0, 5.0, 5.0], "score": [0.999] * 3,
                           "evidence": [{"models": {"spatial_high": 6.0}}, {"models": {"flatline": 6.0}},
                                        {"models": {"spatial_high": 6.0}}]})
    out = demote_events(events, cal)
    assert out["rank_score"].tolist() == pytest.approx([5.0 - np.log10(3.0), 5.0, 5.0], abs=1e-3)
    assert out["score"].iloc[0] == pytest.approx(1 - 0.001 * 3.0, abs=1e-6) and out["score"].iloc[2] == 0.999
    assert out["evidence"].iloc[0]["verdict_penalty"] == pytest.approx(np.log10(3.0), abs=1e-3)
    assert events["rank_score"].tolist() == [5.0, 5.0, 5.0]  # the input is not modified
    # a confirmation at the same station and model outweighs a false alarm: nothing is lowered
    same = labels.assign(station_id="A", models=[{"spatial_high": 5.0}] * 4,
                         verdict=["false_alarm", "confirmed", "confirmed", "confirmed"])
    assert fit_verdicts(same).penalty == {}


@pytest.fixture(scope="module")
def scored(tmp_path_factory, sample_dir):
    """A store with the Beijing sample scored once, published, and served over TCP."""
    settings = load_settings(db_path=tmp_path_factory.mktemp("verdicts") / "v.duckdb", secret_key="v" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    ingest_files(con, sorted((sample_dir / "beijing").glob("*")), progress=False)
    score_store(con, progress=False)
    release.publish_preliminary(con, "2016-12-01", "2017-01-11")
    server.extensions["envtrust_api"].anon_rate_per_min = 10_000
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield con, f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def _fetch(url: str, body: str | None = None) -> str:
    request = urllib.request.Request(url, data=None if body is None else body.encode(),
                                     headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode('utf-8', 'replace')}"


def _public_answers(base: str, station: str) -> dict[str, str]:
    """Every public answer about the station: the API, and the embeds' rendered content (their
    page callback, as a browser asks for it)."""
    out = {path: _fetch(base + path) for path in (
        "/api/v1/locations", f"/api/v1/locations/{station}", f"/api/v1/latest?location={station}",
        f"/api/v1/measurements?location={station}&limit=1000&format=csv", "/api/v1/rankings/cities",
        "/api/v1/events", "/api/v1/reviews", "/api/v1/scores")}
    for page in (f"/embed/station/{station}", "/embed/map", "/embed/decisions"):
        out[page] = _fetch(base + "/embed/_dash-update-component", dash_callback_body("embed-page.children", [
            {"id": "embed-url", "property": "pathname", "value": page},
            {"id": "embed-url", "property": "search", "value": ""}]))
    return out


def _station_events(con, station: str) -> pd.DataFrame:
    return con.execute('SELECT event_id, kind, start, "end", rank_score, status, evidence_json FROM events '
                       "WHERE station_id = ? AND kind <> 'data_gap' ORDER BY rank_score DESC", [station]).fetchdf()


def test_verdicts_change_the_next_run_and_never_reach_the_public_side(scored):
    con, base = scored
    counts = con.execute("SELECT station_id, count(*) AS n FROM events WHERE kind <> 'data_gap' "
                         "GROUP BY 1 ORDER BY n DESC, station_id").fetchdf()
    station = str(counts["station_id"].iloc[0])
    before = _station_events(con, station)
    assert len(before) >= 2, counts
    others = con.execute("SELECT station_id, start, kind, rank_score FROM events WHERE station_id <> ? "
                         "ORDER BY 1, 2, 3", [station]).fetchdf()
    public_before = _public_answers(base, station)

    for event_id in before["event_id"]:
        record_review(con, event_id, "false_alarm", f"{SECRET} honest site", "ana")
    labels = load_verdict_labels(con)
    assert len(labels) == len(before) and set(labels["verdict"]) == {"false_alarm"}
    assert labels["models"].map(lambda m: bool(json.loads(m))).all()  # the fired models were kept

    score_store(con, progress=False)

    after = _station_events(con, station)
    both = before.merge(after, on="event_id", suffixes=("_before", "_after"))
    assert len(both) == len(before) == len(after)  # nothing hidden: the events are still listed ...
    assert (both["rank_score_after"] < both["rank_score_before"] - 0.25).all()  # ... lower down
    assert set(both["status_after"]) == {"false_alarm"}  # with their verdicts
    assert all(json.loads(e)["verdict_penalty"] > 0.25 for e in after["evidence_json"])
    again = con.execute("SELECT station_id, start, kind, rank_score FROM events WHERE station_id <> ? "
                        "ORDER BY 1, 2, 3", [station]).fetchdf()
    pd.testing.assert_frame_equal(again, others)  # other stations' events keep their place

    raise_generation(con)  # the API's cached answers are dropped: every answer below is built afresh
    public_after = _public_answers(base, station)
    for page in ("/embed/station/" + station, "/embed/map"):
        assert "response" in json.loads(public_after[page]), page  # rendered, not refused
    assert public_after == public_before  # the public side answers exactly as before the verdicts
    for path, body in public_after.items():
        for secret in (SECRET, "false_alarm", *before["event_id"]):
            assert secret not in body, (path, secret)


def test_reopening_withdraws_a_label(scored):
    con, _ = scored
    event_id = con.execute("SELECT event_id FROM events ORDER BY rank_score DESC LIMIT 1").fetchone()[0]
    record_review(con, event_id, "false_alarm", None, "ana")
    assert event_id.startswith(tuple(load_verdict_labels(con)["station_id"]))
    n = len(load_verdict_labels(con))
    record_review(con, event_id, "reopened", None, "ana")
    assert len(load_verdict_labels(con)) == n - 1
