import numpy as np

from analytics.detectors.drift import drift
from analytics.detectors.testing import cells, panel_of, sample_readings, set_values


def test_growing_bias_is_drift():
    r, s = sample_readings()
    clean = drift(panel_of(r, s))["drift"]
    hours = 14 * 24
    r2 = set_values(r, "1012A", "NO2", "2016-12-12 00:00", hours, lambda v: v * np.linspace(1, 2.2, len(v)))
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1012A", "NO2", "2016-12-21 00:00", 5 * 24)  # the late, large part
    assert np.median(drift(p)["drift"][st, ts, pi]) > np.quantile(clean[clean > 0], 0.95)
