"""Would a learned event ranker carry? Development split only: a measurement for the next step, no
engine change.

The air network of the development split with injected interference (seeds 0 and 1, as
``envtrust evaluate`` injects them), scored with the shipped pipeline with its combined event
threshold at each ``--capacity``; the suspected-interference list is read to 0.3 unmatched events per
station-month (a) in the shipped order (``rank_score``) and (b) by a logistic regression over each
event's row (rank_score, log hours, peak surprise, parameters with a neighbour deviation, each
model's surprise in ``evidence.models``, the kind), fitted on matched vs unmatched events of the
other seed, and of the other development year (both seeds; the years' clean data differ, the
seeds' do not). Also: how many unmatched events of the shipped list sit at a planted copy's donor
during the copy (``pair_copy`` is symmetric in the pair).

The build's keep reading (``--fit-seeds``, the injection seeds the learned combiner is fitted on,
which the evaluation never uses): the ranker fitted on those seeds' lists and read on seeds 0 and 1,
(a) read to 0.3 unmatched events per station-month and (b) cut where the clean development split
(nothing injected) holds 0.3 events per station-month above the ranker's value - the cut a
scoring run could store at, as the capacity is applied today.

Usage: .venv/bin/python benchmarks/event_ranker_carry.py [--capacity 0.3,1.0] [--fit-seeds 100,101,102,103]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.evaluation.inject import inject_interference  # noqa: E402
from analytics.evaluation.metrics import (  # noqa: E402
    event_rank_order,
    match_events,
    own_events_at_workload,
    station_hour_grid,
    station_months,
)
from analytics.pipeline import at_capacity, load_pipeline, score_partition  # noqa: E402
from data.adapters.beijing import read_prsa_pollutants  # noqa: E402
from envtrust.evaluation import harness as H  # noqa: E402
from envtrust.settings import load_settings  # noqa: E402

RATE = "0.3"
SEEDS = (0, 1)
#: the development split's second year starts here (CST; the panels' hours are UTC)
YEAR_2_UTC = pd.Timestamp("2014-03-01") - H.CST_OFFSET


def event_features(events: pd.DataFrame, models: list[str], kinds: list[str]) -> np.ndarray:
    """[events, features] from each event's row (see the module doc)."""
    rows = []
    for e, kind, rank in zip(events["evidence"], events["kind"], events["rank_score"], strict=True):
        e = e if isinstance(e, dict) else json.loads(e)
        fired = e.get("models", {})
        rows.append([float(rank), np.log1p(e["hours"]), e.get("peak_surprise", 0.0),
                     len(e.get("deviation_pct_vs_neighbours", {})),
                     *(fired.get(m, 0.0) for m in models), *(float(kind == k) for k in kinds)])
    return np.asarray(rows, dtype=float)


def recall_at_rate(events: pd.DataFrame, truth: pd.DataFrame, grid: pd.DataFrame, key: np.ndarray) -> dict:
    wl = own_events_at_workload(events.assign(rank_score=key), truth, grid, rates=(float(RATE),))["at_rate"][RATE]
    return {"recall": round(wl["recall"], 3), "kind_accuracy": round(wl["kind_accuracy"], 3), "events": wl["events"]}


def fit_ranker(fit_parts: list[tuple], models: list[str], kinds: list[str]):
    """The logistic ranker on matched vs unmatched events of ``fit_parts`` (each: events, truth,
    grid): a function from events to their logit."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([event_features(e, models, kinds) for e, _, _ in fit_parts])
    y = np.concatenate([match_events(e, t)[0] for e, t, _ in fit_parts])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=0.3, max_iter=2000).fit((x - mu) / sd, y)
    return lambda events: model.decision_function((event_features(events, models, kinds) - mu) / sd)


def fit_and_read(fit_parts: list[tuple], read_part: tuple, models: list[str], kinds: list[str]) -> dict:
    """The shipped order and the learned one on ``read_part``, the model fitted on ``fit_parts``."""
    learned = fit_ranker(fit_parts, models, kinds)
    e, t, g = read_part
    return {"shipped": recall_at_rate(e, t, g, e["rank_score"].to_numpy()),
            "learned": recall_at_rate(e, t, g, learned(e))}


def clean_rate_cut(clean_logits: np.ndarray, clean_station_months: float, rate: float) -> float:
    """The ranker value above which the clean list holds ``rate`` events per station-month."""
    k = int(np.floor(rate * clean_station_months))
    top = np.sort(clean_logits)[::-1]
    return float(top[k]) if k < len(top) else -np.inf


def read_above_cut(part: tuple, logits: np.ndarray, cut: float) -> dict:
    """The list cut at ``cut`` (events whose ranker value is above it): recall, kind accuracy,
    events and unmatched events per station-month."""
    e, t, g = part
    keep = logits > cut
    whole = own_events_at_workload(e[keep].assign(rank_score=logits[keep]), t, g, rates=(1e9,))["at_rate"]["1e+09"]
    unmatched = int((~match_events(e[keep].reset_index(drop=True), t)[0]).sum())
    return {"recall": round(whole["recall"], 3), "kind_accuracy": round(whole["kind_accuracy"], 3),
            "events": int(keep.sum()), "unmatched_per_station_month": round(unmatched / station_months(g), 3)}


def year_part(part: tuple, second: bool) -> tuple:
    e, t, g = part
    return (e[(pd.to_datetime(e["start"]) >= YEAR_2_UTC) == second].reset_index(drop=True),
            t[(pd.to_datetime(t["start"]) >= YEAR_2_UTC) == second].reset_index(drop=True),
            g[(pd.to_datetime(g["ts"]) >= YEAR_2_UTC) == second])


def donor_side_unmatched(events: pd.DataFrame, truth: pd.DataFrame, grid: pd.DataFrame) -> dict:
    """Unmatched events of the shipped list read to the rate that sit at a planted copy's donor
    while the copy lasts (3 h either side)."""
    k = own_events_at_workload(events, truth, grid, rates=(float(RATE),))["at_rate"][RATE]["events"]
    ev = events.iloc[event_rank_order(events)].reset_index(drop=True)
    matched = match_events(ev, truth)[0]
    pad = pd.Timedelta(hours=3)
    copies = [(str(p["donor"]), pd.Timestamp(t.start) - pad, pd.Timestamp(t.end) + pad)
              for t in truth.itertuples(index=False) for p in [json.loads(t.parameters)] if p.get("donor")]
    unmatched = ev.iloc[:k][~matched[:k]]
    at_donor = sum(any(str(e.station_id) == d and pd.Timestamp(e.start) <= b and pd.Timestamp(e.end) >= a
                       for d, a, b in copies) for e in unmatched.itertuples(index=False))
    return {"copies": len(copies), "unmatched_in_list": len(unmatched), "at_a_copy_donor": at_donor}


def keep_reading(parts: dict, training: dict, dev: pd.DataFrame, stations: pd.DataFrame, grid: pd.DataFrame,
                 pipe, models: list[str], kinds: list[str]) -> dict:
    """The ranker fitted on the training seeds' lists, read on the evaluation seeds' (see the module
    doc): to the rate, and cut at the clean development list's rate."""
    fit = [(H.interference_events(score_partition(inj, stations, pipe).events).reset_index(drop=True), truth, grid)
           for inj, truth in training.values()]
    learned = fit_ranker(fit, models, kinds)
    clean = H.interference_events(score_partition(dev, stations, pipe).events).reset_index(drop=True)
    cut = clean_rate_cut(learned(clean), station_months(grid), float(RATE))
    out = {"clean_events": len(clean), "cut": round(cut, 3)}
    for s, (e, t, g) in parts.items():
        logits = learned(e)
        out[f"seed {s}"] = {"shipped": recall_at_rate(e, t, g, e["rank_score"].to_numpy()),
                            "learned": recall_at_rate(e, t, g, logits),
                            "learned, cut at the clean rate": read_above_cut((e, t, g), logits, cut)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", default="0.3,1.0", help="air capacities whose combined threshold opens the list")
    ap.add_argument("--fit-seeds", default="100,101,102,103",
                    help="injection seeds the keep reading's ranker is fitted on (empty: none)")
    args = ap.parse_args(argv)
    fit_seeds = tuple(int(x) for x in args.fit_seeds.split(",") if x.strip())
    readings, stations = read_prsa_pollutants(Path(load_settings().shared_data) / "beijing_multisite_aq")
    dev = H.select_period(readings, H.FULL_SPLITS[0])
    grid = station_hour_grid(dev)
    shipped = load_pipeline("default")
    injected = {s: inject_interference(dev, stations, kinds=list(H.AIR_KINDS), n_per_kind=H.FULL_N_PER_KIND,
                                       seed=s * 1000) for s in SEEDS}
    training = {s: inject_interference(dev, stations, kinds=list(H.AIR_KINDS), n_per_kind=H.FULL_N_PER_KIND, seed=s)
                for s in fit_seeds}
    out: dict = {}
    for cap in (float(c) for c in args.capacity.split(",")):
        pipe = at_capacity(shipped, cap)
        parts, cpu = {}, 0.0
        for s in SEEDS:
            c0 = time.process_time()
            events = H.interference_events(score_partition(injected[s][0], stations, pipe).events).reset_index(drop=True)
            cpu += time.process_time() - c0
            parts[s] = (events, injected[s][1], grid)
        models = sorted({m for e, _, _ in parts.values() for ev in e["evidence"]
                         for m in (ev if isinstance(ev, dict) else json.loads(ev)).get("models", {})})
        kinds = sorted({k for e, _, _ in parts.values() for k in e["kind"]})
        res = {"threshold": pipe.events.threshold, "scoring_cpu_s": round(cpu, 1), "readings": {}}
        for a, b in ((0, 1), (1, 0)):
            res["readings"][f"fit seed {a} -> read seed {b}"] = fit_and_read([parts[a]], parts[b], models, kinds)
        for first, second in ((False, True), (True, False)):
            fit = [year_part(parts[s], first) for s in SEEDS]
            for s in SEEDS:
                name = f"fit year {2 if first else 1} -> read year {2 if second else 1}, seed {s}"
                res["readings"][name] = fit_and_read(fit, year_part(parts[s], second), models, kinds)
        if fit_seeds:
            res["keep"] = keep_reading(parts, training, dev, stations, grid, pipe, models, kinds)
        res["donor_side"] = {s: donor_side_unmatched(*parts[s]) for s in SEEDS}
        out[f"{cap:g}"] = res
        print(f"# capacity {cap:g} (combined threshold {pipe.events.threshold}); scoring {cpu:.1f} s CPU")
        print("| reading @0.3 unmatched | shipped order | learned |")
        print("|---|---|---|")
        for name, r in res["readings"].items():
            print(f"| {name} | {r['shipped']['recall']:.3f} (kind acc. {r['shipped']['kind_accuracy']:.3f}) | "
                  f"{r['learned']['recall']:.3f} (kind acc. {r['learned']['kind_accuracy']:.3f}) |")
        print("keep reading:", json.dumps(res.get("keep", {})))
        print("donor side:", json.dumps(res["donor_side"]), flush=True)
    print(json.dumps({"capacities": out, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
