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


def test_a_window_that_would_read_only_its_halo_is_not_planned():
    """The day lies in the window from 2016-12-30 and within the 3-day halo of the window before
    it, which keeps 2016-12-23..29: that window would score the day again and keep nothing."""
    windows = [b for b in plan_blocks(_summary()) if b.keep_stations is not None]
    assert len(windows) == 1
    (b,) = windows
    assert b.keep_from <= b.read_from and b.read_to <= b.keep_to + pd.Timedelta(days=SPARSE_HALO_DAYS)
    assert b.keep_from <= pd.Timestamp("2016-12-31 16:00") <= b.keep_to


def _year_summary(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` air stations on a 2-degree square, each a year of 6 parameters (one plain block per 90 days)."""
    import numpy as np

    rng = np.random.default_rng(7)
    ids = [f"S{i:04d}" for i in range(n)]
    stations = pd.DataFrame({"station_id": ids, "kind": "air_station",
                             "lon": 116 + rng.uniform(0, 2, n), "lat": 39 + rng.uniform(0, 2, n)})
    year = pd.Timestamp("2017-01-01"), pd.Timestamp("2017-12-31 23:00")
    summary = pd.DataFrame({"family": "air", "station_id": ids, "first_ts": year[0], "last_ts": year[1],
                            "hours": 8760, "rows": 8760 * 6, "parameters": [("CO", "NO2", "O3", "PM10", "PM2.5", "SO2")] * n})
    return summary, stations


def test_station_groups_keep_every_station_once_and_read_its_neighbours():
    from analytics.pipeline.blocks import split_station_groups
    from geo.neighbours import nearest_neighbours

    summary, stations = _year_summary()
    plan = plan_blocks(summary, max_cells=5_000_000)  # 300 x 2,160 h x 6 = 3.9 M cells per window
    assert len(plan) > 1 and all(b.stations is None for b in plan)
    cut = split_station_groups(plan, summary, stations, max_rows=1_000_000)
    nb = nearest_neighbours(stations, k=8, max_distance_m=80_000.0).groupby("station_id")["neighbour_id"].agg(set)
    names = [b.name for b in cut]
    assert len(set(names)) == len(names)  # distinct output folders
    for window in plan:
        groups = [b for b in cut if (b.keep_from, b.keep_to) == (window.keep_from, window.keep_to)]
        if window is plan[-1] and groups == [window]:  # the year's last days: few rows, not cut
            continue
        assert len(groups) >= 4
        kept = [s for b in groups for s in b.keep_stations]
        assert sorted(kept) == sorted(stations["station_id"])  # each station's scores come from one block
        for b in groups:
            assert (b.read_from, b.read_to) == (window.read_from, window.read_to)
            for sid in b.keep_stations:
                assert nb.get(sid, set()) <= set(b.stations)  # the neighbour halo
            assert len(b.stations) < 2 * len(b.keep_stations)  # compact groups: a thin ring


def test_blocks_within_the_row_limit_are_not_cut():
    from analytics.pipeline.blocks import split_station_groups

    summary, stations = _year_summary(20)
    plan = plan_blocks(summary)
    assert split_station_groups(plan, summary, stations, max_rows=10_000_000) == plan
