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
