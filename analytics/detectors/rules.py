"""Rule checks for implausible values: physical range, PM2.5 > PM10 (NH3-N > TN), and jumps no neighbour shares.

- Range: outside the physical range of analytics/vocabulary.py (negative concentrations, beyond
  analyser ranges) - HJ 818-2018 / HJ 654-2013 validity rules treat these as invalid data.
- PM2.5 > PM10: PM2.5 is a fraction of PM10, so beyond measurement tolerance it is impossible
  (HJ 663-2013 data review practice). Real Beijing data has many small violations, so the raw
  statistic is the log ratio and the ensemble calibrates it on clean data.
- NH3-N > TN at water sections: ammonia nitrogen is part of total nitrogen (GB 3838-2002 table 1
  items), so beyond analyser noise it is impossible; same statistic, same model (``pm_ratio``).
- Spike: a one- or two-hour peak (up from the previous hour AND down to the next) that the
  neighbours do not show at the same hour.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import (
    Panel,
    log_values,
    nanquantile_axis,
    neighbour_median,
    robust_scale,
    rolling_median,
    shift,
)
from analytics.registry import register
from analytics.vocabulary import PARAMETERS


@register("range", models={"range": "spike"})
def range_check(panel: Panel, *, margin: float = 0.0) -> dict[str, np.ndarray]:
    """1 + relative distance outside [min, max] of the parameter's physical range, else 0."""
    out = np.zeros(panel.shape)
    for p, name in enumerate(panel.parameters):
        spec = PARAMETERS.get(name)
        if spec is None:
            continue
        v = panel.values[:, :, p]
        lo = -np.inf if spec.min_value is None else spec.min_value - margin
        hi = np.inf if spec.max_value is None else spec.max_value * (1 + margin)
        span = (spec.max_value or 1.0) - (spec.min_value or 0.0)
        below = np.where(v < lo, 1 + (lo - v) / span, 0.0)
        above = np.where(v > hi, 1 + (v - hi) / span, 0.0)
        out[:, :, p] = np.nan_to_num(below + above)
    return {"range": out}


#: component <= total pairs: (component, total, log offset in the pair's unit). PM2.5 is a
#: fraction of PM10 (ug/m3); NH3-N is part of total nitrogen (mg/L; GB 3838-2002 table 1 items,
#: HJ 535-2009 / HJ 636-2012 methods: TN is measured after digestion that turns NH3-N into nitrate)
COMPONENT_PAIRS: tuple[tuple[str, str, float], ...] = (("PM2.5", "PM10", 10.0), ("NH3-N", "TN", 0.1))
#: how far a component may read above its total before it is impossible rather than analyser noise
#: and reporting resolution (the pair's unit: ug/m3, mg/L); ``pm_ratio``'s defaults
COMPONENT_TOLERANCE: dict[str, float] = {"PM2.5": 5.0, "NH3-N": 0.05}


def component_excess(panel: Panel, component: str, total: str, tolerance: float, offset: float,
                     baseline_h: int = 168) -> np.ndarray | None:
    """[S, T] how far log((component + offset) / (total + offset)) exceeds both the station's own
    rolling median ratio (an analyser pair that always reads this way is a calibration matter, not
    an event) and the neighbours' ratio at the same hour, where component > total + tolerance;
    0 elsewhere. None when the panel lacks either parameter."""
    ic, it = panel.pindex(component), panel.pindex(total)
    if ic is None or it is None:
        return None
    comp, tot = panel.values[:, :, ic], panel.values[:, :, it]
    with np.errstate(all="ignore"):
        r = np.log((np.clip(comp, 0, None) + offset) / (np.clip(tot, 0, None) + offset))
    own = rolling_median(r[:, :, None], baseline_h, min_periods=24)[:, :, 0]
    nb = panel.neighbours
    if (nb.count > 0).any():
        ref_nb = neighbour_median(r[:, :, None], nb.index)[:, :, 0]
    else:
        ref_nb = np.full(r.shape, np.nan)
    ref = np.fmax(np.nan_to_num(own, nan=0.0), np.nan_to_num(ref_nb, nan=-1.0))
    ref = np.maximum(ref, 0.0)  # a ratio above 1 is never the reference
    stat = np.where(comp > tot + tolerance, np.clip(r - ref, 0, None), 0.0)
    return np.nan_to_num(stat)


@register("pm_ratio", models={"pm_ratio": "spike"})
def pm_ratio(panel: Panel, *, tolerance_ugm3: float = COMPONENT_TOLERANCE["PM2.5"], baseline_h: int = 168,
             nh3_tolerance_mg_l: float = COMPONENT_TOLERANCE["NH3-N"]) -> dict[str, np.ndarray]:
    """Component above its total, on both rows of the pair (:func:`component_excess`): PM2.5 >
    PM10 + ``tolerance_ugm3`` at air stations, NH3-N > TN + ``nh3_tolerance_mg_l`` at water
    sections (ammonia nitrogen is part of total nitrogen, so beyond analyser noise - a few % and
    the reporting resolution - it is impossible). One model for both: the same physical rule,
    and the pairs never share a station."""
    out = np.zeros(panel.shape)
    tolerance = {"PM2.5": tolerance_ugm3, "NH3-N": nh3_tolerance_mg_l}
    for component, total, offset in COMPONENT_PAIRS:
        stat = component_excess(panel, component, total, tolerance[component], offset, baseline_h)
        if stat is None:
            continue
        out[:, :, panel.pindex(component)] = np.maximum(out[:, :, panel.pindex(component)], stat)
        out[:, :, panel.pindex(total)] = np.maximum(out[:, :, panel.pindex(total)], stat)
    return {"pm_ratio": out}


@register("spike", models={"spike": "spike"})
def spike(panel: Panel, *, min_neighbours: int = 1) -> dict[str, np.ndarray]:
    """Unshared peak height in robust units: min(rise from t-1, fall to t+1) in log space, minus the
    same quantity at the neighbours (their median), over the series' scale of such peaks."""
    y = log_values(panel)
    prev = np.where(np.isfinite(shift(y, 1)), shift(y, 1), shift(y, 2))
    nxt = np.where(np.isfinite(shift(y, -1)), shift(y, -1), shift(y, -2))
    peak = np.minimum(y - prev, y - nxt)  # > 0 only for a local peak
    nb = panel.neighbours
    if nb.index.shape[1] and (nb.count >= min_neighbours).any():
        shared = neighbour_median(peak, nb.index)
        shared = np.where(np.isfinite(shared), np.clip(shared, 0, None), 0.0)
    else:
        shared = np.zeros_like(peak)
    excess = peak - shared
    scale = robust_scale(np.where(np.isfinite(peak), np.abs(peak), np.nan), axis=1, floor=0.02)
    stat = np.clip(np.nan_to_num(excess / scale), 0, None)
    return {"spike": stat}


@register("extreme_ratio", models={"extreme_ratio": "spike"})
def extreme_ratio(panel: Panel, *, min_neighbours: int = 2, own_quantile: float = 0.99) -> dict[str, np.ndarray]:
    """How far a reading sits above its neighbours' median, as a raw log ratio (not scaled by the
    series' own noise). Why: on heavy-tailed data the scaled neighbour residual (``spatial_high``)
    and the peak height (``spike``) reach their clean-data tail already at ordinary episodes, so a
    PM10 of 1,000 ug/m3 beside neighbours at 120 ranked like a routine odd hour. The unscaled
    ratio keeps growing; its clean-data calibration says how far beyond anything seen it is."""
    y = log_values(panel)
    nb = panel.neighbours
    out = np.zeros(panel.shape)
    if nb.index.shape[1] == 0 or not (nb.count >= min_neighbours).any():
        return {"extreme_ratio": out}
    ref = neighbour_median(y, nb.index)
    own_high = nanquantile_axis(y, own_quantile, axis=1)  # NaN: an all-NaN series has no own high level
    enough = (nb.count >= min_neighbours)[:, None, None]
    # both at once: far above the neighbours AND above the station's own high level (a ratio alone
    # is ordinary at low concentrations, a high level alone is ordinary in an episode)
    stat = np.minimum(y - ref, y - own_high)
    stat = np.where(enough & np.isfinite(ref) & np.isfinite(own_high), np.clip(stat, 0, None), 0.0)
    return {"extreme_ratio": np.nan_to_num(stat)}
