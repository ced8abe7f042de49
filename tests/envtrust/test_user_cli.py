"""`envtrust user add|list`: hashed passwords, clear errors, audited, nothing lost on mistakes."""

from __future__ import annotations

import io

import pytest

from data.store import connect
from data.users import verify_user
from envtrust.cli import main
from envtrust.record.verify import leaf_problems


def _add(monkeypatch, db, *args, password="s3cret-pass\n"):
    monkeypatch.setattr("sys.stdin", io.StringIO(password))
    return main(["user", "add", *args, "--db", str(db), "--password-stdin"])


def test_add_then_list(tmp_path, monkeypatch, capsys):
    db = tmp_path / "u.duckdb"
    assert _add(monkeypatch, db, "ana", "--role", "analyst") == 0
    assert _add(monkeypatch, db, "lea", "--role", "leader", "--display-name", "王局长") == 0
    assert main(["user", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ana" in out and "analyst" in out and "王局长" in out
    assert "s3cret-pass" not in out
    con = connect(db)
    try:
        assert verify_user(con, "ana", "s3cret-pass") == "analyst"
        assert verify_user(con, "ana", "wrong-pass") is None
        stored = con.execute("SELECT password_hash FROM users WHERE username = 'ana'").fetchone()[0]
        assert "s3cret-pass" not in stored
        actions = con.execute("SELECT action, subject FROM audit_log ORDER BY seq").fetchall()
        assert actions == [("user_add", "ana"), ("user_add", "lea")]
        assert leaf_problems(con) == []
    finally:
        con.close()


def test_duplicate_user_is_a_clear_error_and_keeps_the_old_password(tmp_path, monkeypatch, capsys):
    db = tmp_path / "u.duckdb"
    _add(monkeypatch, db, "ana", "--role", "analyst")
    assert _add(monkeypatch, db, "ana", "--role", "admin", password="another-pass\n") == 2
    assert "exists" in capsys.readouterr().err
    con = connect(db)
    try:
        assert verify_user(con, "ana", "s3cret-pass") == "analyst"
    finally:
        con.close()
    assert _add(monkeypatch, db, "ana", "--role", "admin", "--replace", password="another-pass\n") == 0
    con = connect(db)
    try:
        assert verify_user(con, "ana", "another-pass") == "admin"
    finally:
        con.close()


@pytest.mark.parametrize(("args", "password", "message"), [
    (["ana", "--role", "analyst"], "short\n", "at least 8"),
    (["bad name!", "--role", "analyst"], "long-enough-pw\n", "username"),
    (["ana", "--role", "analyst"], "", "standard input is empty"),
])
def test_bad_input_is_one_line_error(tmp_path, monkeypatch, capsys, args, password, message):
    assert _add(monkeypatch, tmp_path / "u.duckdb", *args, password=password) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_role_is_rejected_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["user", "add", "ana", "--role", "boss", "--db", str(tmp_path / "u.duckdb")])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_getpass_prompts_twice_and_must_match(tmp_path, monkeypatch, capsys):
    answers = iter(["first-password", "other-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    db = tmp_path / "u.duckdb"
    assert main(["user", "add", "ana", "--role", "analyst", "--db", str(db)]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter(["same-password", "same-password"])
    assert main(["user", "add", "ana", "--role", "analyst", "--db", str(db)]) == 0


def test_list_on_empty_store_says_how_to_add(tmp_path, capsys):
    assert main(["user", "list", "--db", str(tmp_path / "u.duckdb")]) == 0
    assert "envtrust user add" in capsys.readouterr().out


def test_no_action_is_a_clear_error(capsys):
    assert main(["user"]) == 2
    assert "envtrust user add" in capsys.readouterr().err
