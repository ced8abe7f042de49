"""The one run finder for "data missing" and the episodes an officer reads (issue 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.completeness import GAP_EPISODE_MERGE_H, gap_episodes, missing_runs_h

T0 = pd.Timestamp("2017-01-01 00:00")


def test_runs_inside_the_reporting_period_and_up_to_the_expected_end():
    have = np.array([10, 11, 17, 18, 30])
    assert missing_runs_h(have, 5) == [(12, 16), (19, 29)]  # nothing before hour 10 (not commissioned)
    assert missing_runs_h(have, 6) == [(19, 29)]
    assert missing_runs_h(have, 5, until_h=35) == [(12, 16), (19, 29), (31, 35)]  # the feed stopped at 30
    assert missing_runs_h(have, 5, until_h=34) == [(12, 16), (19, 29)]  # 4 h: not yet a gap
    assert missing_runs_h(np.array([], dtype=int), 5, until_h=40) == []  # never reported in the window


def _run(station: str, a: int, b: int, ongoing: bool = False) -> dict:
    return {"station_id": station, "start": T0 + pd.Timedelta(hours=a), "end": T0 + pd.Timedelta(hours=b),
            "ongoing": ongoing}


def test_gaps_less_than_a_day_apart_are_one_episode_with_their_hours_summed():
    runs = pd.DataFrame([_run("S", 0, 5), _run("S", 9, 14), _run("S", 14 + GAP_EPISODE_MERGE_H + 1, 60, True),
                         _run("R", 3, 8)])
    ep = gap_episodes(runs)
    got = [(r.station_id, (r.start - T0) // pd.Timedelta(hours=1), (r.end - T0) // pd.Timedelta(hours=1), r.hours,
            r.gaps, r.ongoing) for r in ep.itertuples()]
    assert sorted(got) == [("R", 3, 8, 6, 1, False), ("S", 0, 14, 12, 2, False), ("S", 39, 60, 22, 1, True)]
    assert gap_episodes(runs.iloc[:0]).empty
