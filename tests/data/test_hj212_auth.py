"""HJ 212 access passwords (PW) over real TCP against a real temp store (no mocks).

HJ 212-2017: the PW field authenticates the data logger (MN); a wrong PW is answered 9011 QnRtn=3.
"""

from __future__ import annotations

import io
import socket
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from data.hj212.auth import (
    PasswordChecker,
    check_pw_text,
    logger_credentials,
    redact_pw,
    set_logger_password,
)
from data.hj212.client import send_packets, send_readings
from data.hj212.packet import build_cp, build_packet, frame_segment, parse_packet
from data.hj212.receiver import ReceiverThread
from data.store import connect

MN = "MNAUTH000001"
OPEN_MN = "MNOPEN000001"  # a station without a configured password
PW = "s3Cr#t"


@pytest.fixture()
def db(tmp_path) -> Path:
    path = tmp_path / "auth.duckdb"
    con = connect(path)
    con.execute(
        "INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) VALUES "
        "('P1', 'Plant 1 stack', 'polluter_outlet', 116.4, 39.9, 'flue_gas', ?), "
        "('P2', 'Plant 2 stack', 'polluter_outlet', 116.5, 39.9, 'flue_gas', ?)", [MN, OPEN_MN])
    set_logger_password(con, MN, PW, actor="test")
    con.close()
    return path


def packet(hour: int, pw: str | None = PW, mn: str = MN, so2: float = 20.0) -> bytes:
    cp = build_cp(datetime(2024, 5, 1, hour), {"a21026": {"Avg": so2, "Flag": "N"}, "a19001": {"Avg": 9.0, "Flag": "N"}})
    qn = f"20240501{hour:02d}0000000"
    if pw is not None:
        return build_packet("31", "2061", mn, cp, qn=qn, pw=pw, flag=5)
    return frame_segment(f"QN={qn};ST=31;CN=2061;MN={mn};Flag=5;CP=&&{cp}&&")  # no PW field at all


def exchange(port: int, frames: list[bytes], timeout_s: float = 10.0) -> list:
    """Send frames on one link and return one parsed answer per frame."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(b"".join(frames))
        buf = b""
        while buf.count(b"\r\n") < len(frames):
            data = sock.recv(65536)
            if not data:
                break
            buf += data
    return [parse_packet(line + b"\r\n") for line in buf.split(b"\r\n") if line]


def query(db: Path, sql: str, params=None) -> pd.DataFrame:
    con = connect(db)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def test_right_pw_is_stored_wrong_or_missing_pw_refused_with_qnrtn_3(db):
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        good, wrong, missing, empty = exchange(rx.port, [packet(1), packet(2, pw="123456"), packet(3, pw=None),
                                                         packet(4, pw="")])
    assert good.cn == "9014" and good.qn == "20240501010000000"
    for answer, hour in ((wrong, 2), (missing, 3), (empty, 4)):
        assert answer.cn == "9011" and answer.cp["QnRtn"] == "3" and answer.qn == f"20240501{hour:02d}0000000"
    readings = query(db, "SELECT ts FROM readings")
    assert set(readings["ts"]) == {pd.Timestamp("2024-05-01 01:00") - pd.Timedelta(hours=8)}  # only hour 1
    q = query(db, "SELECT reason, raw, detail FROM quarantine ORDER BY quarantine_id")
    assert q["reason"].tolist() == ["bad_pw", "bad_pw", "bad_pw"]
    assert "123456" not in " ".join(q["raw"]) and "PW=***" in q["raw"].iloc[0]  # the tried PW is not kept
    log = query(db, "SELECT mn, status, raw FROM hj212_packets")
    assert log["status"].tolist() == ["stored"]  # refused packets are not in the packet log either
    assert PW not in log["raw"].iloc[0] and "PW=***" in log["raw"].iloc[0]


def test_logger_without_password_is_refused_by_default(db, monkeypatch):
    monkeypatch.delenv("ENVTRUST_HJ212_ALLOW_NO_PW", raising=False)
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        [answer] = exchange(rx.port, [packet(5, pw="123456", mn=OPEN_MN)])
    assert answer.cn == "9011" and answer.cp["QnRtn"] == "3"
    assert query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 0
    assert query(db, "SELECT reason FROM quarantine")["reason"].tolist() == ["pw_not_configured"]


def test_allow_no_pw_setting_keeps_the_old_behaviour_for_unconfigured_loggers_only(db, monkeypatch):
    from envtrust.settings import load_settings

    monkeypatch.setenv("ENVTRUST_HJ212_ALLOW_NO_PW", "1")  # read once at the top, passed down
    with ReceiverThread(db, "127.0.0.1", 0, allow_no_pw=load_settings().hj212_allow_no_pw) as rx:
        open_ok, still_checked = exchange(rx.port, [packet(6, pw="anything"[:6], mn=OPEN_MN),
                                                    packet(7, pw="wrong", mn=MN)])
    assert open_ok.cn == "9014"
    assert still_checked.cn == "9011" and still_checked.cp["QnRtn"] == "3"  # a configured PW is always checked
    assert query(db, "SELECT DISTINCT station_id FROM readings")["station_id"].tolist() == ["P2"]


def test_resent_stored_packet_with_wrong_pw_gets_no_ack(db):
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        [first] = exchange(rx.port, [packet(8)])
        [replay] = exchange(rx.port, [packet(8, pw="000000")])  # same QN and content, wrong PW
        [resend] = exchange(rx.port, [packet(8)])
    assert first.cn == "9014" and resend.cn == "9014"
    assert replay.cn == "9011" and replay.cp["QnRtn"] == "3"
    assert query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 2  # stored once


def test_split_packet_with_one_part_wrong_pw_is_refused(db):
    qn = "20240501090000000"
    part1 = build_packet("31", "2061", MN, "DataTime=20240501090000;a21026-Avg=11,a21026-Flag=N",
                         qn=qn, pw=PW, flag=7, pnum=2, pno=1)
    part2 = build_packet("31", "2061", MN, "DataTime=20240501090000;a19001-Avg=8.5,a19001-Flag=N",
                         qn=qn, pw="bad", flag=7, pnum=2, pno=2)
    with ReceiverThread(db, "127.0.0.1", 0) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.settimeout(10)
        sock.sendall(part1 + part2)
        answer = parse_packet(sock.recv(65536).split(b"\r\n")[0] + b"\r\n")
    assert answer.cn == "9011" and answer.cp["QnRtn"] == "3"
    assert query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 0


def test_simulator_and_password_change_take_effect(db):
    hours = pd.date_range("2024-06-01", periods=4, freq="h")
    readings = pd.DataFrame({"station_id": "P1", "ts": hours, "parameter": "flue_SO2", "value": 25.0, "flag": "N"})
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        ok = send_readings(readings.iloc[:2], "127.0.0.1", rx.port, mn=MN, pw=PW)
        con = connect(db)  # same process: shares the receiver's database instance, as `serve` does
        try:
            set_logger_password(con, MN, "n3w", actor="test")
        finally:
            con.close()
        old = send_readings(readings.iloc[2:], "127.0.0.1", rx.port, mn=MN, pw=PW, max_attempts=1)
        new = send_readings(readings.iloc[2:], "127.0.0.1", rx.port, mn=MN, pw="n3w")
    assert len(ok.acked) == 2 and not ok.refused
    assert set(old.refused.values()) == {3} and not old.acked  # the remembered old PW no longer passes
    assert len(new.acked) == 2


def test_passwords_are_stored_hashed_and_validated(db):
    con = connect(db)
    try:
        stored = con.execute("SELECT pw_hash FROM hj212_logger_auth WHERE mn = ?", [MN]).fetchone()[0]
        assert PW not in stored and stored.startswith("scrypt:")
        actions = [r[0] for r in con.execute("SELECT action FROM audit_log").fetchall()]
        assert "hj212_password_set" in actions
        for bad in ("1234567", "", "a;b", "a b", "pw=1", "中文"):
            with pytest.raises(ValueError, match="HJ 212 PW"):
                set_logger_password(con, MN, bad)
        with pytest.raises(ValueError, match="MN"):
            set_logger_password(con, "bad mn!", "123456")
        creds = logger_credentials(con).set_index("mn")
        assert bool(creds.at[MN, "has_password"]) and not bool(creds.at[OPEN_MN, "has_password"])
        assert "pw_hash" not in creds.columns
    finally:
        con.close()
    assert check_pw_text("Ab-12_") == "Ab-12_"
    assert redact_pw("QN=1;ST=31;CN=2061;PW=abc;MN=X;CP=&&&&\nST=31;PW=;MN=X") == \
        "QN=1;ST=31;CN=2061;PW=***;MN=X;CP=&&&&\nST=31;PW=***;MN=X"


def test_checker_hashes_each_logger_once_and_throttles_guessing_sources():
    from werkzeug.security import generate_password_hash

    now = [0.0]
    checker = PasswordChecker(max_fresh_failures=3, window_s=600, clock=lambda: now[0])
    checker.load({"M1": generate_password_hash("right", method="scrypt:1024:8:1")})
    assert checker.check("M1", "right", "10.0.0.1") is None and checker.checks == 1
    assert checker.check("M1", "right", "10.0.0.1") is None and checker.checks == 1  # remembered
    assert checker.check("M1", "wrong", "10.0.0.9")[0] == "bad_pw" and checker.checks == 2
    assert checker.check("M1", "wrong", "10.0.0.9")[0] == "bad_pw" and checker.checks == 2  # remembered wrong
    for guess in ("g1", "g2", "g3"):
        assert checker.check("M1", guess, "10.0.0.9")[0] in ("bad_pw", "pw_throttled")
    assert checker.checks == 4  # 3 fresh failures from 10.0.0.9, then its guesses are not hashed
    assert checker.check("M1", "g5", "10.0.0.9")[0] == "pw_throttled"
    assert checker.check("M1", "right", "10.0.0.1") is None  # the verified PW keeps working during the flood
    assert checker.check("M1", "g7", "10.0.0.2")[0] == "bad_pw"  # another address is checked
    now[0] = 601.0
    assert checker.check("M1", "g6", "10.0.0.9")[0] == "bad_pw" and checker.checks == 6  # window passed
    assert checker.check("M9", "x")[0] == "pw_not_configured"


def test_guesses_for_an_mn_never_lock_out_its_right_password():
    """Defect 3: after a restart (nothing verified yet), many wrong PWs for an MN from one
    address must not refuse the right PW from the logger's own address."""
    from werkzeug.security import generate_password_hash

    checker = PasswordChecker(max_fresh_failures=10, max_checks_per_s=1000)
    checker.load({"M1": generate_password_hash("right", method="scrypt:1024:8:1")})
    for n in range(30):
        assert checker.check("M1", f"bad{n}", "203.0.113.7")[0] in ("bad_pw", "pw_throttled")
    assert checker.check("M1", "right", "198.51.100.2") is None


def test_global_budget_defers_rather_than_refuses():
    from werkzeug.security import generate_password_hash

    now = [0.0]
    checker = PasswordChecker(max_checks_per_s=2, clock=lambda: now[0])
    checker.load({f"M{i}": generate_password_hash("right", method="scrypt:1024:8:1") for i in range(4)})
    results = [checker.check(f"M{i}", "right", f"10.0.0.{i}") for i in range(4)]
    assert results[:2] == [None, None] and [r[0] for r in results[2:]] == ["pw_throttled"] * 2
    now[0] = 1.0
    assert checker.check("M2", "right", "10.0.0.2") is None  # checked once the budget refills


def test_lockout_attempt_over_tcp_from_another_address(db):
    """Over real sockets: 15 wrong PWs for the MN from 127.0.0.2, then the logger itself
    (127.0.0.1) with the right PW is acknowledged; the guesses beyond the limit get no answer."""
    guesses = [packet(n % 10, pw=f"x{n:05d}") for n in range(15)]
    good = packet(11)
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        with socket.create_connection(("127.0.0.1", rx.port), source_address=("127.0.0.2", 0)) as attacker:
            attacker.sendall(b"".join(guesses))
            attacker.settimeout(30)
            answers = b""
            while answers.count(b"\r\n") < 10:
                answers += attacker.recv(65536)
        report = send_packets({"20240501110000000": good}, "127.0.0.1", rx.port, timeout_s=10)
    assert report.acked == ["20240501110000000"]
    assert answers.count(b"QnRtn=3") == 10
    con = connect(db)
    try:
        reasons = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
    finally:
        con.close()
    assert reasons == {"bad_pw": 10, "pw_throttled": 5}


def test_cli_sets_lists_and_removes_passwords(db, monkeypatch, capsys):
    from envtrust.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("abc123\n"))
    assert main(["hj212", "password", OPEN_MN, "--db", str(db), "--password-stdin"]) == 0
    assert main(["hj212", "password", "--list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"password of MN {OPEN_MN} set" in out and "NO PASSWORD" not in out and "abc123" not in out
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        [answer] = exchange(rx.port, [packet(10, pw="abc123", mn=OPEN_MN)])
    assert answer.cn == "9014"
    assert main(["hj212", "password", OPEN_MN, "--db", str(db), "--remove"]) == 0
    assert main(["hj212", "password", "--list", "--db", str(db)]) == 0
    assert "NO PASSWORD" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("toolong7\n"))
    assert main(["hj212", "password", OPEN_MN, "--db", str(db), "--password-stdin"]) != 0
    assert "1 to 6 printable ASCII" in capsys.readouterr().err


def test_listen_refuses_a_mistyped_allow_no_pw_setting(db, monkeypatch, capsys):
    from envtrust.cli import main

    monkeypatch.setenv("ENVTRUST_HJ212_ALLOW_NO_PW", "yes please")
    assert main(["hj212", "listen", "--db", str(db), "--host", "127.0.0.1", "--port", "0"]) == 2
    assert "ENVTRUST_HJ212_ALLOW_NO_PW" in capsys.readouterr().err
