"""The HJ 212 writer checkpoints DuckDB's WAL between commits, never inside one (data.hj212.wal).

Real DuckDB stores; the crash test kills a writer process with SIGKILL while it checkpoints after
nearly every commit, and counts what survived against what was acknowledged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from analytics.timeconv import PlausibleWindow
from data.hj212.auth import set_logger_password
from data.hj212.packet import build_cp, build_packet, parse_packet
from data.hj212.receiver import Incoming, open_packet_store
from data.hj212.wal import CheckpointPolicy, checkpoint_due, wal_path, wal_size_bytes
from data.hj212.writer import StoreOptions
from data.store import connect

ROOT = Path(__file__).resolve().parents[2]
PW = "123456"
N_LOGGERS = 20


def make_store(path: Path) -> list[str]:
    """A store with ``N_LOGGERS`` flue-gas outlets and their passwords; their MNs."""
    mns = [f"MNWAL{k:07d}" for k in range(N_LOGGERS)]
    con = connect(path)
    con.executemany("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) "
                    "VALUES (?, ?, 'polluter_outlet', 116.0, 40.0, 'flue_gas', ?)",
                    [(f"W{k:03d}", f"outlet {k}", mn) for k, mn in enumerate(mns)])
    for mn in mns:
        set_logger_password(con, mn, PW, actor="test")
    con.close()
    return mns


def batches(mns: list[str], n_batches: int, first_hour: int = 0) -> list[list[Incoming]]:
    """One hourly CN 2061 packet per logger per batch, hour after hour (2024-01-01 onwards, CST)."""
    out = []
    for b in range(n_batches):
        hour = datetime(2024, 1, 1) + timedelta(hours=first_hour + b)
        batch = []
        for k, mn in enumerate(mns):
            cp = build_cp(hour, {"a21026": {"Avg": 10.0 + k, "Flag": "N"}, "a21002": {"Avg": 50.0 + b, "Flag": "N"},
                                 "a19001": {"Avg": 9.0, "Flag": "N"}})
            raw = build_packet("31", "2061", mn, cp, qn=f"{hour:%Y%m%d%H}{k:07d}", pw=PW)
            batch.append(Incoming(raw.decode("ascii"), f"127.0.0.1:{40000 + k}", packet=parse_packet(raw)))
        out.append(batch)
    return out


@pytest.mark.parametrize(("wal_bytes", "unmerged", "batch_size", "expected"), [
    (0, 0, 250, None),              # nothing in the WAL, nothing to merge
    (1 << 20, 0, 250, "quick"),     # the WAL reached its step: write it out, merge later
    (1 << 20, 14, 250, "quick"),
    (1 << 20, 15, 250, "merge"),    # the 16th step merges the small row groups of the 15 before
    (1000, 3, 250, None),           # busy, under the step, merges owed: wait
    (1000, 3, 16, "merge"),         # a small batch: the writer is lightly loaded, merge now
    (1000, 0, 16, None),            # light, but nothing owed
    (1 << 20, 0, 16, "merge"),      # light: no reason to leave a merge for later
    (1000, 16, 250, "merge"),       # owed past merge_every (a failed merge): at the next commit
])
def test_checkpoint_due(wal_bytes, unmerged, batch_size, expected):
    policy = CheckpointPolicy(wal_bytes=1 << 20, merge_every=16, light_batch=32)
    assert checkpoint_due(policy, wal_bytes, unmerged, batch_size) == expected


@pytest.mark.parametrize(("wal_bytes", "unmerged", "batch_size", "expected"), [
    (16 << 20, 500, 250, "quick"),  # busy: never a merge, however many steps are unmerged
    (1000, 500, 250, None),
    (1000, 500, 32, "merge"),       # the first light batch merges them
    (16 << 20, 0, 32, "merge"),
])
def test_checkpoint_due_merges_only_when_light_by_default(wal_bytes, unmerged, batch_size, expected):
    assert checkpoint_due(CheckpointPolicy(), wal_bytes, unmerged, batch_size) == expected


def open_store(db: Path, policy: CheckpointPolicy | None):
    return open_packet_store(StoreOptions(db, None, False, PlausibleWindow(), duckdb_threads=1, checkpoint=policy))


def commit_all(store, work: list[list[Incoming]], wal: Path) -> list[tuple[int, int, int]]:
    """Commit each batch, then let the writer checkpoint; the WAL bytes before the commit, after it
    and after the writer's checkpoint, per batch."""
    sizes = []
    for batch in work:
        before = wal_size_bytes(wal)
        assert {o.status for o in store.commit_batch(batch)} == {"stored"}
        after_commit = wal_size_bytes(wal)
        store.after_commit(len(batch))
        sizes.append((before, after_commit, wal_size_bytes(wal)))
    return sizes


def checkpointed_inside(before: int, after_commit: int) -> bool:
    """The commit checkpointed: it left the WAL smaller than it found it, or empty (a commit
    writes to the WAL unless it checkpoints)."""
    return after_commit < before or after_commit == 0


def test_commits_do_not_checkpoint_and_the_writer_keeps_the_wal_under_its_step(tmp_path):
    db = tmp_path / "wal.duckdb"
    mns = make_store(db)
    policy = CheckpointPolicy(wal_bytes=64 * 1024, merge_every=4, light_batch=0, wal_limit_bytes=1 << 20)
    store = open_store(db, policy)
    # the bound is DuckDB's own threshold now (set on the instance by the writer)
    assert store.con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0] == "1.0 MiB"
    vacuum_tasks = store.con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0]
    sizes = commit_all(store, batches(mns, 60), wal_path(db))
    done = list(store.wal.done)
    store.con.close()
    # no commit shrank the WAL: none of them checkpointed, although together they wrote ~20 steps
    assert not any(checkpointed_inside(before, after) for before, after, _ in sizes)
    assert sum(after - before for before, after, _ in sizes) > 10 * policy.wal_bytes
    # the writer's checkpoints did: after each, the WAL is under its step again
    assert len(done) >= 10 and all(kept < policy.wal_bytes for _, _, kept in sizes)
    assert max(after for _, after, _ in sizes) < policy.wal_bytes + max(after - before for before, after, _ in sizes)
    # quick ones and, every merge_every-th, a merging one; the vacuum setting is restored after each
    kinds = [d.merged for d in done]
    assert kinds[:8] == [False, False, False, True] * 2
    with connect(db) as con:
        assert con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0] == vacuum_tasks
        assert con.execute("SELECT count(*) FROM readings").fetchall()[0][0] == 60 * N_LOGGERS * 3


def test_without_the_writer_duckdb_checkpoints_inside_a_commit(tmp_path):
    """The control: with DuckDB's automatic checkpoint (here at 64 KiB) some commit shrinks the WAL,
    i.e. packets waited for a checkpoint in their own commit. (DuckDB compares its threshold with
    an estimate of the changes, several times the WAL file's growth for these small commits.)"""
    db = tmp_path / "auto.duckdb"
    mns = make_store(db)
    store = open_store(db, None)
    store.con.execute("SET checkpoint_threshold = '64KiB'")
    sizes = commit_all(store, batches(mns, 30), wal_path(db))
    store.con.close()
    assert any(checkpointed_inside(before, after) for before, after, _ in sizes)


CRASH_WRITER = """
import json, sys
sys.path.insert(0, {tests!r})
from test_hj212_wal import batches, open_store
from data.hj212.wal import CheckpointPolicy, checkpoint_due, wal_size_bytes
from pathlib import Path
db = Path(sys.argv[1])
mns = json.loads(sys.argv[2])
policy = CheckpointPolicy(wal_bytes=32 * 1024, merge_every=3, light_batch=0)
store = open_store(db, policy)
# DuckDB's debug hook: the checkpoint sleeps after writing each table's row groups, before it
# installs them (~40 tables: ~0.8 s a checkpoint); a SIGKILL in it lands inside the checkpoint
store.con.execute("SET debug_checkpoint_scan_sleep_ms = 20")
store.con.execute("SET enable_progress_bar = false")
for n, batch in enumerate(batches(mns, 400)):
    outcomes = store.commit_batch(batch)
    print(json.dumps([n, [o.status for o in outcomes]]), flush=True)  # the acknowledgement
    kind = checkpoint_due(policy, wal_size_bytes(store.wal.wal), store.wal.unmerged, len(batch))
    if kind:
        print(json.dumps(kind), flush=True)
    store.after_commit(len(batch))
"""


@pytest.mark.slow
def test_sigkill_while_the_writer_checkpoints_loses_nothing_acknowledged(tmp_path):
    """A writer that checkpoints after nearly every commit (32 KiB steps, a merge every third) is
    killed with SIGKILL inside its third checkpoint (a merging one); every batch it acknowledged
    is in the store afterwards, once."""
    db = tmp_path / "crash.duckdb"
    mns = make_store(db)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", CRASH_WRITER.format(tests=str(Path(__file__).parent)), str(db),
                             json.dumps(mns)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    acked, checkpoints = [], []
    for line in proc.stdout:
        said = json.loads(line)
        if isinstance(said, str):  # a checkpoint starts
            checkpoints.append(said)
            if len(checkpoints) == 3:
                time.sleep(0.3)  # in the middle of it (DuckDB's debug hook: 20 ms after each table)
                os.kill(proc.pid, signal.SIGKILL)
                break
            continue
        n, statuses = said
        assert set(statuses) == {"stored"}
        acked.append(n)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert checkpoints == ["quick", "quick", "merge"] and len(acked) >= 9
    with connect(db) as con:
        stored = con.execute("SELECT count(*), count(DISTINCT (station_id, ts, parameter)) FROM readings").fetchall()[0]
        logged = con.execute("SELECT count(*) FROM hj212_packets").fetchall()[0][0]
    # every acknowledged batch survived (and perhaps the one in flight), nothing twice
    assert len(acked) * N_LOGGERS * 3 <= stored[0] <= (len(acked) + 2) * N_LOGGERS * 3
    assert stored[0] == stored[1]
    assert len(acked) * N_LOGGERS <= logged


def test_light_batches_merge_what_a_sustained_load_left_a_part_at_a_time(tmp_path):
    """Each merging checkpoint runs one vacuum task and is counted as catching up ``merge_steps``
    quick steps, so the merges after a long busy spell come one light batch at a time."""
    db = tmp_path / "eased.duckdb"
    mns = make_store(db)
    store = open_store(db, CheckpointPolicy(wal_bytes=1 << 30, merge_tasks=1, merge_steps=6))
    store.wal.unmerged = 10  # what 10 quick steps of a busy spell left
    kinds = []
    for batch in batches(mns, 4):
        store.commit_batch(batch[:2])  # light batches
        done = store.after_commit(2)
        kinds.append(None if done is None else (done.merged, store.wal.unmerged))
    store.con.close()
    assert kinds == [(True, 5), (True, 0), None, None]
