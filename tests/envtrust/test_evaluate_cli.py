"""`envtrust evaluate --quick` runs end to end on the shipped sample and writes its report."""

from __future__ import annotations

import json

from envtrust.cli import main


def test_evaluate_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--quick", "--out", str(out), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "held_out" in printed and "| rules |" in printed
    report = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert report["data"]["source"] == "sample"
    assert set(report["splits"]) == {"development", "held_out"}
    for split in report["splits"].values():
        air = split["air"]
        assert air["truth_events"] == 21  # 7 air kinds x 3
        env = air["methods"]["envtrust"]  # the real engine, not a mock: it must run and be measured
        assert "error" not in env and 0.0 <= env["ap"] <= 1.0 and "own_events" in env
        for name in ("rules", "buddy", "stl", "iforest"):
            m = air["methods"][name]
            assert 0.0 <= m["ap"] <= 1.0 and 0.0 <= m["event_recall"] <= 1.0
        assert split["cems"]["truth_events"] == 9 and split["cems"]["n_stations"] <= 8
        water = split["water"]  # the water sections are evaluated by default, with every method
        assert water["truth_events"] == 21 and water["n_stations"] == 10  # 7 water kinds x 3
        assert set(water["methods"]) == set(report["methods"])
        assert all("error" not in m and 0.0 <= m["ap"] <= 1.0 for m in water["methods"].values())
        assert "own_events" in water["methods"]["envtrust"]
    assert report["networks"] == ["air", "cems", "water"]
    assert "Surface-water sections" in printed and "Targets (held-out, at the analyst's workload)" in printed
    assert (out / "evaluation.md").read_text(encoding="utf-8").startswith("# envtrust evaluation")
    assert (out / "truth_held_out_air.csv").is_file() and (out / "truth_held_out_water.csv").is_file()


def test_evaluate_bad_options_are_clear(tmp_path, capsys):
    assert main(["evaluate", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--quick", "--methods", "magic", "--out", str(tmp_path / "o")]) == 2
    assert "unknown methods" in capsys.readouterr().err


def test_engine_events_count_for_hours_without_rows():
    """An outage removes rows; envtrust's evidence for those hours is its event, so it must count."""
    import pandas as pd

    from analytics.evaluation.metrics import station_hour_grid
    from envtrust.evaluation.harness import _engine_station_hours

    t = pd.date_range("2020-01-01", periods=10, freq="h")
    grid = station_hour_grid(pd.DataFrame({"station_id": ["A", "A"], "ts": [t[0], t[-1]]}))

    class Result:
        scores = pd.DataFrame({"station_id": "A", "ts": t[:3], "parameter": "PM2.5", "score": [0.1, 0.2, 0.3]})
        events = pd.DataFrame({"event_id": ["e"], "station_id": ["A"], "start": [t[5]], "end": [t[7]],
                               "kind": ["outage"], "score": [0.9]})

    sh = _engine_station_hours(Result, grid)
    assert sh.tolist() == [0.1, 0.2, 0.3, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0, 0.0]
    # one event = one case = one alarm: its other gap hours rank just under the alarm tier
    sh = _engine_station_hours(Result, grid, below_alarm=0.8)
    assert sh.tolist() == [0.1, 0.2, 0.3, 0.0, 0.0, 0.9, 0.8, 0.8, 0.0, 0.0]


def test_event_scores_never_replace_reading_scores():
    """Hours with readings are ranked by their readings; an event over them adds nothing there."""
    import pandas as pd

    from analytics.evaluation.metrics import station_hour_grid
    from envtrust.evaluation.harness import _engine_station_hours

    t = pd.date_range("2020-01-01", periods=4, freq="h")
    grid = station_hour_grid(pd.DataFrame({"station_id": ["A", "A"], "ts": [t[0], t[-1]]}))

    class Result:
        scores = pd.DataFrame({"station_id": "A", "ts": t, "parameter": "PM2.5", "score": [0.1, 0.5, 0.2, 0.1]})
        events = pd.DataFrame({"event_id": ["e"], "station_id": ["A"], "start": [t[1]], "end": [t[2]],
                               "kind": ["suppression"], "score": [0.99]})

    assert _engine_station_hours(Result, grid).tolist() == [0.1, 0.5, 0.2, 0.1]


def test_splits_and_national_day_loader(sample_dir):
    from envtrust.evaluation.harness import SAMPLE_SPLITS, load_cnemc_day, read_prsa_pollutants, select_period

    readings, _ = read_prsa_pollutants(sample_dir / "beijing")
    dev, held = (select_period(readings, s) for s in SAMPLE_SPLITS)
    assert len(dev) + len(held) == len(readings)
    assert dev["ts"].max() < held["ts"].min()
    day, stations = load_cnemc_day(sample_dir / "cnemc" / "china_sites_20170101.csv.gz",
                                   sample_dir / "cnemc" / "station_list_cnemc_2024.csv")
    assert len(stations) > 1000 and set(day["parameter"]) <= {"PM2.5", "PM10", "SO2", "NO2", "CO", "O3"}
    assert day["station_id"].isin(stations["station_id"]).all()


def test_evaluate_custom_data_dir_splits_in_halves(tmp_path, sample_dir, capsys):
    import shutil

    src = sample_dir / "beijing"
    data = tmp_path / "beijing"
    data.mkdir()
    shutil.copy(src / "stations_beijing12.csv", data)
    for name in ("Dongsi", "Tiantan", "Guanyuan", "Wanliu"):
        shutil.copy(next(src.glob(f"PRSA_Data_{name}_*.csv.gz")), data)
    out = tmp_path / "o"
    assert main(["evaluate", "--data-dir", str(data), "--methods", "rules", "--out", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert report["data"]["source"] == "custom" and report["data"]["stations"] == 4
    dev, held = report["splits"]["development"], report["splits"]["held_out"]
    assert dev["end_cst"] == held["start_cst"] and dev["air"]["n_stations"] == 4
    assert report["national_day"] == {"error": "envtrust not among the methods run"}
    capsys.readouterr()


def test_fit_combiner_writes_a_complete_pipeline_elsewhere(tmp_path, sample_dir, capsys):
    """`envtrust evaluate --fit-combiner` on the sample's development split: both combiners and a
    re-calibration land in --pipeline-dir (never over the shipped files), and that pipeline scores."""
    import json

    from analytics.pipeline import PIPELINE_DIR, load_pipeline, score_partition
    from data.testing import sample_readings
    from envtrust.cli import main

    shipped = (PIPELINE_DIR / "default.combiner.json").read_bytes()
    out = tmp_path / "pipe"
    assert main(["evaluate", "--fit-combiner", "--quick", "--pipeline-dir", str(out)]) == 0
    assert "alarm level" in capsys.readouterr().out
    assert (PIPELINE_DIR / "default.combiner.json").read_bytes() == shipped
    cal = json.loads((out / "default.calibration.json").read_text())
    assert cal["alarm_level"] > 0
    pipe = load_pipeline(out / "default.toml")
    nets = sorted(n for c in pipe.ensemble.combiners for n in c.networks)
    assert nets == ["air", "flue", "wastewater", "water"]
    assert all("development" in c.fitted_on for c in pipe.ensemble.combiners)
    r, s = sample_readings()
    res = score_partition(r[r["ts"] < "2016-12-08"], s, pipe)
    assert res.scores["score"].between(0, 1).all()


def test_fit_combiner_on_a_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    from envtrust.cli import main

    assert main(["evaluate", "--fit-combiner", "--data-dir", str(tmp_path / "nope"),
                 "--pipeline-dir", str(tmp_path / "pipe")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
