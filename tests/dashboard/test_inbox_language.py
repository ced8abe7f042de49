"""The inbox and the case page show every alarm and event summary in the user's language: with the
Chinese UI no row shows an English sentence, with the English UI none shows Chinese. The officer's
header counts only what enforcement acts on; monitoring stations' gaps have their own list."""

from __future__ import annotations

import re

import pytest
from dash import html

from analytics.vocabulary import in_language
from dashboard.internal.ids import CaseIds, InboxIds
from dashboard.internal.pages import cases_detail, cases_inbox
from envtrust import cases
from envtrust.alarms import raise_alarms, review_event
from tests.envtrust.cases_fixture import build_store

CJK = re.compile(r"[\u4e00-\u9fff]")
TZ = "Asia/Shanghai"


def _find(node, component_id):
    if getattr(node, "id", None) == component_id:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


def _cells(node) -> list[str]:
    """The text of every leaf cell or list item under ``node``."""
    children = getattr(node, "children", None)
    if isinstance(children, str | int | float):
        return [str(children)]
    out = []
    for child in children if isinstance(children, list | tuple) else [children]:
        if isinstance(child, str):
            out.append(child)
        elif child is not None:
            out += _cells(child)
    return out


def _rules(table) -> list[str]:
    return [getattr(row, "data-rule") for row in table.children[1].children]


def _headings(node) -> list[str]:
    out = [str(node.children)] if type(node).__name__ == "H3" else []
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else []:
        if not isinstance(child, str | int | float) and child is not None:
            out += _headings(child)
    return out


@pytest.fixture()
def con(tmp_path):
    c = build_store(tmp_path / "inbox.duckdb")
    raise_alarms(c)
    yield c
    c.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_inbox_and_case_rows_show_summaries_in_the_users_language(con, lang):
    summaries = [s for (s,) in con.execute("SELECT summary FROM alarms").fetchall()]
    own = {in_language(s, lang) for s in summaries}
    other = {in_language(s, "en" if lang == "zh" else "zh") for s in summaries}
    page = cases_inbox.layout(con, "analyst", lang, TZ, cases.DEFAULT_CLOCKS)
    shown = _cells(_find(page, InboxIds.ALARMS)) + _cells(_find(page, InboxIds.REVIEW_ALARMS)) + \
        _cells(_find(page, InboxIds.MONITORING_ALARMS))
    assert own <= set(shown) and not other & set(shown)
    for text in shown:
        assert not any(o in text for o in other)

    alarm_ids = [a for (a,) in con.execute("SELECT alarm_id FROM alarms WHERE rule IN "
                                           "('suspected_interference', 'outlet_daily_exceedance')").fetchall()]
    case_id = cases.open_case(con, "ana", "analyst", "x", alarm_ids=alarm_ids)
    body = html.Div(cases_detail.case_body(con, case_id, "analyst", lang, TZ, cases.DEFAULT_CLOCKS))
    links = _cells(_find(body, CaseIds.LINKS))
    assert len(links) == 3  # two alarms and the interference alarm's event
    for text in links:
        assert bool(CJK.search(text)) == (lang == "zh"), text
        assert not any(o in text for o in other)


def test_the_officers_header_counts_what_enforcement_acts_on(con):
    """The fixture's air-station data gap is the monitoring centre's: not in the officer's list or
    count; analysts see it on its own list with its own count. The engine's suspicion waits on the
    analyst's list until the analyst confirms the event; then it is the officer's."""
    officer = cases_inbox.layout(con, "enforcement", "zh", TZ, cases.DEFAULT_CLOCKS)
    assert "待执法处置的报警 (2)" in _headings(officer)
    assert set(_rules(_find(officer, InboxIds.ALARMS))) == {"outlet_daily_exceedance", "flag_anomaly"}
    assert _find(officer, InboxIds.MONITORING_ALARMS) is None and _find(officer, InboxIds.REVIEW_ALARMS) is None
    analyst = cases_inbox.layout(con, "analyst", "zh", TZ, cases.DEFAULT_CLOCKS)
    assert any(h.startswith("监测站点数据缺失") and h.endswith("(1)") for h in _headings(analyst))
    assert _rules(_find(analyst, InboxIds.MONITORING_ALARMS)) == ["data_missing"]
    assert any(h.startswith("待研判的疑似干预") and h.endswith("(1)") for h in _headings(analyst))
    assert _rules(_find(analyst, InboxIds.REVIEW_ALARMS)) == ["suspected_interference"]
    review_event(con, "E1", "confirmed", None, "ana")
    officer = cases_inbox.layout(con, "enforcement", "zh", TZ, cases.DEFAULT_CLOCKS)
    assert "待执法处置的报警 (3)" in _headings(officer)
    assert "suspected_interference" in _rules(_find(officer, InboxIds.ALARMS))
    analyst = cases_inbox.layout(con, "analyst", "zh", TZ, cases.DEFAULT_CLOCKS)
    assert _rules(_find(analyst, InboxIds.REVIEW_ALARMS)) == []


def test_alarms_stored_in_english_only_read_in_chinese(con):
    """Stores written before the summaries were bilingual: the page writes the sentence again from
    the alarm's evidence, with the same numbers (and drops the kind code older interference alarms
    put in front of the event's sentence)."""
    con.execute("UPDATE alarms SET summary = 'no data for 10 h from 2017-01-02 06:00 UTC' WHERE rule = 'data_missing'")
    con.execute("UPDATE alarms SET summary = 'flue_SO2 daily mean 60.0 mg/m3 at reference O2 > limit 35 (2017-01-05)' "
                "WHERE rule = 'outlet_daily_exceedance'")
    page = cases_inbox.layout(con, "analyst", "zh", TZ, cases.DEFAULT_CLOCKS)
    shown = _cells(_find(page, InboxIds.ALARMS)) + _cells(_find(page, InboxIds.REVIEW_ALARMS)) + \
        _cells(_find(page, InboxIds.MONITORING_ALARMS))
    assert "自2017-01-02 14:00（北京时间）起缺失数据10小时" in shown
    # the outlet was over its limit on two Beijing days: one alarm of both, quoting the worst
    assert ("2017-01-04 00:00至2017-01-05 23:00（北京时间）共2次，最严重一次：2017-01-04 烟气二氧化硫日均折算浓度60.0 mg/m3，"
            "超过排放限值35 mg/m3（1.71倍）") in shown
    assert not [s for s in shown if "no data" in s or "daily mean" in s]
    con.execute("UPDATE alarms SET summary = 'clipping: ' || summary WHERE rule = 'suspected_interference'")
    english = _cells(_find(cases_inbox.layout(con, "analyst", "en", TZ, cases.DEFAULT_CLOCKS), InboxIds.REVIEW_ALARMS))
    assert "flue_SO2 held just below its limit for 20 h" in english  # the old kind code in front is gone


def test_an_interference_alarm_shows_its_events_rarity(con):
    con.execute("UPDATE events SET rank_score = 4.0 WHERE event_id = 'E1'")
    for lang, text in (("zh", "约10,000小时一遇(干净数据)"), ("en", "1 in 10,000 clean hours")):
        table = _find(cases_inbox.layout(con, "analyst", lang, TZ, cases.DEFAULT_CLOCKS), InboxIds.REVIEW_ALARMS)
        row = next(r for r in table.children[1].children if getattr(r, "data-rule") == "suspected_interference")
        assert _cells(row.children[3]) == [text]
