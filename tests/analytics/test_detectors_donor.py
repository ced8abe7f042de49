import numpy as np

from analytics.detectors.donor import donor
from data.testing import cells, panel_of, sample_readings


def _copy(r, target, donor_id, start, hours, scale):
    import pandas as pd

    r = r.copy()
    t0 = pd.Timestamp(start)
    win = (r["ts"] >= t0) & (r["ts"] < t0 + pd.Timedelta(hours=hours))
    src = r[win & (r["station_id"] == donor_id)].set_index(["ts", "parameter"])["value"]
    m = win & (r["station_id"] == target)
    keys = list(zip(r.loc[m, "ts"], r.loc[m, "parameter"], strict=True))
    r.loc[m, "value"] = np.round(src.reindex(keys).to_numpy() * scale)
    return r


def test_copied_and_scaled_station_is_fabrication():
    r, s = sample_readings()
    clean = donor(panel_of(r, s))["donor_copy"]
    r2 = _copy(r, "1002A", "1009A", "2016-12-10 00:00", 72, 1.1)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1002A", "NO2", "2016-12-10 12:00", 48)
    hit = donor(p)["donor_copy"][st, ts, pi]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.99)


def test_smoothed_series_loses_roughness():
    import pandas as pd

    r, s = sample_readings()
    r2 = r.copy()
    m = (r2["station_id"] == "1007A") & (r2["parameter"] == "PM10")
    series = r2.loc[m, "value"]
    sm = series.rolling(15, center=True, min_periods=1).mean().round()
    t = r2.loc[m, "ts"]
    win = (t >= pd.Timestamp("2016-12-14")) & (t < pd.Timestamp("2016-12-18"))
    r2.loc[m & win.reindex(r2.index, fill_value=False), "value"] = sm[win]
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1007A", "PM10", "2016-12-14 12:00", 72)
    clean = donor(panel_of(r, s))["donor_smooth"]
    assert np.median(donor(p)["donor_smooth"][st, ts, pi]) > np.quantile(clean[clean > 0], 0.95)
