"""`envtrust record verify` against a DuckDB file tampered with directly (UPDATE/DELETE/INSERT as
a database administrator would): it exits 1 and names the first bad entry for an edited row, a
deleted row or tail, a row appended out of order, and a log rebuilt from scratch."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from data import audit
from data.store import connect
from envtrust.cli import main
from envtrust.record import service
from envtrust.settings import load_settings

EVERY = 5
SIZE = 12  # checkpoints stored at 5 and 10; 10 and 11 after the last one


@pytest.fixture()
def log(tmp_path):
    """A store with 12 entries (audit and interference), a checkpoint file kept outside at 12."""
    settings = load_settings(db_path=tmp_path / "rec.duckdb", record_checkpoint_every=EVERY)
    service.ensure_signing_key(settings)
    signer = service.signer_from_settings(settings)
    con = connect(settings.db_path)
    for i in range(SIZE):
        if i % 3 == 0:
            rec = service.Interference("张三", "副区长", "某区人民政府", "oral", f"电话要求关注3号站 {i}",
                                       datetime(2026, 3, 1, 1, 30), "li", ("S003",), ("C-1",),
                                       (service.Attachment("letter.txt", f"letter {i}".encode()),))
            service.add_interference(con, rec, signer)
        else:
            audit.append(con, "ana", "login", "dashboard", {"address": "127.0.0.1", "i": i})
    service.sign_due_checkpoints(con, signer)
    outside = tmp_path / "checkpoint.txt"
    outside.write_text(service.checkpoint(con, signer), encoding="utf-8")
    con.close()
    return settings, outside


def verify(settings, capsys, *checkpoints) -> tuple[int, str]:
    args = ["record", "verify", "--db", str(settings.db_path)]
    for cp in checkpoints:
        args += ["--checkpoint", str(cp)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def tamper(settings, *statements: tuple[str, list]) -> None:
    """Open the file with plain duckdb (no envtrust code) and run the statements."""
    con = duckdb.connect(str(settings.db_path))
    for sql, params in statements:
        con.execute(sql, params)
    con.close()


def first_bad(output: str) -> int:
    return int(output.split("first bad entry: ")[1].split(":")[0])


def test_an_intact_log_verifies_with_its_outside_checkpoint(log, capsys):
    settings, outside = log
    code, out = verify(settings, capsys, outside)
    assert code == 0, out
    assert f"{SIZE} entries" in out and "4 checkpoint(s)" in out  # stored 5, 10, 12 + the file


def test_edited_content_is_named(log, capsys):
    settings, outside = log
    tamper(settings, ("UPDATE record_content SET content = replace(content, '3号站', '5号站') WHERE idx = 6", []))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 6, out
    assert "commitment" in out


def test_edited_column_is_named(log, capsys):
    settings, outside = log
    tamper(settings, ("UPDATE record_log SET actor = 'nobody' WHERE idx = 4", []))
    code, out = verify(settings, capsys)
    assert code == 1 and first_bad(out) == 4, out


def test_entry_rewritten_with_its_columns_is_named_by_the_next_link(log, capsys):
    settings, outside = log
    con = duckdb.connect(str(settings.db_path))
    entry = json.loads(con.execute("SELECT entry FROM record_log WHERE idx = 7").fetchone()[0])
    con.close()
    entry["actor"] = "nobody"
    tamper(settings, ("UPDATE record_log SET entry = ?, actor = 'nobody' WHERE idx = 7", [audit.canonical_json(entry)]))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 7, out
    assert "stored checkpoint of size 10" in out  # the signed root no longer matches either


def test_deleted_row_is_named(log, capsys):
    settings, outside = log
    tamper(settings, ("DELETE FROM record_log WHERE idx = 3", []), ("DELETE FROM record_content WHERE idx = 3", []))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 3, out


def test_deleted_tail_and_its_stored_checkpoints_is_caught_by_the_outside_checkpoint(log, capsys):
    settings, outside = log
    tamper(settings, ("DELETE FROM record_log WHERE idx >= 9", []), ("DELETE FROM record_content WHERE idx >= 9", []),
           ("DELETE FROM record_checkpoints WHERE tree_size > 5", []))
    code, out = verify(settings, capsys)  # without the outside checkpoint the shorter log looks whole
    assert code == 0, out
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 9, out
    assert "entries 9..11 were deleted" in out


def test_row_appended_out_of_order_is_named(log, capsys):
    settings, outside = log
    con = duckdb.connect(str(settings.db_path))
    last = con.execute("SELECT entry, logged_at FROM record_log WHERE idx = 11").fetchone()
    con.close()
    backdated = last[1] - timedelta(days=30)  # slipped in later, dated a month back
    salt, content = b"s" * 32, audit.canonical_json({"verdict": "false_alarm"})
    entry = audit.build_entry(12, backdated, "audit", "ana", "event_review", "E1",
                              audit.commitment(salt, content), audit.entry_digest(last[0]))
    tamper(settings, ("INSERT INTO record_log VALUES (12, ?, 'audit', 'ana', 'event_review', 'E1', ?)", [backdated, entry]),
           ("INSERT INTO record_content (idx, salt, content) VALUES (12, ?, ?)", [salt, content]))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 12, out
    assert "out of order" in out


def test_swapped_rows_are_named(log, capsys):
    settings, outside = log
    tamper(settings, ("UPDATE record_log SET idx = 100 WHERE idx = 2", []),
           ("UPDATE record_log SET idx = 2 WHERE idx = 1", []), ("UPDATE record_log SET idx = 1 WHERE idx = 100", []))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 1, out


def test_content_cleared_without_a_redaction_is_named(log, capsys):
    settings, outside = log
    tamper(settings, ("UPDATE record_content SET content = NULL, salt = NULL, redacted_at = now() WHERE idx = 9", []))
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 9, out
    assert "no redaction entry" in out


def test_lawful_redaction_keeps_the_log_verifiable(log, capsys):
    settings, outside = log
    con = connect(settings.db_path)
    service.redact(con, 3, "director", "personal data, court order 12", service.signer_from_settings(settings))
    content = con.execute("SELECT content, salt FROM record_content WHERE idx = 3").fetchone()
    con.close()
    assert content == (None, None)
    code, out = verify(settings, capsys, outside)
    assert code == 0, out


def test_log_rebuilt_from_scratch_is_caught(log, capsys):
    """An administrator empties the log and writes it again (valid links, fresh checkpoints would
    need the key, so they are dropped); the checkpoint kept outside exposes it."""
    settings, outside = log
    tamper(settings, ("DELETE FROM record_log", []), ("DELETE FROM record_content", []),
           ("DELETE FROM record_checkpoints", []))
    con = connect(settings.db_path)
    for i in range(SIZE + 3):
        audit.append(con, "ana", "login", "dashboard", {"i": i})
    con.close()
    code, out = verify(settings, capsys)
    assert code == 0, out  # internally consistent
    code, out = verify(settings, capsys, outside)
    assert code == 1 and first_bad(out) == 0, out
    assert "does not contain the log of size 12" in out


def test_rebuilt_log_resigned_with_another_key_is_refused(log, capsys, tmp_path):
    settings, outside = log
    other = load_settings(db_path=settings.db_path, record_key=tmp_path / "other.pem",
                          record_checkpoint_every=EVERY)
    service.ensure_signing_key(other)
    con = connect(settings.db_path)
    con.execute("UPDATE record_checkpoints SET note = ? WHERE tree_size = 5",
                [service.checkpoint(con, service.signer_from_settings(other))])
    con.close()
    code, out = verify(settings, capsys)
    assert code == 1 and "no signature by envtrust.local/record" in out, out


def test_receipt_proves_inclusion_and_a_forged_one_fails(log, capsys, tmp_path):
    settings, outside = log
    assert main(["record", "receipt", "3", "--db", str(settings.db_path), "--out", str(tmp_path / "r.json")]) == 0
    code = main(["record", "verify", "--db", str(settings.db_path), "--receipt", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr()
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    key = service.verifier_key_path(settings).read_text(encoding="utf-8")
    assert service.check_receipt(doc, key) == []
    doc["content"] = doc["content"].replace("3号站", "5号站")
    assert "commitment" in service.check_receipt(doc, key)[0]
    doc["entry"] = doc["entry"].replace('"li"', '"wang"')
    assert "not in the signed log" in service.check_receipt(doc, key)[0]
