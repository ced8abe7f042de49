"""The HJ 212 receiver over real TCP sockets on 127.0.0.1 against a real temp DuckDB store.

No mocks: the receiver runs ``data.ingest.ingest_readings`` on its own write connection; the
crash test runs it as a subprocess (``envtrust hj212 listen``) and kills it with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data.hj212.auth import set_logger_password
from data.hj212.client import send_packets, send_readings, station_packets, unique_qns
from data.hj212.crc import crc_hex
from data.hj212.packet import build_cp, build_packet, parse_packet
from data.hj212.receiver import ReceiverThread
from data.store import connect

ROOT = Path(__file__).resolve().parents[2]
FLUE_MN = "MNFLUE000001"
WW_MN = "MNWW00000001"
AIR_MN = "MNAIR0000001"
WATER_MN = "MNWATER00001"
LOGGER_PW = "123456"


def make_store(path: Path) -> Path:
    con = connect(path)
    con.execute(
        "INSERT INTO stations (station_id, name, kind, lon, lat, enterprise, outlet_type, hj212_mn) VALUES "
        "('P1', 'Plant 1 stack', 'polluter_outlet', 116.4, 39.9, 'Plant 1', 'flue_gas', ?), "
        "('W1', 'Plant 1 effluent', 'polluter_outlet', 116.4, 39.9, 'Plant 1', 'wastewater', ?), "
        "('A1', 'Air station', 'air_station', 116.3, 39.9, NULL, NULL, ?), "
        "('S1', 'River section', 'water_section', 116.2, 39.8, NULL, NULL, ?)",
        [FLUE_MN, WW_MN, AIR_MN, WATER_MN],
    )
    for mn in (FLUE_MN, WW_MN, AIR_MN, WATER_MN):  # the PW our simulator and build_packet send
        set_logger_password(con, mn, LOGGER_PW, actor="test")
    con.close()
    return path


@pytest.fixture()
def db(tmp_path) -> Path:
    return make_store(tmp_path / "hj212.duckdb")


def ThreadReceiver(db_path: Path, **options) -> ReceiverThread:  # noqa: N802 - reads like the class it returns
    """The product's receiver thread on a free port of 127.0.0.1 (the tests talk to it over TCP)."""
    return ReceiverThread(db_path, "127.0.0.1", 0, **options)


# tests run once per writer: the store's work on a thread (envtrust serve) and in a process of its
# own (envtrust hj212 listen: bare frames in, answers back over a pipe; the store is read after
# the receiver stopped, as the writer process holds DuckDB's file lock while it runs)
both_writers = pytest.mark.parametrize("writer", ["thread", "process"])


def read_answers(sock: socket.socket, n: int, timeout_s: float = 5.0) -> list:
    """The next ``n`` answers (parsed packets) from the receiver."""
    sock.settimeout(timeout_s)
    buf = b""
    while buf.count(b"\r\n") < n:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return [parse_packet(line + b"\r\n") for line in buf.split(b"\r\n") if line]


def flue_packet(hour: int, so2: float = 20.0, flag: str = "N", qn: str | None = None, pkt_flag: int = 5,
                cn: str = "2061", mn: str = FLUE_MN) -> bytes:
    cp = build_cp(datetime(2024, 5, 1, hour), {"a21026": {"Avg": so2, "ZsAvg": so2 * 1.4, "Flag": flag},
                                               "a19001": {"Avg": 9.0, "Flag": "N"},
                                               "a00000": {"Avg": 2.5, "Cou": 9000.0, "Flag": "N"}})
    return build_packet("31", cn, mn, cp, qn=qn or f"20240501{hour:02d}0000000", flag=pkt_flag)


def query(db_path: Path, sql: str, params=None) -> pd.DataFrame:
    con = connect(db_path)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


@both_writers
def test_acked_packets_are_stored_with_flags(db, writer):
    packets = {f"20240501{h:02d}0000000": flue_packet(h, so2=10.0 + h, flag="M" if h == 3 else "N",
                                                      qn=f"20240501{h:02d}0000000") for h in range(6)}
    with ThreadReceiver(db, writer=writer) as rx:
        report = send_packets(packets, "127.0.0.1", rx.port, timeout_s=5)
    assert sorted(report.acked) == sorted(packets) and not report.unacked and not report.refused
    r = query(db, "SELECT * FROM readings ORDER BY ts, parameter")
    assert len(r) == 6 * 3 and set(r["station_id"]) == {"P1"}
    so2 = r[r["parameter"] == "flue_SO2"].reset_index(drop=True)
    assert so2["value"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]  # measured, not Zs (x1.4)
    assert so2["flag"].tolist() == ["N", "N", "N", "M", "N", "N"]
    assert so2["ts"].iloc[0] == pd.Timestamp("2024-04-30 16:00")  # 00:00 CST -> 16:00 UTC
    flow = r[r["parameter"] == "flue_flow"]["value"]
    assert (flow == 2.5 * 3600).all()
    log = query(db, "SELECT status, readings_in, mn FROM hj212_packets")
    assert len(log) == 6 and set(log["status"]) == {"stored"} and (log["readings_in"] == 3).all()


@both_writers
def test_malformed_packets_are_quarantined_and_answered(db, writer):
    good = flue_packet(1, qn="20240501010000000")
    bad_crc = flue_packet(2, qn="20240501020000000")[:-6] + b"0000\r\n"
    unknown_mn = flue_packet(3, qn="20240501030000000", mn="NOSUCHDEVICE")
    unknown_cn = build_packet("31", "2999", FLUE_MN, "DataTime=20240501040000", qn="20240501040000000")
    wrong_st = build_packet("32", "2061", FLUE_MN, "DataTime=20240501050000;w01018-Avg=5", qn="20240501050000000")
    bad_time = build_packet("31", "2061", FLUE_MN, "DataTime=20241301000000;a21026-Avg=5", qn="20240501060000000")
    bad_value = build_packet("31", "2061", FLUE_MN, "DataTime=20240501070000;a21026-Avg=-5,a21026-Flag=N",
                             qn="20240501070000000")
    too_long = b"##9999" + b"x" * 3000 + b"\r\n"
    junk = b"hello\r\n"
    with ThreadReceiver(db, writer=writer) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(bad_crc + unknown_mn + unknown_cn + wrong_st + bad_time + too_long + junk + bad_value + good)
        answers = read_answers(sock, 7)
    by_qn = {a.qn: a for a in answers}
    assert by_qn["20240501020000000"].cp == {"QnRtn": "9"}  # CRC error
    assert by_qn["20240501030000000"].cp == {"QnRtn": "4"}  # MN unknown
    assert by_qn["20240501040000000"].cp == {"QnRtn": "8"}  # CN unknown
    assert by_qn["20240501050000000"].cp == {"QnRtn": "5"}  # ST does not fit the station
    assert by_qn["20240501060000000"].cn == "9011"
    assert by_qn["20240501070000000"].cn == "9014"  # packet fine; its negative value is the ingest's call
    assert by_qn["20240501010000000"].cn == "9014"  # the link survived all the bad frames
    q = query(db, "SELECT reason, raw FROM quarantine")
    reasons = sorted(q["reason"])
    assert reasons == sorted(["bad_crc", "unknown_mn", "unknown_command", "st_mismatch", "bad_field",
                              "too_long", "bad_header", "negative_concentration"])
    assert q[q["reason"] == "bad_crc"]["raw"].iloc[0].startswith("##0")
    assert q[q["reason"] == "too_long"]["raw"].iloc[0].startswith("##9999xxx")
    r = query(db, "SELECT parameter, value FROM readings ORDER BY parameter")
    assert r["parameter"].tolist() == ["flue_O2", "flue_SO2", "flue_flow"]


def test_resent_packets_are_not_duplicated(db):
    packets = {f"20240501{h:02d}0000000": flue_packet(h, qn=f"20240501{h:02d}0000000") for h in range(4)}
    with ThreadReceiver(db) as rx:
        first = send_packets(packets, "127.0.0.1", rx.port)
        again = send_packets(packets, "127.0.0.1", rx.port)  # acks lost: the logger re-sends
        new_qn = {f"20240502{h:02d}0000000": flue_packet(h, qn=f"20240502{h:02d}0000000") for h in range(4)}
        third = send_packets(new_qn, "127.0.0.1", rx.port)  # same data, new request ids
    assert len(first.acked) == len(again.acked) == len(third.acked) == 4
    assert rx.stats.stored == 4 and rx.stats.duplicate == 8
    counts = query(db, "SELECT count(*) AS n, count(DISTINCT (ts, parameter)) AS k FROM readings")
    assert counts["n"].iloc[0] == counts["k"].iloc[0] == 12
    assert query(db, "SELECT count(*) AS n FROM hj212_packets")["n"].iloc[0] == 4


@pytest.mark.parametrize(("interval_s", "spacing_s"), [(1.0, 0.06), (0.0, 0.3)])
def test_commits_start_at_least_the_commit_interval_apart(db, interval_s, spacing_s):
    """A packet arriving within ``commit_interval_s`` of the last commit's start waits for more to
    join its batch: eight packets 60 ms apart make two commits with a 1 s interval (the first
    packet alone, then the other seven). Without an interval a packet is committed as soon as the
    writer is free: eight packets 300 ms apart (more than a commit takes, even on a busy machine)
    make about one commit each."""
    with ThreadReceiver(db, commit_interval_s=interval_s) as rx, \
            socket.create_connection(("127.0.0.1", rx.port)) as sock:
        for h in range(8):
            sock.sendall(flue_packet(h))
            time.sleep(spacing_s)
        answers = read_answers(sock, 8)
    assert len(answers) == 8 and rx.stats.stored == 8
    assert rx.stats.batches == 2 if interval_s else rx.stats.batches >= 6


def test_changed_value_for_a_stored_hour_goes_to_quarantine(db):
    with ThreadReceiver(db) as rx:
        send_packets({"20240501010000000": flue_packet(1, so2=10.0, qn="20240501010000000")}, "127.0.0.1", rx.port)
        send_packets({"20240501010000001": flue_packet(1, so2=99.0, qn="20240501010000001")}, "127.0.0.1", rx.port)
    so2 = query(db, "SELECT value FROM readings WHERE parameter = 'flue_SO2'")
    assert so2["value"].tolist() == [10.0]
    assert "duplicate_conflict" in set(query(db, "SELECT reason FROM quarantine")["reason"])


def test_station_registered_while_the_receiver_runs(db):
    from data.hj212.receiver import Incoming, PacketStore

    raw = flue_packet(8, qn="20240501080000000", mn="NEWDEVICE01")
    con = connect(db)
    try:
        store = PacketStore(con)
        [first] = store.commit_batch([Incoming(raw.decode(), "t", packet=parse_packet(raw))])
        assert first.status == "quarantined" and first.reason == "unknown_mn"
        con.execute("UPDATE stations SET hj212_mn = 'NEWDEVICE01' WHERE station_id = 'P1'")
        [unauthenticated] = store.commit_batch([Incoming(raw.decode(), "t", packet=parse_packet(raw))])
        assert unauthenticated.reason == "pw_not_configured"  # known now, but no password yet
        set_logger_password(con, "NEWDEVICE01", LOGGER_PW)
        [second] = store.commit_batch([Incoming(raw.decode(), "t", packet=parse_packet(raw))])
        assert second.status == "stored"
        assert con.execute("SELECT DISTINCT station_id FROM readings").fetchall() == [("P1",)]
    finally:
        con.close()


@both_writers
def test_split_packet_is_stored_once_and_each_part_answered(db, writer):
    qn = "20240501090000000"
    part1 = build_packet("31", "2061", FLUE_MN, "DataTime=20240501090000;a21026-Avg=11,a21026-Flag=N",
                         qn=qn, flag=7, pnum=2, pno=1)
    part2 = build_packet("31", "2061", FLUE_MN, "DataTime=20240501090000;a19001-Avg=8.5,a19001-Flag=N",
                         qn=qn, flag=7, pnum=2, pno=2)
    with ThreadReceiver(db, writer=writer) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(part2)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # half a packet is not acknowledged
        sock.sendall(part1)
        answers = read_answers(sock, 2)
    assert [a.cn for a in answers] == ["9014", "9014"] and {a.qn for a in answers} == {qn}
    r = query(db, "SELECT parameter, value FROM readings ORDER BY parameter")
    assert r["parameter"].tolist() == ["flue_O2", "flue_SO2"]


def test_incomplete_split_packet_is_quarantined_when_the_link_closes(db):
    part1 = build_packet("31", "2061", FLUE_MN, "DataTime=20240501090000;a21026-Avg=11",
                         qn="20240501090000000", flag=7, pnum=3, pno=1)
    with ThreadReceiver(db) as rx:
        with socket.create_connection(("127.0.0.1", rx.port)) as sock:
            sock.sendall(part1)
        deadline = time.monotonic() + 10  # the first part's PW is checked (scrypt) before it is held
        while query(db, "SELECT count(*) AS n FROM quarantine")["n"].iloc[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert query(db, "SELECT reason FROM quarantine")["reason"].tolist() == ["split_incomplete"]
    assert query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 0


def test_real_time_packets_are_logged_not_stored_and_no_ack_without_flag_a(db):
    rtd = build_packet("32", "2011", WW_MN, "DataTime=20240501101500;w01018-Rtd=30.1,w01018-Flag=N",
                       qn="20240501101500000")
    silent = build_packet("32", "2061", WW_MN, "DataTime=20240501100000;w01018-Avg=31,w01018-Flag=N;"
                          "w00000-Avg=10,w00000-Flag=N", qn="20240501101600000", flag=4)
    process = build_packet("51", "2061", FLUE_MN, "DataTime=20240501100000;a01012-Avg=120", qn="20240501101700000")
    with ThreadReceiver(db) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(rtd + silent + process)
        [ack, ack51] = read_answers(sock, 2)
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # Flag 4: no answer wanted, none sent
    assert ack.cn == "9014" and ack.qn == "20240501101500000"
    assert ack51.cn == "9014" and ack51.qn == "20240501101700000"  # working-condition data: kept raw
    r = query(db, "SELECT parameter, value FROM readings ORDER BY parameter")
    assert r["parameter"].tolist() == ["ww_COD", "ww_flow"] and r["value"].tolist() == [31.0, 36.0]
    log = query(db, "SELECT st, cn, status FROM hj212_packets ORDER BY st, cn")
    assert log.values.tolist() == [["32", "2011", "logged"], ["32", "2061", "stored"], ["51", "2061", "logged"]]


def test_send_readings_replays_a_polluters_hours(db):
    hours = pd.date_range("2024-06-01", periods=48, freq="h")
    readings = pd.concat([
        pd.DataFrame({"station_id": "P1", "ts": hours, "parameter": p, "value": v, "flag": "N"})
        for p, v in (("flue_SO2", 25.0), ("flue_NOx", 60.0), ("flue_O2", 8.0))
    ], ignore_index=True)
    readings.loc[5, "flag"] = "C"
    with ThreadReceiver(db) as rx:
        report = send_readings(readings, "127.0.0.1", rx.port, mn=FLUE_MN, window=8)
    assert len(report.acked) == 48 and not report.unacked
    stored = query(db, "SELECT station_id, ts, parameter, value, flag FROM readings ORDER BY parameter, ts")
    expected = readings.sort_values(["parameter", "ts"]).reset_index(drop=True)
    assert stored["value"].tolist() == expected["value"].tolist()
    assert stored["flag"].tolist() == expected["flag"].tolist()
    assert (stored["ts"].to_numpy() == expected["ts"].to_numpy()).all()


def test_air_and_water_stations_use_their_own_parameters(db):
    air = build_packet("22", "2061", AIR_MN, "DataTime=20240501120000;a21026-Avg=8,a21026-Flag=N;"
                       "a34004-Avg=35,a34004-Flag=N;a21005-Avg=0.6,a21005-Flag=N", qn="20240501120500000")
    water = build_packet("21", "2061", WATER_MN, "DataTime=20240501120000;w21003-Avg=0.4,w21003-Flag=N;"
                         "w01001-Avg=7.6,w01001-Flag=C", qn="20240501120500001")
    with ThreadReceiver(db) as rx:
        report = send_packets({"20240501120500000": air, "20240501120500001": water}, "127.0.0.1", rx.port)
    assert len(report.acked) == 2
    r = query(db, "SELECT station_id, parameter, value, flag FROM readings ORDER BY station_id, parameter")
    assert r.values.tolist() == [["A1", "CO", 0.6, "N"], ["A1", "PM2.5", 35.0, "N"], ["A1", "SO2", 8.0, "N"],
                                 ["S1", "NH3-N", 0.4, "N"], ["S1", "pH", 7.6, "C"]]


def test_crash_between_ingest_commit_and_packet_log_stores_once(db):
    """The readings of a packet were committed but the receiver died before logging it: the
    re-sent packet is not in the log, so it is ingested again - and the ingest skips the rows."""
    from data.hj212.packet import data_packet_to_readings
    from data.hj212.receiver import Incoming, PacketStore
    from data.ingest import ingest_readings

    raw = flue_packet(7, qn="20240501070000000")
    packet = parse_packet(raw)
    con = connect(db)
    try:
        store = PacketStore(con)  # the receiver's writer connection
        ingest_readings(con, data_packet_to_readings(packet, {"station_id": "P1"}).readings, "hj212:test", "hj212")
        item = Incoming(raw.decode(), "test", packet=packet)
        [outcome] = store.commit_batch([item])
        assert outcome.status == "stored" and parse_packet(outcome.answer(item)).cn == "9014"
        n = con.execute("SELECT count(*), count(DISTINCT parameter) FROM readings").fetchall()
        assert n == [(3, 3)]
        [again] = store.commit_batch([Incoming(raw.decode(), "test", packet=packet)])
        assert again.status == "duplicate"  # now it is in the packet log
    finally:
        con.close()


# ------------------------------------------------------------------ crash test (subprocess, SIGKILL)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_listener(db_path: Path, port: int, writer: str = "thread") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "envtrust.cli", "hj212", "listen", "--db", str(db_path), "--host", "127.0.0.1",
         "--port", str(port), "--batch-max", "4", "--writer", writer],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(f"listener did not start: {line!r} {proc.stderr.read()}")
    return proc


def hourly_readings(n_hours: int) -> pd.DataFrame:
    hours = pd.date_range("2024-07-01", periods=n_hours, freq="h")
    return pd.concat([
        pd.DataFrame({"station_id": "P1", "ts": hours, "parameter": p, "value": [base + i for i in range(n_hours)],
                      "flag": "N"})
        for p, base in (("flue_SO2", 10.0), ("flue_NOx", 50.0))
    ], ignore_index=True)


@pytest.mark.slow
@both_writers
def test_sigkill_mid_stream_loses_no_acknowledged_reading(tmp_path, writer):
    db_path = make_store(tmp_path / "crash.duckdb")
    n_hours = 60
    readings = hourly_readings(n_hours)
    qns = unique_qns(n_hours)
    packets = station_packets(readings, FLUE_MN, "31", qns=qns)
    hour_of = dict(zip(qns, sorted(readings["ts"].unique()), strict=True))
    port = free_port()
    proc = start_listener(db_path, port, writer)
    acked_before_kill: list[str] = []

    def on_ack(qn: str) -> None:
        acked_before_kill.append(qn)
        if len(acked_before_kill) == 20:
            os.kill(proc.pid, signal.SIGKILL)  # mid-stream: more packets are in flight

    report = send_packets(packets, "127.0.0.1", port, window=8, timeout_s=3, max_attempts=2,
                          retry_delay_s=0.2, on_ack=on_ack)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert 20 <= len(report.acked) < n_hours and report.unacked  # the kill really cut the stream

    # every acknowledged reading survived the SIGKILL (DuckDB replays its WAL on open)
    stored = query(db_path, "SELECT ts, parameter, value FROM readings")
    stored_hours = set(stored["ts"])
    for qn in report.acked:
        assert pd.Timestamp(hour_of[qn]) in stored_hours, f"acknowledged packet {qn} lost"
    assert len(stored) == len(stored.drop_duplicates(["ts", "parameter"]))

    # restart; the logger re-sends what was not acknowledged, plus some acknowledged ones (lost acks)
    proc = start_listener(db_path, port, writer)
    try:
        resend = {qn: packets[qn] for qn in report.unacked + report.acked[:10]}
        second = send_packets(resend, "127.0.0.1", port, window=16, timeout_s=5)
        assert sorted(second.acked) == sorted(resend)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "receiver stopped" in out
    final = query(db_path, "SELECT ts, parameter, value FROM readings ORDER BY parameter, ts")
    assert len(final) == 2 * n_hours  # every hour once, nothing twice
    expected = readings.sort_values(["parameter", "ts"]).reset_index(drop=True)
    assert final["value"].tolist() == expected["value"].tolist()


def writer_process_of(proc: subprocess.Popen) -> int:
    """The pid of the listener's writer process (the child multiprocessing spawned; the other
    child is multiprocessing's resource tracker)."""
    children = [int(pid) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                for pid in (task / "children").read_text().split()]
    writers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(writers) == 1, children
    return writers[0]


def test_listener_stops_when_its_writer_process_dies_and_vice_versa(db):
    """Nothing is acknowledged without the writer process: when it dies the listener stops (exit
    2, a supervisor restarts it), and when the listener is killed its writer process goes too,
    so no orphan keeps the store locked."""
    port = free_port()
    proc = start_listener(db, port, "process")
    try:
        os.kill(writer_process_of(proc), signal.SIGKILL)
        report = send_packets({"20240501010000000": flue_packet(1)}, "127.0.0.1", port, timeout_s=2, max_attempts=1)
        assert not report.acked
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 2 and "writer process ended" in err
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = start_listener(db, port, "process")
    writer = writer_process_of(proc)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{writer}").exists() and "zombie" not in Path(f"/proc/{writer}/status").read_text():
        assert time.monotonic() < deadline, "the writer process outlived the listener"
        time.sleep(0.05)
    assert _store_opens_within(db, 10), "the listener's writer process kept the store locked"


def _store_opens_within(db, seconds: float) -> bool:
    """The store opens (no process holds its lock) within ``seconds``: a process the kernel is
    still tearing down (its memory already gone, its files not yet closed) holds the lock for a
    moment after it stops running."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 0
        except duckdb.IOException:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def test_cli_check_and_bad_input(capsys):
    from envtrust.cli import main

    ok = ("##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
          "CP=&&RtdInterval=30&&1C80")
    assert main(["hj212", "check", ok]) == 0
    assert "CRC 1C80 valid" in capsys.readouterr().out
    assert main(["hj212", "check", ok[:-4] + "1C81"]) == 1
    assert "REJECTED bad_crc" in capsys.readouterr().out
    assert main(["hj212", "send", "--port", "1", "/no/such/file.csv"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_send_replays_a_cst_file(db, tmp_path, capsys):
    from envtrust.cli import main

    path = tmp_path / "w1.csv"
    pd.DataFrame({"station_id": "W1", "ts": ["2024-08-01 08:00", "2024-08-01 09:00"], "parameter": "ww_COD",
                  "value": [40.0, 41.0], "flag": ["N", "M"]}).to_csv(path, index=False)
    with ThreadReceiver(db) as rx:
        code = main(["hj212", "send", "--host", "127.0.0.1", "--port", str(rx.port), "--mn", WW_MN,
                     "--old-codes", str(path)])
    assert code == 0, capsys.readouterr()
    assert "2 acknowledged" in capsys.readouterr().out
    r = query(db, "SELECT ts, value, flag FROM readings ORDER BY ts")
    assert r["ts"].tolist() == [pd.Timestamp("2024-08-01 00:00"), pd.Timestamp("2024-08-01 01:00")]  # CST -> UTC
    assert r["flag"].tolist() == ["N", "M"]


def test_store_locked_by_another_writer_is_a_clear_error(db, capsys):
    from envtrust.cli import main

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(30)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert main(["hj212", "listen", "--db", str(db), "--host", "127.0.0.1", "--port", "0"]) == 2
        assert "cannot open the store" in capsys.readouterr().err
    finally:
        holder.kill()
        with contextlib.suppress(Exception):
            holder.wait(5)


# ----------------------------------------------------------------------------- hostile input (issue 11)

def poison_packets(n: int) -> list[bytes]:
    """Packets that broke whole batches before issue 11: a real-looking packet from a known
    logger with the right PW but DataTime in year 0001 or 2099, and a header with a non-ASCII byte."""
    out = []
    for i in range(n):
        year = "0001" if i % 2 else "2099"
        cp = f"DataTime={year}0101000000;a21026-Avg=5,a21026-Flag=N"
        out.append(build_packet("31", "2061", FLUE_MN, cp, qn=f"20240601{i % 24:02d}0000{i % 1000:03d}"))
        segment = f"QN=20240602000000{i % 10:03d};ST=31;CN=2061;PW=\xe9\xe9;MN={FLUE_MN};Flag=5;CP=&&&&"
        body = segment.encode("latin-1")
        out.append(b"##%04d" % len(body) + body + crc_hex(body).encode() + b"\r\n")
    return out


@both_writers
def test_poison_packets_do_not_stop_good_ones(db, writer):
    """Defect 1: one packet must not abort the batch; every packet is judged on its own."""
    items = {"a21026": {"Avg": 12.0, "Flag": "N"}, "a19001": {"Avg": 9.0, "Flag": "N"},
             "a00000": {"Avg": 2.5, "Flag": "N"}}
    good = {f"202405{d:02d}{h:02d}0000000": build_packet("31", "2061", FLUE_MN, build_cp(datetime(2024, 5, d, h), items),
                                                        qn=f"202405{d:02d}{h:02d}0000000")
            for d in (1, 2) for h in range(20)}
    poison = poison_packets(20)
    with ThreadReceiver(db, writer=writer) as rx, socket.create_connection(("127.0.0.1", rx.port)) as flood:
        flood.sendall(b"".join(poison))  # queued ahead of the good packets, same batches
        report = send_packets(good, "127.0.0.1", rx.port, timeout_s=10)
        answers = read_answers(flood, 40)
    assert sorted(report.acked) == sorted(good) and not report.unacked
    assert query(db, "SELECT count(*) AS n FROM readings")["n"].iloc[0] == 40 * 3
    q = query(db, "SELECT reason, raw FROM quarantine")
    assert set(q["reason"]) == {"implausible_time", "bad_encoding"}
    assert (q["reason"] == "implausible_time").sum() == 20
    assert not q["raw"].str.contains("PW=\\\\x", regex=False).any()  # the PW is masked even when not ASCII
    assert all(a.cn == "9011" for a in answers) and len(answers) == 40  # every bad packet answered


def test_plausible_window_comes_from_the_settings(db):
    from analytics.timeconv import PlausibleWindow

    old = flue_packet(1, qn="20240501010000000")  # 2024-05-01 is before 2025: implausible here
    with ThreadReceiver(db, window=PlausibleWindow(earliest_utc=datetime(2025, 1, 1))) as rx:
        report = send_packets({"20240501010000000": old}, "127.0.0.1", rx.port, timeout_s=5)
    assert report.refused and not report.acked
    q = query(db, "SELECT reason, detail FROM quarantine")
    assert q["reason"].tolist() == ["implausible_time"] and "2025-01-01" in q["detail"].iloc[0]


def test_store_failure_of_one_packet_does_not_fail_the_batch(db):
    """When the batch commit itself fails, the items are committed one by one: the good ones
    are stored and the one that fails alone is quarantined as unprocessable."""
    from data.hj212.receiver import Incoming, PacketStore
    from data.ingest import ingest_typed_rows

    def ingest_refusing_hour_5(con, rows, *args, **kwargs):  # the real ingest, failing on one packet's rows
        if pd.Timestamp("2024-04-30 21:00") in set(rows.column("ts").to_pandas()):
            raise RuntimeError("disk full while writing hour 5")
        return ingest_typed_rows(con, rows, *args, **kwargs)

    raws = [flue_packet(h, qn=f"20240501{h:02d}0000000") for h in range(8)]
    con = connect(db)
    try:
        store = PacketStore(con, ingest=ingest_refusing_hour_5)
        outcomes = store.commit_batch([Incoming(r.decode(), "t", packet=parse_packet(r)) for r in raws])
    finally:
        con.close()
    assert [o.status for o in outcomes] == ["stored"] * 5 + ["quarantined"] + ["stored"] * 2
    assert outcomes[5].reason == "unprocessable" and parse_packet(outcomes[5].response).cp == {"QnRtn": "100"}
    assert query(db, "SELECT count(DISTINCT ts) AS n FROM readings")["n"].iloc[0] == 7


def split_part(pno: int, pnum: int, qn: str, pw: str = LOGGER_PW, code: str = "a21026") -> bytes:
    return build_packet("31", "2061", FLUE_MN, f"DataTime=20240501090000;{code}-Avg={pno},{code}-Flag=N",
                        qn=qn, pw=pw, flag=7, pnum=pnum, pno=pno)


def wait_for_quarantine(db: Path, n: int, timeout_s: float = 20.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout_s
    while True:
        q = query(db, "SELECT reason, detail FROM quarantine ORDER BY quarantine_id")
        if len(q) >= n or time.monotonic() > deadline:
            return q


@both_writers
def test_split_part_with_wrong_pw_is_refused_at_once_not_buffered(db, writer):
    """Defect 2: the first part's MN and PW are checked before anything is held."""
    with ThreadReceiver(db, writer=writer) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(split_part(1, 9999, "20240501090000000", pw="nope"))
        [answer] = read_answers(sock, 1, timeout_s=20)
        sock.sendall(split_part(1, 9999, "20240501090000001", pw=LOGGER_PW).replace(FLUE_MN.encode(), b"NOSUCHMN0001"))
    assert answer.cn == "9011" and answer.cp == {"QnRtn": "3"}
    assert wait_for_quarantine(db, 2)["reason"].tolist()[:1] == ["bad_pw"]


def test_split_bytes_are_capped_per_link_and_sets_time_out(db):
    parts = [split_part(n, 50, f"2024050109000{n:04d}") for n in range(1, 7)]  # 6 sets, one part each
    with ThreadReceiver(db, split_link_bytes=300, split_timeout_s=1.0) as rx, \
            socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(b"".join(parts))
        q = wait_for_quarantine(db, 6)
    reasons = q["reason"].tolist()
    assert reasons.count("split_overflow") >= 1 and "split_incomplete" in reasons
    assert any("not complete 1 s after its first part" in d for d in q["detail"])


def test_links_beyond_the_limit_are_closed(db):
    with ThreadReceiver(db, max_links=2) as rx:
        held = [socket.create_connection(("127.0.0.1", rx.port)) for _ in range(2)]
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", rx.port)) as extra:
            extra.settimeout(5)
            assert extra.recv(10) == b""  # closed by the receiver
        for sock in held:
            sock.close()


PW_CORPUS = ROOT / "tests" / "data" / "files" / "hj212_pw_malformed_header.txt"
CORPUS_PW = "Zq7xY2"


def corpus_frames(path: Path) -> list[bytes]:
    """The corpus lines (Python escapes for odd bytes) framed with a right length and CRC."""
    import codecs

    frames = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line and not line.startswith("#"):
            body = codecs.escape_decode(line.encode("ascii"))[0]
            frames.append(b"##%04d" % len(body) + body + crc_hex(body).encode("ascii") + b"\r\n")
    return frames


def test_password_is_masked_in_quarantined_packets_with_malformed_headers(db):
    """Defect 8: a header that misspells the PW field still never puts the password in the store,
    neither in the kept raw text nor in the detail that quotes a bad field."""
    frames = corpus_frames(PW_CORPUS)
    with ThreadReceiver(db) as rx, socket.create_connection(("127.0.0.1", rx.port)) as link:
        link.sendall(b"".join(frames))
        q = wait_for_quarantine(db, len(frames))
    assert len(q) == len(frames)
    kept = query(db, "SELECT raw, detail FROM quarantine UNION ALL SELECT raw, NULL FROM hj212_packets")
    leaks = [text for text in kept["raw"].tolist() + kept["detail"].dropna().tolist() if CORPUS_PW in text]
    assert leaks == []
    assert kept["raw"].str.contains("***", regex=False).sum() >= len(frames)


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_frames_after_a_new_split_set_wait_for_its_password_check(db, event_loop):
    """The first part of a split set waits for its PW check (scrypt, on the writer); the frames
    behind it on the same link are judged after it, so the link's answers keep the link's order."""
    qn = "20240501090000000"
    parts = [build_packet("31", "2061", FLUE_MN, f"DataTime=20240501090000;{code}-Avg=11,{code}-Flag=N",
                          qn=qn, flag=7, pnum=2, pno=n) for n, code in ((1, "a21026"), (2, "a19001"))]
    after = [flue_packet(h) for h in (1, 2, 3)]
    with ThreadReceiver(db, event_loop=event_loop) as rx, socket.create_connection(("127.0.0.1", rx.port)) as sock:
        sock.sendall(b"".join(parts + after))  # one read: the split set first, then three packets
        answers = read_answers(sock, 5, timeout_s=20)
    assert [a.qn for a in answers] == [qn, qn] + [f"20240501{h:02d}0000000" for h in (1, 2, 3)]
    assert all(a.cn == "9014" for a in answers)


def test_reading_pauses_while_answers_pile_up_or_a_split_set_is_admitted():
    """A link stops reading while its unsent answers exceed the limit (a logger that does not read
    them) or while a new split set's first part waits for its PW check, and reads again only when
    neither holds."""
    from data.hj212.receiver import LinkProtocol

    class Transport:
        reading = True

        def is_closing(self) -> bool:
            return False

        def pause_reading(self) -> None:
            self.reading = False

        def resume_reading(self) -> None:
            self.reading = True

    link = LinkProtocol(receiver=None)
    link.transport = transport = Transport()
    link.pause_writing()
    assert not transport.reading
    link._pause("admission")
    link.resume_writing()
    assert not transport.reading  # still admitting
    link._resume("admission")
    assert transport.reading


def test_event_loop_is_asyncio_where_uvloop_is_missing(monkeypatch):
    import asyncio

    from data.hj212.receiver import new_event_loop

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    loop = new_event_loop("uvloop")
    try:
        assert isinstance(loop, asyncio.BaseEventLoop) and type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    with pytest.raises(ValueError, match="expected one of"):
        new_event_loop("trio")


def test_latency_trace_accounts_for_every_acknowledged_packet(db):
    packets = {f"20240501{h:02d}0000000": flue_packet(h) for h in range(12)}
    with ThreadReceiver(db, latency_trace=True) as rx:
        report = send_packets(packets, "127.0.0.1", rx.port, timeout_s=10)
    assert sorted(report.acked) == sorted(packets)
    summary = rx.stats.trace.summary()
    assert summary["packets"] == len(packets) and summary["batches"] == rx.stats.batches
    stages = summary["stage_ms_p50"]
    assert all(v >= 0 for v in stages.values()) and stages["commit"] > 0
    assert summary["total_ms"]["max"] >= max(summary["stage_ms_p99"].values())
