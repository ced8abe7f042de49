"""`envtrust score`: the file contract and --db, with bad input giving one clear line."""

import pandas as pd
import pytest

from data.testing import sample_readings, set_values
from envtrust.cli import main


@pytest.fixture()
def files(tmp_path):
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-08"]
    rp, sp = tmp_path / "readings.csv", tmp_path / "stations.csv"
    r.drop(columns=["flag"]).to_csv(rp, index=False)
    s.to_csv(sp, index=False)
    return r, rp, sp


def test_file_contract(files, tmp_path):
    r, rp, sp = files
    out = tmp_path / "out"
    assert main(["score", "--readings", str(rp), "--stations", str(sp), "--out", str(out), "--quiet"]) == 0
    sc = pd.read_parquet(out / "scores.parquet")
    ev = pd.read_parquet(out / "events.parquet")
    assert len(sc) == len(r)
    assert list(sc.columns[:4]) == ["station_id", "ts", "parameter", "score"]
    assert sc["ts"].min() == r["ts"].min()  # same clock as the input (CST)
    assert {"event_id", "station_id", "start", "end", "kind", "score", "parameters", "summary"} <= set(ev.columns)


def test_bad_input_is_one_line_not_a_traceback(files, tmp_path, capsys):
    r, rp, sp = files
    bad = tmp_path / "bad.csv"
    pd.concat([r, r.iloc[:2]]).to_csv(bad, index=False)
    code = main(["score", "--readings", str(bad), "--stations", str(sp), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "share a (station_id, ts, parameter) key" in err and "Traceback" not in err
    assert main(["score", "--readings", str(tmp_path / "missing.csv"), "--stations", str(sp),
                 "--out", str(tmp_path / "o")]) == 2


def test_db_mode_writes_scores_and_events_and_keeps_review_status(files, tmp_path):
    from data.store import connect

    r, _, _ = files
    _, s = sample_readings()
    # a two-hour PM2.5 jump the neighbours do not share: the first December week of the sample
    # alone supports no event (its O3 oddities are within the analysers' allowed error)
    r = set_values(r, "1001A", "PM2.5", "2016-12-05 10:00", 2, lambda v: v * 8 + 300)
    db = tmp_path / "t.duckdb"
    con = connect(db)
    st = s.assign(name=s["name"])
    con.register("st", st[["station_id", "name", "kind", "lon", "lat"]])
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat) SELECT * FROM st")
    rr = r.assign(ts=r["ts"] - pd.Timedelta(hours=8))
    con.register("rr", rr[["station_id", "ts", "parameter", "value", "flag"]])
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) SELECT * FROM rr")
    con.close()
    assert main(["score", "--db", str(db), "--quiet"]) == 0
    con = connect(db)
    n_scores = con.execute("SELECT count(*) FROM scores").fetchone()[0]
    assert n_scores == len(r)
    ev = con.execute("SELECT event_id FROM events ORDER BY score DESC LIMIT 1").fetchone()
    assert ev is not None
    con.execute("UPDATE events SET status = 'confirmed' WHERE event_id = ?", [ev[0]])
    con.close()
    assert main(["score", "--db", str(db), "--quiet"]) == 0
    con = connect(db)
    assert con.execute("SELECT status FROM events WHERE event_id = ?", [ev[0]]).fetchone()[0] == "confirmed"
    assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == n_scores  # replaced, not appended
    con.close()


def test_db_new_scores_only_what_arrived_and_says_so(files, tmp_path, capsys):
    from data.ingest import ingest_readings
    from data.store import connect

    r, _, _ = files
    _, s = sample_readings()
    db = tmp_path / "n.duckdb"
    con = connect(db)
    con.register("st", s[["station_id", "name", "kind", "lon", "lat"]])
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat) SELECT * FROM st")
    utc = r.assign(ts=r["ts"] - pd.Timedelta(hours=8))[["station_id", "ts", "parameter", "value", "flag"]]
    last = utc["ts"].max()
    ingest_readings(con, utc[utc["ts"] < last], "test:history", "synthetic")
    con.close()
    assert main(["score", "--db", str(db), "--new", "--quiet"]) == 2  # no full run yet: a clear refusal
    assert "not been scored yet" in capsys.readouterr().err
    assert main(["score", "--db", str(db), "--quiet"]) == 0
    assert main(["score", "--db", str(db), "--new", "--context-days", "0"]) == 2
    assert main(["score", "--db", str(db), "--new"]) == 0
    assert "nothing new to score" in capsys.readouterr().out

    con = connect(db)
    ingest_readings(con, utc[utc["ts"] == last], "test:live", "synthetic")
    con.close()
    assert main(["score", "--db", str(db), "--new", "--context-days", "3"]) == 0
    assert f"scored {int((utc['ts'] == last).sum()):,} new readings" in capsys.readouterr().out
