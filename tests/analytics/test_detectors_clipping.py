import numpy as np

from analytics.detectors.clipping import clipping
from analytics.detectors.testing import panel_of, sample_readings


def test_values_held_under_75_while_neighbours_are_far_above():
    r, s = sample_readings()
    clean = clipping(panel_of(r, s))["clip_neighbour"]
    r2 = r.copy()
    m = (r2["station_id"] == "1001A") & (r2["parameter"] == "PM2.5") & (r2["value"] > 75)
    m &= r2["ts"].between("2016-12-16", "2016-12-23")
    rng = np.random.default_rng(1)
    r2.loc[m, "value"] = np.floor(75 * rng.uniform(0.9, 0.99, int(m.sum())))
    p = panel_of(r2, s)
    out = clipping(p)
    st = int(np.nonzero(p.stations["station_id"].to_numpy() == "1001A")[0][0])
    ti = ((r2.loc[m, "ts"] - p.times[0]) / np.timedelta64(1, "h")).astype(int).to_numpy()
    hit = out["clip_neighbour"][st, ti, p.pindex("PM2.5")]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.99)
