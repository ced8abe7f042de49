"""At the air network's reference stations two statistics the donor detector leaves beside its
models open events alone, each against the station's (pair's) own history rather than a fixed
clean tail: ``pair_copy`` - a station copied from another for days moves with it more closely than
that pair did on any day of the two months before, in several analysers at once - and
``smooth_beyond`` - a hand-smoothed station is smoother against its neighbours than it was on any
day of the two months before. Clean data stays within a measured bound."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.donor import (
    PAIR_COPY,
    PAIR_COPY_LAG_DAYS,
    PAIR_COPY_MIN_DAYS,
    SMOOTH_BEYOND,
    copier_side,
    copy_beyond_history,
    level_step,
    trailing_daily_minimum,
)
from analytics.pipeline import load_pipeline, score_partition
from analytics.pipeline.calibration import OPENER_BUDGET_SHARES

COPY_H = 96
COPY_DAY = 26  # the sample holds 41 days; a pair needs PAIR_COPY_LAG_DAYS + PAIR_COPY_MIN_DAYS of history
OPENERS = (PAIR_COPY, SMOOTH_BEYOND)


def test_the_trailing_daily_minimum_is_the_least_of_the_window_days_minima():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.05, 1.0, size=(2, 24 * 30 + 5, 3))
    x[0, 100:300, 1] = np.nan
    days, lag, min_days = 7, 2, 4
    got = trailing_daily_minimum(x, days, lag, min_days)
    daily = np.array([[[np.nanmin(c) if np.isfinite(c).any() else np.nan for c in x[n, d * 24:(d + 1) * 24].T]
                       for d in range(got.shape[1])] for n in range(2)])
    for d in range(got.shape[1]):
        window = daily[:, max(0, d - lag - days):max(0, d - lag)]
        seen = np.isfinite(window).sum(axis=1)
        least = np.where(np.isfinite(window), window, np.inf).min(axis=1, initial=np.inf)
        want = np.where(seen >= min_days, least, np.nan)
        np.testing.assert_array_equal(got[:, d], want)


def _spread(days: int, params: int = 3) -> np.ndarray:
    rng = np.random.default_rng(2)
    return rng.uniform(0.1, 0.4, size=(1, days * 24, params))


def test_a_pair_more_alike_than_in_its_history_in_two_analysers_reads_their_ratio():
    spread = _spread(40)
    at = slice(30 * 24, 33 * 24)
    spread[0, at, :2] = 0.02  # two analysers 5x more alike than the pair's least (0.1)
    out = copy_beyond_history(spread, np.ones(spread.shape, dtype=bool))
    assert out[0, at].min() > np.log(0.1 / 0.02) - 0.3
    assert out[0, :30 * 24].max() == 0.0  # never below its own history before


def test_one_analyser_alone_or_a_copy_before_the_pair_has_history_reads_nothing():
    spread = _spread(40)
    spread[0, 30 * 24:33 * 24, 0] = 0.02  # one analyser only (a clean coincidence)
    early = (PAIR_COPY_LAG_DAYS + PAIR_COPY_MIN_DAYS - 2) * 24
    spread[0, early:early + 48, :] = 0.02  # every analyser, but the pair has no history yet
    out = copy_beyond_history(spread, np.ones(spread.shape, dtype=bool))
    assert out.max() == 0.0
    # nor where the donor does not move (two flat series agree trivially: flatline's case)
    spread[0, 30 * 24:33 * 24, 1] = 0.02
    assert copy_beyond_history(spread, np.zeros(spread.shape, dtype=bool)).max() == 0.0


def test_the_copier_is_the_member_whose_level_against_the_other_stations_moved():
    rng = np.random.default_rng(3)
    days, params = 20, 3
    weather = rng.normal(0.0, 0.5, size=(1, days * 24, params))  # what every station shares
    y = 3.0 + np.array([0.0, 0.4, -0.2, 0.1])[:, None, None] + weather + rng.normal(0, 0.1, (4, days * 24, params))
    start, stop = 15 * 24, 18 * 24
    y[0, start:stop] = y[1, start:stop] + np.log(1.1) + rng.normal(0, 0.03, (stop - start, params))  # 0 copies 1
    others = {0: np.array([2, 3]), 1: np.array([2, 3])}
    copier, donor = (level_step(y, m, others[m], start, stop) for m in (0, 1))
    assert copier > 0.4 > 0.1 > donor  # 0 jumped by 1's level + log 1.1 against 2 and 3; 1 stayed
    assert copier_side(copier, donor) and not copier_side(donor, copier)
    assert copier_side(0.2, 0.22) and copier_side(0.22, 0.2)  # too close to tell: both keep the pair's values
    assert copier_side(0.2, float("nan")) and np.isnan(level_step(y, 0, others[0], 24, 48))  # no reference


def _copied(readings: pd.DataFrame, target: str, donor: str, start: pd.Timestamp, scale: float) -> pd.DataFrame:
    """``target``'s readings over COPY_H hours from ``start`` replaced by ``donor``'s x ``scale``
    with 3% noise (the evaluation's donor copy), rounded to 0.1."""
    rng = np.random.default_rng(4)
    end = start + pd.Timedelta(hours=COPY_H - 1)
    ts = pd.to_datetime(readings["ts"])
    src = readings[(readings["station_id"] == donor) & ts.between(start, end)].set_index(["ts", "parameter"])["value"]
    at = (readings["station_id"] == target) & ts.between(start, end)
    keys = pd.MultiIndex.from_frame(readings.loc[at, ["ts", "parameter"]])
    new = src.reindex(keys).to_numpy() * scale * rng.normal(1.0, 0.03, size=at.sum())
    out = readings.copy()
    out.loc[at, "value"] = np.where(np.isfinite(new), np.round(new, 1), out.loc[at, "value"])
    return out


def planted_copy(readings: pd.DataFrame, stations: pd.DataFrame, target: str,
                 scale: float) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The sample with ``target`` copied from its nearest station x ``scale`` for COPY_H hours from
    day COPY_DAY (:func:`_copied`), and the copy's first hour."""
    start = pd.to_datetime(readings["ts"]).min() + pd.Timedelta(days=COPY_DAY)
    return _copied(readings, target, _nearest(stations, target), start, scale), start


def _without(pipe, *openers: str):
    keep = {m: t for m, t in pipe.events.model_thresholds.items() if m not in openers}
    return replace(pipe, events=replace(pipe.events, model_thresholds=keep))


def _smoothed(readings: pd.DataFrame, target: str, start: pd.Timestamp, window_h: int = 12) -> pd.DataFrame:
    """``target``'s readings over COPY_H hours from ``start`` replaced by their centred ``window_h``
    rolling mean (the evaluation's hand smoothing draws 9-24 h), rounded to 0.1."""
    out = readings.copy()
    for p in out["parameter"].unique():
        sub = out[(out["station_id"] == target) & (out["parameter"] == p)].sort_values("ts")
        smooth = sub["value"].rolling(window_h, center=True, min_periods=1).mean().round(1)
        inside = pd.to_datetime(sub["ts"]).between(start, start + pd.Timedelta(hours=COPY_H - 1)).to_numpy()
        out.loc[sub.index[inside], "value"] = smooth[inside].to_numpy()
    return out


def _at(events: pd.DataFrame, station: str, start: pd.Timestamp) -> pd.DataFrame:
    end = start + pd.Timedelta(hours=COPY_H)
    return events[(events["station_id"] == station) & (pd.to_datetime(events["start"]) <= end)
                  & (pd.to_datetime(events["end"]) >= start)]


def _nearest(stations: pd.DataFrame, station: str) -> str:
    st = stations.set_index("station_id")
    return str(((st["lat"] - st.loc[station, "lat"]) ** 2 + (st["lon"] - st.loc[station, "lon"]) ** 2)
               .drop(station).idxmin())


def test_the_calibration_installs_the_opener_thresholds():
    pipe = load_pipeline("default")
    for name in OPENERS:
        assert name in OPENER_BUDGET_SHARES
        assert 0.2 <= pipe.events.model_thresholds[name] <= 2.0


@pytest.mark.parametrize(("target", "scale"), [("1001A", 1.0), ("1005A", 1.15)])
def test_a_station_copied_from_its_nearest_neighbour_for_days_becomes_a_fabrication_event(sample, target, scale):
    readings, stations = sample
    copied, start = planted_copy(readings, stations, target, scale)
    pipe = load_pipeline("default")
    caught = _at(score_partition(copied, stations, pipe).events, target, start)
    assert (caught["kind"] == "fabrication").any(), caught[["start", "end", "kind"]]
    # nothing else opens an event there: the opener is what catches it
    missed = _at(score_partition(copied, stations, _without(pipe, PAIR_COPY)).events, target, start)
    assert missed.empty, missed[["start", "end", "kind"]]


def test_a_planted_copy_opens_at_the_copier_and_the_pair_opener_adds_nothing_at_its_donor(sample):
    # the pair's collapse is symmetric; its copier is the member whose level against the other
    # stations moved (here 1003A copies its nearest station, 1004A, x 0.85)
    readings, stations = sample
    target, scale = "1003A", 0.85
    copied, start = planted_copy(readings, stations, target, scale)
    donor = _nearest(stations, target)
    pipe = load_pipeline("default")
    events = score_partition(copied, stations, pipe).events
    assert (_at(events, target, start)["kind"] == "fabrication").any()
    at_donor = _at(events, donor, start)
    without = _at(score_partition(copied, stations, _without(pipe, PAIR_COPY)).events, donor, start)
    assert at_donor[["start", "end", "kind"]].equals(without[["start", "end", "kind"]]), at_donor[["start", "end", "kind"]]


@pytest.mark.parametrize("target", ["1002A", "1007A"])
def test_a_station_smoothed_by_hand_for_days_becomes_an_event_nothing_else_opens(sample, target):
    readings, stations = sample
    start = pd.to_datetime(readings["ts"]).min() + pd.Timedelta(days=COPY_DAY)
    smoothed = _smoothed(readings, target, start)
    pipe = load_pipeline("default")
    caught = _at(score_partition(smoothed, stations, pipe).events, target, start)
    assert caught["kind"].isin(["fabrication", "flatline"]).any(), caught[["start", "end", "kind"]]
    missed = _at(score_partition(smoothed, stations, _without(pipe, SMOOTH_BEYOND)).events, target, start)
    assert missed.empty, missed[["start", "end", "kind"]]


def test_the_openers_stay_within_a_measured_bound_on_the_clean_sample_and_never_at_micro_stations(sample):
    readings, stations = sample
    pipe = load_pipeline("default")
    with_openers = score_partition(readings, stations, pipe).events
    without = score_partition(readings, stations, _without(pipe, *OPENERS)).events
    # measured, not the openers' budget: 5 events (2 pair_copy, one hour each in the New Year's Eve
    # haze of 2016; 3 smooth_beyond) on top of 21, 0.31 per station-month of this 41-day sample -
    # inside the held-out period, and ~20 days with history; their thresholds were fitted on the
    # clean development split, where they open 0.024 + 0.017. The bound guards against noisier openers
    assert len(with_openers) - len(without) <= 5, (len(with_openers), len(without))
    assert set(with_openers["event_id"]) >= set(without["event_id"])
    # a station kind the calibration never saw (micro-stations) never opens on them
    start = pd.to_datetime(readings["ts"]).min() + pd.Timedelta(days=COPY_DAY)
    micro = stations.assign(kind=np.where(stations["station_id"] == "1001A", "air_micro", stations["kind"]))
    changed = _smoothed(_copied(readings, "1001A", _nearest(stations, "1001A"), start, 1.0), "1001A",
                        start + pd.Timedelta(hours=COPY_H))
    at_micro = [[e for e in score_partition(changed, micro, p).events["event_id"] if e.startswith("1001A-")]
                for p in (pipe, _without(pipe, *OPENERS))]
    assert at_micro[0] == at_micro[1]
