"""Fabrication: data copied (possibly scaled) from another station, or smoothed by hand.

- Copy: a copied or scaled series has a near-constant log ratio to its donor, so the rolling
  standard deviation of ``y_s - y_j`` collapses far below the pair's usual level. The donor can
  be any station of the same network in the partition (up to ``max_donors`` nearest).
- Smoothing: a hand-made series lacks the hour-to-hour roughness real analysers show; the
  rolling mean |second difference| falls below the station's usual roughness while the
  neighbours' roughness does not.
- Smoothing beyond the station's history (``SMOOTH_BEYOND``, an event opener): how far the
  smoothness against the neighbours stands above the most the station showed on any day of the
  60 days before, in its second most smoothed analyser.
- Copy beyond the pair's history (``PAIR_COPY``, an event opener, not a model): how far that
  spread falls below the least the same pair showed on any day of the 60 days before, in the
  station's second most alike analyser. A pair whose analysers move together more closely in one
  year than in another (SO2 and O3 in late-2014 Beijing) reads against its own recent agreement,
  and a copy moves every analyser at once, a coincidence one.
- The copier, not the donor: a pair's collapse is symmetric, so without more both stations read
  as copies and the honest donor opens an event too. Over each stretch where a pair collapsed, the
  station whose level against its other donors moved (:func:`level_step`) is the copier; its
  partner's copy values (``donor_copy`` and ``PAIR_COPY``) from that pair are dropped there when
  the copier's level moved clearly further (:data:`COPIER_MARGIN`); too close to tell, both keep them.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from analytics.detectors.base import (
    OPENER_STATISTICS,
    OpenerStatistic,
    Panel,
    build_neighbours,
    log_values,
    nan_rolling_mean,
    nan_rolling_std,
    nanmedian_quiet,
    neighbour_median,
    shift,
)
from analytics.registry import register
from analytics.threads import by_stations, map_in_threads
from analytics.vocabulary import monitored_columns

PAIR_BATCH_CELLS = 1_000_000  # donor pairs scored at once: about 8 MB per temporary

#: the event openers' names (``panel.cache[OPENER_STATISTICS]``, the calibration's model_event_thresholds)
PAIR_COPY = "pair_copy"
SMOOTH_BEYOND = "smooth_beyond"
#: a pair's history is its daily least spread over this many days, ending ``PAIR_COPY_LAG_DAYS``
#: before the day judged (a copy lasts 1-7 days and must not set its own baseline), with at least
#: ``PAIR_COPY_MIN_DAYS`` days of data. On the clean development split (Beijing 2013-2015) the
#: opener's threshold fitted on either year gives the other year about the same clean rate
#: (benchmarks/results/engine-tuning.md, "Session 11")
PAIR_COPY_HISTORY_DAYS = 60
PAIR_COPY_LAG_DAYS = 8
PAIR_COPY_MIN_DAYS = 14
#: a collapsed pair is one copy, and only one member copied: the station whose level against the
#: other stations moved (:func:`level_step`). A member keeps the pair's copy values over a
#: collapsed stretch unless its partner's level moved more than this many times as far as its own
COPIER_MARGIN = 1.5
#: the level a step is measured from: the days [far, near) before the collapsed stretch (a copy's
#: collapse shows hours after it began, as the rolling spread fills)
STEP_REFERENCE_DAYS = (8, 2)


def trailing_daily_minimum(x: np.ndarray, days: int, lag_days: int, min_days: int) -> np.ndarray:
    """[N, T, P] hourly -> [N, D, P]: per day (24 h blocks from the first hour) the least of ``x``
    over the ``days`` days ending ``lag_days`` before it; NaN where fewer than ``min_days`` of those
    days have a value."""
    n, t, p = x.shape
    d = -(-t // 24)
    hourly = np.full((n, d * 24, p), np.inf)
    hourly[:, :t] = np.where(np.isfinite(x), x, np.inf)
    daily = hourly.reshape(n, d, 24, p).min(axis=2)
    # day i's window is days [i - lag - days, i - lag): hist[:, i : i + days]
    hist = np.concatenate([np.full((n, days + lag_days, p), np.inf), daily], axis=1)
    least = sliding_window_view(hist, days, axis=1)[:, :d].min(axis=-1)
    seen = np.concatenate([np.zeros((n, 1, p)), np.cumsum(np.isfinite(hist), axis=1)], axis=1)
    count = seen[:, days:days + d] - seen[:, :d]
    return np.where(count >= min_days, least, np.nan)


def above_history(u: np.ndarray, days: int = PAIR_COPY_HISTORY_DAYS, lag_days: int = PAIR_COPY_LAG_DAYS,
                  min_days: int = PAIR_COPY_MIN_DAYS) -> np.ndarray:
    """[N, T, P] how far ``u`` stands above the most it reached on any day of its history
    (:func:`trailing_daily_minimum` of -u); NaN without enough history."""
    most = -np.repeat(trailing_daily_minimum(-u, days, lag_days, min_days), 24, axis=1)[:, :u.shape[1]]
    with np.errstate(all="ignore"):
        return u - most


def second_largest_where(over: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """[N, T] the second largest analyser of ``over`` [N, T, P] where ``ok`` and positive (else 0;
    0 with fewer than two analysers). Why the second: a copy or a hand-smoothed series changes all
    analysers at once, a clean coincidence rarely two (on the clean development split the copy
    statistic's largest alone read SO2 or O3 in 27 of 29 events)."""
    n, t, p = over.shape
    if p < 2:
        return np.zeros((n, t))
    over = np.where(ok & np.isfinite(over) & (over > 0), over, 0.0)
    return np.partition(over, p - 2, axis=2)[:, :, p - 2]


def beyond_history(u: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """[N, T] :func:`above_history` of ``u`` [N, T, P] in the second largest analyser where ``ok``."""
    return second_largest_where(above_history(u), ok)


def copy_beyond_history(spread: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """[N, T] log(least daily spread of the pair in its history / spread now) (:func:`beyond_history`
    of -log spread), where the donor moves (``moving`` [N, T, P]). ``spread``: [N, T, P] rolling std
    of the log ratio station - donor, floored (> 0)."""
    with np.errstate(all="ignore"):
        return beyond_history(-np.log(spread), moving)


def level_step(y: np.ndarray, member: int, others: np.ndarray, start: int, stop: int) -> float:
    """How far station ``member``'s level moved against ``others`` (stations) at hours start..stop
    (log units, ``y`` [S, T, P] log values): per other station and analyser the median log ratio
    over those hours against its median over the days before (:data:`STEP_REFERENCE_DAYS`), the
    mean over the other stations, the median over the analysers. NaN without a reference. A
    copier's ratio to every other station jumps to the donor's ratio times the copy's scale; the
    donor's stays where it was."""
    far, near = STEP_REFERENCE_DAYS
    lo, hi = max(0, start - 24 * far), max(0, start - 24 * near)
    if hi <= lo or len(others) == 0:
        return float("nan")
    d = y[member, lo:stop][None] - y[others, lo:stop]  # [K, hours, P]
    step = np.abs(nanmedian_quiet(d[:, start - lo:], axis=1) - nanmedian_quiet(d[:, :hi - lo], axis=1))
    seen = np.isfinite(step)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, step, 0.0).sum(axis=0) / seen.sum(axis=0)  # [P]; NaN where no station has both
    return float(nanmedian_quiet(mean))


def copier_side(own: float, partner: float, margin: float = COPIER_MARGIN) -> bool:
    """Whether a member of a collapsed pair may be its copier: unless its partner's level moved
    more than ``margin`` x as far as its own (:func:`level_step`). Either unknown (NaN): it may."""
    return not partner > margin * own


def runs(mask: np.ndarray, gap: int = 0) -> list[tuple[int, int]]:
    """[T] bool -> the (start, stop) of each run of True, runs less than ``gap`` hours apart joined."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    out: list[tuple[int, int]] = []
    for start, stop in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True):
        if out and start - out[-1][1] < gap:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def donor_pairs(index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unordered pairs (a < b) of stations and their donors in ``index`` [S, K] (-1: none),
    with whether b is a's donor (forward) and whether a is b's (backward)."""
    station = np.repeat(np.arange(index.shape[0]), index.shape[1])
    donor = index.ravel()
    keep = (donor >= 0) & (donor != station)
    directed = set(zip(station[keep].tolist(), donor[keep].tolist(), strict=True))
    pairs = sorted({(min(s, j), max(s, j)) for s, j in directed})
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    forward = np.array([(a, b) in directed for a, b in pairs], dtype=bool)
    backward = np.array([(b, a) in directed for a, b in pairs], dtype=bool)
    return arr, forward, backward


@register("donor", models={"donor_copy": "fabrication", "donor_smooth": "fabrication"})
def donor(panel: Panel, *, window_h: int = 24, max_donors: int = 16, large_network: int = 50,
          large_network_donors: int = 6) -> dict[str, np.ndarray]:
    """donor_copy: max over donors of -log(rolling std ratio); donor_smooth: -log roughness ratio.
    Leaves the history openers' statistics [S, T] in ``panel.cache[OPENER_STATISTICS]``: the copy
    beyond the pair's history (``PAIR_COPY``, max over donors) and the smoothing beyond the
    station's (``SMOOTH_BEYOND``). Both copy statistics count a collapsed pair at its copier only,
    where the members can be told apart (:func:`copier_side`)."""
    y = log_values(panel)
    S, T, P = y.shape
    # in a small network any station can be the donor; in a large one only the nearest few are checked
    k = min(max_donors, max(S - 1, 1)) if large_network >= S else min(max_donors, large_network_donors)
    donors = panel.cache.get(("donors", k))
    if donors is None:
        donors = build_neighbours(panel.stations, k=k, max_distance_m=np.inf)
        panel.cache[("donors", k)] = donors
    threads = panel.threads

    def moving_of(rows: slice) -> np.ndarray:  # each station's own variability is its own
        own_sd = nan_rolling_std(y[rows], window_h, min_count=window_h // 2)
        return own_sd >= 0.5 * nanmedian_quiet(own_sd, axis=1, keepdims=True)

    moving_all = by_stations(moving_of, S, threads)

    # each unordered pair of a station and its donor once: the rolling standard deviation of
    # y_a - y_b is the same bits as that of y_b - y_a (IEEE subtraction and sums are exactly
    # antisymmetric, and the squares equal), so a pair in both donor lists is computed once
    pairs, forward, backward = donor_pairs(donors.index)
    others = [row[(row >= 0) & (row != s)] for s, row in enumerate(donors.index)]  # a station's donors
    copy = np.zeros(y.shape)
    beyond = np.zeros((S, T))  # PAIR_COPY: each station's max over its donors
    reads = np.isfinite(y)
    # the history openers count the pollutant analysers only: stations that share one weather
    # mast (the Beijing sites' wind) report the same wind, a "copy" that is no interference
    monitored = monitored_columns(panel.parameters)
    y_monitored = y[:, :, monitored] if not monitored.all() else y
    merge = threading.Lock()
    batch = max(1, PAIR_BATCH_CELLS // max(T * P, 1))

    def copy_of(part: slice) -> None:  # -log(max(sd, 0.01) / typical) where the donor moves, else 0
        a, b = pairs[part, 0], pairs[part, 1]
        d = np.subtract(y[a], y[b])
        ratio = nan_rolling_std(d, window_h, min_count=window_h // 2)
        typical = nanmedian_quiet(ratio, axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            np.maximum(ratio, 0.01, out=ratio)
            over = above_history(-np.log(ratio))  # the pair's spread against its history (symmetric)
            ratio /= typical
            np.log(ratio, out=ratio)
        np.negative(ratio, out=ratio)
        np.nan_to_num(ratio, copy=False, nan=0.0)
        directed = [(i, station, donor_) for i, (sa, sb, fw, bw)
                    in enumerate(zip(a, b, forward[part], backward[part], strict=True))
                    for station, donor_, wanted in ((sa, sb, fw), (sb, sa, bw))
                    if wanted and moving_all[donor_].any()]  # a donor that never moves adds 0 everywhere
        if not directed:
            return
        # every directed pair of the batch in one call each (elementwise, and each pair's second
        # largest analyser its own): per pair they were ~10 small numpy calls holding the GIL, 12,000
        # of them in the national day's block
        i, station, donor_ = (np.array(c, dtype=np.int64) for c in zip(*directed, strict=True))
        alike = second_largest_where(over[i], moving_all[donor_] & reads[station] & monitored)
        moved = np.where(moving_all[donor_], ratio[i], 0.0)
        collapsed = alike > 0
        for q in np.unique(i[collapsed.any(axis=1)]):  # a collapsed pair: which member is the copier?
            rows = np.flatnonzero(i == q)  # its directed entries (one or both members)
            pair = (int(a[q]), int(b[q]))
            for r0, r1 in runs(collapsed[rows].any(axis=0), gap=window_h):  # one decision per collapsed stretch: one act
                step = {m: level_step(y_monitored, m, others[m][others[m] != p], r0, r1) for m, p in (pair, pair[::-1])}
                for r in rows:
                    own, partner = int(station[r]), int(donor_[r])
                    if not copier_side(step[own], step[partner]):
                        alike[r, r0:r1] = 0.0
                        moved[r, r0:r1] = 0.0
        with merge:  # each station's max over its donors (max: any order, the same bits; both >= 0)
            for j, st in enumerate(station.tolist()):
                np.maximum(copy[st], moved[j], out=copy[st])
                np.maximum(beyond[st], alike[j], out=beyond[st])

    map_in_threads(copy_of, [slice(i, i + batch) for i in range(0, len(pairs), batch)], threads)
    panel.cache.setdefault(OPENER_STATISTICS, {})[PAIR_COPY] = OpenerStatistic("fabrication", beyond)

    def roughness_of(rows: slice) -> np.ndarray:  # log roughness against the station's usual
        yc = y[rows]
        rough = np.abs(yc - 0.5 * (shift(yc, 1) + shift(yc, -1)))
        rr = nan_rolling_mean(rough, window_h, min_count=window_h // 2)
        with np.errstate(all="ignore"):
            return np.log(np.maximum(rr, 0.005) / nanmedian_quiet(rr, axis=1, keepdims=True))

    # station chunks at once (``panel.threads``): every step runs along a station's own time axis
    rel = by_stations(roughness_of, S, threads)
    nb = panel.neighbours
    ref = np.nan_to_num(neighbour_median(rel, nb.index)) if (nb.count > 0).any() else np.zeros_like(rel)
    # smoother against the neighbours than on any day of the station's history (SMOOTH_BEYOND)
    panel.cache[OPENER_STATISTICS][SMOOTH_BEYOND] = OpenerStatistic(
        "fabrication", beyond_history(ref - rel, np.isfinite(panel.values) & monitored))
    smooth = np.clip(np.nan_to_num(ref - rel), 0, None)
    valid = np.isfinite(panel.values)
    return {"donor_copy": np.where(valid, np.clip(copy, 0, None), 0.0), "donor_smooth": np.where(valid, smooth, 0.0)}
