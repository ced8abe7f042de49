from analytics.detectors.seasonal import seasonal
from data.testing import cells, firing_rate, panel_of, sample_readings, set_values


def test_seasonal_residual_catches_a_burst_and_is_quiet_on_real_data():
    r, s = sample_readings()
    clean = seasonal(panel_of(r, s))
    assert firing_rate(clean["seasonal_high"], 6) < 0.01
    r2 = set_values(r, "1008A", "SO2", "2016-12-22 03:00", 2, lambda v: v * 10 + 100)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1008A", "SO2", "2016-12-22 03:00", 2)
    assert (seasonal(p)["seasonal_high"][st, ts, pi] > 4).all()
