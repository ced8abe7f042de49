"""Contractors on a real store built from the shipped sample: the seeded comparison season, the
scorecard ranking the drifting contractor last with its reasons, quarantine, credit entries, CLI."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

from envtrust.cli import main

_spec = importlib.util.spec_from_file_location("internal_fixture",
                                               Path(__file__).parents[1] / "dashboard" / "internal_fixture.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)
BEIJING = [f"{n}A" for n in range(1001, 1013)]
FIRST, LAST = pd.Timestamp("2016-11-30 16:00"), pd.Timestamp("2017-01-10 15:00")


@pytest.fixture(scope="module")
def contractor_store(tmp_path_factory):
    from data.store import connect
    from envtrust.contractors import build_demo_contractors

    db = fixture.build_internal_store(tmp_path_factory.mktemp("contractors") / "c.duckdb", map_cache=False)
    con = connect(db)
    try:
        counts = build_demo_contractors(con, FIRST, LAST, seed=7, beijing_air=BEIJING)
    finally:
        con.close()
    return db, counts


def test_season_is_ingested_and_bad_rows_quarantined(contractor_store):
    from data.store import connect

    db, counts = contractor_store
    assert counts["samples_stored"] > 60 and counts["samples_quarantined"] == 3
    con = connect(db)
    try:
        reasons = {r[0] for r in con.execute("SELECT reason FROM quarantine WHERE detail LIKE 'comparison%'").fetchall()}
        assert reasons == {"unknown_station", "negative_concentration", "unparseable_time"}
        from envtrust.contractors import build_demo_contractors

        again = build_demo_contractors(con, FIRST, LAST, seed=7, beijing_air=BEIJING)  # idempotent
        assert again["samples_stored"] == 0 and again["samples_duplicate"] == counts["samples_stored"]
    finally:
        con.close()


def test_scorecard_ranks_the_drifting_contractor_last_with_reasons(contractor_store):
    from data.store import connect
    from envtrust.contractors import Window, agreement_table, comparison_results, scorecard

    db, _ = contractor_store
    con = connect(db)
    try:
        card = scorecard(con, Window(FIRST, LAST)).set_index("contractor_id")
        results = comparison_results(con, Window(FIRST, LAST))
    finally:
        con.close()
    assert card["rank"].idxmax() == "OP-XY"
    worst = card.loc["OP-XY"]
    assert worst["pass_rate"] < card.drop(index="OP-XY")["pass_rate"].min()
    assert worst["rel_bias"] < -0.08 and "比对合格率" in worst["reasons"] and "比对相对偏差" in worst["reasons"]
    assert "低于网络均值" in worst["reasons"] and "below" not in worst["reasons"]          # Chinese only
    assert "comparison pass rate" in worst["reasons_en"] and "comparison bias" in worst["reasons_en"]
    assert not re.search(r"[\u4e00-\u9fff]", "".join(card["reasons_en"]))                # English only
    assert worst["grade"] != "A" and worst["grade"] == card["grade"].max()  # the worst letter of all
    # OP-BS's two water sections were commissioned 72 h before the season's end and reported every
    # hour since: capture counts from commissioning (active_from), so 72 of 72 hours, not 72 of 984
    assert card.loc["OP-BS", "capture_rate"] == pytest.approx(1.0)
    assert "数据有效率" not in card.loc["OP-BS", "reasons"]
    # shrinkage: OP-BS has 2 stations, its score sits between its raw score and the network mean
    bs = card.loc["OP-BS"]
    lo, hi = sorted([bs["score_raw"], card["score_raw"].mean()])
    assert lo - 1e-9 <= bs["score"] <= hi + 1e-9
    ag = agreement_table(results).set_index(["contractor_id", "parameter"])
    assert ag.loc[("OP-XY", "PM2.5"), "mean_rel_error_ci_high"] < 0  # biased low, interval excludes 0
    assert ag.loc[("OP-JH", "PM2.5"), "mean_rel_error_ci_low"] < 0 < ag.loc[("OP-JH", "PM2.5"), "mean_rel_error_ci_high"]


def test_cli_scorecard_export_and_blacklist(contractor_store, tmp_path, capsys):
    db, _ = contractor_store
    out = tmp_path / "card.csv"
    assert main(["contractors", "scorecard", "--db", str(db), "--from", "2016-12-01", "--to", "2017-01-10",
                 "--out", str(out)]) == 0
    card = pd.read_csv(out)
    assert card.iloc[-1]["contractor_id"] == "OP-XY"
    assert main(["contractors", "credit", "OP-XY", "blacklist", "--db", str(db), "--reason", "篡改数据",
                 "--legal-basis", "环发〔2015〕175号", "--start", "2017-01-01", "--by", "chief"]) == 2
    assert "end date" in capsys.readouterr().err
    assert main(["contractors", "credit", "OP-XY", "blacklist", "--db", str(db), "--reason", "篡改数据",
                 "--legal-basis", "环发〔2015〕175号", "--start", "2017-01-01", "--end", "2019-12-31",
                 "--by", "chief"]) == 0
    capsys.readouterr()
    assert main(["contractors", "blacklist", "--db", str(db), "--on", "2017-01-05"]) == 0
    listed = capsys.readouterr().out
    assert "OP-XY" in listed and "OP-OLD" in listed and "2019-12-31" in listed


def test_fault_response_reads_every_gap_the_operator_has_to_end():
    """An honest gap (data_gap: no sign of interference) is downtime as much as an outage during an
    episode; interference of other kinds is not."""
    from envtrust.contractors import median_downtime_h

    t = pd.Timestamp("2017-01-01 00:00")
    ev = pd.DataFrame({"contractor_id": ["OP", "OP", "OP", "OQ"],
                       "kind": ["data_gap", "outage", "drift", "data_gap"],
                       "start": [t, t, t, t],
                       "end": [t + pd.Timedelta(hours=5), t + pd.Timedelta(hours=9), t + pd.Timedelta(hours=99),
                               t + pd.Timedelta(hours=23)]})
    assert median_downtime_h(ev).to_dict() == {"OP": 8.0, "OQ": 24.0}
