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
        for name in ("rules", "buddy", "stl", "iforest"):
            m = air["methods"][name]
            assert 0.0 <= m["ap"] <= 1.0 and 0.0 <= m["event_recall"] <= 1.0
        assert split["cems"]["truth_events"] == 9 and split["cems"]["n_stations"] <= 8
    assert (out / "evaluation.md").read_text(encoding="utf-8").startswith("# envtrust evaluation")
    assert (out / "truth_held_out_air.csv").is_file()


def test_evaluate_bad_options_are_clear(tmp_path, capsys):
    assert main(["evaluate", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--quick", "--methods", "magic", "--out", str(tmp_path / "o")]) == 2
    assert "unknown methods" in capsys.readouterr().err
