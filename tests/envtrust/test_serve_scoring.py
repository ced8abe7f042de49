"""`envtrust serve` scores what its HJ 212 receiver takes in, on its schedule: a real `envtrust
serve --hj212-port` process, a data logger sending new hours over TCP, and the store read after
the process stops (DuckDB lets one process open the file). Small data: three flue-gas outlets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from data.demo import store_columns
from data.hj212.auth import set_logger_password
from data.hj212.client import send_readings
from data.ingest import ingest_readings, ingest_stations
from data.store import connect
from data.synthetic.polluters import generate_polluters, polluter_outlets
from envtrust.scoring import score_store

ROOT = Path(__file__).resolve().parents[2]
HISTORY_DAYS = 6
NEW_HOURS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outlet_store(db: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three flue-gas outlets with loggers, their history ingested and scored once (a full run);
    returns (outlets, history, the next hours the loggers will send)."""
    outlets = polluter_outlets()
    outlets = outlets[outlets["outlet_type"] == "flue_gas"].head(3).reset_index(drop=True)
    start = pd.Timestamp("2024-06-01")
    end = start + pd.Timedelta(hours=HISTORY_DAYS * 24 + NEW_HOURS - 1)
    cems, _truth = generate_polluters(outlets, start, end, seed=7)
    cut = end - pd.Timedelta(hours=NEW_HOURS)
    history, new = cems[cems["ts"] <= cut], cems[cems["ts"] > cut].reset_index(drop=True)
    con = connect(db)
    try:
        ingest_stations(con, store_columns(con, outlets), "test:outlets", "synthetic").check()
        for mn in outlets["hj212_mn"]:
            set_logger_password(con, mn, "123456", actor="test")  # the PW send_readings sends by default
        ingest_readings(con, history, "test:history", "synthetic").check()
        score_store(con, progress=False)
    finally:
        con.close()
    return outlets, history, new


def start_serve(db: Path, port: int, hj212_port: int) -> tuple[subprocess.Popen, list[str]]:
    """`envtrust serve` scoring every second; its log lines collected by a thread."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", ENVTRUST_SCORE_EVERY_S="1")
    proc = subprocess.Popen([sys.executable, "-m", "envtrust.cli", "serve", "--db", str(db), "--host", "127.0.0.1",
                             "--port", str(port), "--hj212-port", str(hj212_port), "--threads", "4"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return proc, lines


def wait_for(what, proc: subprocess.Popen, lines: list[str], timeout_s: float = 120.0) -> None:
    t_end = time.monotonic() + timeout_s
    while not what():
        if proc.poll() is not None or time.monotonic() > t_end:
            proc.kill()
            raise AssertionError("envtrust serve did not get there:\n" + "".join(lines[-40:]))
        time.sleep(0.2)


def scored_in_log(lines: list[str]) -> int:
    """Readings the serving process's scheduled runs report scored (its INFO log)."""
    return sum(int(m.group(1)) for line in list(lines) if (m := re.search(r"scored (\d+) readings", line)))


@pytest.mark.slow
def test_serve_scores_the_hours_its_hj212_receiver_takes_in(tmp_path):
    db = tmp_path / "live.duckdb"
    outlets, history, new = outlet_store(db)
    con = connect(db)
    first_run = con.execute("SELECT run_id FROM scoring_state").fetchall()[0][0]
    con.close()

    hj212_port = free_port()
    proc, lines = start_serve(db, free_port(), hj212_port)
    try:
        wait_for(lambda: any("press Ctrl+C" in line for line in list(lines)), proc, lines)
        for sid, mn in zip(outlets["station_id"], outlets["hj212_mn"], strict=True):
            sent = new[new["station_id"] == sid]
            report = send_readings(sent, "127.0.0.1", hj212_port, mn=mn, window=4)
            assert not report.unacked and len(report.acked) == NEW_HOURS
        wait_for(lambda: scored_in_log(lines) >= len(new), proc, lines)  # nobody ran a command
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert scored_in_log(lines) == len(new)  # the new hours, once; no history re-scored

    con = connect(db)
    try:
        first_new = new["ts"].min().to_pydatetime()
        assert con.execute("SELECT count(*) FROM readings WHERE ts >= ?", [first_new]).fetchall()[0][0] == len(new)
        assert con.execute("SELECT count(*) FROM readings r ANTI JOIN scores s USING (station_id, ts, parameter) "
                           "WHERE r.ts >= ?", [first_new]).fetchall()[0][0] == 0  # every received reading scored
        runs = con.execute("SELECT DISTINCT run_id FROM scores WHERE ts >= ?", [first_new]).fetchall()
        assert first_run not in {r[0] for r in runs}
        assert con.execute("SELECT count(*) FROM scores WHERE ts < ? AND run_id <> ?",
                           [first_new, first_run]).fetchall()[0][0] == 0  # history as the full run left it
        assert con.execute("SELECT count(*) FROM scores WHERE ts < ?", [first_new]).fetchall()[0][0] == len(history)
        hj212 = con.execute("SELECT count(*) FROM ingest_batches b ANTI JOIN scored_batches s USING (batch_id) "
                            "WHERE b.source LIKE 'hj212%' AND b.status = 'committed'").fetchall()[0][0]
        assert hj212 == 0  # every batch the receiver committed is recorded as scored
        assert con.execute("SELECT mode FROM scoring_state").fetchall() == [("incremental",)]
    finally:
        con.close()
