import numpy as np

from analytics.detectors.drift import drift
from data.testing import _sample, cells, panel_of, sample_readings, set_values


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


def test_ramp_marks_the_quiet_start_of_a_drift_too():
    """drift_ramp fits 'bias grows linearly, then resets': every day of the ramp is marked, including
    the first days where the rolling-mean statistic cannot see anything yet."""
    r, s = (x.copy() for x in _sample())  # all 41 days: the pair offsets must not absorb the ramp
    clean = drift(panel_of(r, s))["drift_ramp"]
    hours = 12 * 24
    r2 = set_values(r, "1012A", "NO2", "2016-12-10 00:00", hours, lambda v: v * np.linspace(1, 3.0, len(v)))
    p = panel_of(r2, s)
    out = drift(p)
    st, early, pi = cells(p, "1012A", "NO2", "2016-12-11 00:00", 3 * 24)  # bias still under +70%
    hit = out["drift_ramp"][st, early, pi]
    assert np.median(hit) > np.quantile(clean, 0.95)
    assert np.median(hit) > 2 * np.median(clean[st, early, pi])
    assert np.median(hit) > 2 * np.median(out["drift"][st, early, pi])  # the rolling mean barely moves yet
    # other stations and parameters stay where clean data are
    other = out["drift_ramp"].copy()
    other[st, :, pi] = 0.0
    assert np.quantile(other, 0.99) <= np.quantile(clean, 0.99) * 1.5 + 1e-9


def test_ramp_amplitude_recovers_a_planted_ramp():
    from analytics.detectors.drift import ramp_amplitude_days

    rng = np.random.default_rng(0)
    z = rng.normal(0, 0.3, size=(1, 120, 1))
    z[0, 40:60, 0] += np.linspace(0.2, 4.0, 20)  # a 20-day ramp to +4, then the reset
    amp = ramp_amplitude_days(z)[0, :, 0]
    assert amp[40:60].min() > 2.5  # the whole ramp carries the amplitude, its first day too
    assert np.median(amp[:25]) < 1.5 and np.median(amp[80:]) < 1.5
