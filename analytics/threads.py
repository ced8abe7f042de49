"""Independent pieces of one block's work in threads, results in input order.

Why: a block's models, parameters and station chunks are independent numpy and scikit-learn work
that runs mostly without the GIL, so two at once use the second core even when a run is one
block (docs/distributed.md, "Two blocks at once"). Every piece computes the same operations on
the same values as the whole, so the result is the same bits for any number of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], threads: int = 1) -> list[R]:
    """``[fn(x) for x in items]`` with up to ``threads`` calls at once (one thread: in this one)."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="envtrust-part") as pool:
        return list(pool.map(fn, items))


def station_slices(n_stations: int, threads: int) -> list[slice]:
    """Axis-0 (station) slices for ``threads`` threads: two per thread, so a chunk of busy
    stations does not leave the other thread idle; one slice of all for one thread."""
    parts = 1 if threads <= 1 else max(1, min(2 * threads, n_stations))
    bounds = np.linspace(0, n_stations, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def by_stations(fn: Callable[[slice], np.ndarray], n_stations: int, threads: int = 1) -> np.ndarray:
    """``fn`` of per-station work on station slices in threads, joined along axis 0 - the same
    bits as ``fn(slice(None))`` when each station's values depend on that station's alone."""
    parts = station_slices(n_stations, threads)
    if len(parts) <= 1:
        return fn(slice(None))
    return np.concatenate(map_in_threads(fn, parts, threads), axis=0)
