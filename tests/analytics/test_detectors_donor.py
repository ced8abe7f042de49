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


def _donor_copy_reference(panel, k: int) -> np.ndarray:
    """donor_copy station pair by station pair: -log(rolling std of y_s - y_j / its median) where
    the donor moves, left out over the stretches where the pair collapsed beyond its history and
    ``j``, not ``s``, is its copier (:func:`copier_side`), the maximum over donors (the detector's
    definition, without shared buffers)."""
    from analytics.detectors.base import build_neighbours, log_values, nan_rolling_std, nanmedian_quiet
    from analytics.detectors.donor import above_history, copier_side, level_step, runs, second_largest_where

    y = log_values(panel)
    own_sd = nan_rolling_std(y, 24, min_count=12)
    moving_all = own_sd >= 0.5 * nanmedian_quiet(own_sd, axis=1, keepdims=True)
    index = build_neighbours(panel.stations, k=k, max_distance_m=np.inf).index
    others = [row[(row >= 0) & (row != s)] for s, row in enumerate(index)]

    def spread(s: int, j: int) -> np.ndarray:
        return nan_rolling_std(y[min(s, j)] - y[max(s, j)], 24, axis=0, min_count=12)

    def alike(s: int, j: int) -> np.ndarray:  # the pair's collapse beyond its history, s the station
        with np.errstate(all="ignore"):
            over = above_history(-np.log(np.maximum(spread(s, j), 0.01))[None])
        return second_largest_where(over, (moving_all[j] & np.isfinite(y[s]))[None])[0]

    copy = np.zeros(y.shape)
    for s in range(y.shape[0]):
        for j in others[s]:
            sd = spread(s, j)
            with np.errstate(all="ignore"):
                ratio = -np.log(np.maximum(sd, 0.01) / nanmedian_quiet(sd, axis=0, keepdims=True))
            moved = np.where(moving_all[j], np.nan_to_num(ratio, nan=0.0), 0.0)
            collapsed = alike(s, j) > 0
            if s in others[j] and moving_all[s].any():  # the pair's other direction is scored too
                collapsed |= alike(j, s) > 0
            for r0, r1 in runs(collapsed, gap=24):
                if not copier_side(level_step(y, s, others[s][others[s] != j], r0, r1),
                                   level_step(y, j, others[j][others[j] != s], r0, r1)):
                    moved[r0:r1] = 0.0
            copy[s] = np.maximum(copy[s], moved)
    return np.where(np.isfinite(panel.values), copy, 0.0)


def test_donor_copy_is_its_pairwise_definition_bit_for_bit():
    r, s = sample_readings()
    p = panel_of(_copy(r, "1002A", "1009A", "2016-12-10 00:00", 72, 1.1), s)
    np.testing.assert_array_equal(donor(p)["donor_copy"], _donor_copy_reference(p, k=p.values.shape[0] - 1))
    np.testing.assert_array_equal(donor(p, large_network=2, large_network_donors=3)["donor_copy"],
                                  _donor_copy_reference(p, k=3))
