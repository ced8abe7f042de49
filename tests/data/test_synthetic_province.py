"""The province generator: every position gets a profile (borrowed from the nearest station that
reported the real day), and a year generated month by month covers its hours once."""

import numpy as np
import pandas as pd

from data.synthetic.province import province_reading_chunks, province_readings, station_profiles


def _day_and_stations():
    """A real-looking day for two stations (PM2.5 and O3) and a third position without data."""
    ts = pd.date_range("2017-01-01", periods=24, freq="h")
    day = pd.concat([pd.DataFrame({"station_id": sid, "ts": ts, "parameter": p, "value": lvl + np.arange(24)})
                     for sid, lvl in (("A", 10.0), ("B", 100.0)) for p in ("PM2.5", "O3")], ignore_index=True)
    stations = pd.DataFrame({"station_id": ["A", "B", "C"], "lon": [116.0, 120.0, 119.9], "lat": [40.0, 30.0, 30.1]})
    return day, stations


def test_a_position_without_data_borrows_its_nearest_stations_profile():
    day, stations = _day_and_stations()
    assert set(station_profiles(day, stations).index.get_level_values("station_id")) == {"A", "B"}
    prof = station_profiles(day, stations, borrow=True)
    assert set(prof.index.get_level_values("station_id")) == {"A", "B", "C"}
    np.testing.assert_array_equal(prof.loc[("C", "O3")].to_numpy(), prof.loc[("B", "O3")].to_numpy())  # B is nearer


def test_monthly_chunks_cover_the_span_once():
    day, stations = _day_and_stations()
    start, hours = pd.Timestamp("2017-01-02"), 24 * 60
    one = province_readings(day, stations, start, hours, seed=5, missing_rate=0.0, borrow_profiles=True)
    chunks = list(province_reading_chunks(day, stations, start, hours, chunk_hours=24 * 31, seed=5,
                                          missing_rate=0.0, borrow_profiles=True))
    assert len(chunks) == 2 and sum(map(len, chunks)) == len(one) == 3 * 2 * hours
    both = pd.concat(chunks, ignore_index=True)
    assert both["ts"].min() == start and both["ts"].max() == start + pd.Timedelta(hours=hours - 1)
    assert not both.duplicated(["station_id", "parameter", "ts"]).any()
    pd.testing.assert_frame_equal(
        province_readings(day, stations, start, hours, seed=5, missing_rate=0.0, borrow_profiles=True), one)
