import numpy as np

from analytics.detectors.drift import drift
from analytics.detectors.testing import cells, panel_of, sample_readings, set_values


def test_growing_bias_is_drift():
    r, s = sample_readings()
    clean = drift(panel_of(r, s))["drift"]
    hours = 7 * 24
    r2 = set_values(r, "1012A", "NO2", "2016-12-05 00:00", hours, lambda v: v * np.linspace(1, 3.0, len(v)))
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1012A", "NO2", "2016-12-09 00:00", 3 * 24)  # the late, large part
    hit = drift(p)["drift"][st, ts, pi]
    assert np.median(hit) > 2 * np.median(clean[st, ts, pi])
    assert np.median(hit) > np.quantile(clean, 0.95)
