"""Where a public API request spends its CPU: cProfile of keyed requests, in process, small store.

    .venv/bin/python benchmarks/api_profile.py [--days 3] [--requests 40] [--top 25] [--kind KIND]
                                               [--store PATH] [--no-profile] [--anonymous] [--compare-snapshot]
                                               [--sort KEY]

The store is ``benchmarks/api.py``'s (the 2,016 national station positions x ``--days``, every valid
value published, the first half audited), built once into ``benchmarks/out/api-<days>d.duckdb`` and
served from a scratch copy. The requests are the benchmark's kinds (same URLs, same random choice),
each with a department key, so the keyed-call audit runs; they go through Flask's test client (the
whole request path - key check, rate limit, arguments, query, answer, audit - without the HTTP
server). Prints CPU milliseconds per request per kind, then the profile's top functions.
``--store PATH``: profile on that store (e.g. the 90-day one of benchmarks/api.py; ``--days`` must
match it) instead of the small one. ``--no-profile``: CPU per request only, without cProfile's
overhead, every answer built afresh (the answer cache is emptied before each request, except for
the ceiling kinds, which measure a cached answer): the figure to compare two checkouts with, one
after the other on the same store (copy this script into the earlier checkout to run it there).
``--anonymous``: no key (no keyed-call audit, whose commit dominates a lone request's CPU).
The point reads use the serving snapshot (``data.snapshot``; built beside ``--store`` once);
``--compare-snapshot``: each kind twice in turn, DuckDB only and then with the snapshot.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import api as api_bench  # noqa: E402  (benchmarks/api.py: store, URLs)

# benchmarks/api.py imports benchmarks/dashboard.py as ``dashboard``; the server needs the package
sys.path.remove(str(REPO / "benchmarks"))
del sys.modules["dashboard"]


def serve_in_process(store: Path):
    """The dashboard server (API mounted, no internal app) on a scratch copy of ``store``; its key."""
    from dashboard.server import create_server
    from envtrust.api import keys
    from envtrust.settings import load_settings

    copy = api_bench.OUT / "api-profile-serve.duckdb"
    api_bench.copy_store(store, copy)
    server = create_server(load_settings(db_path=copy, secret_key="p" * 64), mount_internal=False)
    con = server.extensions["envtrust"].con
    key = keys.create_key(con, "profile", frozenset({"read"}), "bench", rate_per_min=keys.MAX_KEY_RATE_PER_MIN)
    return server, key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--requests", type=int, default=40, help="requests per kind")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", action="append", help="profile order (pstats keys; default: cumulative)")
    parser.add_argument("--kind", action="append", help="only these kinds (default: all)")
    parser.add_argument("--store", type=Path, help="an existing benchmark store (served from a copy)")
    parser.add_argument("--no-profile", action="store_true", help="CPU per request only, every answer built")
    parser.add_argument("--anonymous", action="store_true", help="requests without a key (no audit)")
    parser.add_argument("--compare-snapshot", action="store_true",
                        help="each kind twice, alternating: point reads from DuckDB only, then with the serving snapshot")
    args = parser.parse_args(argv)
    args.sort = args.sort or ["cumulative"]
    api_bench.OUT.mkdir(parents=True, exist_ok=True)
    store = args.store or api_bench.OUT / f"api-{args.days}d.duckdb"
    if not store.exists():
        print("built", api_bench.build(store, args.days), flush=True)
    info = api_bench.counts(store)
    server, key = serve_in_process(store)
    client = server.test_client()
    api_state = server.extensions["envtrust_api"]
    headers = {} if args.anonymous else {"X-API-Key": key}
    if args.anonymous:
        api_state.anon_rate_per_min = 10**9
    kinds = args.kind or [*api_bench.TARGETS_MS, "latest (one station)"]
    profile = cProfile.Profile()
    print(f"store: {info['release_rows']:,} release rows; {args.requests} "
          f"{'anonymous' if args.anonymous else 'keyed'} requests per kind")
    snapshot = api_state.snapshot
    snapshot.refresh()  # current before anything is measured
    modes = ("DuckDB only", "with snapshot") if args.compare_snapshot else ("with snapshot",)
    for kind, mode in ((kind, mode) for kind in kinds for mode in modes):
        api_state.snapshot = snapshot if mode == "with snapshot" else None
        answered = snapshot.answered
        urls = api_bench.urls_for(kind, random.Random(20261202), info["station_ids"], info["cities"][0],
                                  args.days, args.requests)
        client.get(urls[0], headers=headers)  # warm-up (first query plans, imports)
        fresh = args.no_profile and kind not in api_bench.CEILINGS
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if not args.no_profile:
            profile.enable()
        for url in urls:
            if fresh:
                api_state.answers = type(api_state.answers)()  # an empty answer cache
            answer = client.get(url, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code} {url} {answer.text[:200]}")
        profile.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(f"{kind} [{mode}]: {1000 * cpu / len(urls):.2f} ms CPU, {1000 * wall / len(urls):.1f} ms wall per "
              f"request ({'no profiler' if args.no_profile else 'under the profiler'}; "
              f"{snapshot.answered - answered} read from the snapshot)", flush=True)
    if args.no_profile:
        return 0
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(*args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
