"""Alarm rules: what is pushed to enforcement (issue 13), each a small function with its standard.

A rule takes plain frames (read by :mod:`data.alarms`) and returns candidate alarms, one row per
station, parameter and episode (columns :data:`CANDIDATE_COLUMNS`), each with its summary in both
UI languages. :func:`raise_alarms` runs the rules over a recent window, deduplicates against stored
alarms (one open alarm per station, rule, parameter and episode: a continuing condition extends the
open alarm instead of raising a new one), stores the new ones and puts each one for enforcement
(:func:`alarm_audience`) into the webhook outbox (:mod:`envtrust.webhook`).

It runs at the end of every scoring run (:func:`envtrust.scoring.score_store`) and can be called
alone after new data arrives (``envtrust case alarms``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from analytics.completeness import GAP_EPISODE_MERGE_H, gap_episodes, missing_runs_h
from analytics.events import DATA_GAP_KIND
from analytics.standards.air_quality import gap_costing_a_valid_day_h
from analytics.standards.cems import FLUE_POLLUTANTS, o2_corrected_mg_m3
from analytics.timeconv import CST_OFFSET
from analytics.vocabulary import (
    BILINGUAL_SEP,
    CST_UTC_OFFSET_H,
    PARAMETERS,
    VALID_FLAGS,
    bilingual,
    in_language,
)
from data import alarms as sql
from data import audit
from data.record import log_transaction

CANDIDATE_COLUMNS = ["rule", "station_id", "episode_start", "episode_end", "parameter", "severity", "standard",
                     "summary", "evidence"]


@dataclass(frozen=True)
class AlarmSettings:
    """Operating points of the rules. Why configurable: each bureau sets its own workload."""

    min_event_score: float = 0.0      # engine events at or above this score alarm (events are already
    #                                   above the engine's calibrated threshold; raise it to alarm fewer)
    # data missing / transmission interrupted for this many hours or more: the engine's gap length too,
    # the shortest gap that can cost a valid day (GB 3095-2012 table 4)
    missing_hours: int = gap_costing_a_valid_day_h()
    flag_share: float = 0.5           # share of a day's readings carrying a non-N HJ 212 flag
    window_days: float = 7.0          # how far back before the newest reading the rules look


# ---------------------------------------------------------------- sentences
# Each rule's summary is written here once, in both UI languages from the same numbers
# (:func:`analytics.vocabulary.bilingual`, "English | 中文"); pages show the user's half. Times
# are Beijing time (CST), the clock of the sources and of the officer.

def _cst_text(ts_utc) -> str:
    return f"{pd.Timestamp(ts_utc) + CST_OFFSET:%Y-%m-%d %H:%M}"


def _parameter_zh(parameter: str) -> str:
    p = PARAMETERS.get(parameter)
    return p.label_zh if p is not None else parameter


def outlet_exceedance_summary(parameter: str, value_mg_m3: float, limit_mg_m3: float, day) -> str:
    """An outlet's O2-corrected daily mean over its emission limit (HJ 75-2017 折算浓度)."""
    ratio = value_mg_m3 / limit_mg_m3
    d = f"{pd.Timestamp(day):%Y-%m-%d}"
    return bilingual(
        f"{parameter} daily mean {value_mg_m3:.1f} mg/m3 at reference O2 above its emission limit "
        f"{limit_mg_m3:g} mg/m3 ({ratio:.2f} x) on {d}",
        f"{d} {_parameter_zh(parameter)}日均折算浓度{value_mg_m3:.1f} mg/m3，超过排放限值{limit_mg_m3:g} mg/m3"
        f"（{ratio:.2f}倍）")


def data_missing_summary(hours: int, gaps: int, start_utc, end_utc, ongoing: bool) -> str:
    """A station's missing-data episode: hours missing, from when, in how many gaps, still ongoing."""
    en = f"no data for {hours} h from {_cst_text(start_utc)} Beijing time"
    zh = f"自{_cst_text(start_utc)}（北京时间）起缺失数据{hours}小时"
    if gaps > 1:
        en += f" in {gaps} gaps to {_cst_text(end_utc)}"
        zh += f"（共{gaps}段，至{_cst_text(end_utc)}）"
    if ongoing:
        en += "; the feed has not come back"
        zh += "，数据传输尚未恢复"
    return bilingual(en, zh)


def flag_anomaly_summary(n_flagged: int, n: int, flags: str, first_day_utc, last_day_utc=None) -> str:
    """Beijing days from ``first_day_utc`` to ``last_day_utc`` (each given by its first hour in UTC;
    one day when no last is given) on which most readings carry HJ 212 flags, with the readings
    of the whole run of days counted."""
    last_day_utc = first_day_utc if last_day_utc is None else last_day_utc
    days = int((pd.Timestamp(last_day_utc) - pd.Timestamp(first_day_utc)) / pd.Timedelta(days=1)) + 1
    first, last = _cst_text(first_day_utc), _cst_text(pd.Timestamp(last_day_utc) + pd.Timedelta(hours=23))
    return bilingual(f"{n_flagged} of {n} readings flagged ({flags}) from {first} to {last} Beijing time"
                     + (f" ({days} days in a row)" if days > 1 else ""),
                     f"{first}至{last}（北京时间{f'，连续{days}天' if days > 1 else ''}）{n}条读数中{n_flagged}条带数据标记（{flags}）")


def episode_summary(first_utc, last_utc, parts: int, worst_part_summary: str) -> str:
    """An alarm grown from several parts of one episode (an outlet over its limit on three days, two
    interference events a night apart): the whole span and how many parts, then the worst part's
    sentence - the alarm's severity is the worst part's, so the sentence shown is that part's too."""
    first, last = _cst_text(first_utc), _cst_text(last_utc)
    return bilingual(f"{parts} episodes from {first} to {last} Beijing time; the worst: "
                     f"{in_language(worst_part_summary, 'en')}",
                     f"{first}至{last}（北京时间）共{parts}次，最严重一次：{in_language(worst_part_summary, 'zh')}")


def readable_summary(rule: str, parameter: str | None, episode_start, episode_end, summary: str,
                     evidence_json: str | None) -> str:
    """The stored alarm's summary in both languages. An alarm stored before summaries were bilingual
    (English only) is written again from its evidence by its rule's sentence function above; an
    interference alarm of that time loses the event kind's code in front of its English half."""
    try:
        ev = json.loads(evidence_json) if isinstance(evidence_json, str) else {}
        if rule == "suspected_interference" and str(summary).startswith(f"{ev.get('kind')}: "):
            return str(summary)[len(f"{ev.get('kind')}: "):]
        if BILINGUAL_SEP in str(summary):
            return summary
        part = None
        if rule == "outlet_daily_exceedance":
            part = outlet_exceedance_summary(str(parameter), float(ev["value_mg_m3"]), float(ev["limit_mg_m3"]),
                                             ev["date"])
        if rule == "data_missing":
            part = data_missing_summary(int(ev["missing_hours"]), int(ev.get("gaps", 1)), episode_start, episode_end,
                                        bool(ev.get("ongoing", False)))
        if rule == "flag_anomaly":
            part = flag_anomaly_summary(int(ev["n_flagged"]), int(ev["n"]), str(ev["flags"]), episode_start)
        if part is not None and int(ev.get("parts", 1)) > 1:
            return episode_summary(episode_start, episode_end, int(ev["parts"]), part)
        if part is not None:
            return part
    except (ValueError, KeyError, TypeError, AttributeError):
        pass  # evidence of another shape: the stored sentence as it is
    return summary


def readable_summaries(alarms: pd.DataFrame) -> list[str]:
    """:func:`readable_summary` of each stored alarm (rule, parameter, episode_start, episode_end,
    summary, evidence_json)."""
    return [readable_summary(*row) for row in zip(
        alarms["rule"], alarms["parameter"], alarms["episode_start"], alarms["episode_end"], alarms["summary"],
        alarms["evidence_json"], strict=True)]


# ---------------------------------------------------------------- rules

def _candidates(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)


def rule_suspected_interference(events: pd.DataFrame, min_score: float) -> pd.DataFrame:
    """An engine event (issue 3) at or above the operating point: suspected interference.

    Standard: 环发〔2015〕175号 (kinds of tampering and falsification the events stand for). A
    data-completeness alarm of the engine (kind ``data_gap``) is not suspected interference: gaps
    reach enforcement through :func:`rule_data_missing`."""
    ev = events if events.empty else events[(events["score"] >= min_score) & (events["kind"] != DATA_GAP_KIND)]
    return _candidates([{
        "rule": "suspected_interference", "station_id": r.station_id, "episode_start": r.start,
        "episode_end": r.end, "parameter": r.parameters, "severity": float(r.score),
        "standard": "环发〔2015〕175号", "summary": r.summary,
        "evidence": {"event_id": r.event_id, "kind": r.kind, "score": float(r.score), "run_id": r.run_id},
    } for r in ev.itertuples(index=False)])


def outlet_daily_corrected_means(readings: pd.DataFrame, ref_o2: pd.Series) -> pd.DataFrame:
    """Daily (CST day) means of O2-corrected flue-gas concentrations (HJ 75-2017) over valid hours.

    ``ref_o2``: reference O2 % per station_id. Returns station_id, date, parameter, value_mg_m3, n_hours."""
    r = readings[readings["flag"].isin(VALID_FLAGS)]
    wide = r.pivot_table(index=["station_id", "ts"], columns="parameter", values="value", aggfunc="first")
    if wide.empty or "flue_O2" not in wide.columns:
        return pd.DataFrame(columns=["station_id", "date", "parameter", "value_mg_m3", "n_hours"])
    sid = wide.index.get_level_values("station_id")
    ref = ref_o2.reindex(sid).to_numpy(dtype=float)
    out = []
    for p in [c for c in FLUE_POLLUTANTS if c in wide.columns]:
        corrected = o2_corrected_mg_m3(wide[p].to_numpy(), wide["flue_O2"].to_numpy(), ref)
        frame = pd.DataFrame({"station_id": sid, "date": (wide.index.get_level_values("ts") + CST_OFFSET).normalize(),
                              "parameter": p, "value": corrected}).dropna()
        out.append(frame.groupby(["station_id", "date", "parameter"], as_index=False)
                   .agg(value_mg_m3=("value", "mean"), n_hours=("value", "size")))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def rule_outlet_daily_exceedance(daily: pd.DataFrame, limits: pd.DataFrame) -> pd.DataFrame:
    """An outlet's daily mean, corrected to its reference O2, above its own emission limit
    (``stations.limits_json``; GB 13223-2011 for power plants)."""
    if daily.empty or limits.empty:
        return _candidates([])
    d = daily.merge(limits, on=["station_id", "parameter"])
    hits = d[d["value_mg_m3"] > d["limit_mg_m3"]]
    return _candidates([{
        "rule": "outlet_daily_exceedance", "station_id": r.station_id,
        "episode_start": pd.Timestamp(r.date) - CST_OFFSET,
        "episode_end": pd.Timestamp(r.date) - CST_OFFSET + pd.Timedelta(hours=23), "parameter": r.parameter,
        "severity": float(r.value_mg_m3 / r.limit_mg_m3), "standard": "HJ 75-2017 O2 correction; outlet limit",
        "summary": outlet_exceedance_summary(r.parameter, float(r.value_mg_m3), float(r.limit_mg_m3), r.date),
        "evidence": {"date": f"{pd.Timestamp(r.date):%Y-%m-%d}", "value_mg_m3": round(float(r.value_mg_m3), 3),
                     "limit_mg_m3": float(r.limit_mg_m3), "n_hours": int(r.n_hours)},
    } for r in hits.itertuples(index=False)])


def expected_until(feed_ends: pd.DataFrame, latest: datetime) -> pd.Series:
    """Per station_id, the last hour it is still expected to report: the newest hour of its data
    source (``source_last``), never after its end of service (``active_to``, exclusive) nor after
    ``latest`` (the newest hour in the store)."""
    if feed_ends.empty:
        return pd.Series(dtype="datetime64[ns]")
    until = pd.to_datetime(feed_ends["source_last"]).fillna(pd.Timestamp(latest)).clip(upper=pd.Timestamp(latest))
    retired = pd.to_datetime(feed_ends["active_to"]) - pd.Timedelta(hours=1)
    until = until.where(retired.isna() | (until <= retired), retired)
    return pd.Series(until.to_numpy(), index=feed_ends["station_id"].to_numpy())


def _hour_index(ts) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(ts).values.astype("datetime64[h]").astype(np.int64))


def missing_runs(hours: pd.DataFrame, until: pd.Series, min_hours: int) -> pd.DataFrame:
    """Runs of at least ``min_hours`` consecutive hours without any value, per station, from its
    first reporting hour up to ``until[station_id]`` (:func:`expected_until`; a station missing
    there ends at its last reporting hour), found by :func:`analytics.completeness.missing_runs_h`
    (the engine's run finder). Returns station_id, start, end, hours, ongoing (the run reaches the
    expected end: the feed has not come back)."""
    rows = []
    for sid, g in hours.groupby("station_id", sort=False):
        have = np.unique(_hour_index(g["ts"]))
        end = until.get(sid)
        end_h = None if end is None or pd.isna(end) else int(_hour_index([end])[0])
        for a, b in missing_runs_h(have, min_hours, end_h):
            rows.append((sid, pd.Timestamp(a, unit="h"), pd.Timestamp(b, unit="h"), b - a + 1,
                         end_h is not None and b == end_h))
    return pd.DataFrame(rows, columns=["station_id", "start", "end", "hours", "ongoing"])


def rule_data_missing(runs: pd.DataFrame, min_hours: int) -> pd.DataFrame:
    """One alarm per episode of missing data at a station (:func:`analytics.completeness.gap_episodes`:
    gaps of ``min_hours`` or more, those less than a day apart merged), severity = missing hours.
    The threshold is the shortest gap that can cost a valid day (GB 3095-2012 table 4); HJ 212 / HJ 75
    require hourly transmission and the capture-rate rules of HJ 663 and HJ 75 count the missing hours."""
    ep = gap_episodes(runs)
    rows = []
    for r in ep.itertuples(index=False):
        rows.append({
            "rule": "data_missing", "station_id": r.station_id, "episode_start": r.start, "episode_end": r.end,
            "parameter": None, "severity": float(r.hours),
            "standard": f"GB 3095-2012 table 4 daily validity (>= {min_hours} h); HJ 212-2017 hourly transmission",
            "summary": data_missing_summary(int(r.hours), int(r.gaps), r.start, r.end, bool(r.ongoing)),
            "evidence": {"missing_hours": int(r.hours), "gaps": int(r.gaps), "ongoing": bool(r.ongoing)},
        })
    return _candidates(rows)


def rule_flag_anomaly(flag_counts: pd.DataFrame, share: float) -> pd.DataFrame:
    """A run of Beijing days (as daily data are counted) on each of which at least ``share`` of a
    station's readings carry a non-N HJ 212 flag (F/M/S/D/C/T/B: stopped, maintenance, manual
    value, fault, calibration, over range, comms): one candidate per run of consecutive days,
    counting the readings of all of them, so a station stopped for six weeks reads as six weeks."""
    if flag_counts.empty:
        return _candidates([])
    f = flag_counts[(flag_counts["n"] > 0) & (flag_counts["n_flagged"] / flag_counts["n"] >= share)]
    f = f.sort_values(["station_id", "day"])
    day = pd.to_datetime(f["day"])
    new_run = (f["station_id"] != f["station_id"].shift()) | (day.diff() != pd.Timedelta(days=1))
    runs = f.assign(day=day, run=new_run.cumsum()).groupby("run", sort=True).agg(
        station_id=("station_id", "first"), first=("day", "min"), last=("day", "max"), n=("n", "sum"),
        n_flagged=("n_flagged", "sum"), flags=("flags", lambda x: "".join(sorted(set("".join(x.dropna()))))))
    return _candidates([{
        "rule": "flag_anomaly", "station_id": r.station_id, "episode_start": pd.Timestamp(r.first),
        "episode_end": pd.Timestamp(r.last) + pd.Timedelta(hours=23), "parameter": None,
        "severity": float(r.n_flagged / r.n), "standard": "HJ 212-2017 data flags",
        "summary": flag_anomaly_summary(int(r.n_flagged), int(r.n), r.flags, r.first, r.last),
        "evidence": {"flags": r.flags, "n": int(r.n), "n_flagged": int(r.n_flagged),
                     "days": int((r.last - r.first) / pd.Timedelta(days=1)) + 1},
    } for r in runs.itertuples(index=False)])


#: rule name -> (Chinese name, English name). ``air_daily_exceedance`` is a retired rule (see
#: :data:`AUDIENCES`); its name stays for alarms of older stores that are already in a case.
RULE_NAMES: dict[str, tuple[str, str]] = {
    "suspected_interference": ("疑似干预", "suspected interference"),
    "air_daily_exceedance": ("空气日均超标", "air daily-mean exceedance"),
    "outlet_daily_exceedance": ("排口日均超标", "outlet daily-mean exceedance"),
    "data_missing": ("数据缺失/传输中断", "data missing / transmission interrupted"),
    "flag_anomaly": ("数据标记异常", "HJ 212 flag anomaly"),
}


#: the order an officer reads the rules in: a party's suspected interference, then an outlet over its
#: own limit (both conduct of a party), missing data (the duty to transmit, HJ 212), flag anomalies
#: (a hint). Severities are in each rule's own unit (score, hours, ratio), so they rank only within a rule.
RULE_ORDER: tuple[str, ...] = ("suspected_interference", "outlet_daily_exceedance", "data_missing", "flag_anomaly")

#: Who acts on an alarm. The enforcement officer (执法人员) acts on a party's conduct: suspected
#: interference, an outlet over its own limit, and an outlet's missing data or flags (the polluter's
#: duty to transmit and to flag honestly: seed 003 items 9-10, "日均值超标、数据异常 ... 推送执法机构").
#: An engine suspicion reaches the officer through the analyst (:data:`REVIEW`): the monitoring
#: centre makes the preliminary determination (初步认定) and pushes it, when the analyst confirms the
#: event or transfers a case (:func:`push_to_enforcement`); an outlet's daily exceedance, flags and
#: missing data are themselves a determination and are pushed when raised.
#: A monitoring station's missing data or flags are the monitoring centre's work with the station's
#: contractor (the analyst's data-completeness list, journeys.md); they are not pushed to enforcement.
#: An ambient station's daily exceedance is air quality, not a violation of anyone: it is no alarm
#: at all; leaders see it on the situation map (day resolution: AQI level 3 and worse is a 24-h
#: value above its GB 3095-2012 grade-2 limit, the HJ 633-2012 IAQI 100 breakpoints being those limits).
ENFORCEMENT = "enforcement"
REVIEW = "review"
MONITORING = "monitoring"
AUDIENCES: tuple[str, ...] = (ENFORCEMENT, REVIEW, MONITORING)
PARTY_RULES: tuple[str, ...] = ("suspected_interference", "outlet_daily_exceedance")
#: rules whose alarm waits for the analyst's determination before it is pushed
REVIEWED_RULES: tuple[str, ...] = ("suspected_interference",)


def alarm_audience(rule: str, station_kind: str | None, pushed: bool = False) -> str:
    """:data:`ENFORCEMENT`, :data:`REVIEW` or :data:`MONITORING` for an alarm of ``rule`` at a station
    of ``station_kind``; ``pushed``: an analyst has put it to enforcement (alarms.pushed_at)."""
    if rule in REVIEWED_RULES and not pushed:
        return REVIEW
    return ENFORCEMENT if rule in PARTY_RULES or station_kind == "polluter_outlet" else MONITORING


def alarm_audiences(alarms: pd.DataFrame) -> pd.Series:
    """:func:`alarm_audience` of each alarm (columns rule, station_kind, pushed_at)."""
    pushed = alarms["pushed_at"].notna() if "pushed_at" in alarms.columns else pd.Series(False, index=alarms.index)
    return pd.Series([alarm_audience(r, k if isinstance(k, str) else None, bool(p))
                      for r, k, p in zip(alarms["rule"], alarms["station_kind"], pushed, strict=True)],
                     index=alarms.index, dtype=object)


def rank_alarms(alarms: pd.DataFrame) -> pd.DataFrame:
    """Alarms (rule, severity, raised_at; optional event_rank_score) in reading order: by
    :data:`RULE_ORDER`, within a rule the newest raised first, then the most severe (a 72 h gap never
    outranks an interference event). A suspected-interference alarm is as severe as its event's
    graded figure (``events.rank_score``, -log10 of the clean-data tail probability) where there is
    one: its 0-1 score ties at 1.00 at the top (the demo: 0.985-0.99998 for 67 alarms, rank 1.8-4.6)."""
    order = {r: i for i, r in enumerate(RULE_ORDER)}
    key = alarms["rule"].map(order).fillna(len(order))
    severity = alarms["severity"]
    if "event_rank_score" in alarms.columns:
        severity = pd.to_numeric(alarms["event_rank_score"], errors="coerce").fillna(severity)
    return (alarms.assign(_order=key, _severity=severity)
            .sort_values(["_order", "raised_at", "_severity"], ascending=[True, False, False], kind="stable")
            .drop(columns=["_order", "_severity"]).reset_index(drop=True))


# ---------------------------------------------------------------- running the rules

def candidate_alarms(con, settings: AlarmSettings, since: datetime | None) -> pd.DataFrame:
    """Every rule's candidates over the store's readings and events since ``since`` (UTC)."""
    latest = sql.latest_ts(con)
    if latest is None:
        return _candidates([])
    info = sql.station_info(con)
    outlets = sql.hourly_readings(con, ("polluter_outlet",), (*FLUE_POLLUTANTS, "flue_O2"), since)
    limits = _outlet_limits(info)
    ref_o2 = info.set_index("station_id")["ref_o2_pct"].astype(float)
    frames = [
        rule_suspected_interference(sql.stored_events(con, since), settings.min_event_score),
        rule_outlet_daily_exceedance(outlet_daily_corrected_means(outlets, ref_o2), limits),
        rule_data_missing(missing_runs(sql.reporting_hours(con, since),
                                       expected_until(sql.station_feed_ends(con, since), latest),
                                       settings.missing_hours), settings.missing_hours),
        rule_flag_anomaly(sql.daily_flag_counts(con, since, CST_UTC_OFFSET_H), settings.flag_share),
    ]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else _candidates([])


def _outlet_limits(info: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for sid, raw in zip(info["station_id"], info["limits_json"], strict=True):
        if isinstance(raw, str) and raw:
            try:
                rows += [(sid, p, float(v)) for p, v in json.loads(raw).items() if v]
            except (ValueError, TypeError):
                continue  # a malformed limit is reported by the station ingest, not here
    return pd.DataFrame(rows, columns=["station_id", "parameter", "limit_mg_m3"])


def alarm_id(rule: str, station_id: str, parameter: str | None, start) -> str:
    """Stable id: the same episode found again by a re-run maps to the same alarm."""
    key = f"{rule}|{station_id}|{parameter or ''}|{pd.Timestamp(start):%Y-%m-%dT%H}"
    return "A" + hashlib.sha256(key.encode()).hexdigest()[:12]


#: hours between two episodes of one rule that still count as one episode
EPISODE_GAP_H: dict[str, int] = {"suspected_interference": 24, "outlet_daily_exceedance": 24,
                                 "data_missing": GAP_EPISODE_MERGE_H, "flag_anomaly": 24}


def _episode_key(row: dict) -> tuple[str, str, str]:
    parameter = row.get("parameter")
    return str(row["station_id"]), str(row["rule"]), parameter if isinstance(parameter, str) else ""


def _evidence(row: dict) -> dict:
    if isinstance(row.get("evidence"), dict):
        return row["evidence"]
    try:
        return json.loads(row.get("evidence_json") or "{}")
    except (TypeError, ValueError):
        return {}


def _extend(alarm: dict, part: dict) -> None:
    """Grow ``alarm`` by a later candidate of its episode. A candidate that starts where the alarm
    starts was found again over a longer stretch (a gap still open, a run of flagged days) and says
    the whole episode itself. A candidate that starts later is another part (or the latest part
    found again, longer): the alarm then counts its parts and keeps the worst part's sentence and
    evidence under the whole span, since its severity is the worst part's."""
    start = pd.Timestamp(part["episode_start"])
    worse = float(part["severity"] or 0) > float(alarm["severity"] or 0)
    alarm["severity"] = max(float(alarm["severity"] or 0), float(part["severity"] or 0))
    alarm["episode_end"] = pd.Timestamp(part["episode_end"])
    if start <= pd.Timestamp(alarm["episode_start"]):
        alarm["summary"], alarm["evidence"] = part["summary"], part["evidence"]
        return
    before = _evidence(alarm)
    last_part_start = pd.Timestamp(before.get("last_part_start", alarm["episode_start"]))
    parts = int(before.get("parts", 1)) + (0 if start <= last_part_start else 1)
    if worse:
        worst, worst_summary = dict(part["evidence"]), part["summary"]
    else:
        worst = {k: v for k, v in before.items() if k not in _PART_KEYS}
        worst_summary = before.get("worst_part_summary", alarm["summary"])
    alarm["evidence"] = dict(worst, parts=parts, last_part_start=f"{max(start, last_part_start):%Y-%m-%dT%H:%M}",
                             worst_part_summary=worst_summary)
    alarm["summary"] = episode_summary(alarm["episode_start"], alarm["episode_end"], parts, worst_summary)


#: evidence keys an alarm of several parts adds to its worst part's evidence
_PART_KEYS = ("parts", "last_part_start", "worst_part_summary")


def deduplicate(candidates: pd.DataFrame, stored: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Split candidates into new alarms and extensions of stored ones.

    A candidate belongs to a stored alarm (any status) of the same station, rule and parameter whose
    episode it overlaps or follows within the rule's gap; it extends that alarm when the alarm is open
    and is dropped otherwise (already in a case or dismissed). Candidates are merged among themselves
    the same way, so one run never raises two alarms for one episode. Returns (new, extensions)."""
    episodes: dict[tuple, list[dict]] = {}
    for r in stored.to_dict("records"):
        episodes.setdefault(_episode_key(r), []).append(dict(r, _stored=True))
    new: dict[str, dict] = {}
    extended: dict[str, dict] = {}
    for c in candidates.sort_values("episode_start", kind="stable").to_dict("records"):
        key = _episode_key(c)
        gap = pd.Timedelta(hours=EPISODE_GAP_H.get(c["rule"], 24))
        start, end = pd.Timestamp(c["episode_start"]), pd.Timestamp(c["episode_end"])
        match = next((e for e in episodes.get(key, []) if pd.Timestamp(e["episode_start"]) - gap <= end
                      and start <= pd.Timestamp(e["episode_end"]) + gap), None)
        if match is None:
            row = dict(c, alarm_id=alarm_id(c["rule"], c["station_id"], c["parameter"], start), status="open")
            episodes.setdefault(key, []).append(row)
            new[row["alarm_id"]] = row
            continue
        if match["status"] != "open" or end <= pd.Timestamp(match["episode_end"]):
            continue
        _extend(match, c)
        if match.get("_stored"):
            extended[match["alarm_id"]] = match
    return list(new.values()), list(extended.values())


@dataclass(frozen=True)
class AlarmRunSummary:
    candidates: int
    raised: int
    extended: int
    queued: int

    def __str__(self) -> str:
        return (f"alarms: {self.raised} new, {self.extended} extended ({self.candidates} candidates), "
                f"{self.queued} queued for the webhook")


def raise_alarms(con, settings: AlarmSettings | None = None, run_id: str | None = None,
                 since: datetime | None = None, now: datetime | None = None,
                 enqueue: Callable | None = None) -> AlarmRunSummary:
    """Run the rules over the window, store new alarms, extend continuing ones, queue pushes.

    ``since`` defaults to ``settings.window_days`` before the newest reading. Each new alarm for
    enforcement (:func:`alarm_audience`) is put into the webhook outbox in the same transaction as
    the alarm itself, so a push is never lost; the monitoring centre's alarms stay in the app, and a
    suspected interference waits for the analyst (:func:`push_to_enforcement`)."""
    from envtrust.webhook import enqueue_alarm

    settings = settings or AlarmSettings()
    enqueue = enqueue or enqueue_alarm
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if since is None:
        latest = sql.latest_ts(con)
        if latest is None:
            return AlarmRunSummary(0, 0, 0, 0)
        since = pd.Timestamp(latest) - pd.Timedelta(days=settings.window_days)
    cands = candidate_alarms(con, settings, since)
    stored = sql.alarms_since(con, (pd.Timestamp(since) - pd.Timedelta(days=2)).to_pydatetime())
    new, extended = deduplicate(cands, stored)
    kinds = sql.station_kinds(con)
    # an event the analyst confirmed before its alarm was raised (a re-scored window) is determined
    # already: its alarm goes to enforcement in the analyst's name
    confirmers = sql.event_confirmers(con, [row["evidence"].get("event_id") for row in new
                                            if row["rule"] in REVIEWED_RULES])
    pushed_by = {row["alarm_id"]: confirmers.get(row["evidence"].get("event_id"), "rule") for row in new
                 if alarm_audience(row["rule"], kinds.get(row["station_id"]),
                                   row["evidence"].get("event_id") in confirmers) == ENFORCEMENT}
    pushed = [row for row in new if row["alarm_id"] in pushed_by]
    frame = pd.DataFrame(new)
    if not frame.empty:
        frame["pushed_at"] = [now if a in pushed_by else None for a in frame["alarm_id"]]
        frame["pushed_by"] = [pushed_by.get(a) for a in frame["alarm_id"]]
        frame["evidence_json"] = [json.dumps(e, ensure_ascii=False, default=str) for e in frame["evidence"]]
        frame["raised_at"] = now
        frame["updated_at"] = now
        frame["run_id"] = run_id
        frame["severity"] = frame["severity"].astype(float)
        frame["parameter"] = frame["parameter"].astype(object).where(frame["parameter"].notna(), None)
    with log_transaction(con):  # the alarms, their pushes and the audit of the analysts' pushes together
        sql.insert_alarms(con, frame if not frame.empty else pd.DataFrame(columns=sql.ALARM_COLUMNS))
        for row in pushed:
            enqueue(con, row, now)
            event_id = row["evidence"].get("event_id")
            if event_id in confirmers:
                audit.append_within(con, confirmers[event_id], "alarm_push", row["alarm_id"],
                                    {"event_id": event_id, "via": "confirmed_before_raised"})
        for row in extended:
            sql.extend_alarm(con, row["alarm_id"], row["episode_end"], float(row["severity"] or 0), row["summary"],
                             json.dumps(row["evidence"], ensure_ascii=False, default=str), now)
    return AlarmRunSummary(candidates=len(cands), raised=len(new), extended=len(extended), queued=len(pushed))


# ---------------------------------------------------------------- the analyst's determination

def _stored_alarm(row: dict) -> dict:
    """A stored alarm row as :func:`envtrust.webhook.alarm_payload` reads it (evidence parsed)."""
    try:
        evidence = json.loads(row["evidence_json"]) if isinstance(row.get("evidence_json"), str) else None
    except ValueError:
        evidence = None
    return dict(row, evidence=evidence)


def push_to_enforcement(con, alarm_ids: list[str], actor: str, now: datetime,
                        enqueue: Callable | None = None) -> list[str]:
    """Put the alarms an analyst determined (初步认定) to enforcement: mark them pushed and queue each
    one's webhook push, inside the caller's transaction. An alarm already pushed is skipped, so a
    confirmation and a case transfer, or two concurrent confirmations, push it once. Returns the ids
    pushed now."""
    from envtrust.webhook import enqueue_alarm

    enqueue = enqueue or enqueue_alarm
    done = sql.mark_pushed(con, list(alarm_ids), actor, now)
    for row in done.to_dict("records"):
        if not sql.has_push(con, row["alarm_id"]):
            enqueue(con, _stored_alarm(row), now)
    return list(done["alarm_id"])


def review_event(con, event_id: str, verdict: str, comment: str | None, username: str,
                 at: datetime | None = None, enqueue: Callable | None = None) -> str:
    """An analyst's verdict on an engine event (:func:`data.views.record_review`), with what it means
    for its suspected-interference alarm, in the review's transaction: ``confirmed`` pushes the open
    alarm to enforcement (:func:`push_to_enforcement`); ``false_alarm`` dismisses it and pushes
    nothing; ``reopened`` opens a dismissed one again. Returns the
    event's new status."""
    from data.views import record_review

    now = at or datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def consequences(c) -> None:
        if verdict == "confirmed":
            for alarm_id in push_to_enforcement(c, sql.interference_alarm_ids(c, [event_id], ("open",)), username,
                                                now, enqueue):
                audit.append_within(c, username, "alarm_push", alarm_id, {"event_id": event_id, "via": "event_review"})
        elif verdict == "false_alarm":
            sql.set_alarm_status(c, sql.interference_alarm_ids(c, [event_id], ("open",)), "dismissed", now)
        else:
            sql.set_alarm_status(c, sql.interference_alarm_ids(c, [event_id], ("dismissed",)), "open", now)

    return record_review(con, event_id, verdict, comment, username, at=now, within=consequences)


def severity_text(rule: str, severity: float) -> str:
    """The severity in the rule's unit, for tables."""
    if not np.isfinite(severity):
        return ""
    if rule == "data_missing":
        return f"{severity:.0f} h"
    if rule == "flag_anomaly":
        return f"{severity:.0%}"
    if rule == "suspected_interference":
        return f"{severity:.2f}"
    return f"{severity:.2f} x"
