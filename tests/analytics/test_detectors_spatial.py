"""Neighbour comparison: leave-one-out prediction catches a station far from its neighbours."""

import numpy as np
import pandas as pd

from analytics.detectors.spatial import neighbour_fit, spatial
from data.testing import cells, panel_of, sample_readings, set_values


def test_suppressed_pm_is_far_below_neighbours():
    r, s = sample_readings()
    r2 = set_values(r, "1003A", "PM2.5", "2016-12-20 00:00", 24, lambda v: v * 0.2)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1003A", "PM2.5", "2016-12-20 00:00", 24)
    low = spatial(p)["spatial_low"][st, ts, pi]
    assert np.nanmedian(low) > 3


def test_clean_real_data_residuals_are_mostly_small():
    r, s = sample_readings()
    out = spatial(panel_of(r, s))
    z = np.maximum(out["spatial_high"], out["spatial_low"])
    assert (z > 6).mean() < 0.02


def test_prediction_tracks_neighbours():
    r, s = sample_readings()
    p = panel_of(r, s)
    fit = neighbour_fit(p)
    ok = np.isfinite(fit["resid"])
    assert ok.mean() > 0.8
    assert abs(np.nanmedian(fit["resid"])) < 0.1


def test_single_station_has_no_spatial_evidence():
    r, s = sample_readings()
    r1, s1 = r[r["station_id"] == "1001A"], s[s["station_id"] == "1001A"]
    out = spatial(panel_of(r1, s1))
    assert float(out["spatial_high"].max()) == 0.0


def test_many_stations_chunked(monkeypatch):
    """Chunking (for 2,000 stations) gives the same result as one block."""
    import analytics.detectors.spatial as sp

    r, s = sample_readings()
    r = r[r["ts"] < pd.Timestamp("2016-12-08")]
    a = neighbour_fit(panel_of(r, s))["pred"]
    monkeypatch.setattr(sp, "CHUNK_ELEMENTS", 1)
    b = neighbour_fit(panel_of(r, s))["pred"]
    np.testing.assert_allclose(a, b, equal_nan=True)
