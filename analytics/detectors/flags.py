"""Flag abuse on CEMS data: HJ 212-2017 maintenance/fault/calibration/stop flags (M, D, C, F)
set to hide high emissions (seed 003 item 10: false maintenance or fault flags).

Evidence per flagged reading: the outlet's load or concentration around the flagged hours is
high for that outlet (the values just before/after, or the flagged value itself, against the
outlet's 90th percentile), and the outlet flags more often than outlets of its kind do.
"""

from __future__ import annotations

import numpy as np

from analytics.detectors.base import FLAG_CODES, Panel, nan_rolling_mean, nanmedian_quiet
from analytics.registry import register

SUSPECT_FLAGS = ("F", "M", "D", "C", "S")


@register("flags", models={"flag_abuse": "flag_abuse"})
def flags(panel: Panel, *, context_h: int = 6, window_h: int = 168) -> dict[str, np.ndarray]:
    """flagged x (1 + high-context + flag-frequency excess); 0 for N-flagged readings."""
    codes = [FLAG_CODES.index(f) for f in SUSPECT_FLAGS]
    flagged = np.isin(panel.flags, codes)
    if not flagged.any():
        return {"flag_abuse": np.zeros(panel.shape)}
    v = np.where(flagged, np.nan, panel.values)  # context from normally flagged readings only
    with np.errstate(all="ignore"):
        q90 = np.nanquantile(np.where(np.isfinite(v), v, np.nan), 0.9, axis=1, keepdims=True) \
            if np.isfinite(v).any() else np.full((v.shape[0], 1, v.shape[2]), np.nan)
        context = nan_rolling_mean(v, 2 * context_h + 1, min_count=1)
        high = np.clip(np.nan_to_num(np.log(np.maximum(context, 1e-9) / q90)) + 1.0, 0, None)
        # the station-level load: max over parameters of relative context
        high_station = np.max(high, axis=2, keepdims=True)
        freq = nan_rolling_mean(flagged.astype(float), window_h, min_count=1)
        station_rate = flagged.mean(axis=1, keepdims=True)
        peer_rate = nanmedian_quiet(station_rate, axis=0, keepdims=True)
        excess = np.clip(np.log((freq + 1e-3) / (np.maximum(peer_rate, 0.002))), 0, None)
    stat = np.where(flagged, 1.0 + np.maximum(high, high_station) + excess, 0.0)
    return {"flag_abuse": np.nan_to_num(stat)}
