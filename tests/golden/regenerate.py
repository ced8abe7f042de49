"""Rewrite the golden injector files ``tests/golden/inject_*.parquet`` from the current code.

Run from the repository root after a deliberate change to the injector, then read the diff of
what the test printed before committing the new files::

    python -m tests.golden.regenerate

Each pinned run is stored as two small tables instead of the whole output: the truth events
(``*_truth``) and the readings the injector changed, dropped or added (``*_changes``: key, kind
of change, value and flag before and after). Every other reading passes through untouched, which
``test_only_readings_inside_truth_events_change`` checks separately, so the pair pins the output
exactly while a difference reads as rows of a table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN_DIR = Path(__file__).resolve().parent
KEY = ["station_id", "ts", "parameter"]
CHANGE_COLUMNS = [*KEY, "change", "value_before", "value_after", "flag_before", "flag_after"]


def changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Readings whose value or flag differ between ``before`` and ``after``, plus rows only one of
    them has; ``change`` is 'changed', 'dropped' or 'added'. Sorted by key, plain dtypes."""
    cols = [c for c in [*KEY, "value", "flag"] if c in before.columns]
    b = before[cols].astype({"station_id": str, "parameter": str})
    a = after[[c for c in cols if c in after.columns]].astype({"station_id": str, "parameter": str})
    m = b.merge(a, on=KEY, how="outer", suffixes=("_before", "_after"), indicator=True)
    for col in ("flag_before", "flag_after"):
        if col not in m.columns:
            m[col] = "N"
    vb, va = m["value_before"], m["value_after"]
    value_diff = ~((vb == va) | (vb.isna() & va.isna()))
    flag_diff = m["flag_before"].astype(object).fillna("N") != m["flag_after"].astype(object).fillna("N")
    both = m["_merge"] == "both"
    m["change"] = np.select([m["_merge"] == "left_only", m["_merge"] == "right_only"], ["dropped", "added"],
                            "changed")
    out = m[~both | value_diff | flag_diff][CHANGE_COLUMNS]
    out = out.astype({"station_id": object, "parameter": object, "change": object,
                      "flag_before": object, "flag_after": object,
                      "value_before": float, "value_after": float})
    out["ts"] = out["ts"].astype("datetime64[us]")
    return out.sort_values(KEY).reset_index(drop=True)


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """Object strings and microsecond timestamps, so a table compares equal after a Parquet
    round trip whatever string dtype pandas picks."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype("datetime64[us]")
        elif pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            out[col] = out[col].astype(object)
    return out.reset_index(drop=True)


def honest_outlets(n_outlets: int = 4, days: int = 30, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first ``n_outlets`` flue-gas outlets of the demo's polluter network, honest (nothing
    planted), hourly over ``days`` from 2016-12-01 UTC: (readings, stations)."""
    from data.synthetic.polluters import generate_polluters, polluter_outlets

    stations = polluter_outlets()
    stations = stations[stations["outlet_type"] == "flue_gas"].head(n_outlets).reset_index(drop=True)
    start = pd.Timestamp("2016-12-01")
    readings, _ = generate_polluters(stations, start, start + pd.Timedelta(hours=24 * days - 1), seed=seed,
                                     dishonest={})
    return readings, stations


def injector_tables() -> dict[str, pd.DataFrame]:
    """The pinned injector runs: the Beijing sample's first two weeks (air kinds, 3 per kind,
    seed 0) and four honest synthetic flue-gas outlets over 30 days (CEMS kinds, 3 per kind, seed 0)."""
    from analytics.evaluation.inject import CEMS_KINDS, inject_interference
    from data.adapters.beijing import read_prsa_pollutants
    from envtrust.settings import SAMPLE_DIR

    readings, stations = read_prsa_pollutants(SAMPLE_DIR / "beijing")
    part = readings[readings["ts"] < "2016-12-15"]
    out, truth = inject_interference(part, stations, n_per_kind=3, seed=0)
    cems, cems_st = honest_outlets()
    c_out, c_truth = inject_interference(cems, cems_st, kinds=list(CEMS_KINDS), n_per_kind=3, seed=0)
    return {
        "inject_air_truth": plain(truth), "inject_air_changes": changes(part, out),
        "inject_cems_truth": plain(c_truth), "inject_cems_changes": changes(cems, c_out),
    }


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.parquet"


def read_golden(name: str) -> pd.DataFrame:
    return plain(pd.read_parquet(golden_path(name)))


def main() -> None:
    for name, table in injector_tables().items():
        table.to_parquet(golden_path(name), index=False)
        print(f"wrote {golden_path(name)} ({len(table)} rows, {golden_path(name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
