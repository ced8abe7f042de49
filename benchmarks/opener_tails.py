"""Clean tails of the history openers by year: does a threshold fitted on one year hold on the next?

For each opener statistic the donor detector leaves (``pair_copy``, ``smooth_beyond``) and each
false-event budget: the threshold (as ``calibrate`` fits it) on the first year of a split, on the
second and on both, and the clean events per station-month each year's threshold opens on the
other year. Un-injected Beijing data, so every event is a false one. Choices are made on the
development split; ``--split held_out`` is for a diagnosis after the held-out reading.

Usage: .venv/bin/python benchmarks/opener_tails.py [--split development|held_out]
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

from analytics.detectors.base import (  # noqa: E402
    OPENER_STATISTICS,
    build_panel,
    log_values,
    validate_readings,
    validate_stations,
)
from analytics.detectors.donor import donor  # noqa: E402
from analytics.events import count_segments  # noqa: E402
from analytics.pipeline import load_pipeline  # noqa: E402
from analytics.pipeline.calibration import OPENER_BUDGET_SHARES, OPENER_THRESHOLD_GRIDS  # noqa: E402
from analytics.pipeline.thresholds import event_threshold  # noqa: E402
from data.adapters.beijing import read_prsa_pollutants  # noqa: E402
from envtrust.evaluation import harness as H  # noqa: E402
from envtrust.settings import load_settings  # noqa: E402

BUDGETS = (0.02, 0.03, 0.05, 0.1, 0.15)  # clean events per station-month (0.03 = 0.3 x the calibration's 0.1)
HOURS_PER_MONTH = 24 * 30.44


def clean_rate(x: np.ndarray, ev, station_months: float, threshold: float) -> float:
    """Events per station-month the statistic ``x`` [S, T] opens at ``threshold``."""
    return count_segments(x >= threshold * ev.low_ratio, x >= threshold, ev.merge_gap_h, ev.min_hours) / station_months


def year_table(x: np.ndarray, cut: int, ev, grid: tuple[float, ...]) -> list[dict]:
    """Per budget: thresholds fitted on hours [:cut], [cut:] and all, and each year's on the other."""
    months = [x.shape[0] * n / HOURS_PER_MONTH for n in (cut, x.shape[1] - cut, x.shape[1])]
    one, two = x[:, :cut], x[:, cut:]
    rows = []
    for b in BUDGETS:
        t1, t2, t = (event_threshold(y, ev, m, b, grid) for y, m in zip((one, two, x), months, strict=True))
        rows.append({"budget": b, "year_1": t1, "year_2": t2, "both": t,
                     "year_2_at_year_1": round(clean_rate(two, ev, months[1], t1), 3),
                     "year_1_at_year_2": round(clean_rate(one, ev, months[0], t2), 3),
                     "both_at_both": round(clean_rate(x, ev, months[2], t), 3)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=[s.name for s in H.FULL_SPLITS], default=H.FULL_SPLITS[0].name)
    args = ap.parse_args(argv)
    split = next(s for s in H.FULL_SPLITS if s.name == args.split)
    readings, stations = read_prsa_pollutants(Path(load_settings().shared_data) / "beijing_multisite_aq")
    readings = H.select_period(readings, split)
    pipe = load_pipeline("default")
    st = validate_stations(stations)
    panel, _ = build_panel(validate_readings(readings, st), st, k_neighbours=pipe.panel.k_neighbours,
                           max_distance_m=pipe.panel.max_distance_m)
    log_values(panel)
    cpu0 = time.process_time()
    donor(panel, **pipe.detector_params("donor"))
    cpu = time.process_time() - cpu0
    # the split's second year starts a year after its first hour (CST dates; panel hours are UTC)
    year_2 = pd.Timestamp(split.start_cst) + pd.DateOffset(years=1) - H.CST_OFFSET
    cut = int(np.searchsorted(pd.DatetimeIndex(panel.times), year_2))
    print(f"# {split.name} {split.start_cst} .. {split.end_cst}: year 2 from {year_2 + H.CST_OFFSET:%Y-%m-%d} CST;"
          f" donor detector {cpu:.2f} s CPU")
    print("| opener | budget | year 1 | year 2 | both | year 2 at year 1's | year 1 at year 2's | both at both's |")
    print("|---|---|---|---|---|---|---|---|")
    out = {}
    for name in OPENER_BUDGET_SHARES:
        stat = panel.cache[OPENER_STATISTICS][name].values
        out[name] = year_table(stat, cut, pipe.events, OPENER_THRESHOLD_GRIDS[name])
        for r in out[name]:
            print(f"| {name} | {r['budget']} | {r['year_1']} | {r['year_2']} | {r['both']} | "
                  f"{r['year_2_at_year_1']} | {r['year_1_at_year_2']} | {r['both_at_both']} |")
    print(json.dumps({"split": split.name, "tables": out,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
