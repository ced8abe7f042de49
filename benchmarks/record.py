"""Speed of the record's Merkle log: appends/s and the time to verify 1 M entries.

    .venv/bin/python benchmarks/record.py [--appends 1000] [--threads 8] [--entries 1000000]
                                          [--batch 10000] [--out benchmarks/results/record.md]

On a temp file store (real DuckDB, its commits synced to disk):

1. baseline: a bare one-row INSERT + COMMIT into a plain table - the ceiling of any append that
   is its own transaction on this disk and machine;
2. ``data.audit.append``: one entry per transaction (what a login or review does);
3. the same from ``--threads`` threads at once (the lock serialises them; none may be lost);
   and from as many threads through the group-commit log the server uses for keyed API calls
   (``envtrust.api.auditlog.GroupCommitLog``: each caller returns after its entry's commit, callers
   waiting meanwhile share one transaction);
4. ``data.audit.append_batch``: ``--batch`` entries per transaction, until ``--entries`` exist;
5. a signed checkpoint of the whole log, then ``envtrust.record.verify.verify_log`` over all of
   it with that checkpoint handed in (every leaf, link, commitment, the tree, the signatures and
   consistency proofs), with the process's peak memory. The verifier is single-threaded, so its
   CPU time is what the wall time is on an idle machine; on a shared one the wall time is not.
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data import audit  # noqa: E402
from data.store import connect  # noqa: E402
from envtrust.api.auditlog import GroupCommitLog  # noqa: E402
from envtrust.record import service  # noqa: E402
from envtrust.record.checkpoint import parse_verifier_key  # noqa: E402
from envtrust.record.verify import verify_log  # noqa: E402
from envtrust.settings import load_settings  # noqa: E402

DETAIL = {"address": "10.1.2.3", "role": "analyst"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_commits_per_s(folder: Path, n: int) -> float:
    con = duckdb.connect(str(folder / "bare.duckdb"))
    con.execute("CREATE TABLE t (i BIGINT PRIMARY KEY, s VARCHAR)")
    start = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO t VALUES (?, ?)", [i, "x" * 300])
        con.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    con.close()
    return rate


def single_appends_per_s(con: duckdb.DuckDBPyConnection, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        audit.append(con, f"user{i % 50}", "login", "dashboard", DETAIL)
    return n / (time.perf_counter() - start)


def _appends_from_threads(con: duckdb.DuckDBPyConnection, threads: int,
                          append_all: Callable[[duckdb.DuckDBPyConnection, int], None]) -> tuple[float, int]:
    """(entries stored per second, entries stored) when ``threads`` threads each run
    ``append_all(cursor, k)`` on a cursor of their own."""
    before = con.execute("SELECT count(*) FROM record_log").fetchall()[0][0]

    def work(k: int) -> None:
        cur = con.cursor()
        append_all(cur, k)
        cur.close()

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    added = con.execute("SELECT count(*) FROM record_log").fetchall()[0][0] - before
    return added / elapsed, added


def threaded_appends_per_s(con: duckdb.DuckDBPyConnection, n: int, threads: int) -> tuple[float, int]:
    def append_all(cur: duckdb.DuckDBPyConnection, k: int) -> None:
        for i in range(n // threads):
            audit.append(cur, f"user{k}", "login", "dashboard", {"i": i})

    return _appends_from_threads(con, threads, append_all)


def grouped_appends_per_s(con: duckdb.DuckDBPyConnection, n: int, threads: int) -> tuple[float, int, int]:
    """(appends/s, entries stored, transactions) with ``threads`` callers sharing group commits."""
    log = GroupCommitLog()

    def append_all(cur: duckdb.DuckDBPyConnection, k: int) -> None:
        for i in range(n // threads):
            log.append(lambda: cur, (f"key{k}", "api_call", "/api/v1/measurements", {"i": i}))

    rate, added = _appends_from_threads(con, threads, append_all)
    return rate, added, log.batches


def batch_appends_per_s(con: duckdb.DuckDBPyConnection, total: int, batch: int) -> float:
    have = con.execute("SELECT count(*) FROM record_log").fetchall()[0][0]
    todo = max(total - have, 0)
    start = time.perf_counter()
    done = 0
    while done < todo:
        k = min(batch, todo - done)
        audit.append_batch(con, [(f"user{i % 50}", "event_review", f"ev-{i}", {"verdict": "confirmed", "i": i})
                                 for i in range(done, done + k)])
        done += k
    return todo / (time.perf_counter() - start) if todo else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(db_path=folder / "bench.duckdb")
        service.ensure_signing_key(settings)
        signer = service.signer_from_settings(settings)
        con = connect(settings.db_path)
        baseline = bare_commits_per_s(folder, args.appends)
        single = single_appends_per_s(con, args.appends)
        threaded, added = threaded_appends_per_s(con, args.appends, args.threads)
        grouped, grouped_added, commits = grouped_appends_per_s(con, args.appends * 4, args.threads)
        batch = batch_appends_per_s(con, args.entries, args.batch)
        start = time.perf_counter()
        note = service.checkpoint(con, signer)
        checkpoint_s = time.perf_counter() - start
        con.close()
        origin, key = parse_verifier_key(service.verifier_key_path(settings).read_text(encoding="utf-8"))
        ro = connect(settings.db_path, read_only=True)
        rss_before = peak_rss_mb()
        start, cpu_start = time.perf_counter(), time.process_time()
        report = verify_log(ro, origin, key, [("benchmark checkpoint", note)])
        verify_s, verify_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        ro.close()
        size_mb = settings.db_path.stat().st_size / 2**20
    expected_threaded = (args.appends // args.threads) * args.threads
    expected_grouped = (args.appends * 4 // args.threads) * args.threads
    lines = [
        f"# record benchmark (commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"`.venv/bin/python benchmarks/record.py --appends {args.appends} --threads {args.threads} "
        f"--entries {args.entries} --batch {args.batch}` on {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, DuckDB {duckdb.__version__}, load average "
        f"{__import__('os').getloadavg()[0]:.1f} at the end",
        "",
        "| measure | value |",
        "|---|---|",
        f"| baseline: bare one-row INSERT + COMMIT | {baseline:,.0f} /s |",
        f"| `audit.append`, one entry per transaction | {single:,.0f} /s |",
        f"| `audit.append` from {args.threads} threads | {threaded:,.0f} /s ({added} of {expected_threaded} stored) |",
        f"| group-commit log (`GroupCommitLog`) from {args.threads} threads | {grouped:,.0f} /s "
        f"({grouped_added} of {expected_grouped} stored in {commits} transactions) |",
        f"| `audit.append_batch`, {args.batch:,} per transaction | {batch:,.0f} /s |",
        f"| signed checkpoint of {report.size:,} entries | {checkpoint_s:.1f} s |",
        f"| verify {report.size:,} entries (+ checkpoint) | {verify_s:.1f} s wall, {verify_cpu_s:.1f} s CPU, "
        f"ok={report.ok} |",
        f"| peak memory of the process (before verify -> after) | {rss_before:,.0f} -> {peak_rss_mb():,.0f} MB |",
        f"| store size | {size_mb:,.0f} MB |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if report.ok and added == expected_threaded and grouped_added == expected_grouped else 1


if __name__ == "__main__":
    sys.exit(main())
