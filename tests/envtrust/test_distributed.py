"""Distributed scoring over partitioned Parquet equals the single-process run, block by block;
finished blocks are not redone; a failing block names its stations and time block."""

import shutil

import numpy as np
import pandas as pd
import pytest

import analytics.pipeline.blocks as blocks
from analytics.detectors.base import validate_readings, validate_stations
from analytics.pipeline import load_pipeline, score_blocks
from data.partitions import export_frame, read_block_rows, readings_summary_from_parquet
from data.scoring import events_for_storage
from data.testing import sample_readings
from envtrust.distributed import BlockFailed, run_block, score_parquet

KEYS = ["station_id", "parameter", "ts"]


def mixed_network():
    """Ten days of the Beijing sample plus one day of 40 extra air stations (the sparse rule then
    cuts the air family into a dense block and day windows) and two water sections."""
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-11"]
    rng = np.random.default_rng(3)
    day = pd.date_range("2016-12-06", periods=24, freq="h")
    extra = pd.DataFrame({"station_id": [f"X{i:03d}" for i in range(40)], "kind": "air_station",
                          "lon": 116 + rng.uniform(-1, 1, 40), "lat": 40 + rng.uniform(-1, 1, 40)})
    extra["name"] = extra["station_id"]
    water = pd.DataFrame({"station_id": ["W1", "W2"], "name": ["W1", "W2"], "kind": "water_section",
                          "lon": [116.3, 116.5], "lat": [39.9, 40.0]})
    hours = pd.date_range("2016-12-01", "2016-12-10 23:00", freq="h")
    rows = [r]
    for sid in extra["station_id"]:
        rows.append(pd.DataFrame({"station_id": sid, "ts": day, "parameter": "PM2.5",
                                  "value": rng.uniform(20, 200, 24), "flag": "N"}))
    for sid in water["station_id"]:
        for p, lvl in (("DO", 8.0), ("CODMn", 4.0), ("NH3-N", 0.5), ("pH", 7.5)):
            rows.append(pd.DataFrame({"station_id": sid, "ts": hours, "parameter": p,
                                      "value": lvl * rng.lognormal(0, 0.1, len(hours)), "flag": "N"}))
    return pd.concat(rows, ignore_index=True), pd.concat([s, extra, water], ignore_index=True)


@pytest.fixture()
def sparse_rule(monkeypatch):
    monkeypatch.setattr(blocks, "SPARSE_MIN_CELLS", 0)  # the mix is small; make the sparse rule apply


def _same(a, b):
    sa = a.scores.sort_values(KEYS).reset_index(drop=True)
    sb = b.scores.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(sa, sb[sa.columns], check_exact=True)
    ea = events_for_storage(a.events).sort_values(["station_id", "start", "kind"]).reset_index(drop=True)
    eb = events_for_storage(b.events).sort_values(["station_id", "start", "kind"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ea, eb[ea.columns], check_exact=True)


def test_parquet_summary_plans_the_same_blocks_as_memory(tmp_path, sparse_rule):
    r, s = mixed_network()
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    from_parquet = readings_summary_from_parquet(str(tmp_path))
    in_memory = blocks.readings_summary(validate_readings(r, st), st)
    plan = blocks.plan_blocks(in_memory)
    assert blocks.plan_blocks(from_parquet) == plan
    assert {b.family for b in plan} == {"air", "water"} and len(plan) >= 3  # dense air, day window(s), water
    # a worker reads only its block's rows
    dense = next(b for b in plan if b.stations is not None)
    rows = read_block_rows(str(tmp_path), dense)
    assert set(rows["station_id"]) == set(dense.stations) and len(rows) == r["station_id"].isin(dense.stations).sum()


def test_local_cluster_equals_single_process_and_resumes(tmp_path, sparse_rule):
    r, s = mixed_network()
    pipe = load_pipeline("default")
    local = score_blocks(r, s, pipe)
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    seen = []
    first = score_parquet(str(tmp_path), s, pipe, n_workers=2, progress=lambda done, total: seen.append((done, total)))
    assert first.resumed == 0 and seen[-1] == (first.blocks, first.blocks)
    _same(local, first.result)
    again = score_parquet(str(tmp_path), s, pipe, n_workers=1)  # every block finished: nothing redone
    assert again.resumed == again.blocks
    _same(local, again.result)


def test_failed_block_names_its_stations_and_time_block(tmp_path):
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-04"]
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    block = blocks.plan_blocks(readings_summary_from_parquet(str(tmp_path)))[0]
    with pytest.raises(BlockFailed) as err:
        run_block(str(tmp_path), block, st[st["station_id"] != "1001A"], load_pipeline("default"))
    msg = str(err.value)
    assert "network air" in msg and "2016-12-01 00:00 to 2016-12-03 23:00" in msg and "1001A" in msg


def test_store_scored_on_workers_equals_store_scored_in_process(tmp_path):
    from data.store import connect
    from envtrust.cli import main

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-06"]
    dbs = {}
    for name in ("local", "dask", "blocks"):
        db = tmp_path / f"{name}.duckdb"
        con = connect(db)
        con.register("st", s[["station_id", "name", "kind", "lon", "lat"]])
        con.execute("INSERT INTO stations (station_id, name, kind, lon, lat) SELECT * FROM st")
        con.register("rr", r[["station_id", "ts", "parameter", "value", "flag"]])
        con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) SELECT * FROM rr")
        con.close()
        dbs[name] = db
    assert main(["score", "--db", str(dbs["local"]), "--quiet"]) == 0
    assert main(["score", "--db", str(dbs["dask"]), "--quiet", "--workers", "1",
                 "--partitions", str(tmp_path / "parts")]) == 0
    # block by block in this process, loaded block by block (a limit the sample does not reach: no cut)
    assert main(["score", "--db", str(dbs["blocks"]), "--quiet", "--max-block-rows", "100000000"]) == 0
    assert (tmp_path / "parts" / "readings" / "network=air").is_dir()
    got = {}
    for name, db in dbs.items():
        con = connect(db)
        got[name] = (con.execute("SELECT station_id, ts, parameter, score, model_scores FROM scores "
                                 "ORDER BY station_id, parameter, ts").fetchdf(),
                     con.execute('SELECT station_id, start, "end", kind, score, evidence_json FROM events '
                                 "ORDER BY station_id, start, kind").fetchdf())
        con.close()
    assert len(got["local"][0]) == len(r)
    for other in ("dask", "blocks"):
        pd.testing.assert_frame_equal(got["local"][0], got[other][0], check_exact=True)
        pd.testing.assert_frame_equal(got["local"][1], got[other][1], check_exact=True)


def test_in_process_blocks_cut_by_station_groups_load_the_store_like_one_frame(tmp_path):
    """``n_workers=0`` scores the same block tasks in this process; with a row limit the air
    blocks are cut into station groups (each reading scored once); the block-by-block load of the
    store writes what saving the joined result writes."""
    from data.scoring import save_run
    from data.store import connect
    from envtrust.distributed import block_plan, load_blocks_into_store

    r, s = mixed_network()
    pipe = load_pipeline("default")
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    whole = score_parquet(str(tmp_path), s, pipe, n_workers=0)
    _same(score_blocks(r, s, pipe), whole.result)  # no cut: the in-process run is the single-process run
    cut = score_parquet(str(tmp_path), s, pipe, n_workers=0, max_block_rows=8_000)
    plan = block_plan(str(tmp_path), st, max_block_rows=8_000)
    assert cut.blocks == len(plan) > whole.blocks and any(b.group is not None for b in plan)
    keys = cut.result.scores[KEYS]
    assert len(keys) == len(keys.drop_duplicates()) == len(validate_readings(r, st))
    stores = {}
    for name in ("joined", "blocks"):
        con = connect(tmp_path / f"{name}.duckdb")
        if name == "joined":
            save_run(con, cut.result.scores, cut.result.events, "run")
        else:
            load_blocks_into_store(con, str(tmp_path), plan, "run")
        stores[name] = (con.execute("SELECT * FROM scores ORDER BY station_id, parameter, ts").fetchdf(),
                        con.execute('SELECT station_id, start, "end", kind, score FROM events '
                                    "ORDER BY station_id, start, kind").fetchdf())
        con.close()
    pd.testing.assert_frame_equal(stores["joined"][0], stores["blocks"][0], check_exact=True)
    pd.testing.assert_frame_equal(stores["joined"][1], stores["blocks"][1], check_exact=True)


def test_blocks_in_threads_give_the_serial_run_bit_for_bit(tmp_path, sparse_rule):
    """Blocks and detectors in threads give the very frames of one thread - scores, events and
    forests, in plan order - in memory and from Parquet; every block is reported."""
    r, s = mixed_network()
    pipe = load_pipeline("default")
    serial = score_blocks(r, s, pipe, threads=1)
    seen = []
    threaded = score_blocks(r, s, pipe, threads=3, progress=seen.append)
    plan = blocks.plan_blocks(blocks.readings_summary(validate_readings(r, validate_stations(s)), validate_stations(s)))
    assert len(plan) >= 3 and sorted(b.name for b in seen) == sorted(b.name for b in plan)
    pd.testing.assert_frame_equal(serial.scores, threaded.scores, check_exact=True)
    pd.testing.assert_frame_equal(serial.events, threaded.events, check_exact=True)
    assert serial.forests.keys() == threaded.forests.keys()
    for sid, forest in serial.forests.items():
        for part in ("centre", "scale", "roots", "feature", "value", "left", "right"):
            np.testing.assert_array_equal(getattr(forest, part), getattr(threaded.forests[sid], part))
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    one = score_parquet(str(tmp_path), s, pipe, n_workers=0, max_block_rows=8_000, threads=1)
    shutil.rmtree(tmp_path / "blocks")
    two = score_parquet(str(tmp_path), s, pipe, n_workers=0, max_block_rows=8_000, threads=2)
    assert two.resumed == 0 and two.blocks == one.blocks >= 3
    pd.testing.assert_frame_equal(one.result.scores, two.result.scores, check_exact=True)
    pd.testing.assert_frame_equal(one.result.events, two.result.events, check_exact=True)


def test_the_biggest_of_few_blocks_keeps_the_threads_inside_and_gives_the_serial_run(sparse_rule):
    """Dense air beside a day of 40 stations on two threads: the dense block (the most readings)
    keeps two threads inside, the day's block runs with one - and the scores, events and forests
    are those of one thread, bit for bit."""
    r, s = mixed_network()
    r = r[~r["station_id"].isin(["W1", "W2"])]
    st = validate_stations(s)
    summary = blocks.readings_summary(validate_readings(r, st), st)
    plan = blocks.plan_blocks(summary)
    assert [b.name.rsplit("-", 1)[-1] for b in plan] == ["dense", "sparse"]
    rows = [len(blocks.block_readings(validate_readings(r, st), b, blocks.row_families(r["station_id"], st)))
            for b in plan]
    assert [blocks.block_rows(summary, b) for b in plan] == rows and rows[0] > rows[1]
    assert blocks.blocks_inner_threads(plan, summary, 2) == [2, 1]
    assert blocks.blocks_inner_threads(plan[:1], summary, 2) == [2]
    assert blocks.blocks_inner_threads(plan, summary, 1) == [1, 1]
    pipe = load_pipeline("default")
    serial, two = score_blocks(r, s, pipe, threads=1), score_blocks(r, s, pipe, threads=2)
    pd.testing.assert_frame_equal(serial.scores, two.scores, check_exact=True)
    pd.testing.assert_frame_equal(serial.events, two.events, check_exact=True)
    assert serial.forests.keys() == two.forests.keys()
    for sid, forest in serial.forests.items():
        np.testing.assert_array_equal(forest.value, two.forests[sid].value)


def test_more_blocks_than_threads_run_without_threads_inside(sparse_rule):
    r, s = mixed_network()
    st = validate_stations(s)
    summary = blocks.readings_summary(validate_readings(r, st), st)
    plan = blocks.plan_blocks(summary)
    assert len(plan) >= 3 and blocks.blocks_inner_threads(plan, summary, 2) == [1] * len(plan)


def test_a_failing_block_in_threads_is_named(tmp_path, sparse_rule, monkeypatch):
    r, s = mixed_network()
    st = validate_stations(s)
    export_frame(validate_readings(r, st), st, str(tmp_path))
    real = blocks.score_block

    def broken(rows, stations, pipe, block, threads):
        if block.family == "water":
            raise ValueError("boom")
        return real(rows, stations, pipe, block, threads)

    monkeypatch.setattr("envtrust.distributed.score_block", broken)
    with pytest.raises(BlockFailed, match=r"block water-.*network water.*W1, W2.*ValueError: boom"):
        score_parquet(str(tmp_path), s, "default", n_workers=0, threads=2)


def test_local_workers_allocate_like_a_plain_process(monkeypatch):
    """Dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_ (glibc then maps and faults in
    every large array afresh); ours start without it."""
    import os

    from dask.distributed import Client

    from envtrust.distributed import local_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with local_cluster(1) as cluster, Client(cluster) as client:
        env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(env.values()) == [None]
