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
