"""Release transitions on a real DuckDB store: preliminary -> audited -> final, withholding of
confirmed interference, and changes after release that keep the earlier value with a note."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from data import release as sql
from envtrust import release
from envtrust.record.verify import leaf_problems

spec = importlib.util.spec_from_file_location("release_fixture", Path(__file__).with_name("release_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)
LATEST = fixture.public_fixture().LATEST


@pytest.fixture()
def released(store):
    fixture.fill_release_store(store)
    release.publish_preliminary(store, "2017-01-01", "2017-01-11")
    return store


def _versions(con, station, ts, parameter) -> pd.DataFrame:
    return con.execute("SELECT * FROM release_values WHERE station_id = ? AND ts = ? AND parameter = ? "
                       "ORDER BY version", [station, ts, parameter]).df()


def test_publish_takes_only_valid_values_of_official_stations_once(released):
    kinds = released.execute("SELECT DISTINCT s.kind FROM release_values v JOIN stations s USING (station_id)").df()
    assert set(kinds["kind"]) == {"air_station", "water_section"}
    assert released.execute("SELECT count(*) FROM release_values WHERE parameter = 'TEMP' OR value = 999").fetchone()[0] == 0
    assert released.execute("SELECT count(*) FROM release_values WHERE ts > ?", [LATEST]).fetchone()[0] == 0
    assert set(sql.status_counts(released)) == {"preliminary"}
    assert release.publish_preliminary(released, "2017-01-01", "2017-01-11") == 0  # idempotent


def test_audit_then_final_adds_versions_and_withholds_confirmed_interference(released):
    counts = release.audit_period(released, "2017-01-09", "2017-01-10 12:00", "ana")
    assert counts["withheld"] == 2  # 1002A NO2 at the two confirmed hours
    held = _versions(released, "1002A", fixture.CONFIRMED_HOUR, "NO2")
    assert list(held["status"]) == ["preliminary", "withheld"]
    assert held["value"].iloc[0] > 0 and pd.isna(held["value"].iloc[1])
    assert held["superseded_at"].notna().iloc[0] and held["superseded_at"].isna().iloc[1]
    assert "confirmed interference" in held["note"].iloc[1]
    release.finalize_period(released, "2017-01-09", "2017-01-10 06:00", "lead")
    one = _versions(released, "1001A", pd.Timestamp("2017-01-10 03:00"), "PM2.5")
    assert list(one["status"]) == ["preliminary", "audited", "final"]
    assert list(one["version"]) == [1, 2, 3] and one["value"].nunique() == 1
    assert list(_versions(released, "1002A", fixture.CONFIRMED_HOUR, "NO2")["status"]) == ["preliminary", "withheld"]
    late = _versions(released, "1001A", LATEST, "PM2.5")
    assert list(late["status"]) == ["preliminary"]  # outside the audited period: untouched
    assert leaf_problems(released) == []


def test_a_change_after_release_keeps_the_earlier_value_and_a_note(released):
    ts = pd.Timestamp("2017-01-10 03:00")
    release.audit_period(released, "2017-01-10", "2017-01-10 05:00", "ana")
    before = sql.current_version(released, "1001A", ts, "PM2.5")
    version = release.correct_value(released, "1001A", ts, "PM2.5", 12.5, "ana", "analyser drift corrected")
    rows = _versions(released, "1001A", ts, "PM2.5")
    assert version == 3 and list(rows["value"]) == [before["value"], before["value"], 12.5]
    assert rows["note"].iloc[-1] == "analyser drift corrected" and rows["released_by"].iloc[-1] == "ana"
    assert rows["status"].iloc[-1] == "audited"
    logged = released.execute("SELECT detail_json FROM audit_log WHERE action = 'release_correct'").fetchone()[0]
    detail = json.loads(logged)  # RFC 8785 text: 57.0 is written 57
    assert detail["reason"] == "analyser drift corrected" and detail["previous_value"] == before["value"]


@pytest.mark.parametrize("kwargs, message", [
    ({"value": 1.0, "reason": " "}, "needs a reason"),
    ({"value": 1.0, "reason": "x", "status": "preliminary"}, "cannot go back"),
    ({"value": 1.0, "reason": "x", "status": "withheld"}, "withheld value has no value"),
    ({"value": 1.0, "reason": "x", "status": "published"}, "status must be one of"),
])
def test_changes_the_rules_refuse(released, kwargs, message):
    ts = pd.Timestamp("2017-01-10 03:00")
    release.audit_period(released, "2017-01-10", "2017-01-10 05:00", "ana")
    with pytest.raises(release.ReleaseError, match=message):
        release.correct_value(released, "1001A", ts, "PM2.5", actor="ana", **kwargs)
    assert len(_versions(released, "1001A", ts, "PM2.5")) == 2


def test_an_unreleased_value_cannot_be_changed_and_periods_must_not_be_inverted(released):
    with pytest.raises(release.ReleaseError, match="never released"):
        release.correct_value(released, "M0001", LATEST, "PM2.5", 1.0, "ana", "why")
    with pytest.raises(release.ReleaseError, match="before it starts"):
        release.audit_period(released, "2017-01-10", "2017-01-09", "ana")


def test_city_ranking_uses_released_values_and_orders_best_first(released):
    table = release.city_ranking(released, "2017-01-10")
    assert list(table["rank"]) == [1, 2]
    assert table["aqi"].is_monotonic_increasing
    assert set(table["city"]) == {"北京市", "承德市"}
    assert (table["composite_index"] > 0).all()
    with pytest.raises(release.ReleaseError, match="order must be"):
        release.city_ranking(released, "2017-01-10", by="score")


# ---------------------------------------------------------------- the time-sorted copy and the generation

def _copy_mismatch(con) -> int:
    """Rows in which ``release_by_ts`` and the current versions of ``release_values`` differ."""
    current = ("SELECT station_id, ts, parameter, value, status, version FROM release_values "
               "WHERE superseded_at IS NULL")
    copy = "SELECT station_id, ts, parameter, value, status, version FROM release_by_ts"
    return con.execute(f"SELECT count(*) FROM (({current} EXCEPT ALL {copy}) UNION ALL "
                       f"({copy} EXCEPT ALL {current}))").fetchone()[0]


@pytest.mark.parametrize("step", ["publish", "audit", "finalize", "correct", "withhold", "rebuild"])
def test_every_release_step_keeps_the_time_sorted_copy_in_step_and_raises_the_generation(released, step):
    release.audit_period(released, "2017-01-09", "2017-01-10 06:00", "ana")
    assert _copy_mismatch(released) == 0
    later = LATEST + pd.Timedelta(hours=3)
    released.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) VALUES "
                     "('1001A', ?, 'PM2.5', 33.0, 'N')", [later])
    before = sql.release_generation(released)
    ts = pd.Timestamp("2017-01-10 03:00")
    {
        "publish": lambda: release.publish_preliminary(released, later, later),
        "audit": lambda: release.audit_period(released, "2017-01-10 06:00", LATEST, "ana"),
        "finalize": lambda: release.finalize_period(released, "2017-01-09", "2017-01-10 06:00", "lead"),
        "correct": lambda: release.correct_value(released, "1001A", ts, "PM2.5", 12.5, "ana", "drift"),
        "withhold": lambda: release.correct_value(released, "1001A", ts, "NO2", None, "ana", "case 7",
                                                  status="withheld"),
        "rebuild": lambda: sql.rebuild_release_by_ts(released),
    }[step]()
    assert _copy_mismatch(released) == 0
    assert sql.release_generation(released) == before + 1
    copy = released.execute("SELECT count(*), count(DISTINCT (station_id, ts, parameter)) FROM release_by_ts").fetchone()
    assert copy[0] == copy[1]  # one row per value: its current version only


def test_the_copy_holds_released_values_only(released):
    """Nothing that was not released reaches ``release_by_ts``: no invalid flag, no micro-station or
    outlet, no unpublished parameter or hour, no superseded value, no value of a withheld hour."""
    release.audit_period(released, "2017-01-09", "2017-01-10 12:00", "ana")
    release.correct_value(released, "1001A", LATEST, "PM2.5", 1.5, "ana", "drift")
    released.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) VALUES "
                     "('1001A', ?, 'PM2.5', 321.0, 'N')", [LATEST + pd.Timedelta(hours=2)])
    kinds = released.execute("SELECT DISTINCT s.kind FROM release_by_ts v JOIN stations s USING (station_id)").df()
    assert set(kinds["kind"]) <= {"air_station", "water_section"}
    assert released.execute("SELECT count(*) FROM release_by_ts WHERE parameter = 'TEMP' OR value IN (999, 321) "
                            "OR ts > ?", [LATEST]).fetchone()[0] == 0
    assert released.execute("SELECT value FROM release_by_ts WHERE station_id = '1001A' AND ts = ? "
                            "AND parameter = 'PM2.5'", [LATEST]).fetchall() == [(1.5,)]
    held = released.execute("SELECT value, status FROM release_by_ts WHERE station_id = '1002A' AND ts = ? "
                            "AND parameter = 'NO2'", [fixture.CONFIRMED_HOUR]).fetchall()
    assert held == [(None, "withheld")]
    assert _copy_mismatch(released) == 0


def test_a_failed_step_leaves_copy_and_generation_as_they_were(released, monkeypatch):
    before = sql.release_generation(released)
    count = released.execute("SELECT count(*) FROM release_by_ts").fetchone()[0]

    def broken(con, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sql, "raise_generation", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        release.audit_period(released, "2017-01-09", "2017-01-10 12:00", "ana")
    assert sql.release_generation(released) == before
    assert released.execute("SELECT count(*) FROM release_by_ts").fetchone()[0] == count
    assert set(sql.status_counts(released)) == {"preliminary"}


def test_a_change_of_the_station_list_raises_the_generation(released):
    from data.stations import upsert_stations

    before = sql.release_generation(released)
    upsert_stations(released, pd.DataFrame([("1003A", "新站", "air_station", 116.4, 39.9)],
                                           columns=["station_id", "name", "kind", "lon", "lat"]))
    assert sql.release_generation(released) == before + 1


def test_a_city_carries_the_least_advanced_status_of_its_hours():
    hours = pd.DataFrame({"station_id": ["a", "a", "b", "c", "c"],
                          "status": ["final", "audited", "final", "preliminary", "final"]})
    city_of = pd.Series({"a": "北京市", "b": "北京市", "c": "承德市", "d": "天津市"})
    assert release.least_advanced_by_city(hours, city_of).to_dict() == {"北京市": "audited", "承德市": "preliminary"}


def test_the_ranking_names_each_city_s_release_status(released):
    release.audit_period(released, "2017-01-09 16:00", "2017-01-10 15:59", "ana")  # the whole CST day 2017-01-10
    table = release.city_ranking(released, "2017-01-10").set_index("city")
    assert table.loc["北京市", "status"] == "audited" and table.loc["承德市", "status"] == "audited"
    release.correct_value(released, "1002A", "2017-01-10 05:00", "PM10", 30.0, "ana", "drift", status="final")
    assert release.city_ranking(released, "2017-01-10").set_index("city").loc["承德市", "status"] == "audited"



@pytest.mark.parametrize("read", [sql.current_hourly, sql.current_daily])
def test_every_page_and_total_agree_with_the_counted_query(released, read):
    """A query that cannot fill its page skips the window count and takes the page's length as the
    total; each page and total must be those of the counted query (``limit=1`` always counts)."""
    release.publish_preliminary(released, "1970-01-01", "2100-01-01")
    ids, params = ["1001A", "1002A"], ["PM2.5", "NO2"]
    start, end = pd.Timestamp("2017-01-08 16:00"), pd.Timestamp("2017-01-10 15:00")  # two CST days
    everything, total = read(released, ids, params, start, end, sql.RELEASE_STATUSES, 1000, 0)
    assert total == len(everything) > 5
    assert read(released, ids, params, start, end, sql.RELEASE_STATUSES, 1, 0)[1] == total
    for limit in (1, 5, total - 1, total, total + 1):
        for offset in (0, limit, total - 1, total, total + 3):
            page, found = read(released, ids, params, start, end, sql.RELEASE_STATUSES, limit, offset)
            assert (page, found) == (everything[offset:offset + limit], total), (limit, offset)


def test_the_time_sorted_copy_answers_as_the_versions_table(released, monkeypatch):
    """Many stations over a few hours read ``release_by_ts``; after audit steps (superseded versions,
    a withheld value) its answers are those of ``release_values``."""
    release.audit_period(released, "2017-01-09", "2017-01-10 12:00", "ana")
    ids = ["1001A", "1002A", "1003A"]
    start, end = pd.Timestamp("2017-01-09 16:00"), pd.Timestamp("2017-01-10 11:00")  # before the last hour
    for read in (sql.current_hourly, sql.current_daily):
        from_versions = read(released, ids, ["PM2.5", "NO2"], start, end, sql.RELEASE_STATUSES, 1000, 0)
        monkeypatch.setattr(sql, "BY_TS_MIN_STATIONS", 1)
        from_copy = read(released, ids, ["PM2.5", "NO2"], start, end, sql.RELEASE_STATUSES, 1000, 0)
        monkeypatch.setattr(sql, "BY_TS_MIN_STATIONS", len(ids) + 1)
        assert from_copy == from_versions and from_copy[1] >= 4
    assert any(row[4] == "withheld" for row in sql.current_hourly(released, ids, ["NO2"], start, end,
                                                                   sql.RELEASE_STATUSES, 1000, 0)[0])


def test_a_status_filter_keeps_only_that_status_and_all_statuses_mean_every_value(released):
    """Every status asked for: every current value; one status: only the values of that status."""
    release.audit_period(released, "2017-01-09", "2017-01-10 12:00", "ana")
    ids, params = ["1001A", "1002A"], ["PM2.5", "NO2"]
    start, end = pd.Timestamp("2017-01-09 00:00"), pd.Timestamp("2017-01-10 23:00")
    every, total = sql.current_hourly(released, ids, params, start, end, sql.RELEASE_STATUSES, 1000, 0)
    counted = released.execute(
        "SELECT count(*) FROM release_values WHERE superseded_at IS NULL AND station_id IN ('1001A', '1002A') "
        "AND parameter IN ('PM2.5', 'NO2') AND ts BETWEEN ? AND ?", [start, end]).fetchone()[0]
    assert total == len(every) == counted
    assert {row[4] for row in every} == {"preliminary", "audited", "withheld"}
    for status in ("audited", "withheld"):
        rows, found = sql.current_hourly(released, ids, params, start, end, (status,), 1000, 0)
        assert found == len(rows) == sum(row[4] == status for row in every) > 0
        assert {row[4] for row in rows} == {status}
