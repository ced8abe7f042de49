import numpy as np
import pandas as pd

from geo.neighbours import haversine_m, nearest_neighbours


def test_haversine_beijing_to_tianjin_is_about_110_km():
    # Tiananmen (116.3975, 39.9087) to Tianjin railway station (117.2100, 39.1360)
    d = haversine_m(116.3975, 39.9087, 117.2100, 39.1360)
    assert 105_000 < d < 115_000


def test_nearest_neighbours_excludes_self_and_respects_radius():
    st = pd.DataFrame({"station_id": ["a", "b", "c"], "lon": [116.0, 116.01, 118.0], "lat": [40.0, 40.0, 40.0]})
    nb = nearest_neighbours(st, k=5, max_distance_m=20_000)
    assert set(map(tuple, nb[["station_id", "neighbour_id"]].to_numpy())) == {("a", "b"), ("b", "a")}
    assert np.all(nb["distance_m"] > 0)


def test_nearest_order_is_the_full_sorts_first_k_ties_included():
    """Selecting the k nearest before sorting gives the full argsort's first k - on distinct
    distances, on rows with ties (co-located stations, equal distances at the k-th place) and
    with missing coordinates (NaN) - so neighbour lists, and the scores built on them, do not move."""
    from geo.neighbours import nearest_order

    rng = np.random.default_rng(5)
    for trial in range(60):
        n = int(rng.integers(2, 60))
        d = rng.integers(0, 12, size=(n, n)).astype(float) if trial % 2 else rng.uniform(0, 1e5, size=(n, n))
        d[rng.random(d.shape) < 0.05] = np.nan
        np.fill_diagonal(d, np.inf)
        for k in (1, 3, 8, n - 1, n):
            np.testing.assert_array_equal(nearest_order(d, k), np.argsort(d, axis=1)[:, :k])
