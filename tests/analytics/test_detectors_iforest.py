import numpy as np

from analytics.detectors.iforest import iforest
from data.testing import cells, panel_of, sample_readings, set_values


def test_isolation_forest_isolates_inconsistent_pollutant_mix():
    r, s = sample_readings()
    clean = iforest(panel_of(r, s))["iforest"]
    r2 = set_values(r, "1005A", "CO", "2016-12-27 10:00", 3, lambda v: v * 0 + 12.0)
    r2 = set_values(r2, "1005A", "PM2.5", "2016-12-27 10:00", 3, lambda v: v * 0 + 3.0)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1005A", "CO", "2016-12-27 10:00", 3)
    hit = iforest(p)["iforest"][st, ts, pi]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.99)


def test_deterministic():
    r, s = sample_readings()
    a = iforest(panel_of(r, s))["iforest"]
    b = iforest(panel_of(r, s))["iforest"]
    np.testing.assert_array_equal(a, b)
