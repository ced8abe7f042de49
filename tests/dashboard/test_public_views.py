"""data.public_views returns the release records only: official networks, published values, each
with its release status; an unreleased, superseded or withheld value never comes out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from data import public_views
from data.release import rebuild_release_by_ts


def _load_fixture_module():
    spec = importlib.util.spec_from_file_location("public_fixture", Path(__file__).with_name("public_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixture = _load_fixture_module()
LATEST = _fixture.LATEST
fill_public_store = _fixture.fill_public_store
release_public_store = _fixture.release_public_store
INTERNAL_TABLES = ("scores", "events", "event_reviews", "users", "quarantine", "ingest_batches",
                   "audit_chain_legacy", "record_log", "record_content", "record_attachments", "record_checkpoints")
INTERNAL_VIEWS = ("audit_log",)  # the audit trail, read from the record's Merkle log


@pytest.fixture()
def public_store(store):
    fill_public_store(store)
    release_public_store(store)
    return store


def test_released_stations_are_official_networks_only(public_store):
    stations = public_views.released_stations(public_store)
    assert set(stations["station_id"]) == {"1001A", "1002A", "W0001"}
    assert set(stations.columns) == set(public_views.STATION_COLUMNS)


@pytest.mark.parametrize("station_id", ["M0001", "P0001", "nope", "1001A' OR '1'='1"])
def test_non_public_station_gives_nothing(public_store, station_id):
    assert public_views.released_station(public_store, station_id) is None
    assert public_views.latest_released_station_ts(public_store, station_id) is None
    assert public_views.released_series(public_store, station_id, LATEST - pd.Timedelta(days=2), LATEST).empty


def test_latest_hour_ignores_invalid_flags(public_store):
    assert public_views.latest_released_ts(public_store, "air_station") == LATEST
    assert public_views.latest_released_station_ts(public_store, "1001A") == LATEST


def test_hour_wide_has_released_values_and_drops_flagged(public_store):
    wide = public_views.released_hour_wide(public_store, "air_station", LATEST)
    assert list(wide["station_id"]) == ["1001A", "1002A"]
    row = wide.set_index("station_id")
    assert row.loc["1001A", "PM2.5"] == pytest.approx(40.0 + 29)
    assert pd.isna(row.loc["1002A", "PM2.5"])  # maintenance-flagged 999 is not released
    assert row.loc["1002A", "PM10"] == pytest.approx(20.0 + 29 + 1)
    assert pd.isna(row.loc["1001A", "NO2"])  # withheld: no value
    assert row.loc["1001A", "status"] == "preliminary" and row.loc["1001A", "withheld"] == 1
    assert "TEMP" not in wide.columns
    assert wide[["PM2.5", "PM10", "SO2", "NO2", "CO", "O3"]].max().max() < 500


def test_series_is_one_station_in_window_with_statuses(public_store):
    series = public_views.released_series(public_store, "1001A", LATEST - pd.Timedelta(hours=23), LATEST)
    assert len(series) == 24
    assert list(series.columns) == ["ts", "PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "status", "withheld"]
    assert series["ts"].is_monotonic_increasing
    audited_until = LATEST - pd.Timedelta(hours=12)
    assert set(series.loc[series["ts"] <= audited_until, "status"]) == {"audited"}
    assert set(series.loc[series["ts"] > audited_until, "status"]) == {"preliminary"}


def test_water_section_series_uses_water_parameters(public_store):
    series = public_views.released_series(public_store, "W0001", LATEST - pd.Timedelta(hours=2), LATEST)
    assert len(series) == 3
    assert series["DO"].eq(9.0).all() and "PM2.5" not in series


def test_unpublished_readings_never_come_out(public_store):
    """A valid reading added after the release step has no release record: it is not shown until
    it is published, and then with the status preliminary."""
    later = LATEST + pd.Timedelta(hours=2)
    public_store.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) VALUES "
                         "('1001A', ?, 'PM2.5', 321.0, 'N')", [later])
    assert public_views.latest_released_ts(public_store, "air_station") == LATEST
    assert public_views.latest_released_station_ts(public_store, "1001A") == LATEST
    assert public_views.released_hour_wide(public_store, "air_station", later).empty
    assert public_views.released_long(public_store, "1001A", LATEST, later)["value"].max() < 321
    from envtrust.release import publish_preliminary

    publish_preliminary(public_store, later, later)
    hour = public_views.released_long(public_store, "1001A", later, later)
    assert hour[["value", "status"]].values.tolist() == [[321.0, "preliminary"]]


def test_a_corrected_value_shows_only_its_current_version(public_store):
    from envtrust.release import correct_value

    ts = LATEST - pd.Timedelta(hours=1)
    correct_value(public_store, "1001A", ts, "PM2.5", 11.5, "ana", "analyser drift corrected")
    hour = public_views.released_long(public_store, "1001A", ts, ts).set_index("parameter")
    assert hour.loc["PM2.5", "value"] == 11.5 and len(hour) == 6  # one row per parameter, no old version


def test_every_station_at_one_hour_follows_each_release_step(public_store):
    """The map's hour (read from the time-sorted copy ``release_by_ts``) shows a corrected value's
    current version only, a withheld value without its value, and a new hour only once published."""
    from envtrust.release import correct_value, publish_preliminary

    correct_value(public_store, "1002A", LATEST, "PM10", 7.5, "ana", "analyser drift corrected")
    correct_value(public_store, "1002A", LATEST, "SO2", None, "ana", "confirmed interference", status="withheld")
    row = public_views.released_hour_wide(public_store, "air_station", LATEST).set_index("station_id").loc["1002A"]
    assert row["PM10"] == 7.5 and pd.isna(row["SO2"]) and row["withheld"] == 1
    later = LATEST + pd.Timedelta(hours=1)
    public_store.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) VALUES "
                         "('1002A', ?, 'PM10', 55.0, 'N')", [later])
    assert public_views.released_hour_wide(public_store, "air_station", later).empty
    assert public_views.latest_released_ts(public_store, "air_station") == LATEST
    publish_preliminary(public_store, later, later)
    assert public_views.released_hour_wide(public_store, "air_station", later)["PM10"].tolist() == [55.0]
    assert public_views.latest_released_ts(public_store, "air_station") == later


def test_daily_values_come_from_released_hours(public_store):
    long = public_views.released_long(public_store, "1001A", LATEST - pd.Timedelta(days=30), LATEST)
    days = public_views.daily_air_quality(long, 8)
    assert list(days["status"]) == ["audited", "preliminary"]  # the CST days 2017-01-09 (6 h) and 2017-01-10
    assert days["withheld"].tolist() == [0, 1]
    water = public_views.daily_water_class(
        public_views.released_long(public_store, "W0001", LATEST - pd.Timedelta(days=30), LATEST), 8)
    assert water["water_class"].tolist() == [2, 2]  # DO 9, NH3-N 0.3, CODMn 3, TP 0.05: class II


def test_no_internal_column_names_in_any_answer(public_store):
    answers = [
        public_views.released_stations(public_store),
        public_views.released_hour_wide(public_store, "air_station", LATEST),
        public_views.released_hour_wide(public_store, "water_section", LATEST),
        public_views.released_series(public_store, "1001A", LATEST - pd.Timedelta(hours=5), LATEST),
    ]
    for frame in answers:
        for column in frame.columns:
            assert not any(word in column.lower() for word in ("score", "event", "flag", "review", "summary"))


def test_works_without_any_internal_table(public_store):
    """Drop every internal table: the public queries still answer, so they never read them."""
    for view in INTERNAL_VIEWS:
        public_store.execute(f"DROP VIEW {view}")
    for table in INTERNAL_TABLES:
        public_store.execute(f"DROP TABLE {table}")
    assert len(public_views.released_stations(public_store)) == 3
    assert len(public_views.released_hour_wide(public_store, "air_station", LATEST)) == 2
    assert public_views.latest_released_ts(public_store, "water_section") == LATEST


def test_unknown_kind_is_refused(public_store):
    with pytest.raises(ValueError, match="kind must be one of"):
        public_views.latest_released_ts(public_store, "air_micro")
    with pytest.raises(ValueError, match="kind must be one of"):
        public_views.released_hour_wide(public_store, "polluter_outlet", LATEST)


@pytest.mark.parametrize("drop_kind", ["air_station", "water_section", None])
def test_public_map_page_renders_with_any_network_missing(store, drop_kind):
    """The embed map must render when a store has only air stations, only water sections, or both."""
    from dashboard.public.pages import map_page

    fill_public_store(store)
    if drop_kind:
        store.execute("DELETE FROM readings WHERE station_id IN (SELECT station_id FROM stations WHERE kind = ?)",
                      [drop_kind])
    release_public_store(store, withhold=drop_kind != "air_station")
    page = map_page(store, "zh", "Asia/Shanghai")
    figure = page[1].figure
    names = " ".join(trace.name for trace in figure.data)
    assert ("AQI" in names) == (drop_kind != "air_station")
    assert ("水质" in names) == (drop_kind != "water_section")
    assert all(trace.mode == "markers" for trace in figure.data)  # no text labels on the public map


def test_latest_hour_found_beyond_the_recent_window(public_store):
    """A newer reading of a non-public station moves the table's maximum far ahead: the bounded
    search finds nothing and the full search still returns the real latest released hour."""
    public_store.execute("INSERT INTO release_values VALUES ('P0001', ?, 'flue_SO2', 10.0, 'preliminary', 1, "
                         "now(), 'crafted', NULL, NULL)", [LATEST + pd.Timedelta(days=30)])
    rebuild_release_by_ts(public_store)  # written past data.release: the copy is rebuilt by hand
    assert public_views.latest_released_ts(public_store, "air_station") == LATEST
    public_store.execute("DELETE FROM stations WHERE kind = 'water_section'")
    assert public_views.latest_released_ts(public_store, "water_section") is None


def test_page_cache_expires_and_stays_bounded():
    from dashboard.public.callbacks import PageCache

    now = [0.0]
    cache = PageCache(ttl_s=60, max_entries=2, clock=lambda: now[0])
    calls = []

    def render(value):
        calls.append(value)
        return value

    assert cache.get_or_render(("/embed/map", "zh"), lambda: render("a")) == "a"
    assert cache.get_or_render(("/embed/map", "zh"), lambda: render("b")) == "a"  # cached
    now[0] = 61.0
    assert cache.get_or_render(("/embed/map", "zh"), lambda: render("c")) == "c"  # expired
    cache.get_or_render(("x", "zh"), lambda: render("x"))
    cache.get_or_render(("y", "zh"), lambda: render("y"))
    assert cache.get_or_render(("/embed/map", "zh"), lambda: render("d")) == "d"  # evicted (bound 2)
    assert calls == ["a", "c", "x", "y", "d"]
