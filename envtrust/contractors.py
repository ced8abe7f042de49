"""Contractor (运维单位) and laboratory service: comparison results, the scorecard with a grade and
its reasons, credit history and blacklist. Called by ``envtrust contractors``, the dashboard and
the demo build.

The scorecard (docs/contractors.md) scores each operator on seven components, each 0-100:
capture rate, comparison pass rate, comparison bias, out-of-control hours, suspicious maintenance
flags (engine ``flag_abuse`` events), fault response (median length of
``outage`` and ``data_gap`` events: the station's downtime) and confirmed
tampering. The score is the weighted mean (comparison pass rate and bias count double) of the components a contractor has
data for, shrunk towards the
network mean with weight n / (n + k) (n = stations, k = :data:`SHRINK_STATIONS`), so a contractor
with one station can neither top nor sink the table on luck. Grades follow the enterprise credit
colours of 环发〔2013〕150号 (green / blue / yellow / red); an active blacklist entry forces red.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.comparison import agreement, evaluate_pairs, out_of_control_hours
from analytics.events import DATA_GAP_KIND
from data.assessment import confirmed_interference
from data.contractors import (
    assignments,
    blacklist,
    comparison_pairs,
    contractors,
    station_capture,
    station_events,
)

SHRINK_STATIONS = 3.0
GRADES: tuple[tuple[float, str, str, str], ...] = (
    (85.0, "A", "green", "守信"), (70.0, "B", "blue", "基本守信"), (55.0, "C", "yellow", "警示"),
    (-1.0, "D", "red", "严重失信"),
)
COMPONENTS: dict[str, tuple[str, str]] = {
    "capture": ("数据有效率", "capture rate"),
    "pass_rate": ("比对合格率", "comparison pass rate"),
    "bias": ("比对偏差", "comparison bias"),
    "ooc": ("失控时长", "out-of-control hours"),
    "flags": ("可疑运维标记", "suspicious maintenance flags"),
    "response": ("故障响应", "fault response"),
    "tampering": ("确认篡改", "confirmed tampering"),
}

#: comparison results weigh double: they are the direct evidence of data quality (seed 000 item 9)
COMPONENT_WEIGHTS: dict[str, float] = {"capture": 1.0, "pass_rate": 2.0, "bias": 2.0, "ooc": 1.0, "flags": 1.0,
                                       "response": 1.0, "tampering": 1.0}


@dataclass(frozen=True)
class Window:
    """A UTC window, both ends inclusive."""

    first: pd.Timestamp
    last: pd.Timestamp

    @property
    def hours(self) -> float:
        return (self.last - self.first) / pd.Timedelta(hours=1) + 1


def comparison_results(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Every comparison pair in the window with its errors, verdict and operating contractor."""
    pairs = comparison_pairs(con, window.first, window.last)
    if pairs.empty:
        return pairs.assign(contractor_id=pd.Series(dtype=str))
    out = evaluate_pairs(pairs)
    asg = assignments(con, window.first, window.last)
    merged = out.merge(asg[["station_id", "contractor_id", "valid_from", "valid_to"]], on="station_id", how="left")
    inside = merged["contractor_id"].isna() | ((merged["ts"] >= merged["valid_from"]) & (merged["ts"] < merged["valid_to"]))
    return merged[inside].drop(columns=["valid_from", "valid_to"]).reset_index(drop=True)


def agreement_table(results: pd.DataFrame, by: tuple[str, ...] = ("contractor_id", "parameter")) -> pd.DataFrame:
    """Bias, CV and Bland-Altman limits with confidence intervals per group of pairs."""
    rows = []
    for key, g in results.dropna(subset=["auto"]).groupby(list(by)):
        a = agreement(g["auto"], g["ref"])
        evaluated = g["verdict"].isin(["pass", "fail"])
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), "n": a.n,
                     "mean_diff": a.mean_diff, "mean_diff_ci_low": a.mean_diff_ci[0],
                     "mean_diff_ci_high": a.mean_diff_ci[1], "mean_rel_error": a.mean_rel_error,
                     "mean_rel_error_ci_low": a.mean_rel_error_ci[0], "mean_rel_error_ci_high": a.mean_rel_error_ci[1],
                     "cv": a.cv, "cv_upper": a.cv_upper, "loa_low": a.loa_low, "loa_high": a.loa_high,
                     "pass_rate": float((g.loc[evaluated, "verdict"] == "pass").mean()) if evaluated.any() else np.nan,
                     "unverified_limits": bool((~g.loc[evaluated, "verified"].astype(bool)).any())})
    return pd.DataFrame(rows)


#: engine event kinds that are a station's downtime, which its operator has to end: a gap with no
#: sign of interference (data_gap: a fault, a broken line, a stopped analyser) and a gap during an
#: episode (outage). HJ 75-2017 counts fault and repair periods as invalid data the operator answers
#: for; the scorecard's fault response (accountability.md section 4) is how long they last.
DOWNTIME_KINDS: tuple[str, ...] = ("outage", DATA_GAP_KIND)


def median_downtime_h(events: pd.DataFrame) -> pd.Series:
    """Median length [h] of the downtime events (:data:`DOWNTIME_KINDS`) per contractor_id
    (``events``: kind, start, end, contractor_id); contractors without any are absent."""
    down = events[events["kind"].isin(DOWNTIME_KINDS)]
    hours = (pd.to_datetime(down["end"]) - pd.to_datetime(down["start"])) / pd.Timedelta(hours=1) + 1
    return hours.groupby(down["contractor_id"]).median()


def _component_scores(m: pd.DataFrame) -> pd.DataFrame:
    """0-100 per component from the raw metrics (NaN = no data for that component)."""
    s = pd.DataFrame(index=m.index)
    s["capture"] = (100 * ((m["capture_rate"] - 0.75) / 0.25).clip(0, 1))
    s["pass_rate"] = 100 * m["pass_rate"]
    s["bias"] = 100 * (1 - m["abs_rel_bias"] / 0.30).clip(0, 1)
    s["ooc"] = 100 * (1 - m["ooc_share"] / 0.25).clip(0, 1)
    s["flags"] = 100 * (1 - m["flag_events_per_station"] / 3.0).clip(0, 1)
    s["response"] = 100 * (1 - m["median_downtime_h"] / 72.0).clip(0, 1)
    s["tampering"] = 100 * (1 - m["tampering_per_station"] / 1.0).clip(0, 1)
    return s


def _grade(score: float) -> tuple[str, str, str]:
    for floor, grade, colour, label in GRADES:
        if score >= floor:
            return grade, colour, label
    return GRADES[-1][1:]


def _metric_texts(metrics: pd.Series) -> dict[str, tuple[str, str]]:
    """Each component's measured value as (zh, en) text, e.g. ``比对合格率 38% (52 对)``."""
    n_pairs = f"{metrics['n_pairs']:.0f}"
    values = {
        "capture": f"{metrics['capture_rate']:.1%}", "bias": f"{metrics['rel_bias']:+.1%}",
        "ooc": f"{metrics['ooc_hours']:.0f} h", "response": f"{metrics['median_downtime_h']:.0f} h",
    }
    return {
        "capture": (f"数据有效率 {values['capture']}", f"capture rate {values['capture']}"),
        "pass_rate": (f"比对合格率 {metrics['pass_rate']:.0%} ({n_pairs} 对)",
                      f"comparison pass rate {metrics['pass_rate']:.0%} ({n_pairs} pairs)"),
        "bias": (f"比对相对偏差 {values['bias']}", f"comparison bias {values['bias']}"),
        "ooc": (f"失控时长 {values['ooc']}", f"out-of-control {values['ooc']}"),
        "flags": (f"可疑运维标记 {metrics['flag_events']:.0f} 次",
                  f"{metrics['flag_events']:.0f} suspicious maintenance flags"),
        "response": (f"故障中位时长 {values['response']}", f"median fault length {values['response']}"),
        "tampering": (f"确认篡改 {metrics['tampering']:.0f} 起", f"{metrics['tampering']:.0f} confirmed tampering cases"),
    }


def _reasons(metrics: pd.Series, scores: pd.Series, means: pd.Series, blacklisted: bool) -> tuple[str, str]:
    """The grade's reasons as (zh, en) text: blacklisting, then the components where the contractor
    scores at least 10 points below the network mean, the widest gap first."""
    zh, en = (["列入黑名单"], ["blacklisted"]) if blacklisted else ([], [])
    texts = _metric_texts(metrics)
    gaps = (means - scores).dropna().sort_values(ascending=False)
    for comp, gap in gaps.items():
        if gap >= 10:
            score, mean = f"{scores[comp]:.0f}", f"{means[comp]:.0f}"
            zh.append(f"{texts[comp][0]}, 低于网络均值 ({score} 分, 均值 {mean} 分)")
            en.append(f"{texts[comp][1]}, below the network mean ({score} vs {mean} points)")
    return "; ".join(zh) or "无明显短板", "; ".join(en) or "no clear weakness"


def scorecard(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """One row per operating contractor: metrics, component scores, shrunk score, grade, reasons, rank."""
    ops = contractors(con)
    ops = ops[ops["kind"] == "operator"]
    asg = assignments(con, window.first, window.last)
    if ops.empty or asg.empty:
        return pd.DataFrame()
    asg["hours"] = (asg["valid_to"] - asg["valid_from"]) / pd.Timedelta(hours=1)
    cap = station_capture(con, window.first, window.last)
    asg = asg.merge(cap, on="station_id", how="left").fillna({"n_valid": 0, "n_parameters": 0})
    asg["expected"] = asg["hours"] * asg["n_parameters"]
    results = comparison_results(con, window)
    ev = station_events(con, window.first, window.last).merge(asg[["station_id", "contractor_id"]], on="station_id")
    tamper = confirmed_interference(con, window.first, window.last).merge(
        asg[["station_id", "contractor_id"]], on="station_id")
    ooc = out_of_control_hours(results, window.last) if not results.empty else pd.DataFrame(
        columns=["station_id", "parameter", "ooc_hours"])
    ooc = ooc.merge(asg[["station_id", "contractor_id"]], on="station_id")

    m = pd.DataFrame(index=pd.Index(ops["contractor_id"], name="contractor_id"))
    m["name"] = ops.set_index("contractor_id")["name"]
    g = asg.groupby("contractor_id")
    m["n_stations"] = g["station_id"].nunique().reindex(m.index).fillna(0)
    m["capture_rate"] = (g["n_valid"].sum() / g["expected"].sum().replace(0, np.nan)).reindex(m.index)
    evaluated = results[results["verdict"].isin(["pass", "fail"])] if not results.empty else results
    rg = evaluated.groupby("contractor_id") if not evaluated.empty else None
    m["n_pairs"] = rg.size().reindex(m.index).fillna(0) if rg is not None else 0.0
    m["pass_rate"] = (rg["verdict"].apply(lambda v: (v == "pass").mean()).reindex(m.index)
                      if rg is not None else np.nan)
    m["rel_bias"] = rg["rel_error"].mean().reindex(m.index) if rg is not None else np.nan
    m["abs_rel_bias"] = m["rel_bias"].abs()
    m["ooc_hours"] = ooc.groupby("contractor_id")["ooc_hours"].sum().reindex(m.index).fillna(0)
    m["ooc_share"] = m["ooc_hours"] / (window.hours * m["n_stations"].replace(0, np.nan))
    flags = ev[ev["kind"] == "flag_abuse"].groupby("contractor_id").size()
    m["flag_events"] = flags.reindex(m.index).fillna(0)
    m["flag_events_per_station"] = m["flag_events"] / m["n_stations"].replace(0, np.nan)
    m["median_downtime_h"] = median_downtime_h(ev).reindex(m.index)
    m["tampering"] = tamper.groupby("contractor_id").size().reindex(m.index).fillna(0)
    m["tampering_per_station"] = m["tampering"] / m["n_stations"].replace(0, np.nan)
    m = m[m["n_stations"] > 0]

    comp = _component_scores(m)
    weights = pd.Series(COMPONENT_WEIGHTS)[comp.columns]
    present = comp.notna()
    raw_score = (comp.fillna(0) * weights).sum(axis=1) / (present * weights).sum(axis=1)
    network_mean = float(raw_score.mean())
    w = m["n_stations"] / (m["n_stations"] + SHRINK_STATIONS)
    m["score_raw"] = raw_score
    m["score"] = w * raw_score + (1 - w) * network_mean
    listed = set(blacklist(con, on=window.last.date())["contractor_id"])
    means = comp.mean()
    grades, colours, labels, reasons = [], [], [], []
    for cid in m.index:
        grade, colour, label = _grade(float(m.loc[cid, "score"]))
        if cid in listed:
            grade, colour, label = GRADES[-1][1:]
        grades.append(grade), colours.append(colour), labels.append(label)
        reasons.append(_reasons(m.loc[cid], comp.loc[cid], means, cid in listed))
    m["grade"], m["colour"], m["credit_label"] = grades, colours, labels
    m["reasons"], m["reasons_en"] = [r[0] for r in reasons], [r[1] for r in reasons]
    for c in comp.columns:
        m[f"score_{c}"] = comp[c]
    m["blacklisted"] = [cid in listed for cid in m.index]
    m = m.sort_values(["blacklisted", "score"], ascending=[True, False])
    m["rank"] = np.arange(1, len(m) + 1)
    return m.reset_index()


def lab_summary(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Per laboratory: samples, share evaluated, pass rate of the pairs it measured."""
    results = comparison_results(con, window)
    labs = contractors(con)
    labs = labs[labs["kind"] == "lab"].set_index("contractor_id")
    if results.empty:
        return labs.reset_index()
    g = results.groupby("lab_id")
    evaluated = results["verdict"].isin(["pass", "fail"])
    passed = results["verdict"] == "pass"
    n_evaluated = evaluated.groupby(results["lab_id"]).sum()
    out = pd.DataFrame({"n_samples": g.size(), "evaluated": n_evaluated / g.size(),
                        # no evaluated pair: no pass rate (not evaluated is never passed, nor failed)
                        "pass_rate": passed.groupby(results["lab_id"]).sum() / n_evaluated.replace(0, np.nan)})
    return labs.join(out, how="left").reset_index()


def build_demo_contractors(con: duckdb.DuckDBPyConnection, utc_first, utc_last, *, seed: int,
                           beijing_air: list[str], season_days: float = 92.0) -> dict[str, int]:
    """Populate the demo's contractors, labs, assignments, a season of comparison samples (the last
    ``season_days`` of the window) and a credit history. Idempotent for the same store and seed."""
    from data.contractors import (
        add_credit_entry,
        automatic_window_means,
        credit_history,
        ingest_comparison_samples,
        replace_assignments,
        upsert_contractors,
    )
    from data.stations import load_stations
    from data.synthetic.contractors import (
        comparison_windows,
        demo_assignments,
        demo_contractors,
        demo_credit_entries,
        manual_samples,
    )

    first, last = pd.Timestamp(utc_first), pd.Timestamp(utc_last)
    season_start = max(first, last - pd.Timedelta(days=season_days))
    upsert_contractors(con, demo_contractors())
    stations = load_stations(con, ("air_station", "polluter_outlet", "water_section"))[["station_id", "kind"]]
    asg = demo_assignments(stations, beijing_air, first)
    replace_assignments(con, asg)
    kinds = stations.set_index("station_id")["kind"]
    windows = comparison_windows(asg, kinds, season_start, last, seed=seed)
    auto = automatic_window_means(con, windows)
    windows = windows.merge(auto, on=["station_id", "parameter", "ts", "duration_h"], how="left")
    samples = manual_samples(windows, asg.set_index("station_id")["contractor_id"], season_start, last, seed=seed)
    report = ingest_comparison_samples(con, samples, f"synthetic:contractors:{seed}")
    if credit_history(con).empty:
        for e in demo_credit_entries(season_start):
            add_credit_entry(con, e["contractor_id"], e["kind"], e["reason"], e["legal_basis"], e["start_date"],
                             e["end_date"], "demo")
    return {"assignments": len(asg), "samples_stored": report.rows_stored,
            "samples_quarantined": report.rows_quarantined, "samples_duplicate": report.rows_duplicate}


def default_window(con: duckdb.DuckDBPyConnection) -> Window | None:
    """The comparison season in the store (first to last sample), or None without samples."""
    from data.contractors import comparison_span

    span = comparison_span(con)
    return None if span is None else Window(*span)
