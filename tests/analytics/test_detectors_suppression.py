import numpy as np

from analytics.detectors.suppression import suppression
from data.testing import cells, firing_rate, panel_of, sample_readings, set_values


def test_pm_cut_with_gases_untouched_is_suppression():
    r, s = sample_readings()
    clean = suppression(panel_of(r, s))["suppression"]
    r2 = set_values(r, "1004A", "PM2.5", "2016-12-30 10:00", 8, lambda v: v * 0.3)
    r2 = set_values(r2, "1004A", "PM10", "2016-12-30 10:00", 8, lambda v: v * 0.3)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1004A", "PM2.5", "2016-12-30 10:00", 8)
    hit = suppression(p)["suppression"][st, ts, pi]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.9)
    assert firing_rate(clean, np.median(hit)) < 0.01
