"""Metrics for interference detection, computed on station-hours against injected truth events.

Why station-hours: an analyst works a station at a time, and every method (per-reading scores,
per-station-hour scores, events) can be reduced to it. The universe is every (station, hour) of
the evaluated period, including hours whose rows an outage removed, so a method that never
scores a gap cannot catch an outage.

- **AP**: average precision (scikit-learn) of station-hour scores against "inside a truth event".
- **Event recall at budget**: alarms are the top ``budget`` fraction (default 1%) of station-hours
  by score (scores <= 0 never alarm); a truth event is caught if any of its station-hours alarms.
- **False alarm segments per station-month**: runs of consecutive alarmed hours at one station that
  touch no truth event (within ``tolerance_h``). Note: the real data have their own anomalies, so
  some "false" alarms may be real problems; the figure is an upper bound on nuisance.
- **Own events**: envtrust's events matched to truth events by station and time overlap
  (within ``tolerance_h``): event recall, false events per station-month, kind accuracy.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

HOURS_PER_MONTH = 24 * 365.25 / 12
DEFAULT_BUDGET = 0.01
DEFAULT_TOLERANCE_H = 6
MAX_EXTRA_EVENT_H = 48  # an own event may exceed the truth event by this much (or 3x) and still match


def station_hour_grid(readings: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Every (station_id, hourly ts) from the first to the last hour of ``readings`` (or start..end)."""
    ts = pd.to_datetime(readings["ts"]).dt.floor("h")
    t0 = pd.Timestamp(start) if start is not None else ts.min()
    t1 = pd.Timestamp(end) if end is not None else ts.max()
    hours = pd.date_range(t0, t1, freq="h")
    stations = np.array(sorted(readings["station_id"].astype(str).unique()))
    return pd.DataFrame({"station_id": np.repeat(stations, len(hours)), "ts": np.tile(hours.to_numpy(), len(stations))})


def to_station_hours(scores: pd.DataFrame, grid: pd.DataFrame, column: str = "score") -> np.ndarray:
    """Reduce per-reading (or per-station-hour) scores to the grid by max; absent = 0, NaN = 0."""
    if scores is None or scores.empty:
        return np.zeros(len(grid))
    s = scores[["station_id", "ts", column]].copy()
    s["station_id"] = s["station_id"].astype(str)
    s["ts"] = pd.to_datetime(s["ts"]).dt.floor("h")
    s[column] = pd.to_numeric(s[column], errors="coerce").astype(float)
    sh = s.groupby(["station_id", "ts"], sort=False)[column].max()
    idx = pd.MultiIndex.from_frame(grid[["station_id", "ts"]])
    out = sh.reindex(idx).to_numpy(dtype=float)
    return np.nan_to_num(out, nan=0.0, posinf=1e12, neginf=0.0)


def label_grid(grid: pd.DataFrame, truth_events: pd.DataFrame) -> np.ndarray:
    """Index (into truth_events rows) of the event covering each grid station-hour, -1 when none."""
    labels = np.full(len(grid), -1, dtype=np.int64)
    if truth_events.empty:
        return labels
    pos = grid_positions(grid)
    for k, ev in enumerate(truth_events.itertuples(index=False)):
        for i in event_rows(pos, str(ev.station_id), pd.Timestamp(ev.start), pd.Timestamp(ev.end)):
            labels[i] = k
    return labels


def grid_positions(grid: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """station -> (sorted ts as int64 ns, grid row numbers)."""
    out = {}
    ts = pd.to_datetime(grid["ts"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    for sid, rows in grid.groupby("station_id", sort=False).indices.items():
        order = np.argsort(ts[rows], kind="stable")
        out[str(sid)] = (ts[rows][order], rows[order])
    return out


def event_rows(pos, station_id: str, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    if station_id not in pos:
        return np.array([], dtype=np.int64)
    ts, rows = pos[station_id]
    lo = np.searchsorted(ts, start.as_unit("ns").value, side="left")
    hi = np.searchsorted(ts, end.as_unit("ns").value, side="right")
    return rows[lo:hi]


def changed_mask(original: pd.DataFrame, injected: pd.DataFrame, grid: pd.DataFrame) -> np.ndarray:
    """Per grid station-hour: did injection change any reading there (value, flag, or row removed)?"""
    key = ["station_id", "ts", "parameter"]
    cols = key + ["value"] + (["flag"] if "flag" in original and "flag" in injected else [])
    m = original[cols].merge(injected[cols], on=key, how="left", suffixes=("", "_new"), indicator=True)
    same = (m["value"] == m["value_new"]) | (m["value"].isna() & m["value_new"].isna())
    if "flag" in cols:
        same &= m["flag"].astype(str) == m["flag_new"].astype(str)
    changed = m.loc[~same.to_numpy() | (m["_merge"] == "left_only").to_numpy(), ["station_id", "ts"]]
    hours = pd.MultiIndex.from_arrays([changed["station_id"].astype(str), pd.to_datetime(changed["ts"]).dt.floor("h")])
    return pd.MultiIndex.from_frame(grid[["station_id", "ts"]]).isin(hours.unique())


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Station-hour AP (scikit-learn); NaN when there is no positive."""
    y = np.asarray(labels) >= 0
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, np.asarray(scores, dtype=float)))


def alarm_mask(scores: np.ndarray, budget: float = DEFAULT_BUDGET) -> np.ndarray:
    """The top ``budget`` fraction of station-hours by score (ceil), excluding scores <= 0.

    Ties at the cut are broken by position (stable), so the alarm count never exceeds the budget.
    """
    scores = np.asarray(scores, dtype=float)
    k = int(math.ceil(budget * len(scores)))
    mask = np.zeros(len(scores), dtype=bool)
    if k == 0:
        return mask
    order = np.argsort(-scores, kind="stable")[:k]
    mask[order] = True
    return mask & (scores > 0)


def _segments(alarm: np.ndarray, grid: pd.DataFrame) -> list[tuple[str, int, int]]:
    """Runs of consecutive alarmed hours per station as (station, first ns, last ns)."""
    segs = []
    ts = pd.to_datetime(grid["ts"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    hour = 3_600_000_000_000
    for sid, rows in grid.groupby("station_id", sort=False).indices.items():
        r = rows[alarm[rows]]
        if r.size == 0:
            continue
        t = np.sort(ts[r])
        breaks = np.flatnonzero(np.diff(t) > hour)
        starts = np.r_[0, breaks + 1]
        ends = np.r_[breaks, len(t) - 1]
        segs.extend((str(sid), int(t[a]), int(t[b])) for a, b in zip(starts, ends, strict=True))
    return segs


def _overlaps_truth(station: str, start_ns: int, end_ns: int, truth_by_station, tol_ns: int) -> bool:
    return any(start_ns <= e + tol_ns and end_ns >= s - tol_ns for s, e in truth_by_station.get(station, ()))


def _truth_by_station(truth_events: pd.DataFrame) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for ev in truth_events.itertuples(index=False):
        out.setdefault(str(ev.station_id), []).append(
            (pd.Timestamp(ev.start).as_unit("ns").value, pd.Timestamp(ev.end).as_unit("ns").value))
    return out


def station_months(grid: pd.DataFrame) -> float:
    return len(grid) / HOURS_PER_MONTH


def score_metrics(scores: np.ndarray, grid: pd.DataFrame, truth_events: pd.DataFrame,
                  budget: float = DEFAULT_BUDGET, tolerance_h: int = DEFAULT_TOLERANCE_H,
                  labels: np.ndarray | None = None, changed: np.ndarray | None = None) -> dict:
    """AP, event recall at the alarm budget (overall and per kind) and false alarm segments.

    With ``changed`` (see :func:`changed_mask`) the headline ``ap`` counts only station-hours whose
    readings were really altered as positives and leaves out the unaltered hours inside an event
    window (e.g. hours under the limit during a clipping event: nothing to detect there);
    ``ap_windows`` always labels whole event windows positive.
    """
    labels = label_grid(grid, truth_events) if labels is None else labels
    scores = np.asarray(scores, dtype=float)
    if changed is None:
        ap_labels, ap_keep = labels, np.ones(len(labels), dtype=bool)
    else:
        changed = np.asarray(changed, dtype=bool) & (labels >= 0)
        ap_keep = (labels < 0) | changed
        ap_labels = np.where(changed, labels, -1)
    alarm = alarm_mask(scores, budget)
    caught = np.zeros(len(truth_events), dtype=bool)
    hit = labels[alarm & (labels >= 0)]
    caught[np.unique(hit)] = True
    per_kind, per_kind_ap = {}, {}
    kinds = truth_events["kind"].to_numpy() if len(truth_events) else np.array([])
    label_kind = np.where(labels >= 0, kinds[np.clip(labels, 0, None)] if len(kinds) else "", "")
    for kind in sorted(set(kinds)):
        m = kinds == kind
        per_kind[kind] = float(caught[m].mean())
        # AP of this kind alone: its hours against all clean hours (other kinds' hours left out)
        keep = ap_keep & ((labels < 0) | (label_kind == kind))
        per_kind_ap[kind] = average_precision(ap_labels[keep], scores[keep])
    segs = _segments(alarm, grid)
    tbs = _truth_by_station(truth_events)
    tol = tolerance_h * 3_600_000_000_000
    false_segs = sum(not _overlaps_truth(s, a, b, tbs, tol) for s, a, b in segs)
    return {
        "ap": average_precision(ap_labels[ap_keep], scores[ap_keep]),
        "ap_windows": average_precision(labels, scores),
        "event_recall": float(caught.mean()) if len(caught) else float("nan"),
        "per_kind_recall": per_kind,
        "per_kind_ap": per_kind_ap,
        "alarms": int(alarm.sum()),
        "alarm_segments": len(segs),
        "false_alarm_segments": int(false_segs),
        "false_alarm_segments_per_station_month": false_segs / station_months(grid) if len(grid) else float("nan"),
        "n_events": int(len(truth_events)),
        "positive_station_hours": int((labels >= 0).sum()),
        "changed_station_hours": int((ap_labels >= 0).sum()),
        "station_hours": int(len(grid)),
    }


def event_metrics(events: pd.DataFrame, truth_events: pd.DataFrame, grid: pd.DataFrame,
                  tolerance_h: int = DEFAULT_TOLERANCE_H) -> dict:
    """Recall, false-event rate (per station-month) and kind accuracy of a method's own events.

    An own event matches a truth event at the same station when their [start, end] windows overlap
    (within ``tolerance_h``) and the own event is not much longer than the truth event (at most
    ``max(3 x truth length, truth length + 48 h)``): one event spanning months would otherwise
    "catch" everything. Kind accuracy: for each caught truth event, does the matching own event
    with the largest overlap carry the same kind? ``hours_in_truth_share`` is the share of
    station-hours inside own events that lie inside truth events (an hour-level precision), and
    ``coverage_share`` the share of all station-hours inside own events.
    """
    n_truth = len(truth_events)
    if events is None or events.empty:
        return {"coverage_share": 0.0, "hours_in_truth_share": float("nan"),
                "event_recall": 0.0 if n_truth else float("nan"), "per_kind_recall": {},
                "false_events": 0, "false_events_per_station_month": 0.0, "kind_accuracy": float("nan"),
                "n_events": 0}
    tol = pd.Timedelta(hours=tolerance_h)
    ev = events.assign(station_id=events["station_id"].astype(str),
                       start=pd.to_datetime(events["start"]), end=pd.to_datetime(events["end"]))
    matched_own = np.zeros(len(ev), dtype=bool)
    caught = np.zeros(n_truth, dtype=bool)
    kind_ok = []
    by_station = {sid: g for sid, g in ev.reset_index(drop=True).groupby("station_id")}
    for k, t in enumerate(truth_events.itertuples(index=False)):
        g = by_station.get(str(t.station_id))
        if g is None:
            continue
        t0, t1 = pd.Timestamp(t.start), pd.Timestamp(t.end)
        truth_len = t1 - t0 + pd.Timedelta(hours=1)
        max_len = max(3 * truth_len, truth_len + pd.Timedelta(hours=MAX_EXTRA_EVENT_H))
        ov = (g["start"] <= t1 + tol) & (g["end"] >= t0 - tol) & ((g["end"] - g["start"]) < max_len)
        if not ov.any():
            continue
        caught[k] = True
        matched_own[g.index[ov.to_numpy()]] = True
        m = g[ov]
        overlap = (np.minimum(m["end"], t1) - np.maximum(m["start"], t0)).dt.total_seconds()
        best = m.loc[overlap.idxmax()]
        kind_ok.append(str(best["kind"]) == str(t.kind))
    kinds = truth_events["kind"].to_numpy()
    per_kind = {kind: float(caught[kinds == kind].mean()) for kind in sorted(set(kinds))}
    false_events = int((~matched_own).sum())
    own_rows = np.zeros(len(grid), dtype=bool)
    pos = grid_positions(grid)
    for e in ev.itertuples(index=False):
        own_rows[event_rows(pos, e.station_id, e.start, e.end)] = True
    truth_rows = label_grid(grid, truth_events) >= 0
    length_h = (ev["end"] - ev["start"]).dt.total_seconds() / 3600 + 1
    return {
        "median_event_h": float(length_h.median()), "max_event_h": float(length_h.max()),
        "coverage_share": float(own_rows.mean()) if len(grid) else float("nan"),
        "hours_in_truth_share": float(truth_rows[own_rows].mean()) if own_rows.any() else float("nan"),
        "event_recall": float(caught.mean()) if n_truth else float("nan"),
        "per_kind_recall": per_kind,
        "false_events": false_events,
        "false_events_per_station_month": false_events / station_months(grid) if len(grid) else float("nan"),
        "kind_accuracy": float(np.mean(kind_ok)) if kind_ok else float("nan"),
        "n_events": int(len(ev)),
    }


# ---------------------------------------------------------------------------------------------
# at the analyst's workload: recall at a matched false-alarm rate
# ---------------------------------------------------------------------------------------------

#: unmatched alarm segments (or own events) per station-month an analyst can check
WORKLOAD_RATES = (0.3, 1.0)
#: flagged hours separated by at most this many unflagged hours are one alarm segment
SEGMENT_MERGE_GAP_H = 2


def _as_station_hour_matrix(values: np.ndarray, grid: pd.DataFrame) -> np.ndarray:
    """Grid-ordered values [len(grid)] -> [stations, hours] (the grid is station-major)."""
    n_st = int(grid["station_id"].nunique()) if len(grid) else 0
    return np.asarray(values).reshape(n_st, -1) if n_st else np.asarray(values).reshape(0, 0)


def _dilate(mask: np.ndarray, hours: int) -> np.ndarray:
    """``mask`` [S, T] widened by ``hours`` on both sides along time."""
    if hours <= 0 or mask.size == 0:
        return mask.copy()
    c = np.cumsum(np.pad(mask.astype(np.int32), ((0, 0), (hours + 1, hours))), axis=1)
    return (c[:, 2 * hours + 1:] - c[:, :-(2 * hours + 1)]) > 0


def alarm_segments(alarm: np.ndarray, merge_gap_h: int = SEGMENT_MERGE_GAP_H) -> np.ndarray:
    """Segment id per station-hour [S, T] (0 = not in a segment): contiguous flagged hours of one
    station, merged across gaps of up to ``merge_gap_h`` unflagged hours."""
    m = alarm.astype(bool)
    if merge_gap_h > 0 and m.size:
        t = np.arange(m.shape[1])[None, :]
        last_on = np.maximum.accumulate(np.where(m, t, -10**9), axis=1)
        next_on = np.flip(np.minimum.accumulate(np.flip(np.where(m, t, 10**9), axis=1), axis=1), axis=1)
        m = m | ((next_on - last_on - 1 <= merge_gap_h) & (last_on >= 0) & (next_on < 10**9))
    padded = np.zeros((m.shape[0], m.shape[1] + 1), dtype=bool)
    padded[:, :-1] = m
    r = padded.ravel()
    starts = r & ~np.concatenate([[False], r[:-1]])
    ids = np.where(r, np.cumsum(starts), 0)
    return ids.reshape(padded.shape)[:, :-1]


def false_segments_and_caught(alarm: np.ndarray, labels: np.ndarray, near_truth: np.ndarray,
                              n_truth: int, merge_gap_h: int = SEGMENT_MERGE_GAP_H) -> tuple[int, np.ndarray]:
    """(unmatched alarm segments, caught truth events) for one alarm mask [S, T].

    A segment is unmatched when none of its hours lies within the tolerance of a truth event
    (``near_truth``); a truth event is caught when any of its own hours is flagged.
    """
    ids = alarm_segments(alarm, merge_gap_h)
    n_seg = int(ids.max()) if ids.size else 0
    matched = np.zeros(n_seg + 1, dtype=bool)
    matched[ids[near_truth & (ids > 0)]] = True
    caught = np.zeros(n_truth, dtype=bool)
    hit = labels[alarm & (labels >= 0)]
    caught[np.unique(hit)] = True
    return int((~matched[1:]).sum()), caught


def recall_at_false_alarm_rates(scores: np.ndarray, grid: pd.DataFrame, truth_events: pd.DataFrame,
                                labels: np.ndarray | None = None, rates=WORKLOAD_RATES,
                                tolerance_h: int = DEFAULT_TOLERANCE_H,
                                merge_gap_h: int = SEGMENT_MERGE_GAP_H) -> dict:
    """Event recall of a station-hour score at matched false-alarm rates (the analyst's workload).

    For each rate r (unmatched alarm segments per station-month) the score is thresholded at the
    lowest value whose unmatched segments stay within ``r x station-months`` (searched over the
    score's distinct values by bisection: lowering a threshold adds segments, though merging can
    occasionally remove one); every method is compared at the same false-alarm rate, not at the
    same share of station-hours. Returns per rate: threshold, recall, per-kind recall, unmatched
    segments per station-month, flagged share of station-hours.
    """
    labels = label_grid(grid, truth_events) if labels is None else labels
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    sm = station_months(grid)
    S = _as_station_hour_matrix(scores, grid)
    L = _as_station_hour_matrix(labels, grid)
    near = _dilate(L >= 0, tolerance_h)
    kinds = truth_events["kind"].to_numpy() if len(truth_events) else np.array([])
    cand = np.unique(S[S > 0])[::-1]  # descending distinct positive scores
    out = {}
    for rate in rates:
        allowed = rate * sm

        def at(i: int):
            return false_segments_and_caught(cand[i] <= S, L, near, len(truth_events), merge_gap_h)

        lo, hi = -1, len(cand) - 1  # invariant: index lo is within budget (-1 = nothing flagged)
        best = (0, np.zeros(len(truth_events), dtype=bool))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            fs, caught = at(mid)
            if fs <= allowed:
                lo, best = mid, (fs, caught)
            else:
                hi = mid - 1
        fs, caught = best
        thr = float(cand[lo]) if lo >= 0 else float("inf")
        out[f"{rate:g}"] = {
            "threshold": thr,
            "recall": float(caught.mean()) if len(caught) else float("nan"),
            "per_kind_recall": {k: float(caught[kinds == k].mean()) for k in sorted(set(kinds))},
            "false_segments_per_station_month": fs / sm if sm else float("nan"),
            "flagged_share": float((thr <= S).mean()) if S.size else 0.0,
        }
    return out


def match_events(events: pd.DataFrame, truth_events: pd.DataFrame,
                 tolerance_h: int = DEFAULT_TOLERANCE_H) -> tuple[np.ndarray, list[list[int]], list[int]]:
    """Match own events to truth events (rules of :func:`event_metrics`).

    Returns (matched flag per own event, own event rows matching each truth event, own event row
    with the largest overlap per truth event or -1)."""
    tol = pd.Timedelta(hours=tolerance_h)
    ev = events.reset_index(drop=True).assign(
        station_id=events["station_id"].astype(str).to_numpy(),
        start=pd.to_datetime(events["start"]).to_numpy(), end=pd.to_datetime(events["end"]).to_numpy())
    matched = np.zeros(len(ev), dtype=bool)
    per_truth: list[list[int]] = []
    best: list[int] = []
    by_station = {sid: g for sid, g in ev.groupby("station_id")}
    for t in truth_events.itertuples(index=False):
        g = by_station.get(str(t.station_id))
        if g is None:
            per_truth.append([])
            best.append(-1)
            continue
        t0, t1 = pd.Timestamp(t.start), pd.Timestamp(t.end)
        truth_len = t1 - t0 + pd.Timedelta(hours=1)
        max_len = max(3 * truth_len, truth_len + pd.Timedelta(hours=MAX_EXTRA_EVENT_H))
        ov = (g["start"] <= t1 + tol) & (g["end"] >= t0 - tol) & ((g["end"] - g["start"]) < max_len)
        idx = g.index[ov.to_numpy()].tolist()
        per_truth.append(idx)
        if idx:
            matched[idx] = True
            m = g.loc[idx]
            overlap = (np.minimum(m["end"], t1) - np.maximum(m["start"], t0)).dt.total_seconds()
            best.append(int(overlap.idxmax()))
        else:
            best.append(-1)
    return matched, per_truth, best


def event_rank_order(events: pd.DataFrame) -> np.ndarray:
    """Own events in the order an analyst reads them: by ``rank_score`` (the graded figure) when the
    table has one, else by ``score``; ties by start time."""
    col = "rank_score" if "rank_score" in events.columns else "score"
    key = pd.to_numeric(events[col], errors="coerce").fillna(-np.inf).to_numpy()
    start = pd.to_datetime(events["start"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    return np.lexsort((start, -key))


def own_events_at_workload(events: pd.DataFrame, truth_events: pd.DataFrame, grid: pd.DataFrame,
                           rates=WORKLOAD_RATES, tolerance_h: int = DEFAULT_TOLERANCE_H,
                           curve_points: int = 25) -> dict:
    """envtrust's own events read from the top of the list until the unmatched ones reach each rate.

    Per rate (unmatched events per station-month): recall overall and per kind, kind accuracy,
    events kept. ``pr_curve``: event-level precision/recall as the list is read from the top
    (``curve_points`` points, plus the full list's end).
    """
    sm = station_months(grid)
    n_truth = len(truth_events)
    kinds = truth_events["kind"].to_numpy() if n_truth else np.array([])
    empty = {f"{r:g}": {"recall": 0.0 if n_truth else float("nan"), "per_kind_recall": {},
                        "kind_accuracy": float("nan"), "events": 0, "unmatched_per_station_month": 0.0}
             for r in rates}
    if events is None or events.empty:
        return {"at_rate": empty, "pr_curve": []}
    order = event_rank_order(events)
    ev = events.iloc[order].reset_index(drop=True)
    matched, per_truth, best = match_events(ev, truth_events, tolerance_h)
    first_rank = np.array([min(ix) if ix else np.iinfo(np.int64).max for ix in per_truth], dtype=np.int64)
    unmatched_cum = np.cumsum(~matched)
    ev_kind = ev["kind"].astype(str).to_numpy()
    out: dict = {"at_rate": {}}
    for rate in rates:
        allowed = rate * sm
        # the longest top-of-list prefix whose unmatched events stay within the rate
        k = int(np.searchsorted(unmatched_cum, allowed, side="right"))
        while k < len(ev) and matched[k]:
            k += 1  # matched events after the last allowed unmatched one cost nothing
        caught = first_rank < k
        ok = []
        for t, ix in enumerate(per_truth):
            kept = [i for i in ix if i < k]
            if kept:
                b = best[t] if best[t] in kept else kept[0]
                ok.append(ev_kind[b] == str(kinds[t]))
        out["at_rate"][f"{rate:g}"] = {
            "recall": float(caught.mean()) if n_truth else float("nan"),
            "per_kind_recall": {kd: float(caught[kinds == kd].mean()) for kd in sorted(set(kinds))},
            "kind_accuracy": float(np.mean(ok)) if ok else float("nan"),
            "events": k,
            "unmatched_per_station_month": float(unmatched_cum[k - 1]) / sm if k and sm else 0.0,
        }
    ks = np.unique(np.r_[np.linspace(1, len(ev), min(curve_points, len(ev))).round().astype(int), len(ev)])
    out["pr_curve"] = [{"events": int(k), "precision": float(matched[:k].mean()),
                        "recall": float((first_rank < k).mean()) if n_truth else float("nan"),
                        "unmatched_per_station_month": float(unmatched_cum[k - 1]) / sm if sm else float("nan")}
                       for k in ks]
    return out


def unmatched_for_recall(events: pd.DataFrame, truth_events: pd.DataFrame, grid: pd.DataFrame, recall: float,
                         tolerance_h: int = DEFAULT_TOLERANCE_H) -> float:
    """Unmatched own events per station-month an analyst reads, from the top of the list, before
    the events read catch ``recall`` of the truth events (inf when the whole list never does).
    Compares two event lists at the same recall (e.g. before and after analysts' verdicts)."""
    sm = station_months(grid)
    n_truth = len(truth_events)
    if not n_truth or recall <= 0:
        return 0.0
    if events is None or events.empty:
        return float("inf")
    ev = events.iloc[event_rank_order(events)].reset_index(drop=True)
    matched, per_truth, _ = match_events(ev, truth_events, tolerance_h)
    first_rank = np.sort(np.array([min(ix) if ix else np.iinfo(np.int64).max for ix in per_truth], dtype=np.int64))
    need = int(np.ceil(recall * n_truth - 1e-9))
    if need > n_truth or first_rank[need - 1] == np.iinfo(np.int64).max:
        return float("inf")
    k = int(first_rank[need - 1]) + 1  # read through the event that catches the need-th truth event
    return float((~matched[:k]).sum()) / sm if sm else float("nan")


def reviewed_prefix(events: pd.DataFrame, truth_events: pd.DataFrame, grid: pd.DataFrame, rate: float,
                    tolerance_h: int = DEFAULT_TOLERANCE_H) -> tuple[pd.DataFrame, np.ndarray]:
    """The events an analyst working at ``rate`` unmatched events per station-month reads (from the
    top of the list) and whether each matches a truth event: what a replay of verdicts labels."""
    if events is None or events.empty:
        return events, np.zeros(0, dtype=bool)
    ev = events.iloc[event_rank_order(events)].reset_index(drop=True)
    matched, _, _ = match_events(ev, truth_events, tolerance_h)
    k = int(np.searchsorted(np.cumsum(~matched), rate * station_months(grid), side="right"))
    return ev.iloc[:k].reset_index(drop=True), matched[:k]
