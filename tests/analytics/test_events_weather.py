"""An air station's weather sensors (wind, temperature, pressure, humidity, rain) are scored with it
but never carry an event: they explain the pollutants, and a wind vane unlike its neighbours is not
data interference. On the shipped Beijing sample read the way the demo ingests it (pollutants and
weather), the engine once put "WD hourly fluctuation 47% of usual (WS, WD) - suspected copied data"
at the top of the analyst's list and summarised clippings as "WD 194% above the neighbours"."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.events import monitored_columns
from analytics.pipeline import at_capacity, load_pipeline, score_partition
from analytics.vocabulary import PARAMETERS
from data.adapters.beijing import read_beijing_csv, read_beijing_stations
from envtrust.settings import SAMPLE_DIR

WEATHER = {name for name, p in PARAMETERS.items() if p.network == "met"}


@pytest.fixture(scope="module")
def sample_with_weather() -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = SAMPLE_DIR / "beijing"
    stations_csv = folder / "stations_beijing12.csv"
    readings = pd.concat([read_beijing_csv(f, stations_csv).readings for f in sorted(folder.glob("PRSA_Data_*.csv.gz"))],
                         ignore_index=True)
    return readings, read_beijing_stations(stations_csv)


def test_weather_columns_are_context_everything_else_can_carry_an_event():
    got = monitored_columns(["PM2.5", "WD", "WS", "O3", "TEMP", "NH3-N", "flue_SO2", "not_in_vocabulary"])
    assert got.tolist() == [True, False, False, True, False, True, True, True]


def test_no_event_on_the_sample_is_about_the_weather(sample_with_weather):
    readings, stations = sample_with_weather
    assert WEATHER & set(readings["parameter"])  # the weather is read and scored with the pollutants
    events = score_partition(readings, stations, at_capacity(load_pipeline("default"), 0.3)).events
    suspected = events[events["kind"] != "data_gap"]
    assert len(suspected) > 0  # the pollutants still open events
    for row in suspected.itertuples(index=False):
        named = set(str(row.parameters).split(","))
        assert named and not named & WEATHER, (row.station_id, row.start, row.kind, row.parameters)
        assert not any(f"{w}较" in row.summary or f"{w} " in row.summary for w in WEATHER), row.summary


def test_the_copy_and_smoothing_openers_read_the_pollutants_only(sample_with_weather):
    """The Beijing sites report one shared wind: with the weather counted, a pair's wind spread
    collapsed on a calm evening and Wanliu (1007A) opened "suspected copied data" at 2017-01-09
    18:00 UTC ranked 1 in 10^26, at the top of the sample demo. The openers must read the same with
    and without the weather columns."""
    from analytics.detectors.base import OPENER_STATISTICS
    from analytics.detectors.donor import PAIR_COPY, SMOOTH_BEYOND
    from analytics.pipeline.run import run_models

    readings, stations = sample_with_weather
    pipe = load_pipeline("default")
    with_weather = run_models(readings, stations, pipe)[0]
    pollutants = run_models(readings[~readings["parameter"].isin(WEATHER)], stations, pipe)[0]
    assert with_weather.values.shape[2] > pollutants.values.shape[2]
    for name in (PAIR_COPY, SMOOTH_BEYOND):
        a = with_weather.cache[OPENER_STATISTICS][name].values
        b = pollutants.cache[OPENER_STATISTICS][name].values
        assert a.shape == b.shape
        assert abs(a - b).max() < 1e-9, name
