"""`envtrust score --scheduler tcp://...` on a real Dask scheduler with two worker processes
(`dask scheduler` and `dask worker`, started here on 127.0.0.1) gives the in-process result."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analytics.pipeline import at_capacity, load_pipeline, score_blocks
from data.scoring import write_results
from data.testing import sample_readings
from envtrust.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"no scheduler on port {port}")


@pytest.fixture()
def scheduler():
    if not DASK.exists():
        pytest.fail(f"{DASK} missing: install envtrust[distributed]")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    try:
        _wait_for_port(port, procs[0])
        for _ in range(2):
            procs.append(subprocess.Popen([str(DASK), "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                           "--no-dashboard", "--host", "127.0.0.1"],
                                          cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cli_on_a_real_scheduler_equals_the_local_run(scheduler, tmp_path):
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-08"]
    rp, sp = tmp_path / "readings.parquet", tmp_path / "stations.csv"
    r.to_parquet(rp, index=False)
    s.to_csv(sp, index=False)
    # the CLI scores at the analysts' operating point (settings), so the local run does too
    local = score_blocks(r, s, at_capacity(load_pipeline("default"), load_settings().analyst_capacity["air"]))
    write_results(tmp_path / "local", local.scores, local.events)
    cmd = [sys.executable, "-m", "envtrust", "score", "--readings", str(rp), "--stations", str(sp),
           "--out", str(tmp_path / "dist"), "--scheduler", scheduler, "--partitions", str(tmp_path / "parts")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Dask scheduler {scheduler}" in done.stdout
    assert (tmp_path / "parts" / "readings" / "network=air" / "month=2016-12").is_dir()
    keys = ["station_id", "parameter", "ts"]
    for name, order in (("scores.parquet", keys), ("events.parquet", ["station_id", "start", "kind"])):
        a = pd.read_parquet(tmp_path / "local" / name).sort_values(order).reset_index(drop=True)
        b = pd.read_parquet(tmp_path / "dist" / name).sort_values(order).reset_index(drop=True)
        assert len(a) > 0 or name == "events.parquet"
        pd.testing.assert_frame_equal(a, b[a.columns], check_exact=True)
