"""Ordered maps over threads and station chunks (analytics.threads)."""

import numpy as np
import pytest

from analytics.threads import by_stations, map_in_threads, station_slices


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_map_in_threads_keeps_the_input_order(threads):
    assert map_in_threads(lambda x: x * x, range(7), threads) == [x * x for x in range(7)]
    assert map_in_threads(lambda x: x, [], threads) == []


@pytest.mark.parametrize(("n", "threads"), [(0, 2), (1, 2), (3, 2), (10, 1), (10, 2), (101, 3)])
def test_station_slices_cover_every_station_once(n, threads):
    parts = station_slices(n, threads)
    covered = np.concatenate([np.arange(n)[p] for p in parts]) if parts else np.array([], dtype=int)
    np.testing.assert_array_equal(covered, np.arange(n))
    assert all(p.stop > p.start for p in parts)
    assert len(parts) <= (2 * threads if threads > 1 else 1)


def test_by_stations_gives_the_whole_arrays_bits():
    """A per-station computation (rolling sums along time) on chunks equals it on the whole panel."""
    x = np.random.default_rng(0).normal(size=(9, 50, 3))

    def fn(rows: slice) -> np.ndarray:
        return np.cumsum(np.exp(x[rows]), axis=1) / np.arange(1, 51)[None, :, None]

    np.testing.assert_array_equal(by_stations(fn, 9, threads=2), fn(slice(None)))
    np.testing.assert_array_equal(by_stations(fn, 9, threads=1), fn(slice(None)))


def test_a_failing_piece_raises_in_the_caller():
    def fn(x):
        if x == 3:
            raise ValueError("piece 3")
        return x

    with pytest.raises(ValueError, match="piece 3"):
        map_in_threads(fn, range(5), 2)
