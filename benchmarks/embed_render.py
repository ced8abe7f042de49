"""First render of the public embeds on a large store, in process (no page cache, no HTTP).

    .venv/bin/python benchmarks/embed_render.py --store /work/var-shared/api-90d.duckdb [--repeat 3]

Opens the store read-only and renders each page with ``dashboard.public.pages.render_path`` - the
function the embed's callback calls on a page-cache miss - ``--repeat`` times, each on a fresh
connection (so DuckDB's buffer cache is cold for the first and warm for the rest). Prints wall and
CPU milliseconds per page (first and best of the repeats). The store must carry migration 042
(``release_by_ts``): open it once read-write with this checkout (``data.store.connect``) first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGES: tuple[tuple[str, dict[str, str]], ...] = (
    ("/embed/map", {}), ("/embed/ranking", {}), ("/embed/ranking", {"by": "composite_index"}),
    ("/embed/water", {}), ("/embed/station/1001A", {}),
)


def time_page(store: Path, path: str, query: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one render on a fresh read-only connection."""
    from dashboard.public.pages import render_path
    from data.store import connect

    con = connect(store, read_only=True)  # the store's own settings, as the server opens it
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        render_path(con, path, "zh", "Asia/Shanghai", query=query)
        return 1000 * (time.perf_counter() - wall0), 1000 * (time.process_time() - cpu0)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print("| page | first wall / CPU ms | best wall / CPU ms |\n|---|---|---|")
    for path, query in PAGES:
        runs = [time_page(args.store, path, query) for _ in range(args.repeat)]
        best = min(runs)
        label = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        print(f"| {label} | {runs[0][0]:.0f} / {runs[0][1]:.0f} | {best[0]:.0f} / {best[1]:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
