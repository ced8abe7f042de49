"""At the air network's reference stations the copy and smoothing models open events alone
(``OWN_EVENT_MODELS`` in ``analytics.pipeline.calibration``): a station whose readings were copied
from another for days reads a combined surprise under the event opener, but a near-constant log
ratio to its donor that clean stations almost never show."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analytics.pipeline import load_pipeline, score_partition
from analytics.pipeline.calibration import OWN_EVENT_MODELS

COPY_H = 96
SCALE = 1.0  # the evaluation draws 0.8-1.2


@pytest.fixture(scope="module")
def sample():
    from data.adapters.beijing import read_prsa_pollutants
    from envtrust.settings import SAMPLE_DIR

    return read_prsa_pollutants(SAMPLE_DIR / "beijing")


def _copied(readings: pd.DataFrame, target: str, donor: str, start: pd.Timestamp) -> pd.DataFrame:
    """``target``'s readings over COPY_H hours from ``start`` replaced by ``donor``'s x SCALE with 3%
    noise (the evaluation's donor copy), rounded to 0.1 (CO reads in mg/m3)."""
    rng = np.random.default_rng(4)
    end = start + pd.Timedelta(hours=COPY_H - 1)
    ts = pd.to_datetime(readings["ts"])
    src = readings[(readings["station_id"] == donor) & ts.between(start, end)].set_index(["ts", "parameter"])["value"]
    at = (readings["station_id"] == target) & ts.between(start, end)
    keys = pd.MultiIndex.from_frame(readings.loc[at, ["ts", "parameter"]])
    new = src.reindex(keys).to_numpy() * SCALE * rng.normal(1.0, 0.03, size=at.sum())
    out = readings.copy()
    out.loc[at, "value"] = np.where(np.isfinite(new), np.round(new, 1), out.loc[at, "value"])
    return out


def _without_copy_openers(pipe):
    keep = {m: t for m, t in pipe.events.model_thresholds.items() if m not in ("donor_copy", "donor_smooth")}
    return replace(pipe, events=replace(pipe.events, model_thresholds=keep))


def _at(events: pd.DataFrame, station: str, start: pd.Timestamp) -> pd.DataFrame:
    end = start + pd.Timedelta(hours=COPY_H)
    return events[(events["station_id"] == station) & (pd.to_datetime(events["start"]) <= end)
                  & (pd.to_datetime(events["end"]) >= start)]


def test_the_calibration_fits_the_copy_openers_and_scoring_installs_them():
    pipe = load_pipeline("default")
    assert {"outage", "donor_copy", "donor_smooth"} <= set(OWN_EVENT_MODELS)
    for m in ("donor_copy", "donor_smooth"):
        assert 3.0 <= pipe.events.model_thresholds[m] <= 9.0


def _nearest(stations: pd.DataFrame, station: str) -> str:
    st = stations.set_index("station_id")
    return str(((st["lat"] - st.loc[station, "lat"]) ** 2 + (st["lon"] - st.loc[station, "lon"]) ** 2)
               .drop(station).idxmin())


@pytest.mark.parametrize("target", ["1001A", "1002A", "1003A"])
def test_a_station_copied_from_its_nearest_neighbour_for_days_becomes_a_fabrication_event(sample, target):
    readings, stations = sample
    start = pd.to_datetime(readings["ts"]).min() + pd.Timedelta(days=10)
    copied = _copied(readings, target, _nearest(stations, target), start)
    pipe = load_pipeline("default")
    caught = _at(score_partition(copied, stations, pipe).events, target, start)
    assert (caught["kind"] == "fabrication").any(), caught[["start", "end", "kind"]]
    # a copy of the nearest station at its own level: nothing else opens an event there
    missed = _at(score_partition(copied, stations, _without_copy_openers(pipe)).events, target, start)
    assert missed.empty, missed[["start", "end", "kind"]]


def test_the_copy_openers_stay_quiet_on_the_clean_sample(sample):
    readings, stations = sample
    pipe = load_pipeline("default")
    with_openers = score_partition(readings, stations, pipe).events
    without = score_partition(readings, stations, _without_copy_openers(pipe)).events
    months = readings["station_id"].nunique() * pd.to_datetime(readings["ts"]).dt.floor("h").nunique() / (24 * 30.44)
    # their clean budget: 0.3 x 0.1 events per station-month each
    assert (len(with_openers) - len(without)) / months <= 0.1, (len(with_openers), len(without), months)
