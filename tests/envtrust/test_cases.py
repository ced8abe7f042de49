"""The case service on a real DuckDB store: the loop from alarm to 销号, refusals, the optimistic
version check under real concurrency, frozen evidence, labels, disclosure and clocks."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime, timedelta

import pytest

from data import cases as case_sql
from data.users import add_user
from envtrust import cases
from envtrust.alarms import raise_alarms
from envtrust.evidence import reading_hashes
from envtrust.record.verify import leaf_problems
from tests.envtrust.cases_fixture import OUTLET, build_store

DECISION = {"finding": "篡改在线监测数据", "penalty": "罚款 20 万元", "legal_basis": "大气污染防治法第一百条"}


@pytest.fixture()
def con(tmp_path):
    c = build_store(tmp_path / "cases.duckdb")
    raise_alarms(c)
    yield c
    c.close()


def _interference_alarm(con) -> str:
    return con.execute("SELECT alarm_id FROM alarms WHERE rule = 'suspected_interference'").fetchone()[0]


def _walk(con, case_id, steps):
    version = case_sql.case_version(con, case_id)
    for action, actor, role, fields in steps:
        version = cases.transition(con, case_id, action, actor=actor, role=role, expected_version=version,
                                   fields=fields).version
    return version


FULL = [("transfer_clue", "ana", "analyst", {}), ("accept", "enf", "enforcement", {}),
        ("decide_penalty", "enf", "enforcement", DECISION), ("disclose", "enf", "enforcement", {}),
        ("request_closure", "enf", "enforcement", {"rectification": "已复核"}), ("close", "lead", "leader", {})]


def test_alarm_to_closure_across_three_roles(con):
    case_id = cases.open_case(con, "ana", "analyst", "一号排口", alarm_ids=[_interference_alarm(con)])
    assert con.execute("SELECT status FROM alarms WHERE alarm_id = ?", [_interference_alarm(con)]).fetchone()[0] \
        == "in_case"
    _walk(con, case_id, FULL)
    case = cases.case_detail(con, case_id)
    assert case["state"] == "closed" and case["version"] == 7
    hist = case["history"]
    assert list(hist["action"]) == ["open", *[s[0] for s in FULL]]
    assert list(hist["actor_role"]) == ["analyst", "analyst", "enforcement", "enforcement", "enforcement",
                                        "enforcement", "leader"]
    # the decision is public, the linked event carries the engine's label, every step is audited
    pub = case_sql.public_decisions(con)
    assert list(pub["subject_name"]) == ["示例电厂"] and pub["penalty"].iloc[0] == DECISION["penalty"]
    assert con.execute("SELECT status FROM events WHERE event_id = 'E1'").fetchone()[0] == "confirmed"
    actions = [r[0] for r in con.execute("SELECT action FROM audit_log WHERE subject = ? ORDER BY seq",
                                         [case_id]).fetchall()]
    assert actions == ["case_open", *[f"case_{s[0]}" for s in FULL]]
    assert leaf_problems(con) == []


@pytest.mark.parametrize(("action", "role", "fields", "message"), [
    ("accept", "enforcement", {}, "cannot accept and investigate a case in state 发现"),        # skips 线索移交
    ("transfer_clue", "enforcement", {}, "role 'enforcement' may not transfer clue"),
    ("dismiss", "analyst", {}, "dismiss needs: 理由 (reason)"),
    ("close", "leader", {}, "cannot approve closure"),
    ("fly", "leader", {}, "unknown action"),
])
def test_refusals_are_clear_and_change_nothing(con, action, role, fields, message):
    case_id = cases.open_case(con, "ana", "analyst", "x", station_id=OUTLET)
    with pytest.raises(cases.CaseError, match=re.escape(message)):
        cases.transition(con, case_id, action, actor="u", role=role, expected_version=1, fields=fields)
    assert case_sql.case_version(con, case_id) == 1


def test_penalty_needs_its_fields_and_closure_needs_a_request(con):
    case_id = cases.open_case(con, "ana", "analyst", "x", station_id=OUTLET)
    v = _walk(con, case_id, FULL[:2])
    with pytest.raises(cases.CaseError, match="legal_basis"):
        cases.transition(con, case_id, "decide_penalty", actor="enf", role="enforcement", expected_version=v,
                         fields={"finding": "a", "penalty": "b"})
    v = _walk(con, case_id, FULL[2:4])
    with pytest.raises(cases.CaseError, match="closure must be requested first"):
        cases.transition(con, case_id, "close", actor="lead", role="leader", expected_version=v)
    assert cases.allowed_actions("disclosed", "leader", case_sql.case_history(con, case_id)) == []


def test_stale_version_is_refused(con):
    case_id = cases.open_case(con, "ana", "analyst", "x", station_id=OUTLET)
    cases.transition(con, case_id, "transfer_clue", actor="ana", role="analyst", expected_version=1)
    with pytest.raises(cases.CaseError, match="changed meanwhile"):
        cases.transition(con, case_id, "dismiss", actor="ana", role="analyst", expected_version=1, reason="r")


def _race(con, case_id: str) -> list[str]:
    """Two threads with their own cursors send a transition from the same version at once."""
    barrier = threading.Barrier(2)
    results: list[str] = []

    def act(reason: str) -> None:
        cur = con.cursor()
        barrier.wait()
        try:
            cases.transition(cur, case_id, "dismiss", actor="ana", role="analyst", expected_version=1, reason=reason)
            results.append("ok")
        except cases.CaseError:
            results.append("refused")
        finally:
            cur.close()

    threads = [threading.Thread(target=act, args=(r,)) for r in ("duplicate", "other reason")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def test_two_concurrent_transitions_cannot_both_succeed(con):
    """Both read version 1 and act at once: exactly one wins, five times over."""
    for round_ in range(5):
        case_id = cases.open_case(con, "ana", "analyst", f"race {round_}", station_id=OUTLET)
        assert _race(con, case_id) == ["ok", "refused"]
        assert case_sql.case_version(con, case_id) == 2


def test_evidence_pack_is_frozen_with_reading_hashes(con):
    case_id = cases.open_case(con, "ana", "analyst", "x", alarm_ids=[_interference_alarm(con)])
    cases.transition(con, case_id, "transfer_clue", actor="ana", role="analyst", expected_version=1)
    pack = case_sql.evidence(con, case_id)
    assert hashlib.sha256(pack["html"].encode()).hexdigest() == pack["html_sha256"]
    readings = case_sql.pack_readings(con, [OUTLET], datetime(2017, 1, 1), datetime(2017, 1, 6))
    each, _ = reading_hashes(readings[readings["parameter"] == "flue_SO2"])
    assert each[60] in pack["html"] and pack["readings_sha256"] in pack["html"]
    assert "flue_SO2 held just below its limit" in pack["html"] and "<svg" in pack["html"]
    # the evidence in words, Chinese first, and none of the engine's raw keys
    assert ("烟气二氧化硫20小时贴近排放限值35 mg/m3(干净数据中约1,000个读数才出现一次) (flue_SO2 within 2% of its "
            "35 mg/m3 limit for 20 h (about 1 in 1,000 clean readings))") in pack["html"]
    assert "peak_surprise" not in pack["html"] and "kind_mass" not in pack["html"]
    assert pack["pdf"] is None or bytes(pack["pdf"]).startswith(b"%PDF")
    # later changes to the data do not touch the pack
    con.execute("UPDATE readings SET value = value + 1 WHERE station_id = ?", [OUTLET])
    assert case_sql.evidence(con, case_id)["html"] == pack["html"]


def test_false_alarm_labels_the_event_and_reopen_works(con):
    case_id = cases.open_case(con, "ana", "analyst", "x", event_ids=["E1"])
    cases.transition(con, case_id, "dismiss", actor="ana", role="analyst", expected_version=1, reason="校准")
    assert con.execute("SELECT status FROM events WHERE event_id = 'E1'").fetchone()[0] == "false_alarm"
    r = cases.transition(con, case_id, "reopen", actor="lead", role="leader", expected_version=2, reason="新证据")
    assert r.to_state == "found"


def test_clocks_and_overdue_count(con):
    now = datetime(2026, 12, 2, 12, 0)   # a Wednesday
    old = cases.open_case(con, "ana", "analyst", "old", station_id=OUTLET, now=now - timedelta(days=20))
    cases.transition(con, old, "transfer_clue", actor="ana", role="analyst", expected_version=1,
                     now=now - timedelta(days=19))
    cases.open_case(con, "ana", "analyst", "new", station_id=OUTLET, now=now)
    assert cases.overdue_count(con, now=now) == 1
    assert cases.overdue_count(con, cases.parse_clocks("clue_transferred=30d"), now=now) == 0
    # 7 working days from a Friday end on the Tuesday after next
    assert cases.deadline(datetime(2026, 12, 4, 9), "7wd") == datetime(2026, 12, 15, 9)
    assert cases.deadline(datetime(2026, 12, 4, 9), "24h") == datetime(2026, 12, 5, 9)
    with pytest.raises(ValueError, match="unknown state"):
        cases.parse_clocks("limbo=3d")
    summary = cases.leader_summary(con, now=now)
    assert summary["overdue"] == 1 and summary["funnel"]["found"] == 1
    assert summary["by_county"].iloc[0]["overdue"] == 1


def test_only_listed_roles_open_cases(con):
    with pytest.raises(cases.CaseError, match="cannot open a case"):
        cases.open_case(con, "enf", "enforcement", "x", station_id=OUTLET)
    with pytest.raises(cases.CaseError, match="unknown alarm"):
        cases.open_case(con, "ana", "analyst", "x", alarm_ids=["nope"])


def test_demo_cases_populate_the_loop(con):
    from envtrust.demo_cases import open_demo_cases

    for user, role in (("analyst", "analyst"), ("enforcer", "enforcement"), ("leader", "leader")):
        add_user(con, user, f"{user}-password-1", role)
    for i, sid in enumerate((OUTLET, "AIR1", "AIR2")):
        con.execute("INSERT INTO demo_truth VALUES (?, ?, '2017-01-03', '2017-01-04', 'clipping', 'flue_SO2', "
                    "NULL, 'synthetic:polluters', 1)", [f"T{i}", sid])
    now = datetime(2026, 12, 2, 12)
    assert open_demo_cases(con, now=now) == "demo cases: 3 opened for 3 planted outlets"
    states = dict(con.execute("SELECT c.station_id, e.to_state FROM cases c JOIN case_events e USING (case_id) "
                              "QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY version DESC) = 1").fetchall())
    assert states == {"AIR1": "closed", "AIR2": "disclosed", OUTLET: "investigating"}
    assert cases.overdue_count(con, now=now) == 1            # investigating for 124 days > 90
    assert len(case_sql.public_decisions(con)) == 2
    assert open_demo_cases(con, now=now).startswith("demo cases: 0 opened")   # idempotent rebuild
    titles = [t for (t,) in con.execute("SELECT title FROM cases").fetchall()]
    assert titles and all(t.endswith(": 疑似削峰") for t in titles)  # the kind in words, not its code


def test_working_day_clock_across_the_national_day_week():
    """2026: 1-7 October are holidays, Sunday 20 September and Saturday 10 October are working days."""
    assert cases.is_working_day(datetime(2026, 9, 20).date())        # adjusted working Sunday
    assert not cases.is_working_day(datetime(2026, 10, 5).date())    # a Monday inside the holiday
    assert cases.is_working_day(datetime(2026, 10, 10).date())       # adjusted working Saturday
    # a clue transferred on Wednesday 30 September 10:00 Beijing time (02:00 UTC): the 7 working days
    # are 8, 9, 10 (Sat), 12, 13, 14, 15 October; Mon-Fri counting would have ended on 9 October
    assert cases.deadline(datetime(2026, 9, 30, 2), "7wd") == datetime(2026, 10, 15, 2)
    # 23:00 UTC on 30 September is already 1 October in Beijing: the count starts on the 8th
    assert cases.deadline(datetime(2026, 9, 30, 23), "1wd") == datetime(2026, 10, 8, 23)


def test_criminal_transfer_runs_its_two_step_clock(con):
    t0 = datetime(2026, 12, 1, 1, 0)
    case_id = cases.open_case(con, "ana", "analyst", "伪造数据", station_id=OUTLET, now=t0)
    _walk(con, case_id, [("transfer_clue", "ana", "analyst", {}), ("accept", "enf", "enforcement", {})])
    version = case_sql.case_version(con, case_id)
    cases.transition(con, case_id, "transfer_police", actor="enf", role="enforcement", expected_version=version,
                     reason="涉嫌犯罪", fields={"police_organ": "某区公安分局"}, now=t0 + timedelta(hours=1))

    def clock(now):
        row = cases.cases_with_clocks(con, now=now).set_index("case_id").loc[case_id]
        return row["clock"], row["due_at"], bool(row["overdue"])

    assert clock(t0 + timedelta(days=2)) == ("criminal_transfer", t0 + timedelta(hours=1, days=3), False)
    assert clock(t0 + timedelta(days=4))[2]                       # the head has not decided within 3 days
    for action, role in (("hand_over_police", "enforcement"), ("request_closure", "enforcement")):
        with pytest.raises(cases.CaseError, match="head approves the transfer"):
            cases.transition(con, case_id, action, actor="enf", role=role, expected_version=version + 1,
                             fields={"rectification": "x"} if action == "request_closure" else {})
    assert cases.allowed_actions("criminal_transfer", "leader", case_sql.case_history(con, case_id)) == [
        "approve_police_transfer"]
    approved = t0 + timedelta(days=2)
    cases.transition(con, case_id, "approve_police_transfer", actor="lead", role="leader",
                     expected_version=version + 1, now=approved)
    assert clock(approved + timedelta(hours=2)) == ("criminal_transfer_handover", approved + timedelta(hours=24),
                                                     False)
    assert clock(approved + timedelta(hours=25))[2]                # the file must reach the police within 24 h
    with pytest.raises(cases.CaseError, match="head approves the transfer"):
        cases.transition(con, case_id, "approve_police_transfer", actor="lead", role="leader",
                         expected_version=version + 2)
    handed = approved + timedelta(hours=20)
    cases.transition(con, case_id, "hand_over_police", actor="enf", role="enforcement",
                     expected_version=version + 2, now=handed)
    assert clock(handed + timedelta(hours=1)) == ("criminal_transfer_police", handed + timedelta(days=3), False)
    _walk(con, case_id, [("request_closure", "enf", "enforcement", {"rectification": "公安已立案"}),
                         ("close", "lead", "leader", {})])
    assert case_sql.case_row(con, case_id)["state"] == "closed"
