"""`envtrust evaluate --networks` and `--pipeline`: one network alone, any pipeline, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest

from envtrust.cli import main


def _report(out):
    return json.loads((out / "evaluation.json").read_text(encoding="utf-8"))


def test_water_network_alone(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["evaluate", "--quick", "--networks", "water", "--methods", "rules,buddy", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Surface-water sections" in printed and "applied to water for reference only" not in printed
    report = _report(out)
    assert report["networks"] == ["water"]
    for split in report["splits"].values():
        assert set(split) & {"air", "cems", "water"} == {"water"}
        water = split["water"]
        assert water["truth_events"] == 21 and water["n_stations"] == 10  # 7 water kinds x 3
        assert set(water["truth_by_kind"]) == {"suppression", "outage", "flatline", "fabrication", "drift",
                                               "clipping", "spike"}
        assert 0.0 <= water["methods"]["buddy"]["ap"] <= 1.0
    assert report["national_day"]["error"].startswith("the air network was not run")
    assert sorted(p.name for p in out.glob("truth_*.csv")) == ["truth_development_water.csv", "truth_held_out_water.csv"]


def _copy_default_pipeline(dest, edit=None):
    from analytics.pipeline import PIPELINE_DIR

    dest.mkdir()
    for f in PIPELINE_DIR.glob("default*"):
        shutil.copyfile(f, dest / f.name)
    if edit:
        toml = dest / "default.toml"
        toml.write_text(edit(toml.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


def test_pipeline_copied_elsewhere_is_the_one_evaluated(tmp_path, capsys):
    """A verbatim copy scores exactly like the shipped pipeline; a copy with the detectors cut to
    the range check scores differently - so --pipeline really changes what is evaluated."""
    args = ["evaluate", "--quick", "--networks", "water", "--methods", "envtrust"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    same = _copy_default_pipeline(tmp_path / "same")
    assert main([*args, "--pipeline", str(same), "--out", str(tmp_path / "b")]) == 0

    def only_range(text: str) -> str:
        head, _, rest = text.partition("[[detectors]]")
        return head + '[[detectors]]\nname = "range"\n\n' + rest[rest.index("[ensemble"):]

    cut = _copy_default_pipeline(tmp_path / "cut", only_range)
    for fitted in cut.glob("default.*.json"):  # fitted for all the detectors: the cut pipeline refuses them
        fitted.unlink()
    assert main([*args, "--pipeline", str(cut / "default.toml"), "--out", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert f"Pipeline: `{cut / 'default.toml'}` (sha256: default.toml " in printed
    a, b, c = (_report(tmp_path / x) for x in "abc")
    assert b["pipeline"] == str(same / "default.toml")
    # the copy's files are byte-identical to the shipped ones, the cut TOML is not
    assert b["pipeline_files"] == a["pipeline_files"] and "default.calibration.json" in a["pipeline_files"]
    assert c["pipeline_files"]["default.toml"] != a["pipeline_files"]["default.toml"]
    dev = [r["splits"]["development"]["water"]["methods"]["envtrust"] for r in (a, b, c)]
    assert dev[0]["ap"] == dev[1]["ap"] and dev[0]["event_recall"] == dev[1]["event_recall"]
    assert dev[2]["ap"] != dev[0]["ap"]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--networks", "air,sea", "unknown networks ['sea']"),
    ("--networks", ",", "no network given"),
    ("--pipeline", "/nonexistent/pipe.toml", "--pipeline /nonexistent/pipe.toml: cannot load it"),
    ("--pipeline", "no_such_pipeline", "known: default"),
])
def test_bad_network_or_pipeline_is_a_clear_error(tmp_path, capsys, option, value, message):
    assert main(["evaluate", "--quick", option, value, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written


def test_pipeline_folder_without_default_toml_and_broken_toml(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", "--quick", "--pipeline", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "holds no default.toml" in capsys.readouterr().err
    broken = _copy_default_pipeline(tmp_path / "broken", lambda t: t.replace('name = "range"', 'name = "teleport"'))
    assert main(["evaluate", "--quick", "--pipeline", str(broken), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cannot load it" in err and "Traceback" not in err
