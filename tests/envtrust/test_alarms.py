"""Alarm rules over a small real store: each rule fires where the fixture planted its condition,
re-runs raise nothing new, a continuing condition extends its open alarm."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from analytics.events import EventSettings, completeness_gaps
from analytics.standards.air_quality import gap_costing_a_valid_day_h
from analytics.vocabulary import bilingual, in_language
from data.schema import migrate
from envtrust import cases
from envtrust.alarms import (
    ENFORCEMENT,
    MONITORING,
    REVIEW,
    AlarmSettings,
    alarm_audience,
    deduplicate,
    missing_runs,
    raise_alarms,
    review_event,
    rule_data_missing,
    rule_flag_anomaly,
    rule_suspected_interference,
)
from envtrust.webhook import enqueue_alarm
from tests.envtrust.cases_fixture import AIR, OUTLET, T0, build_store


@pytest.fixture()
def con(tmp_path):
    c = build_store(tmp_path / "alarms.duckdb")
    yield c
    c.close()


def test_each_rule_fires_once_where_planted(con):
    """AIR1's PM2.5 day above the GB 3095-2012 limit is air quality, not a violation: no alarm. Only
    the rules that are a determination themselves are pushed when raised: the outlet's exceedance and
    flags, not the air station's data gap nor the engine's suspicion (it waits for the analyst)."""
    summary = raise_alarms(con)
    got = con.execute("SELECT rule, station_id, parameter FROM alarms ORDER BY rule").fetchall()
    assert got == [("data_missing", AIR[1], None), ("flag_anomaly", OUTLET, None),
                   ("outlet_daily_exceedance", OUTLET, "flue_SO2"), ("suspected_interference", OUTLET, "flue_SO2")]
    assert summary.raised == 4 and summary.queued == 2
    pushed = {s for (s,) in con.execute("SELECT a.rule FROM webhook_outbox o JOIN alarms a ON o.subject = a.alarm_id")
              .fetchall()}
    assert pushed == {"flag_anomaly", "outlet_daily_exceedance"}
    marked = {r for (r,) in con.execute("SELECT rule FROM alarms WHERE pushed_at IS NOT NULL").fetchall()}
    assert marked == pushed
    gap = con.execute("SELECT episode_start, episode_end, severity FROM alarms WHERE rule = 'data_missing'").fetchone()
    assert gap == (T0 + pd.Timedelta(hours=30), T0 + pd.Timedelta(hours=39), 10.0)
    again = raise_alarms(con)
    assert again.raised == 0 and con.execute("SELECT count(*) FROM alarms").fetchone()[0] == 4


def test_operating_points_are_settings(con):
    raise_alarms(con, AlarmSettings(min_event_score=0.95, missing_hours=12))
    rules = {r for (r,) in con.execute("SELECT rule FROM alarms").fetchall()}
    assert "suspected_interference" not in rules and "data_missing" not in rules


def test_a_continuing_condition_extends_the_open_alarm():
    stored = pd.DataFrame([{"alarm_id": "A1", "rule": "data_missing", "station_id": "S", "parameter": None,
                            "episode_start": T0, "episode_end": T0 + pd.Timedelta(hours=8), "severity": 9.0,
                            "summary": "s", "evidence": {}, "status": "open"}])
    cand = pd.DataFrame([{"rule": "data_missing", "station_id": "S", "parameter": None,
                          "episode_start": T0, "episode_end": T0 + pd.Timedelta(hours=20), "severity": 21.0,
                          "standard": "x", "summary": "longer", "evidence": {}},
                         {"rule": "data_missing", "station_id": "S", "parameter": None,
                          "episode_start": T0 + pd.Timedelta(days=3), "episode_end": T0 + pd.Timedelta(days=3, hours=7),
                          "severity": 8.0, "standard": "x", "summary": "later", "evidence": {}}])
    new, extended = deduplicate(cand, stored)
    assert [e["alarm_id"] for e in extended] == ["A1"] and extended[0]["severity"] == 21.0
    assert [n["summary"] for n in new] == ["later"]
    # an alarm already in a case swallows the same episode instead of re-raising it
    new, extended = deduplicate(cand.iloc[:1], stored.assign(status="in_case"))
    assert new == [] and extended == []


def _outlet_day(day: int, severity: float, sentence: str) -> dict:
    start = T0 + pd.Timedelta(days=day)
    return {"rule": "outlet_daily_exceedance", "station_id": "S", "parameter": "SO2", "episode_start": start,
            "episode_end": start + pd.Timedelta(hours=23), "severity": severity, "standard": "x",
            "summary": bilingual(f"day {day} {sentence}", f"第{day}天{sentence}"), "evidence": {"day": day}}


def test_an_alarm_of_several_parts_says_its_span_and_its_worst_part():
    """An outlet over its limit on three days in a row is one alarm; its sentence spans the three
    days and quotes the worst day, whose severity the alarm carries, not the mildest last day."""
    first = _outlet_day(0, 3.0, "3x")
    stored = pd.DataFrame([dict(first, alarm_id="A1", status="open", evidence_json='{"day": 0}')]).drop(
        columns=["evidence"])
    new, extended = deduplicate(pd.DataFrame([_outlet_day(1, 1.5, "1.5x"), _outlet_day(2, 1.2, "1.2x")]), stored)
    assert new == [] and [e["alarm_id"] for e in extended] == ["A1"]
    alarm = extended[0]
    assert alarm["severity"] == 3.0 and alarm["evidence"]["parts"] == 3 and alarm["evidence"]["day"] == 0
    assert in_language(alarm["summary"], "zh").endswith("共3次，最严重一次：第0天3x")
    assert "3 episodes from" in in_language(alarm["summary"], "en")
    # the next run finds the last day again, longer: the same part, not a fourth
    stored = pd.DataFrame([dict(alarm, evidence_json=json.dumps(alarm.pop("evidence")))])
    longer = dict(_outlet_day(2, 4.0, "4x"), episode_end=T0 + pd.Timedelta(days=3, hours=5))
    _, extended = deduplicate(pd.DataFrame([longer]), stored)
    assert extended[0]["evidence"]["parts"] == 3 and extended[0]["summary"].endswith("最严重一次：第2天4x")


def test_missing_runs_count_the_trailing_gap():
    hours = pd.DataFrame({"station_id": "S", "ts": T0 + pd.to_timedelta([0, 1, 2], unit="h")})
    runs = missing_runs(hours, pd.Series({"S": T0 + pd.Timedelta(hours=12)}), 6)
    assert runs[["start", "end", "hours", "ongoing"]].values.tolist() == [[T0 + pd.Timedelta(hours=3),
                                                                           T0 + pd.Timedelta(hours=12), 10, True]]


def test_the_alarm_rule_and_the_engine_find_the_same_gaps_with_one_threshold():
    """One fact (GB 3095-2012 table 4: a 5 h gap can cost a valid day) and one run finder
    (analytics.completeness.missing_runs_h) serve the engine's data_gap alarms and data_missing."""
    assert AlarmSettings().missing_hours == EventSettings().data_gap_min_h == gap_costing_a_valid_day_h() == 5
    have = [0, 1, 2, 8, 9, 13, 14]  # gaps of 5 h (3-7) and 3 h (10-12)
    missing = np.ones((1, 15), dtype=bool)
    missing[0, have] = False
    hours = pd.DataFrame({"station_id": "S", "ts": T0 + pd.to_timedelta(have, unit="h")})
    runs = missing_runs(hours, pd.Series(dtype="datetime64[ns]"), AlarmSettings().missing_hours)
    engine = completeness_gaps(missing, EventSettings().data_gap_min_h)
    assert engine == [(0, 3, 7)]
    assert [((r.start - T0) // pd.Timedelta(hours=1), (r.end - T0) // pd.Timedelta(hours=1))
            for r in runs.itertuples()] == [(a, b) for _, a, b in engine]


def _readings(con, station: str, hours, source: str | None = None) -> None:
    frame = pd.DataFrame({"station_id": station, "ts": T0 + pd.to_timedelta(list(hours), unit="h"),
                          "parameter": "PM2.5", "value": 30.0, "flag": "N", "source": source})
    con.register("_extra", frame)
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag, source) SELECT * FROM _extra")
    con.unregister("_extra")


def test_a_feed_that_stops_for_good_alarms_within_its_service_dates(con):
    """AIR2 stops at hour 80 while the other stations of its source go on: one ongoing alarm up to
    the newest hour; none after the registry's end of service; a one-day archive that ends for every
    station of its source is no stopped feed."""
    con.execute("DELETE FROM readings WHERE station_id = ? AND ts >= ?", [AIR[1], T0 + pd.Timedelta(hours=80)])
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat) VALUES ('DAY1', '档案站', 'air_station', "
                "116.4, 39.9)")
    _readings(con, "DAY1", range(0, 21), source="one_day_archive")
    raise_alarms(con)
    got = con.execute("SELECT station_id, episode_start, episode_end, severity, summary FROM alarms "
                      "WHERE rule = 'data_missing' ORDER BY station_id, episode_start").fetchall()
    assert [(sid, start, end, sev) for sid, start, end, sev, _ in got] == [
        (AIR[1], T0 + pd.Timedelta(hours=30), T0 + pd.Timedelta(hours=39), 10.0),
        (AIR[1], T0 + pd.Timedelta(hours=80), T0 + pd.Timedelta(hours=95), 16.0)]
    assert "has not come back" in got[1][4]
    # retired at hour 82 (the registry's end of service): 80-81 is 2 h, below the threshold
    con.execute("DELETE FROM alarms")
    con.execute("UPDATE stations SET active_to = ? WHERE station_id = ?", [T0 + pd.Timedelta(hours=82), AIR[1]])
    raise_alarms(con)
    assert con.execute("SELECT max(episode_end) FROM alarms WHERE rule = 'data_missing'").fetchone()[0] == \
        T0 + pd.Timedelta(hours=39)


def test_flag_rule_threshold():
    counts = pd.DataFrame({"station_id": ["S", "S"], "day": [T0, T0 + pd.Timedelta(days=1)], "n": [24, 24],
                           "n_flagged": [12, 11], "flags": ["M", "D"]})
    assert list(rule_flag_anomaly(counts, 0.5)["episode_start"]) == [T0]


def test_a_run_of_flagged_days_is_one_alarm_counting_every_day():
    """A station stopped (F) for three days and flagged M on a fourth after a clean day: two
    alarms, the first counting all three days' readings, not the last day's."""
    days = [T0 + pd.Timedelta(hours=16) + pd.Timedelta(days=i) for i in range(5)]  # from 2 Jan, Beijing time
    counts = pd.DataFrame({"station_id": "S", "day": days, "n": 24, "n_flagged": [24, 24, 20, 0, 13],
                           "flags": ["F", "F", "FM", None, "M"]})
    got = rule_flag_anomaly(counts, 0.5)
    assert list(zip(got["episode_start"], got["episode_end"], strict=True)) == [
        (days[0], days[2] + pd.Timedelta(hours=23)), (days[4], days[4] + pd.Timedelta(hours=23))]
    first = got.iloc[0]
    assert first["evidence"] == {"flags": "FM", "n": 72, "n_flagged": 68, "days": 3}
    assert in_language(first["summary"], "zh") == \
        "2017-01-02 00:00至2017-01-04 23:00（北京时间，连续3天）72条读数中68条带数据标记（FM）"


def test_flags_are_counted_per_beijing_day(con):
    """13 flagged hours from 00:00 to 12:00 Beijing time on 2 January (16:00-04:00 UTC) are most of
    that Beijing day but under half of either UTC day: one alarm, for the Beijing day."""
    con.execute("DELETE FROM readings WHERE station_id = ?", [OUTLET])
    day_utc = T0 + pd.Timedelta(hours=16)  # 2017-01-02 00:00 Beijing time
    rows = [(OUTLET, T0 + pd.Timedelta(hours=i), "flue_O2", 6.0,
             "M" if day_utc <= T0 + pd.Timedelta(hours=i) < day_utc + pd.Timedelta(hours=13) else "N")
            for i in range(72)]
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) SELECT * FROM "
                "(SELECT unnest(?) AS s, unnest(?) AS t, unnest(?) AS p, unnest(?) AS v, unnest(?) AS f)",
                [list(col) for col in zip(*rows, strict=True)])
    raise_alarms(con)
    got = con.execute("SELECT episode_start, summary FROM alarms WHERE rule = 'flag_anomaly'").fetchall()
    assert [start for start, _ in got] == [day_utc]
    assert in_language(got[0][1], "zh") == "2017-01-02 00:00至2017-01-02 23:00（北京时间）24条读数中13条带数据标记（M）"


def test_a_data_completeness_alarm_is_not_pushed_as_interference():
    """The engine's gap alarms (kind data_gap, score 0) stay on their own list: at the default
    operating point (min score 0) only the outage becomes a suspected-interference alarm."""
    events = pd.DataFrame({
        "event_id": ["E1", "E2"], "station_id": [AIR[0], AIR[1]], "start": [T0, T0],
        "end": [T0 + pd.Timedelta(hours=6)] * 2, "kind": ["outage", "data_gap"], "score": [0.99, 0.0],
        "parameters": ["PM2.5", "PM2.5,NO2"], "summary": ["gap during an episode", "6 h of data missing"],
        "run_id": ["r", "r"]})
    got = rule_suspected_interference(events, 0.0)
    assert got["station_id"].tolist() == [AIR[0]]
    assert got["summary"].tolist() == ["gap during an episode"]  # the event's own sentence names its kind


def test_the_inbox_reads_interference_before_long_gaps():
    """Severities are in each rule's own unit: a 72 h gap (severity 72) never outranks an
    interference event (severity 0.9) or an outlet over its limit (1.3 x)."""
    from envtrust.alarms import rank_alarms

    t = pd.Timestamp("2017-01-02")
    df = pd.DataFrame({"rule": ["data_missing", "flag_anomaly", "suspected_interference", "data_missing",
                                "outlet_daily_exceedance"],
                       "severity": [72.0, 1.0, 0.9, 6.0, 1.3], "raised_at": [t] * 5})
    assert list(zip(*rank_alarms(df)[["rule", "severity"]].to_numpy().T, strict=True)) == [
        ("suspected_interference", 0.9), ("outlet_daily_exceedance", 1.3), ("data_missing", 72.0),
        ("data_missing", 6.0), ("flag_anomaly", 1.0)]


CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBERS = re.compile(r"(?<![A-Za-z_.\d])\d+(?:\.\d+)?")  # not the digits of SO2, O2, m3


def test_every_alarm_summary_is_in_both_languages_with_the_same_numbers(con):
    """One sentence per rule, written once in both languages: the Chinese half is Chinese, the
    English half has no Chinese, and both carry the same numbers (dates, hours, values, limits)."""
    raise_alarms(con)
    rows = con.execute("SELECT rule, summary FROM alarms ORDER BY rule").fetchall()
    assert {r for r, _ in rows} == {"data_missing", "flag_anomaly", "outlet_daily_exceedance", "suspected_interference"}
    for rule, summary in rows:
        zh, en = in_language(summary, "zh"), in_language(summary, "en")
        assert zh != en and CJK.search(zh) and not CJK.search(en), (rule, summary)
        assert sorted(NUMBERS.findall(zh)) == sorted(NUMBERS.findall(en)), (rule, summary)
    outlet = dict(rows)["outlet_daily_exceedance"]
    assert "超过排放限值35 mg/m3" in outlet and "above its emission limit 35 mg/m3" in outlet


def test_the_summaries_give_beijing_time():
    """The gap 30-39 h after 2017-01-01 00:00 UTC starts at 2017-01-02 14:00 Beijing time."""
    runs = pd.DataFrame({"station_id": ["S", "S"], "start": [T0 + pd.Timedelta(hours=30), T0 + pd.Timedelta(hours=50)],
                         "end": [T0 + pd.Timedelta(hours=39), T0 + pd.Timedelta(hours=55)], "hours": [10, 6],
                         "ongoing": [False, True]})
    summary = rule_data_missing(runs, 5)["summary"].iloc[0]
    assert in_language(summary, "en") == ("no data for 16 h from 2017-01-02 14:00 Beijing time in 2 gaps to "
                                          "2017-01-03 15:00; the feed has not come back")
    assert in_language(summary, "zh") == "自2017-01-02 14:00（北京时间）起缺失数据16小时（共2段，至2017-01-03 15:00），数据传输尚未恢复"


@pytest.mark.parametrize(("rule", "kind", "audience"), [
    ("suspected_interference", "air_station", REVIEW), ("suspected_interference", "polluter_outlet", REVIEW),
    ("outlet_daily_exceedance", "polluter_outlet", ENFORCEMENT),
    ("data_missing", "polluter_outlet", ENFORCEMENT), ("flag_anomaly", "polluter_outlet", ENFORCEMENT),
    ("data_missing", "air_micro", MONITORING), ("data_missing", "water_section", MONITORING),
    ("flag_anomaly", "air_station", MONITORING)])
def test_who_acts_on_an_alarm(rule, kind, audience):
    assert alarm_audience(rule, kind) == audience


def test_a_determined_suspicion_is_for_enforcement():
    assert alarm_audience("suspected_interference", "air_station", pushed=True) == ENFORCEMENT
    assert alarm_audience("data_missing", "air_station", pushed=True) == MONITORING


def _interference(con) -> str:
    return con.execute("SELECT alarm_id FROM alarms WHERE rule = 'suspected_interference'").fetchone()[0]


def _pushes(con, alarm_id: str) -> int:
    return con.execute("SELECT count(*) FROM webhook_outbox WHERE subject = ?", [alarm_id]).fetchone()[0]


def test_the_analysts_confirmation_pushes_the_suspicion_once(con):
    """Seed 003 item 9: the monitoring centre determines (初步认定) and pushes. Confirming the event
    moves its alarm to the officer and queues one push; confirming again queues none."""
    raise_alarms(con)
    aid = _interference(con)
    assert _pushes(con, aid) == 0
    assert review_event(con, "E1", "confirmed", "plateau at the limit", "ana") == "confirmed"
    row = con.execute("SELECT pushed_by, status FROM alarms WHERE alarm_id = ?", [aid]).fetchone()
    assert row == ("ana", "open") and _pushes(con, aid) == 1
    body = json.loads(con.execute("SELECT payload_json FROM webhook_outbox WHERE subject = ?", [aid]).fetchone()[0])
    assert body["alarm_id"] == aid and body["evidence"]["event_id"] == "E1" and "贴近排放限值" in body["summary"]
    review_event(con, "E1", "confirmed", "again", "ana2")
    assert _pushes(con, aid) == 1
    audit = con.execute("SELECT count(*) FROM record_log WHERE action = 'alarm_push' AND subject = ?", [aid])
    assert audit.fetchone()[0] == 1


def test_an_event_confirmed_before_its_alarm_is_pushed_when_raised(con):
    """A re-scored window raises the alarm of an event the analyst had already confirmed: it goes to
    enforcement at once, in the analyst's name, and the push is audited."""
    review_event(con, "E1", "confirmed", "plateau at the limit", "ana")
    assert raise_alarms(con).queued == 3
    aid = _interference(con)
    assert _pushes(con, aid) == 1
    assert con.execute("SELECT pushed_by FROM alarms WHERE alarm_id = ?", [aid]).fetchone()[0] == "ana"
    audit = con.execute("SELECT actor FROM record_log WHERE action = 'alarm_push' AND subject = ?", [aid])
    assert audit.fetchall() == [("ana",)]


def test_a_false_alarm_verdict_pushes_nothing(con):
    raise_alarms(con)
    aid = _interference(con)
    n = con.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0]
    review_event(con, "E1", "false_alarm", "calibration", "ana")
    assert con.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0] == n
    assert con.execute("SELECT status, pushed_at FROM alarms WHERE alarm_id = ?", [aid]).fetchone() == ("dismissed",
                                                                                                          None)
    review_event(con, "E1", "reopened", None, "ana")
    assert con.execute("SELECT status FROM alarms WHERE alarm_id = ?", [aid]).fetchone()[0] == "open"


def test_concurrent_confirmations_push_once(con):
    """Four analysts confirm the same event at once, each on their own connection: four reviews, one push."""
    raise_alarms(con)
    aid = _interference(con)
    barrier = threading.Barrier(4)

    def confirm(i: int) -> str:
        cur = con.cursor()
        try:
            barrier.wait()
            return review_event(cur, "E1", "confirmed", f"r{i}", f"ana{i}")
        finally:
            cur.close()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(confirm, range(4))) == ["confirmed"] * 4
    assert con.execute("SELECT count(*) FROM event_reviews WHERE event_id = 'E1'").fetchone()[0] == 4
    assert _pushes(con, aid) == 1


def test_transferring_a_case_pushes_its_suspicion_once(con):
    """The analyst's other way to enforcement: a case opened from the alarm and transferred. The
    penalty decision later confirms the event without a second push."""
    raise_alarms(con)
    aid = _interference(con)
    case_id = cases.open_case(con, "ana", "analyst", "一号排口", alarm_ids=[aid])
    assert _pushes(con, aid) == 0
    result = cases.transition(con, case_id, "transfer_clue", actor="ana", role="analyst", expected_version=1)
    assert "1 alarm pushed to enforcement" in result.side_effects and _pushes(con, aid) == 1
    cases.transition(con, case_id, "accept", actor="off", role="enforcement", expected_version=2)
    cases.transition(con, case_id, "decide_penalty", actor="off", role="enforcement", expected_version=3,
                     fields={"finding": "f", "penalty": "p", "legal_basis": "b"})
    review_event(con, "E1", "confirmed", None, "ana")
    assert _pushes(con, aid) == 1


def test_a_transfer_during_a_confirmation_of_its_alarm_waits_and_lands(con):
    """An analyst transfers the case while a colleague's confirmation of its event is writing the
    same alarm row: the transfer waits for it and is accepted (not refused as "changed
    meanwhile"); one push, each step audited once."""
    raise_alarms(con)
    aid = _interference(con)
    case_id = cases.open_case(con, "ana", "analyst", "一号排口", event_ids=["E1"])  # the alarm stays open
    writing = threading.Event()

    def enqueue_slowly(c, row, now) -> None:  # the confirmation, mid-transaction, holds the alarm row
        enqueue_alarm(c, row, now)
        writing.set()
        time.sleep(0.3)

    def confirm() -> str:
        cur = con.cursor()
        try:
            return review_event(cur, "E1", "confirmed", "plateau", "ana2", enqueue=enqueue_slowly)
        finally:
            cur.close()

    def transfer() -> str:
        cur = con.cursor()
        try:
            assert writing.wait(5)
            return cases.transition(cur, case_id, "transfer_clue", actor="ana", role="analyst",
                                    expected_version=1).to_state
        finally:
            cur.close()

    with ThreadPoolExecutor(2) as pool:
        verdict, moved = pool.submit(confirm), pool.submit(transfer)
        assert (verdict.result(), moved.result()) == ("confirmed", "clue_transferred")
    assert _pushes(con, aid) == 1
    audited = dict(con.execute("SELECT action, count(*) FROM record_log WHERE subject IN (?, 'E1') GROUP BY action",
                               [case_id]).fetchall())
    assert audited == {"case_open": 1, "case_transfer_clue": 1, "event_review": 1}


def test_the_migration_retires_open_ambient_exceedance_alarms(con):
    """Stores raised air_daily_exceedance alarms before: migration 011 removes the open ones and their
    unsent pushes, and keeps one already linked to a case."""
    raise_alarms(con)
    base = con.execute("SELECT * FROM alarms WHERE rule = 'outlet_daily_exceedance'").df()
    old = pd.concat([base.assign(alarm_id="AOPEN", rule="air_daily_exceedance", station_id=AIR[0]),
                     base.assign(alarm_id="ACASE", rule="air_daily_exceedance", station_id=AIR[0], status="in_case")])
    con.register("_old", old)
    con.execute("INSERT INTO alarms SELECT * FROM _old")
    con.unregister("_old")
    con.execute("INSERT INTO webhook_outbox VALUES ('D1', 'alarm.raised', 'AOPEN', '{}', now(), 0, now(), NULL, NULL)")
    n_outbox = con.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0]
    con.execute("DELETE FROM schema_version WHERE version = 11")
    migrate(con)
    left = {a for (a,) in con.execute("SELECT alarm_id FROM alarms WHERE rule = 'air_daily_exceedance'").fetchall()}
    assert left == {"ACASE"}
    assert con.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0] == n_outbox - 1
    assert con.execute("SELECT count(*) FROM alarms WHERE rule = 'outlet_daily_exceedance'").fetchone()[0] == 1


def test_the_migration_returns_unreviewed_suspicions_to_the_analyst(con):
    """Stores before migration 012 pushed every interference alarm when raised: the unsent push of an
    unreviewed one goes and it waits for the analyst, as does an air station's data gap's (the
    monitoring centre's); the outlet's exceedance stays pushed; a later
    confirmation does not push an alarm whose push was already delivered."""
    raise_alarms(con)
    aid = _interference(con)
    con.execute("INSERT INTO webhook_outbox VALUES ('DOLD', 'alarm.raised', ?, '{}', now(), 0, now(), NULL, NULL)",
                [aid])
    gap = con.execute("SELECT alarm_id FROM alarms WHERE rule = 'data_missing'").fetchone()[0]  # an air station's
    con.execute("INSERT INTO webhook_outbox VALUES ('DGAP', 'alarm.raised', ?, '{}', now(), 0, now(), NULL, NULL)",
                [gap])
    con.execute("ALTER TABLE alarms DROP COLUMN pushed_by")
    con.execute("ALTER TABLE alarms DROP COLUMN pushed_at")
    con.execute("DELETE FROM schema_version WHERE version = 12")
    migrate(con)
    rows = dict(con.execute("SELECT rule, pushed_at IS NOT NULL FROM alarms").fetchall())
    assert rows == {"suspected_interference": False, "outlet_daily_exceedance": True, "flag_anomaly": True,
                    "data_missing": False}
    assert _pushes(con, aid) == 0 and _pushes(con, gap) == 0
    con.execute("INSERT INTO webhook_outbox VALUES ('DSENT', 'alarm.raised', ?, '{}', now(), 1, now(), now(), NULL)",
                [aid])
    review_event(con, "E1", "confirmed", None, "ana")
    assert _pushes(con, aid) == 1
    assert con.execute("SELECT pushed_by FROM alarms WHERE alarm_id = ?", [aid]).fetchone()[0] == "ana"


def test_interference_alarms_rank_by_their_events_graded_figure():
    """Scores tie at the top (0.998 vs 0.997 both read 1.00); the events' rank_score does not."""
    from envtrust.alarms import rank_alarms

    t = pd.Timestamp("2017-01-02")
    df = pd.DataFrame({"alarm_id": ["A", "B", "C", "D"],
                       "rule": ["suspected_interference"] * 3 + ["data_missing"],
                       "severity": [0.998, 0.997, 0.999, 9.0], "event_rank_score": [2.5, 4.6, None, None],
                       "raised_at": [t] * 4})
    assert rank_alarms(df)["alarm_id"].tolist() == ["B", "A", "C", "D"]
