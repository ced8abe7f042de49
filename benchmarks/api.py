"""Public data API speed: one-station day and city-day answers under 50 concurrent clients.

    python benchmarks/api.py [--days 30] [--clients 50] [--requests 20] [--rebuild]
                             [--store PATH] [--before-code DIR] [--out PATH]
                             [--client http.client|requests] [--threads N] [--before-threads N]
                             [--processes N] [--kind KIND ...]

1. Store (built once, reused from ``benchmarks/out/api-<days>d.duckdb``): the store of
   ``benchmarks/dashboard.py`` (the real 2,016 national air station positions x ``--days`` of
   synthetic hourly values for the six HJ 633 pollutants, 0.5 % maintenance flags, events with
   scores), then the release channel on it: every valid value published (``publish_preliminary``),
   the first half of the period audited (confirmed events withheld). ``--days 365`` is the 106 M
   reading store of benchmarks/dashboard.py. Its serving snapshot (``data.snapshot``, the point
   reads' SQLite file) is built beside it once and copied with it, so no server builds one while
   it is measured (a checkout without the snapshot ignores the file). Each checkout builds and
   copies its own, by its own code: the file's name carries its format (``SNAPSHOT_FORMAT``).
2. ``envtrust serve`` as a separate process (waitress; ``--threads``, else the checkout's default;
   ``--before-threads`` for the before checkout); a department key with a rate
   limit above the load (every call is still checked and written to the audit trail).
3. ``--clients`` threads, each sending ``--requests`` requests of one kind over its own keep-alive
   HTTP connection (``http.client``; ``--client requests`` for the client of the earlier
   sessions, which costs several times the client CPU on the cores the server shares), all at
   once; wall time per request; p50/p95/max and throughput. First the ceiling of the same server
   stack: ``/`` (a redirect: waitress + Flask + the dashboard's hooks, no API) and the cached,
   keyed ``/api/v1/parameters`` (the API's admission, cache and audit, no query). Then the kinds:
   one-station day (``location=ID&date_from=D&date_to=D``: 6 pollutants x 24 h), city-day of all
   stations of the largest city (hourly, first page of 1,000 rows; and ``period=day``), latest.
   Stations and days vary at random. A baseline in the same run: the same queries with 1 client.
   ``--kind`` (repeatable) measures only the kinds named. Two kinds run only when named: the
   cached JSON and the one-station day ``(anonymous)``, sent without a key (no key check, no
   keyed-call audit; the servers run with ``ENVTRUST_API_ANON_RATE`` above the load), to show
   what the key costs.

``--processes N``: this checkout is also served by N processes, each on its own copy of the store,
the clients spread over them ("after xN"): the most N public worker processes could give on the
same cores (each copy commits its own audit groups).

``--before-code DIR``: a checkout of an earlier commit (``git archive COMMIT | tar -x -C DIR``, and
the commit id in ``DIR/COMMIT``);
its server runs the same requests on a copy of the same store, one kind after the other with this
checkout's, so before and after share the machine's load. ``--store PATH``: use this store (the
server runs on a copy; built there first when it does not exist) instead of
``benchmarks/out/api-<days>d.duckdb``.

Besides wall times, the server process's CPU time (user + system, from /proc) over each loaded run
gives the CPU milliseconds per answer: on a machine shared with other work, the throughput the two
cores could give is ~2,000 / (CPU ms per answer) answers a second. The benchmark process's own CPU
(all client threads) per request is reported beside it: the clients run on the same two cores. So
are the server's context switches per answer (all its threads, /proc): each is a thread that
blocked or was preempted, mostly one hand-off of the GIL - a count the machine's load moves less
than it moves CPU time.

The table is written to ``benchmarks/out/api-last.md`` (or ``--out``) and pasted, with the load
average, into ``benchmarks/results/api.md``; RESULTS.md carries the summary.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import dashboard as dash_bench  # noqa: E402  (benchmarks/dashboard.py: the store builder)

OUT = REPO / "benchmarks" / "out"
RESULTS = OUT / "api-last.md"  # pasted, with its load average, into benchmarks/results/api.md
TARGETS_MS = {"one-station day": 100.0, "city-day hourly (1,000 rows)": 300.0, "city-day daily means": 300.0}
#: the ceiling of the same server stack: no query, no encoding (path, expected status)
CEILINGS = {"ceiling: / redirect (no API)": ("/", 302),
            "ceiling: tiny cached JSON (parameters, keyed)": ("/api/v1/parameters", 200)}
#: every kind measured by default, in order
KINDS: tuple[str, ...] = (*CEILINGS, *TARGETS_MS, "latest (one station)")
#: kinds sent without a key (no key check, no keyed-call audit), named with ``--kind`` only: the
#: served checkout must read ENVTRUST_API_ANON_RATE (session 11 on), which lifts the anonymous limit
ANONYMOUS = " (anonymous)"
ANONYMOUS_KINDS: tuple[str, ...] = ("ceiling: tiny cached JSON (parameters)" + ANONYMOUS, "one-station day" + ANONYMOUS)


def build(path: Path, days: int) -> dict:
    """The dashboard benchmark's store plus its release records; timings."""
    from data.store import connect
    from envtrust import release

    timings = dash_bench.build_store(path, days)
    con = connect(path)
    try:
        t0 = time.perf_counter()
        n = release.publish_preliminary(con, "1970-01-01", "2100-01-01")
        timings["publish_s"] = time.perf_counter() - t0
        timings["published"] = n
        t0 = time.perf_counter()
        half = dash_bench.START + pd.Timedelta(days=days // 2)
        timings["audit"] = release.audit_period(con, dash_bench.START, half, "bench")
        timings["audit_s"] = time.perf_counter() - t0
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return timings


def counts(path: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "readings": con.execute("SELECT count(*) FROM readings").fetchone()[0],
            "release_rows": con.execute("SELECT count(*) FROM release_values").fetchone()[0],
            "stations": con.execute("SELECT count(*) FROM stations").fetchone()[0],
            "cities": con.execute("SELECT city, count(*) n FROM stations WHERE city IS NOT NULL GROUP BY 1 "
                                  "ORDER BY n DESC LIMIT 1").fetchone(),
            "station_ids": [r[0] for r in con.execute("SELECT station_id FROM stations").fetchall()],
            "file_mb": path.stat().st_size / 2**20,
        }
    finally:
        con.close()


def make_key(path: Path) -> str:
    from data.store import connect
    from envtrust.api import keys

    con = connect(path)
    try:
        return keys.create_key(con, "benchmark", frozenset({"read"}), "bench", rate_per_min=keys.MAX_KEY_RATE_PER_MIN)
    finally:
        con.close()


def start_server(path: Path, port: int, log: Path, code: Path = REPO, threads: int | None = None) -> subprocess.Popen:
    """``envtrust serve`` of the checkout ``code`` on ``path``, with the background scoring off: the
    store has never been scored, and a first scoring run of every reading would share the server's
    CPU with the API (it did in the figures of the first two API sessions). ``threads``: waitress
    threads (None: the checkout's own ``--threads`` default)."""
    env = {**os.environ, "ENVTRUST_SECRET_KEY": "benchmark-secret-" + "x" * 40, "PYTHONPATH": str(code),
           "ENVTRUST_SCORE_EVERY_S": "0", "ENVTRUST_API_ANON_RATE": str(10**9)}  # for the anonymous kinds
    command = [sys.executable, "-m", "envtrust", "serve", "--db", str(path), "--port", str(port)]
    with open(log, "w") as fh:
        return subprocess.Popen(command + ([] if threads is None else ["--threads", str(threads)]), stdout=fh,
                                stderr=subprocess.STDOUT, env=env, cwd=code)


def wait_up(base: str, process: subprocess.Popen, timeout_s: float = 300.0) -> None:
    import requests

    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if requests.get(base + "/api/v1/parameters", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError("server did not come up")


def keyed_kind(kind: str) -> str:
    """The kind an anonymous kind sends without a key (``ANONYMOUS_KINDS``)."""
    base = kind.removesuffix(ANONYMOUS)
    return "ceiling: tiny cached JSON (parameters, keyed)" if base == "ceiling: tiny cached JSON (parameters)" else base


def urls_for(kind: str, rng: random.Random, ids: list[str], city: str, days: int, n: int) -> list[str]:
    kind = keyed_kind(kind)
    if kind in CEILINGS:
        return [CEILINGS[kind][0]] * n
    out = []
    for _ in range(n):
        day = (dash_bench.START + pd.Timedelta(days=rng.randrange(days))).strftime("%Y-%m-%d")
        if kind == "one-station day":
            out.append(f"/api/v1/measurements?location={rng.choice(ids)}&date_from={day}&date_to={day}&limit=1000")
        elif kind == "city-day hourly (1,000 rows)":
            out.append(f"/api/v1/measurements?city={quote(city)}&date_from={day}&date_to={day}&limit=1000")
        elif kind == "city-day daily means":
            out.append(f"/api/v1/measurements?city={quote(city)}&period=day&date_from={day}&date_to={day}&limit=1000")
        else:
            out.append(f"/api/v1/latest?location={rng.choice(ids)}")
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_switches(pid: int) -> int:
    """Context switches (voluntary + involuntary) of a process's live threads so far (Linux /proc):
    each is a thread that blocked or was preempted - under the GIL, mostly one hand-off of it."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


def _requests_client(base: str, key: str) -> Callable[[str], tuple[int, bytes]]:
    """GET by ``requests`` (one Session: keep-alive), as the first sessions measured."""
    import requests

    session = requests.Session()
    if key:
        session.headers["X-API-Key"] = key

    def get(url: str) -> tuple[int, bytes]:
        answer = session.get(base + url, timeout=300, allow_redirects=False)
        return answer.status_code, answer.content

    return get


def _plain_client(base: str, key: str) -> Callable[[str], tuple[int, bytes]]:
    """GET by ``http.client`` over one keep-alive connection: the same HTTP/1.1 requests for a
    fraction of ``requests``' client CPU, which shares the two cores with the server."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    conn = http.client.HTTPConnection(host, port, timeout=300)
    headers = {"X-API-Key": key} if key else {}

    def get(url: str) -> tuple[int, bytes]:
        conn.request("GET", url, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()

    return get


CLIENTS = {"http.client": _plain_client, "requests": _requests_client}


#: a served checkout: base URL, server process, department key
Served = tuple[str, subprocess.Popen, str]


def run_clients(servers: list[Served], url_lists: list[list[str]], server_cpu: bool = False,
                client: str = "http.client", ok: int = 200, anonymous: bool = False) -> dict:
    """One thread per client, each with its own keep-alive connection to one of ``servers`` (client
    i to server i mod n); all start together. Wall time per request; the client process's CPU
    milliseconds per request (all its threads); with ``server_cpu``, the servers' CPU milliseconds
    per answer too (summed over their processes). ``anonymous``: no key sent."""
    times: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(url_lists))

    def run_one(served: Served, urls: list[str]) -> None:
        get = CLIENTS[client](served[0], "" if anonymous else served[2])
        barrier.wait()
        for url in urls:
            t0 = time.perf_counter()
            status, body = get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                times.append(elapsed)
                sizes.append(len(body))
                if status != ok:
                    errors.append(f"{status} {url} {body[:120]!r}")

    threads = [threading.Thread(target=run_one, args=(servers[i % len(servers)], u)) for i, u in enumerate(url_lists)]
    pids = [served[1].pid for served in servers] if server_cpu else []
    cpu0, switches0 = sum(map(process_cpu_s, pids)), sum(map(process_switches, pids))
    client_cpu0 = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    client_cpu_ms = 1000 * (time.process_time() - client_cpu0) / len(times)
    cpu_ms = 1000 * (sum(map(process_cpu_s, pids)) - cpu0) / len(times) if pids else float("nan")
    switches = (sum(map(process_switches, pids)) - switches0) / len(times) if pids else float("nan")
    if errors:
        raise RuntimeError(f"{len(errors)} errors, first: {errors[0]}")
    arr = np.array(times)
    return {"n": len(arr), "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "max_ms": float(arr.max()), "rps": len(arr) / wall, "kb": float(np.mean(sizes) / 1024), "cpu_ms": cpu_ms,
            "client_cpu_ms": client_cpu_ms, "switches": switches}


def commit_of(code: Path) -> str:
    """The checkout's commit: git's, or the first line of ``DIR/COMMIT`` for an exported tree."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True,
                            text=True).stdout.strip()
    if (code / "COMMIT").exists() and not (code / ".git").exists():
        commit = (code / "COMMIT").read_text().split("\n")[0].strip()
    return commit


def prebuilt_snapshot(store: Path) -> Path:
    """The serving snapshot of ``store`` (``data.snapshot``), built beside it once from a read-only
    connection, so a served copy starts with a current snapshot instead of building one while
    it is measured; prints the build's wall and CPU time when it builds."""
    import duckdb

    from data.snapshot import refresh_snapshot
    from envtrust.settings import load_settings

    path = load_settings(db_path=store).serving_snapshot_path
    con = duckdb.connect(str(store), read_only=True)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        generation, rows = refresh_snapshot(con, path)
        if rows:
            print(f"serving snapshot {path}: {rows:,} rows written in {time.perf_counter() - wall0:.1f} s wall, "
                  f"{time.process_time() - cpu0:.1f} s CPU, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
    finally:
        con.close()
    return path


def copy_store(store: Path, copy: Path) -> None:
    """``store`` and its serving snapshot copied to ``copy`` (the snapshot named for the copy)."""
    from envtrust.settings import load_settings

    snapshot, copied = prebuilt_snapshot(store), load_settings(db_path=copy).serving_snapshot_path
    for stale in (Path(f"{copy}.wal"), Path(f"{copied}-wal"), Path(f"{copied}-shm")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(load_settings(db_path=copy).api_journal_path, ignore_errors=True)  # an earlier run's calls
    shutil.copyfile(store, copy)
    shutil.copyfile(snapshot, copied)


def copy_store_by(code: Path, store: Path, copy: Path) -> None:
    """:func:`copy_store` as the checkout ``code`` does it (in a subprocess): its snapshot is of its
    own format and file name (``data.snapshot.SNAPSHOT_FORMAT``), built beside the store once."""
    if code == REPO:
        return copy_store(store, copy)
    run = "import sys; from pathlib import Path; import api; api.copy_store(Path(sys.argv[1]), Path(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", run, str(store), str(copy)], cwd=code / "benchmarks", check=True,
                   env={**os.environ, "PYTHONPATH": str(code)})


def serve_copy(store: Path, name: str, code: Path, threads: int | None = None) -> Served:
    """A copy of ``store`` (and its serving snapshot, of ``code``'s format) with a fresh benchmark
    key, served by ``code``: (base URL, process, key)."""
    copy = OUT / f"api-serve-{name}.duckdb"
    copy_store_by(code, store, copy)
    key = make_key(copy)
    port = dash_bench.free_port()
    process = start_server(copy, port, OUT / f"api-serve-{name}.log", code, threads)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, process)
    except BaseException:
        process.terminate()  # not yet among the servers the caller stops
        raise
    return base, process, key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client and kind")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--store", type=Path, help="an existing benchmark store (served from a copy)")
    parser.add_argument("--before-code", type=Path, help="checkout of the earlier commit to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="http.client",
                        help="the benchmark's HTTP client (http.client: cheapest on the shared cores)")
    parser.add_argument("--threads", type=int, help="the server's waitress threads (default: the checkout's own)")
    parser.add_argument("--before-threads", type=int, help="the before checkout's threads (default: --threads)")
    parser.add_argument("--processes", type=int, default=1,
                        help="also serve this checkout from N processes, each on its own copy of the store, the "
                             "clients spread over them (what N public worker processes could give)")
    parser.add_argument("--kind", action="append", choices=KINDS + ANONYMOUS_KINDS,
                        help="measure only this kind (repeatable; default: every kind but the anonymous ones)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    path = args.store or OUT / f"api-{args.days}d.duckdb"
    build_timings = {}
    if args.rebuild or not path.exists():
        t0 = time.perf_counter()
        build_timings = build(path, args.days)
        build_timings["total_s"] = time.perf_counter() - t0
        print("built", build_timings, flush=True)
    info = counts(path)
    codes = {"after": REPO} if args.before_code is None else {"before": args.before_code.resolve(), "after": REPO}
    servers = {}
    rows = []
    try:
        for name, code in codes.items():
            threads = args.before_threads if name == "before" and args.before_threads else args.threads
            servers[name] = [serve_copy(path, name, code, threads)]
        if args.processes > 1:
            servers[f"after x{args.processes}"] = [serve_copy(path, f"after-{i}", REPO, args.threads)
                                                   for i in range(args.processes)]
        city, ids = info["cities"][0], info["station_ids"]
        for kind in args.kind or KINDS:
            ok, anonymous = CEILINGS.get(keyed_kind(kind), ("", 200))[1], kind in ANONYMOUS_KINDS
            for name, served in servers.items():
                rng = random.Random(20261202)  # the same requests for both checkouts
                baseline = run_clients(served[:1], [urls_for(kind, rng, ids, city, args.days, args.requests)],
                                       client=args.client, ok=ok, anonymous=anonymous)
                loaded = run_clients(served, [urls_for(kind, rng, ids, city, args.days, args.requests)
                                              for _ in range(args.clients)], server_cpu=True,
                                     client=args.client, ok=ok, anonymous=anonymous)
                rows.append((kind, name, baseline, loaded))
                print(kind, name, "1 client", baseline, f"{args.clients} clients", loaded, flush=True)
    finally:
        for _base, process, _key in (one for served in servers.values() for one in served):
            process.terminate()
            process.wait(timeout=30)
    lines = [
        "# Public data API latency (benchmarks/api.py)", "",
        f"Command: `python benchmarks/api.py --days {args.days} --clients {args.clients} --requests {args.requests}"
        f" --client {args.client}" + (f" --threads {args.threads}" if args.threads else "")
        + (f" --before-threads {args.before_threads}" if args.before_threads else "")
        + (f" --processes {args.processes}" if args.processes > 1 else "")
        + "".join(f' --kind "{kind}"' for kind in args.kind or ())
        + (f" --store {path}" if args.store else "") + (" --before-code DIR" if args.before_code else "") + "` "
        f"at commit {commit_of(REPO)}" + (f" (before: {commit_of(codes['before'])})" if args.before_code else "")
        + f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores shared "
        f"(load average at the start {load_start:.1f}, at the end {os.getloadavg()[0]:.1f}).", "",
        f"Store: {info['readings']:,} readings ({info['stations']:,} stations x {args.days} days x 6 pollutants), "
        f"{info['release_rows']:,} release rows, {info['file_mb']:.0f} MiB; city-day = {info['cities'][1]} stations "
        f"of {info['cities'][0]}. Build: {build_timings or 'reused'}.", "",
        "| query | code | target p95 | 1 client p50 / p95 ms | "
        f"{args.clients} clients p50 / p95 / max ms | req/s | server CPU ms per answer | server context switches "
        "per answer | client CPU ms per request | answer KiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, name, one, many in rows:
        target = f"<= {TARGETS_MS[kind]:.0f} ms" if kind in TARGETS_MS else "-"  # the keyed kinds' target
        lines.append(f"| {kind} | {name} | {target} | {one['p50_ms']:.0f} / {one['p95_ms']:.0f} | "
                     f"{many['p50_ms']:.0f} / {many['p95_ms']:.0f} / {many['max_ms']:.0f} | {many['rps']:.0f} | "
                     f"{many['cpu_ms']:.1f} | {many['switches']:.1f} | {many['client_cpu_ms']:.1f} | {many['kb']:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
