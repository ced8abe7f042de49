"""The block plan of a store-sized mix: a one-day national snapshot next to years of a few
long-running stations is read over the day only, not over the whole 7-day window and its halo."""

import pandas as pd

from analytics.pipeline.blocks import SPARSE_HALO_DAYS, plan_blocks


def _summary() -> pd.DataFrame:
    """12 stations over a year (dense) and 1,500 stations that report one day (sparse)."""
    year = pd.Timestamp("2016-01-01"), pd.Timestamp("2016-12-31 23:00")
    day = pd.Timestamp("2016-12-31 16:00"), pd.Timestamp("2017-01-01 15:00")  # one CST day in UTC
    params = ("CO", "NO2", "O3", "PM10", "PM2.5", "SO2")
    rows = [{"family": "air", "station_id": f"B{i:02d}", "first_ts": year[0], "last_ts": year[1],
             "hours": 8784, "rows": 8784 * 6, "parameters": params} for i in range(12)]
    rows += [{"family": "air", "station_id": f"N{i:04d}", "first_ts": day[0], "last_ts": day[1],
              "hours": 24, "rows": 24 * 6, "parameters": params} for i in range(1500)]
    return pd.DataFrame(rows)


def test_a_one_day_snapshot_is_read_over_its_day_not_the_whole_window():
    plan = plan_blocks(_summary())
    dense = [b for b in plan if b.stations is not None]
    windows = [b for b in plan if b.keep_stations is not None]
    assert len(dense) == 1 and len(dense[0].stations) == 12
    assert windows, "the snapshot must be scored"
    for b in windows:
        assert b.read_from >= pd.Timestamp("2016-12-31 16:00") and b.read_to <= pd.Timestamp("2017-01-01 15:00")
        assert b.read_to - b.read_from < pd.Timedelta(days=SPARSE_HALO_DAYS)
    kept = sorted((b.keep_from, b.keep_to) for b in windows)  # the windows still own disjoint hours
    assert all(a[1] < b[0] for a, b in zip(kept, kept[1:], strict=False))
