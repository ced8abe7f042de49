"""`envtrust assess` on a hand-checked small case: three stations in two cities, two local days.

The expected numbers below are derived by hand from the rules (GB 3095 table 4, HJ 663 statistics,
the 1.5 x city-maximum substitution), not from the code:

City A (stations A1, A2), city B (station B1); every value constant over the 48 hours unless said.
      PM2.5 PM10 SO2 NO2  CO   O3
  A1   70   140   30  40  1.0   80
  A2   50   100   10  20  2.0  120
  B1  115    70   12  24  0.8   64

- A2's PM2.5 in local 2016-12-02 00:00-11:00 lies inside an engine event that a case confirmed as
  interference (a penalty decision, legal type tampering; 12 hours).
  Raw: A2's 2 Dec PM2.5 has 12 valid hours < 20 -> no valid daily value; city A PM2.5 = mean of
  (mean(70, 50) = 60 on 1 Dec, 70 on 2 Dec) = 65. Penalised: the 12 hours become 1.5 x city max
  of the hour (A1's 70) = 105; A2's 2 Dec = (12*105 + 12*50)/24 = 77.5; city A 2 Dec =
  mean(70, 77.5) = 73.75; period = (60 + 73.75)/2 = 66.875.
- A1's NO2 is missing at local 1 Dec 05:00 and 06:00 (2 hours): raw 22 valid hours -> 40 (valid);
  penalised 1.5 x 20 (A2) = 30 -> (22*40 + 2*30)/24 = 39.1667 -> city 1 Dec 29.583 < raw 30:
  the one-way rule holds the statistic at the raw 30.
- B1's SO2 is missing 3 hours on 1 Dec; B1 is the only station of city B, so there is no city
  maximum to substitute: provenance V0, SO2 stays 12.
Statistics: PM10 120 (A) / 70 (B), SO2 20 / 12, NO2 30 / 24, CO P95 of (1.5, 1.5) = 1.5 / 0.8,
O3 P90 of daily max 8h = 100 / 64.
Index A raw = 65/35 + 120/70 + 20/60 + 30/40 + 1.5/4 + 100/160 = 5.654762
Index A pen = 66.875/35 + 120/70 + 20/60 + 30/40 + 1.5/4 + 100/160 = 5.708333
Index B     = 115/35 + 70/70 + 12/60 + 24/40 + 0.8/4 + 64/160 = 5.685714
Rounding (HJ 663 digits, GB/T 8170 half to even): statistics to whole ug/m3 (CO to 0.1 mg/m3), so
A's penalised PM2.5 66.875 is reported as 67; the index to two decimals from the rounded statistics:
A raw 5.654762 -> 5.65; A pen 67/35 + ... = 5.711905 -> 5.71; B 5.685714 -> 5.69.
Ranks: raw A 1, B 2; penalised B 1, A 2 -> A falls one place because of A2.
"""

from __future__ import annotations

import pandas as pd
import pytest

from envtrust.cli import main

VALUES = {
    "A1": {"PM2.5": 70, "PM10": 140, "SO2": 30, "NO2": 40, "CO": 1.0, "O3": 80},
    "A2": {"PM2.5": 50, "PM10": 100, "SO2": 10, "NO2": 20, "CO": 2.0, "O3": 120},
    "B1": {"PM2.5": 115, "PM10": 70, "SO2": 12, "NO2": 24, "CO": 0.8, "O3": 64},
}
CST = pd.Timedelta(hours=8)
LOCAL_HOURS = pd.date_range("2016-12-01 00:00", "2016-12-02 23:00", freq="h")


def _stations() -> pd.DataFrame:
    rows = [("A1", "甲一", 116.40, 39.90, "110000", "北京市", "110101", "东城区"),
            ("A2", "甲二", 116.42, 39.92, "110000", "北京市", "110102", "西城区"),
            ("B1", "乙一", 117.20, 39.10, "120000", "天津市", "120101", "和平区")]
    return pd.DataFrame([{"station_id": s, "name": n, "kind": "air_station", "lon": lo, "lat": la,
                          "city_code": cc, "city": c, "county_code": kc, "county": k}
                         for s, n, lo, la, cc, c, kc, k in rows])


def _readings() -> pd.DataFrame:
    rows = []
    for sid, vals in VALUES.items():
        for local in LOCAL_HOURS:
            for param, v in vals.items():
                if sid == "A1" and param == "NO2" and local in (pd.Timestamp("2016-12-01 05:00"),
                                                                pd.Timestamp("2016-12-01 06:00")):
                    continue
                if sid == "B1" and param == "SO2" and local.day == 1 and local.hour in (1, 2, 3):
                    continue
                rows.append((sid, local - CST, param, float(v), "N"))
    return pd.DataFrame(rows, columns=["station_id", "ts", "parameter", "value", "flag"])


def hand_store(db) -> str:
    """The hand case's stations, readings and A2's engine event, no decision yet; returns the event id."""
    from data.ingest import ingest_readings
    from data.scoring import save_events
    from data.stations import upsert_stations
    from data.store import connect

    con = connect(db)
    try:
        upsert_stations(con, _stations())
        ingest_readings(con, _readings(), source="hand-case", fmt="long").check()
        start, end = pd.Timestamp("2016-12-02 00:00") - CST, pd.Timestamp("2016-12-02 11:00") - CST
        save_events(con, pd.DataFrame([{"event_id": "ev-a2", "station_id": "A2", "start": start, "end": end,
                                        "kind": "suppression", "score": 0.9, "parameters": "PM2.5",
                                        "summary": "PM2.5 held low", "evidence": {}}]), run_id="hand")
        return con.execute("SELECT event_id FROM events").fetchone()[0]
    finally:
        con.close()


@pytest.fixture()
def small_store(tmp_path):
    from data.store import connect

    db = tmp_path / "small.duckdb"
    event_id = hand_store(db)
    con = connect(db)
    try:
        decide_case(con, event_id, "decide_penalty")
    finally:
        con.close()
    return db


DECISIONS = {
    "decide_penalty": ("enforcement", {"finding": "采样头被堵", "penalty": "罚款", "legal_basis": "大气法第一百条"}, ""),
    "dismiss": ("analyst", {}, "采样头正常, 误报"),
    "decide_no_penalty": ("enforcement", {}, "情节轻微"),
}


def decide_case(con, event_id: str, decision: str, legal_type: str = "tampering") -> str:
    """A case from the event, walked to ``decision`` (and, for a penalty, disclosed and closed)."""
    from envtrust import cases

    case_id = cases.open_case(con, "ana", "analyst", "A2 PM2.5 压低", event_ids=[event_id], legal_type=legal_type)
    steps = [] if decision == "dismiss" else [("transfer_clue", "analyst", {}, ""), ("accept", "enforcement", {}, "")]
    steps.append((decision, *DECISIONS[decision]))
    for version, (action, role, fields, reason) in enumerate(steps, start=1):
        cases.transition(con, case_id, action, actor="u", role=role, expected_version=version, fields=fields,
                         reason=reason)
    return case_id


def test_assess_reproduces_the_hand_checked_case(small_store, tmp_path, capsys):
    out = tmp_path / "assess.csv"
    code = main(["assess", "--db", str(small_store), "--period", "2016-12-01..2016-12-02", "--level", "city",
                 "--policy", "jinan-2018", "--out", str(out)])
    assert code == 0
    t = pd.read_csv(out, dtype={"unit": str}).set_index("unit")
    a, b = t.loc["110000"], t.loc["120000"]
    assert a["PM2.5_raw"] == pytest.approx(65.0) and a["PM2.5_pen"] == 67.0
    assert a["NO2_raw"] == pytest.approx(30.0) and a["NO2_pen"] == pytest.approx(30.0)  # held at raw
    assert a["PM10_raw"] == pytest.approx(120.0) and a["CO_raw"] == pytest.approx(1.5)
    assert a["O3_8h_raw"] == pytest.approx(100.0) and b["O3_8h_raw"] == pytest.approx(64.0)
    assert b["SO2_raw"] == pytest.approx(12.0) and b["SO2_pen"] == pytest.approx(12.0)
    assert (a["index_raw"], a["index_pen"]) == (5.65, 5.71)
    assert b["index_raw"] == 5.69 == b["index_pen"]
    assert (a["rank_raw"], a["rank_pen"], a["rank_change"]) == (1, 2, 1)
    assert (b["rank_raw"], b["rank_pen"], b["rank_change"]) == (2, 1, -1)
    assert a["substituted_hours"] == 12 + 2 and b["substituted_hours"] == 0
    assert "110000" in capsys.readouterr().out


def test_provenance_and_contributors_of_the_hand_case(small_store):
    from analytics.standards.penalty import resolve_policy
    from data.store import connect
    from envtrust.assessment import run_assessment, stored_run

    con = connect(small_store)
    try:
        run_id, result = run_assessment(con, "2016-12-01..2016-12-02", "city", resolve_policy("jinan-2018"))
        h = result.hours.set_index(["station_id", "parameter", "ts"])
        ts = pd.Timestamp("2016-12-02 03:00") - CST
        assert h.loc[("A2", "PM2.5", ts), "provenance"] == "S1"
        assert h.loc[("A2", "PM2.5", ts), "assessed_value"] == pytest.approx(105.0)
        assert h.loc[("A2", "PM2.5", ts), "trigger"] == "interference"
        assert h.loc[("A1", "NO2", pd.Timestamp("2016-12-01 05:00") - CST), "assessed_value"] == pytest.approx(30.0)
        assert h.loc[("B1", "SO2", pd.Timestamp("2016-12-01 02:00") - CST), "provenance"] == "V0"
        assert (h["provenance"] == "01").sum() == 3 * 6 * 48 - 12 - 2 - 3
        units, contrib = stored_run(con, run_id)
        top = contrib[contrib["unit"] == "110000"].iloc[0]
        assert (top["station_id"], top["interference"]) == ("A2", 12)
        st = result.stations.set_index(["station_id", "parameter"])
        assert st.loc[("A2", "PM2.5"), "capture_rate"] == pytest.approx(36 / 48)
        assert not st.loc[("A2", "PM2.5"), "valid"]  # 1 valid day of 2
    finally:
        con.close()


def test_policy_none_and_an_excuse_change_nothing_or_less(small_store, tmp_path):
    out = tmp_path / "none.csv"
    assert main(["assess", "--db", str(small_store), "--period", "2016-12-01..2016-12-02", "--policy", "none",
                 "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out, dtype={"unit": str}).set_index("unit")
    assert (t["index_raw"] == t["index_pen"]).all() and (t["rank_change"] == 0).all()
    # an accepted reason for A1's two missing NO2 hours: they are excused, not substituted
    assert main(["assess", "--db", str(small_store), "--excuse", "A1", "2016-11-30 21:00", "2016-11-30 22:00",
                 "maintenance", "--by", "chief"]) == 0
    from analytics.standards.penalty import resolve_policy
    from data.store import connect
    from envtrust.assessment import run_assessment

    con = connect(small_store)
    try:
        _, result = run_assessment(con, "2016-12-01..2016-12-02", "city", resolve_policy("jinan-2018"), save=False)
    finally:
        con.close()
    excused = result.hours[(result.hours["station_id"] == "A1") & (result.hours["parameter"] == "NO2")]
    assert (excused["provenance"] == "E1").sum() == 2


def test_bad_period_and_unknown_policy_are_clear_errors(small_store, capsys):
    assert main(["assess", "--db", str(small_store), "--period", "16"]) == 2
    assert "expected YYYY" in capsys.readouterr().err
    assert main(["assess", "--db", str(small_store), "--period", "2016", "--policy", "nope"]) == 2
    assert "unknown substitution policy" in capsys.readouterr().err


def _index_a(db) -> tuple[float, float, int]:
    from analytics.standards.penalty import resolve_policy
    from data.store import connect
    from envtrust.assessment import run_assessment

    con = connect(db)
    try:
        _, result = run_assessment(con, "2016-12-01..2016-12-02", "city", resolve_policy("jinan-2018"), save=False)
    finally:
        con.close()
    a = result.units.set_index("unit").loc["110000"]
    return float(a["index_raw"]), float(a["index_pen"]), int(a["rank_pen"])


@pytest.mark.parametrize(("decision", "legal_type", "penalised"), [
    ("dismiss", "tampering", False),             # 误报: no interference
    ("decide_no_penalty", "tampering", False),   # 不予处罚: nothing confirmed
    ("decide_penalty", "exceedance", False),     # a confirmed exceedance is not interference
    ("decide_penalty", "falsification", True),
])
def test_only_a_case_confirming_interference_penalises(tmp_path, decision, legal_type, penalised):
    """The same event and readings; what the case decided is the only difference."""
    from data.store import connect
    from data.views import record_review

    db = tmp_path / f"{decision}.duckdb"
    event_id = hand_store(db)
    con = connect(db)
    try:
        record_review(con, event_id, "confirmed", "an analyst's verdict alone", "ana")
    finally:
        con.close()
    # without confirmed interference A2's 12 hours are valid measurements: city A PM2.5 = 60, not 65,
    # index 5.654762 - 5/35 = 5.511905 -> 5.51 raw and penalised; a reviewer's verdict alone changes nothing
    assert _index_a(db) == (5.51, 5.51, 1)
    con = connect(db)
    try:
        decide_case(con, event_id, decision, legal_type)
    finally:
        con.close()
    if penalised:   # the hand case: the hours are invalid in the raw result and substituted in the penalised
        assert _index_a(db) == (5.65, 5.71, 2)
    else:
        assert _index_a(db) == (5.51, 5.51, 1)
