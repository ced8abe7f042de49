"""What holds station-hour AP down: per-kind oracle AP and the clean data's own drift-like excursions.

    .venv/bin/python benchmarks/ap_ceiling.py                      # development split, injection seed 0
    .venv/bin/python benchmarks/ap_ceiling.py --split held_out --seed 0

Runs envtrust on one split of the real Beijing data with the evaluation's injection (exactly as
``envtrust evaluate`` does for that split and seed) and prints

1. each kind's share of the positive station-hours and envtrust's AP;
2. "oracle" AP: the AP envtrust would reach if the hours of ONE kind were ranked perfectly (on top)
   and every other hour kept its score - which kind's ranking bounds the headline;
3. the drift ramp statistic (``drift_ramp``, amplitude of the best linear ramp in the daily
   neighbour residual, in units of the series' slow wander) on the CLEAN split against its
   maximum over each injected drift: how far the real data's own excursions reach.

Reading the figures: nothing here is tuned; it explains the AP in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def oracle_ap(y: np.ndarray, score: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    """AP when one kind's positive hours are put on top and every other hour keeps its score."""
    from analytics.evaluation.metrics import average_precision

    top = float(np.max(score)) + 1.0
    out = {}
    for k in sorted(set(kinds[y]) - {""}):
        s = score.copy()
        s[y & (kinds == k)] = top
        out[k] = float(average_precision(np.where(y, 0, -1), s))
    return out


def drift_ramp_days(readings: pd.DataFrame, stations: pd.DataFrame) -> tuple[np.ndarray, object]:
    """[S, D, P] drift_ramp statistic per station-day-parameter, and the panel it came from."""
    from analytics.detectors.base import build_panel, validate_readings, validate_stations
    from analytics.detectors.drift import drift
    from analytics.detectors.spatial import neighbour_fit

    st = validate_stations(stations)
    panel, _ = build_panel(validate_readings(readings, st), st)
    neighbour_fit(panel)
    hourly = drift(panel)["drift_ramp"]
    return hourly[:, ::24, :], panel


def main(argv: list[str] | None = None) -> int:
    from analytics.evaluation.inject import AIR_KINDS, inject_interference
    from analytics.evaluation.metrics import average_precision, changed_mask, label_grid, station_hour_grid
    from envtrust.evaluation.harness import FULL_SPLITS, read_prsa_pollutants, run_engine, select_period

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data/beijing_multisite_aq")
    ap.add_argument("--split", default="development", choices=[s.name for s in FULL_SPLITS])
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed (injection seed = seed*1000 + 2*split)")
    args = ap.parse_args(argv)

    k = [s.name for s in FULL_SPLITS].index(args.split)
    split = FULL_SPLITS[k]
    readings, stations = read_prsa_pollutants(args.data_dir)
    part = select_period(readings, split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        injected, truth = inject_interference(part, stations, kinds=list(AIR_KINDS), n_per_kind=30,
                                              seed=args.seed * 1000 + 2 * k)
    grid = station_hour_grid(part)
    labels = label_grid(grid, truth)
    t0 = time.perf_counter()
    score = run_engine(injected, stations, grid).station_hour_scores
    # as the headline AP of `envtrust evaluate`: positives are the station-hours the injection changed;
    # unchanged hours inside an event window are left out (neither positive nor clean)
    changed = changed_mask(part, injected, grid)
    keep = (labels < 0) | changed
    labels, score = labels[keep], score[keep]
    y = labels >= 0
    kinds = np.where(y, truth["kind"].to_numpy()[np.clip(labels, 0, None)], "")
    print(f"split {split.name} ({split.start_cst} .. {split.end_cst} CST), injection seed "
          f"{args.seed * 1000 + 2 * k}; envtrust scored in {time.perf_counter() - t0:.1f} s")
    print(f"positive (changed) station-hours: {y.mean():.1%}; envtrust AP {average_precision(np.where(y, 0, -1), score):.3f}")
    share = pd.Series(kinds[y]).value_counts(normalize=True)
    oracle = oracle_ap(y, score, kinds)
    print("\n| kind | share of positive hours | AP if this kind were ranked perfectly |\n|---|---|---|")
    for kd in share.index:
        print(f"| {kd} | {share[kd]:.1%} | {oracle[kd]:.3f} |")
    s = score.copy()
    s[y & (kinds != "drift")] = float(np.max(score)) + 1.0
    print(f"| every kind but drift | {1 - share.get('drift', 0):.1%} | {average_precision(np.where(y, 0, -1), s):.3f} |")

    clean_ramp, panel = drift_ramp_days(part, stations)
    inj_ramp, panel_i = drift_ramp_days(injected, stations)
    sids = list(panel_i.stations["station_id"].astype(str))
    peaks = []
    for ev in truth[truth["kind"] == "drift"].itertuples(index=False):
        p = panel_i.parameters.index(json.loads(ev.parameters)["parameter"])
        a = (pd.Timestamp(ev.start) - panel_i.times[0]).days
        b = (pd.Timestamp(ev.end) - panel_i.times[0]).days
        peaks.append(float(np.max(inj_ramp[sids.index(str(ev.station_id)), a:b + 1, p])))
    c = clean_ramp[np.isfinite(clean_ramp)]
    print("\ndrift_ramp (wander units): clean station-day-parameters q50/q90/q99 = "
          + " / ".join(f"{np.quantile(c, q):.1f}" for q in (0.5, 0.9, 0.99))
          + "; injected drifts' maximum q25/q50/q75 = "
          + " / ".join(f"{np.quantile(peaks, q):.1f}" for q in (0.25, 0.5, 0.75)))
    print(f"share of injected drifts whose maximum stays under the clean q99: "
          f"{np.mean(np.array(peaks) < np.quantile(c, 0.99)):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
