"""Flag abuse on CEMS data: HJ 212-2017 data flags (F stopped, M maintenance, S manual input,
D fault, C calibration) set over hours of high emission so they drop out of the compliance
statistics (seed 003 item 10: false maintenance or fault flags; HJ 75-2017 lets flagged hours be
excluded from valid hourly data).

Why this evidence: a genuine maintenance, calibration or fault hour does not measure the flue gas
(the analyser is off, on span gas, or broken) - its values are missing, near zero, or scattered
around the outlet's level for an hour or two. A flag that hides emissions leaves the analysers
measuring: the flagged hours carry values, and they stand ABOVE the outlet's own unflagged level
of the surrounding days, on the emission pollutants together, for as long as the flags last.
So the statistic of a flagged reading is the evidence of its whole flagged run:

    t = mean over the run's hours of e(hour) x sqrt(hours with values)

where ``e(hour)`` is the median over the outlet's emission pollutants (flue SO2/NOx/dust in
mg/m3, wastewater COD/NH3-N in mg/L) flagged in that hour of
``ln(value / geometric mean of the same pollutant's N-flagged values within +-context_h/2)``,
i.e. the log factor by which the flagged values exceed the outlet's own unflagged level (the
median over pollutants, because the cheat raises them all, while a routine calibration sends
each gas analyser its own span value). The mean x sqrt(n) is the familiar t-like sum: one
calibration hour at 1.5x is ordinary, fourteen maintenance hours at 2x are not.
Every flagged reading gets ``1 + max(t, 0)`` (positive, so the run-relative calibration of
``self_calibrate`` ranks it among all flagged readings of the run); readings flagged N get 0.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import FLAG_CODES, Panel, nan_rolling_mean
from analytics.registry import register

SUSPECT_FLAGS = ("F", "M", "D", "C", "S")
#: emission pollutants whose values a flag can hide (flue gas mg/m3, wastewater mg/L); O2, flow and
#: temperature are process parameters, flagged along but not "emissions"
EMISSION_POLLUTANTS = ("flue_SO2", "flue_NOx", "flue_dust", "ww_COD", "ww_NH3-N")
#: per-hour log excess clipped to this range so one broken value cannot carry a run
EXCESS_CLIP_LN = (-2.0, 3.0)


def suspect_flag_mask(panel: Panel) -> np.ndarray:
    """[S, T, P] bool: readings carrying a flag that removes them from compliance data (HJ 212-2017)."""
    codes = [FLAG_CODES.index(f) for f in SUSPECT_FLAGS]
    return np.isin(panel.flags, codes)


def flagged_excess_ln(panel: Panel, flagged: np.ndarray, context_h: int = 73,
                      min_context: int = 3) -> np.ndarray:
    """[S, T] per station-hour: median over the emission pollutants flagged in that hour of
    ln(value / the pollutant's N-flagged geometric mean over the centred ``context_h`` window);
    NaN where no flagged pollutant has a value and enough unflagged context."""
    cols = [i for i, p in enumerate(panel.parameters) if p in EMISSION_POLLUTANTS]
    S, T, _ = panel.shape
    if not cols:
        return np.full((S, T), np.nan)
    v = panel.values[:, :, cols]
    f = flagged[:, :, cols]
    with np.errstate(all="ignore"):
        finite = np.isfinite(v)
        clean = ~f & finite & (v > 0)
        lv_clean = np.where(clean, np.log(np.where(clean, v, 1.0)), np.nan)
        level = nan_rolling_mean(lv_clean, context_h, min_count=min_context)
        # zero/near-zero flagged values (unit stopped, analyser off) count as far below the level
        floor = np.exp(level) * np.exp(EXCESS_CLIP_LN[0])
        e = np.log(np.maximum(np.where(finite, v, np.nan), floor)) - level
        e = np.clip(e, *EXCESS_CLIP_LN)
        e = np.where(f & finite, e, np.nan)
        counted = np.isfinite(e).any(axis=2)
        out = np.full((S, T), np.nan)
        if counted.any():
            out[counted] = np.nanmedian(e[counted], axis=1)
    return out


def run_evidence(hour_flagged: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """[S, T]: for every hour inside a run of consecutive flagged station-hours, the run's
    mean excess x sqrt(number of its hours with an excess); 0 outside runs and for runs without
    values (a fault hour with the data missing is not evidence of hiding)."""
    S, T = hour_flagged.shape
    padded = np.zeros((S, T + 1), dtype=bool)
    padded[:, 1:] = hour_flagged
    starts = padded[:, 1:] & ~padded[:, :-1]
    run_id = np.cumsum(starts.ravel()).reshape(S, T)  # global run ids, unique across stations
    inside = hour_flagged
    ids = run_id[inside]
    has = np.isfinite(excess) & inside
    n_runs = int(run_id.max()) + 1
    total = np.bincount(run_id[has], weights=excess[has], minlength=n_runs)
    count = np.bincount(run_id[has], minlength=n_runs).astype(float)
    t = np.where(count > 0, total / np.maximum(count, 1.0) * np.sqrt(count), 0.0)
    out = np.zeros((S, T))
    out[inside] = t[ids]
    return out


@register("flags", models={"flag_abuse": "flag_abuse", "flag_hidden": "flag_abuse"})
def flags(panel: Panel, *, context_h: int = 73) -> dict[str, np.ndarray]:
    """HJ 212 suspect-flagged readings scored by how far their flagged run's emission values stand
    above the outlet's own unflagged level (module doc); 0 for readings flagged N.

    Two models from the same evidence t (run mean log excess x sqrt(hours)):
    ``flag_abuse`` = 1 + max(t, 0) on every flagged reading (ranked among the run's flagged readings,
    ``self_calibrate``: which flags look like hiding); ``flag_hidden`` = max(t, 0) on the flagged
    emission-pollutant readings only (calibrated like any model, against all readings of the run:
    how rare it is to find emissions this far above the outlet's level under a flag at all)."""
    flagged = suspect_flag_mask(panel)
    if not flagged.any():
        return {"flag_abuse": np.zeros(panel.shape), "flag_hidden": np.zeros(panel.shape)}
    hour_flagged = flagged.any(axis=2)
    excess = flagged_excess_ln(panel, flagged, context_h=context_h)
    t = np.clip(run_evidence(hour_flagged, excess), 0.0, None)[:, :, None]
    emission = np.array([p in EMISSION_POLLUTANTS for p in panel.parameters])[None, None, :]
    return {"flag_abuse": np.nan_to_num(np.where(flagged, 1.0 + t, 0.0)),
            "flag_hidden": np.nan_to_num(np.where(flagged & emission & np.isfinite(panel.values), t, 0.0))}
