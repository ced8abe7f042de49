"""Automatic vs manual comparison monitoring (比对监测): errors, bias and precision with confidence
intervals, Bland-Altman limits, and pass/fail against the acceptance limits of HJ 75 / HJ 817 / HJ 915.

Pairs: ``auto`` (the analyser's mean over the sampling window) and ``ref`` (the reference method's
value, the lab's result). d = auto - ref; relative error = d / ref.

Statistics (40 CFR 58 App. A, the US analogue; accountability.md 4):
- bias: mean d and mean relative error, with a two-sided t confidence interval;
- precision: CV of the relative differences with its upper bound sqrt(s^2 (n-1) / chi2_{alpha, n-1});
- Bland-Altman: mean d +- 1.96 sd (limits of agreement), each limit with the approximate standard
  error sqrt(3 s^2 / n) (Bland & Altman 1999).

Acceptance limits: :data:`ACCEPTANCE_LIMITS`, banded by the reference concentration. The numbers are
from general knowledge of HJ 75-2017 table (CEMS comparison), HJ 817-2018 / HJ 653-2013 (PM against
gravimetric) and HJ 915-2017 (water samples); none was checked against the official text in this
project (standards.md 5 says "not found"), so every band carries ``verified=False`` and results
say so. A parameter without limits is "not evaluated", never "passed".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Band:
    """One acceptance band: applies when ref_min <= reference < ref_max."""

    ref_min: float
    ref_max: float
    kind: str          # "abs": |d| <= limit (unit of the parameter) | "rel": |d/ref| <= limit
    limit: float
    source: str
    verified: bool = False


INF = float("inf")
HJ75 = "HJ 75-2017 (unverified)"
ACCEPTANCE_LIMITS: dict[str, tuple[Band, ...]] = {
    # CEMS, mg/m3 (SO2 715/143/57 = 250/50/20 umol/mol; NOx 513/103/41)
    "flue_dust": (Band(200, INF, "rel", 0.15, HJ75), Band(100, 200, "rel", 0.20, HJ75),
                  Band(50, 100, "rel", 0.25, HJ75), Band(20, 50, "rel", 0.30, HJ75),
                  Band(10, 20, "abs", 6.0, HJ75), Band(0, 10, "abs", 5.0, HJ75)),
    "flue_SO2": (Band(715, INF, "rel", 0.15, HJ75), Band(143, 715, "abs", 57.0, HJ75),
                 Band(57, 143, "rel", 0.30, HJ75), Band(0, 57, "abs", 17.0, HJ75)),
    "flue_NOx": (Band(513, INF, "rel", 0.15, HJ75), Band(103, 513, "abs", 41.0, HJ75),
                 Band(41, 103, "rel", 0.30, HJ75), Band(0, 41, "abs", 12.0, HJ75)),
    "flue_O2": (Band(5.0, INF, "rel", 0.15, HJ75), Band(0, 5.0, "abs", 1.0, HJ75)),
    "flue_temp": (Band(-INF, INF, "abs", 3.0, HJ75),),
    "flue_flow": (Band(0, INF, "rel", 0.10, HJ75),),
    # ambient PM against the manual gravimetric method, per pair (our screening reading of HJ 817)
    "PM2.5": (Band(0, INF, "rel", 0.15, "HJ 817-2018 / HJ 653-2013 (unverified)"),),
    "PM10": (Band(0, INF, "rel", 0.15, "HJ 817-2018 / HJ 653-2013 (unverified)"),),
    # surface water, actual-sample comparison
    "CODMn": (Band(0, INF, "rel", 0.20, "HJ 915-2017 (unverified)"),),
    "NH3-N": (Band(0, INF, "rel", 0.20, "HJ 915-2017 (unverified)"),),
    "TP": (Band(0, INF, "rel", 0.20, "HJ 915-2017 (unverified)"),),
    "TN": (Band(0, INF, "rel", 0.20, "HJ 915-2017 (unverified)"),),
}
#: group criteria for ambient PM vs gravimetric (slope, intercept ug/m3, minimum r) - unverified
PM_REGRESSION_LIMITS: dict[str, tuple[float, float, float]] = {
    "PM2.5": (0.15, 10.0, 0.93), "PM10": (0.15, 10.0, 0.95),
}


def band_for(parameter: str, ref: float) -> Band | None:
    """The acceptance band for one reference value, or None (no limit known: not evaluated)."""
    for band in ACCEPTANCE_LIMITS.get(parameter, ()):
        if band.ref_min <= ref < band.ref_max:
            return band
    return None


def evaluate_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-pair errors and verdict. ``pairs``: parameter, auto, ref (same unit).

    Adds ``diff`` (auto - ref), ``rel_error`` (diff / ref; NaN when ref <= 0), ``limit_kind``,
    ``limit``, ``verified`` and ``verdict``: pass | fail | not_evaluated (no limit, or no automatic
    value in the sampling window).
    """
    out = pairs.copy()
    out["diff"] = out["auto"] - out["ref"]
    ref = out["ref"].astype(float)
    out["rel_error"] = np.where(ref > 0, out["diff"] / ref.where(ref > 0), np.nan)
    kinds, limits, verified, verdicts = [], [], [], []
    for p, a, r, d, rel in zip(out["parameter"], out["auto"], ref, out["diff"], out["rel_error"], strict=True):
        band = band_for(p, r) if not (np.isnan(a) or np.isnan(r)) else None
        if band is None:
            kinds.append(None), limits.append(np.nan), verified.append(False), verdicts.append("not_evaluated")
            continue
        err = abs(d) if band.kind == "abs" else abs(rel)
        kinds.append(band.kind), limits.append(band.limit), verified.append(band.verified)
        verdicts.append("pass" if err <= band.limit else "fail")
    out["limit_kind"], out["limit"], out["verified"], out["verdict"] = kinds, limits, verified, verdicts
    return out


@dataclass(frozen=True)
class Agreement:
    """Agreement of automatic with reference values over a group of pairs."""

    n: int
    mean_diff: float
    mean_diff_ci: tuple[float, float]
    mean_rel_error: float
    mean_rel_error_ci: tuple[float, float]
    cv: float                 # sd of relative differences (fraction)
    cv_upper: float           # upper confidence bound of the CV
    loa_low: float            # Bland-Altman limits of agreement (unit of the parameter)
    loa_high: float
    loa_se: float             # approximate standard error of each limit
    slope: float
    intercept: float
    r: float


def agreement(auto, ref, *, confidence: float = 0.90) -> Agreement:
    """Bias, precision (CV) and Bland-Altman limits with confidence intervals for paired values.

    NaN pairs are dropped; fewer than 2 pairs give NaN statistics (n reported).
    """
    a, r = np.asarray(auto, dtype=float), np.asarray(ref, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(r))
    a, r = a[ok], r[ok]
    n = int(a.size)
    nan2 = (float("nan"), float("nan"))
    if n < 2:
        return Agreement(n, float(np.mean(a - r)) if n else float("nan"), nan2, float("nan"), nan2,
                         float("nan"), float("nan"), float("nan"), float("nan"), float("nan"),
                         float("nan"), float("nan"), float("nan"))
    d = a - r
    rel = np.where(r > 0, d / np.where(r > 0, r, 1.0), np.nan)
    rel = rel[~np.isnan(rel)]
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    sd = float(d.std(ddof=1))
    md = float(d.mean())
    mrel = float(rel.mean()) if rel.size else float("nan")
    srel = float(rel.std(ddof=1)) if rel.size > 1 else float("nan")
    half_rel = t * srel / np.sqrt(rel.size) if rel.size > 1 else float("nan")
    chi2 = float(stats.chi2.ppf(1 - confidence, rel.size - 1)) if rel.size > 1 else float("nan")
    cv_upper = float(np.sqrt(srel**2 * (rel.size - 1) / chi2)) if rel.size > 1 and chi2 > 0 else float("nan")
    if np.ptp(r) > 0:
        slope, intercept = np.polyfit(r, a, 1)
        corr = float(np.corrcoef(r, a)[0, 1])
    else:
        slope = intercept = corr = float("nan")
    return Agreement(n, md, (md - t * sd / np.sqrt(n), md + t * sd / np.sqrt(n)), mrel,
                     (mrel - half_rel, mrel + half_rel), srel, cv_upper, md - 1.96 * sd, md + 1.96 * sd,
                     float(np.sqrt(3 * sd**2 / n)), float(slope), float(intercept), corr)


def pm_regression_verdict(parameter: str, result: Agreement) -> str:
    """Group verdict for ambient PM vs gravimetric (slope 1 +- 0.15, |intercept| <= 10, r >= r_min;
    unverified limits): pass | fail | not_evaluated (other parameters, or < 3 pairs)."""
    if parameter not in PM_REGRESSION_LIMITS or result.n < 3 or np.isnan(result.r):
        return "not_evaluated"
    d_slope, d_int, r_min = PM_REGRESSION_LIMITS[parameter]
    ok = abs(result.slope - 1) <= d_slope and abs(result.intercept) <= d_int and result.r >= r_min
    return "pass" if ok else "fail"


def out_of_control_hours(samples: pd.DataFrame, period_end) -> pd.DataFrame:
    """Hours each station-parameter was out of control: from a failed comparison until the next
    passing one (or ``period_end``), as 40 CFR 75 App. A treats a failed test.

    ``samples``: station_id, parameter, ts, verdict. Returns station_id, parameter, ooc_hours.
    """
    end = pd.Timestamp(period_end)
    rows = []
    ev = samples[samples["verdict"].isin(["pass", "fail"])].sort_values("ts")
    for (sid, param), g in ev.groupby(["station_id", "parameter"]):
        hours, failed_at = 0.0, None
        for ts, verdict in zip(pd.to_datetime(g["ts"]), g["verdict"], strict=True):
            if verdict == "fail" and failed_at is None:
                failed_at = ts
            elif verdict == "pass" and failed_at is not None:
                hours += (ts - failed_at) / pd.Timedelta(hours=1)
                failed_at = None
        if failed_at is not None and end > failed_at:
            hours += (end - failed_at) / pd.Timedelta(hours=1)
        rows.append({"station_id": sid, "parameter": param, "ooc_hours": hours})
    return pd.DataFrame(rows, columns=["station_id", "parameter", "ooc_hours"])
