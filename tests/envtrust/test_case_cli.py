"""`envtrust case` end to end on a real store: alarms, open, move, a refused skip, show, evidence."""

from __future__ import annotations

from envtrust.cli import main
from tests.envtrust.cases_fixture import build_store


def test_case_cli_walk(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    build_store(db).close()
    assert main(["case", "--db", str(db), "alarms"]) == 0
    assert "4 new" in capsys.readouterr().out
    assert main(["case", "--db", str(db), "open", "--user", "ana", "--role", "analyst", "--title", "排口",
                 "--event", "E1"]) == 0
    case_id = capsys.readouterr().out.split()[-1]
    assert main(["case", "--db", str(db), "move", case_id, "accept", "--user", "enf", "--role", "enforcement",
                 "--version", "1"]) == 2
    assert "cannot accept and investigate a case in state 发现" in capsys.readouterr().err
    assert main(["case", "--db", str(db), "move", case_id, "transfer_clue", "--user", "ana", "--role", "analyst",
                 "--version", "1"]) == 0
    # the case holds the event E1: its suspected-interference alarm goes to enforcement with the clue
    assert ("found -> clue_transferred, version 2 (1 alarm pushed to enforcement; evidence pack frozen)"
            in capsys.readouterr().out)
    assert main(["case", "--db", str(db), "show", case_id]) == 0
    assert "clue_transferred" in capsys.readouterr().out
    out = tmp_path / "pack.html"
    assert main(["case", "--db", str(db), "evidence", case_id, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert main(["case", "--db", str(db), "list", "--state", "clue_transferred"]) == 0
    assert case_id in capsys.readouterr().out
