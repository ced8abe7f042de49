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

Usage: .venv/bin/python benchmarks/event_ranker_carry.py [--capacity 0.3,1.0]
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


def fit_and_read(fit_parts: list[tuple], read_part: tuple, models: list[str], kinds: list[str]) -> dict:
    """The shipped order and the learned one on ``read_part``, the model fitted on ``fit_parts``
    (each part: events, truth, grid)."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([event_features(e, models, kinds) for e, _, _ in fit_parts])
    y = np.concatenate([match_events(e, t)[0] for e, t, _ in fit_parts])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=0.3, max_iter=2000).fit((x - mu) / sd, y)
    e, t, g = read_part
    learned = model.decision_function((event_features(e, models, kinds) - mu) / sd)
    return {"shipped": recall_at_rate(e, t, g, e["rank_score"].to_numpy()),
            "learned": recall_at_rate(e, t, g, learned)}


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", default="0.3,1.0", help="air capacities whose combined threshold opens the list")
    args = ap.parse_args(argv)
    readings, stations = read_prsa_pollutants(Path(load_settings().shared_data) / "beijing_multisite_aq")
    dev = H.select_period(readings, H.FULL_SPLITS[0])
    grid = station_hour_grid(dev)
    shipped = load_pipeline("default")
    injected = {s: inject_interference(dev, stations, kinds=list(H.AIR_KINDS), n_per_kind=H.FULL_N_PER_KIND,
                                       seed=s * 1000) for s in SEEDS}
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
        res["donor_side"] = {s: donor_side_unmatched(*parts[s]) for s in SEEDS}
        out[f"{cap:g}"] = res
        print(f"# capacity {cap:g} (combined threshold {pipe.events.threshold}); scoring {cpu:.1f} s CPU")
        print("| reading @0.3 unmatched | shipped order | learned |")
        print("|---|---|---|")
        for name, r in res["readings"].items():
            print(f"| {name} | {r['shipped']['recall']:.3f} (kind acc. {r['shipped']['kind_accuracy']:.3f}) | "
                  f"{r['learned']['recall']:.3f} (kind acc. {r['learned']['kind_accuracy']:.3f}) |")
        print("donor side:", json.dumps(res["donor_side"]), flush=True)
    print(json.dumps({"capacities": out, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
