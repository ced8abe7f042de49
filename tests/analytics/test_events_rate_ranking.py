"""Events at the air reference stations rank by how rare they are on clean data across all their
openers: each opener (the combined surprise, the outage model, the ``pair_copy`` and
``smooth_beyond`` statistics) has a clean event-rate tail - how many events per station-month it
opens at least that strong on the calibration data - and an event ranks by the rarest of its
openers, as "1 in N clean station-hours". An event only an opener opens no longer ranks by its
weak combined surprise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analytics.events import (
    COMBINED_OPENER,
    HOURS_PER_MONTH,
    EventRateTail,
    EventSettings,
    event_rarity,
    fit_event_rate_tail,
)
from analytics.pipeline import load_pipeline, score_partition
from tests.analytics.test_events_beyond_history import _at, planted_copy


def test_rarity_reads_the_rate_on_a_per_station_hour_scale_and_grows_past_the_top():
    tail = EventRateTail((1.0, 2.0, 3.0), (1.0, 0.1, 0.01))
    base = np.log10(HOURS_PER_MONTH)
    assert tail.rarity(2.0) == pytest.approx(base + 1.0)
    assert tail.rarity(2.5) == pytest.approx(base + 1.5)  # log-linear between points
    assert tail.rarity(0.2) == pytest.approx(base)  # under the grid: its most common rate
    assert tail.rarity(4.0) == pytest.approx(base + 3.0)  # past the top: the last decade's slope
    assert tail.rarity(5.0) > tail.rarity(4.0)
    assert EventRateTail.from_dict(tail.to_dict()) == tail


def test_the_fitted_tail_counts_the_events_an_opener_opens_alone():
    ev = EventSettings(low_ratio=0.75, merge_gap_h=3, min_hours=1)
    x = np.zeros((2, 24 * 30 * 4))  # two stations, 4 months each (8 station-months at 720 h)
    x[0, 100:105] = 5.0
    x[0, 2000] = 3.0
    x[1, 500:510] = 2.0
    x[1, 1500] = 0.5
    station_months = x.size / 720
    tail = fit_event_rate_tail(x, ev, station_months)
    peaks = np.array([5.0, 3.0, 2.0, 0.5])  # four events, far apart: none merges with another
    assert tail.thresholds[-1] == 5.0 and len(tail.thresholds) > 3
    for t, rate in zip(tail.thresholds, tail.events_per_station_month, strict=True):
        assert rate == pytest.approx((peaks >= t).sum() / station_months), t
    assert fit_event_rate_tail(np.zeros((2, 10)), ev, 1.0) is None


def test_an_event_ranks_by_its_rarest_opener():
    class Opener:
        values = np.array([[0.0, 0.9, 0.0]])

    tails = {COMBINED_OPENER: EventRateTail((5.0, 8.0), (1.0, 0.01)),
             "pair_copy": EventRateTail((0.5, 1.0), (0.03, 0.001))}
    station_hour = np.array([[0.0, 6.0, 0.0]])
    got = event_rarity(tails, 0, 0, 2, station_hour, {}, {"pair_copy": Opener()})
    assert got == pytest.approx(max(tails[COMBINED_OPENER].rarity(6.0), tails["pair_copy"].rarity(0.9)))
    assert got == pytest.approx(tails["pair_copy"].rarity(0.9))
    assert event_rarity({}, 0, 0, 2, station_hour, {}, None) is None


def test_the_calibration_installs_a_rate_tail_for_every_air_opener():
    tails = load_pipeline("default").events.rate_tails
    assert {COMBINED_OPENER, "outage", "pair_copy", "smooth_beyond"} <= set(tails)


@pytest.mark.parametrize(("target", "scale"), [("1001A", 1.0), ("1005A", 1.15)])
def test_a_planted_copy_ranks_above_every_event_of_the_clean_sample(sample, target, scale):
    readings, stations = sample
    copied, start = planted_copy(readings, stations, target, scale)
    pipe = load_pipeline("default")
    by_combined = replace(pipe, events=replace(pipe.events, rate_tails={}))  # the ranking before
    ranks = {}
    for name, p in (("rate", pipe), ("combined", by_combined)):
        clean = score_partition(readings, stations, p).events
        caught = _at(score_partition(copied, stations, p).events, target, start)
        copy_event = caught[caught["kind"] == "fabrication"]
        assert len(copy_event) == 1, caught[["start", "end", "kind"]]
        ranks[name] = (float(copy_event["rank_score"].iloc[0]), float(clean["rank_score"].max()))
    copy_rank, clean_top = ranks["rate"]
    assert copy_rank > clean_top, ranks
    # by its combined surprise alone the copy read below the clean sample's strongest events
    assert ranks["combined"][0] < ranks["combined"][1], ranks
