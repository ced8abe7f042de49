import numpy as np

from analytics.detectors.base import run_lengths
from analytics.detectors.flatline import flatline
from data.testing import cells, firing_rate, panel_of, sample_readings, set_values


def test_run_lengths():
    m = np.array([[[1], [1], [0], [1], [1], [1], [0]]], dtype=bool)
    assert run_lengths(m)[0, :, 0].tolist() == [2, 2, 0, 3, 3, 3, 0]


def test_stuck_value_is_caught_and_real_data_mostly_quiet():
    r, s = sample_readings()
    clean = flatline(panel_of(r, s))["flatline"]
    assert firing_rate(clean, 24) < 0.01
    r2 = set_values(r, "1006A", "CO", "2016-12-18 00:00", 24, lambda v: v * 0 + 2.3)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1006A", "CO", "2016-12-18 00:00", 24)
    hit = flatline(p)["flatline"][st, ts, pi]
    assert (hit >= 6).all()
    assert firing_rate(clean, np.median(hit)) < 0.01
