"""`envtrust serve`: clear errors before serving, the URLs and demo accounts it prints."""

from __future__ import annotations

from envtrust.cli import main
from envtrust.commands.serve import demo_accounts_text, service_urls


def test_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "no envtrust store" in err and "envtrust demo" in err and "Traceback" not in err


def test_bad_port_is_a_clear_error(tmp_path, capsys):
    from data.store import init_db

    init_db(tmp_path / "s.duckdb")
    assert main(["serve", "--db", str(tmp_path / "s.duckdb"), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_urls_name_every_entry_point():
    urls = service_urls("0.0.0.0", 8050, "1001A")
    assert urls == {
        "internal": "http://127.0.0.1:8050/app/",
        "login": "http://127.0.0.1:8050/login",
        "embed map": "http://127.0.0.1:8050/embed/map",
        "embed station": "http://127.0.0.1:8050/embed/station/1001A",
    }
    assert "embed station" not in service_urls("127.0.0.1", 9000)


def test_demo_accounts_are_read_next_to_the_store(tmp_path):
    db = tmp_path / "var" / "envtrust.duckdb"
    db.parent.mkdir()
    assert demo_accounts_text(db) is None
    (db.parent / "demo-accounts.txt").write_text("analyst  user analyst  password x\n", encoding="utf-8")
    assert demo_accounts_text(db) == "analyst  user analyst  password x"
