"""Event thresholds where the air calibration does not reach: stations of kinds or networks it
does not describe (or with little history) learn them from the run itself at the calibration's
false-event budget, except the self-calibrated networks' station kinds with thresholds fitted once
on their clean data (:func:`clean_event_thresholds`); and the threshold search all of these use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analytics.ensemble import fit_tail
from analytics.event_ranker import capacity_cut
from analytics.events import (
    EventSettings,
    StationThresholds,
    count_segments,
    event_openers,
    persistent_surprise,
)
from analytics.pipeline.config import Pipeline

# own-event models (outage) get 1.5x the combined budget on top of it: a gap whose rows are absent
# has no reading score, so its event is the only evidence (tuned on the development split only)
OWN_EVENT_BUDGET_SHARE = 1.5
# Stations of networks outside the clean calibration (CEMS outlets when it was fitted on air) learn
# their event thresholds in the run: the combined opener is the rolling mean of the station-hour
# surprise over ``self_calibrated_window_h`` (EventSettings), and the own-event models open events
# alone. The combined opener there gets the air calibration's whole own-event budget (0.1 combined
# + 1.5 x 0.1 outage = 2.5 x the budget): every segment in the run counts against it, the planted
# ones too (tuned on the development split: CEMS own-event recall 0.53 at 1.0, 0.60 at 2.0, 0.66 at 2.5)
SELF_CALIBRATED_BUDGET_SHARE = 2.5


def station_spans(panel, valid_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """First and last hour index with any input row (or any valid value), per station (T and -1
    for a station without)."""
    any_row = np.isfinite(panel.values).any(axis=2) if valid_only else panel.present.any(axis=2)
    T = any_row.shape[1]
    first = np.where(any_row.any(axis=1), np.argmax(any_row, axis=1), T)
    last = np.where(any_row.any(axis=1), T - 1 - np.argmax(any_row[:, ::-1], axis=1), -1)
    return first, last


def own_event_statistic(model_surprise: np.ndarray, window_h: int) -> np.ndarray:
    """[S, T] what an own-event model opens events on at a self-calibrated station: its station-hour
    surprise (max over parameters), as a centred ``window_h`` rolling mean when longer than 1 h."""
    stat = np.max(model_surprise, axis=2)
    return persistent_surprise(stat, window_h) if window_h > 1 else stat


def in_run_thresholds(panel, plain: np.ndarray, surprise: dict[str, np.ndarray], pipe: Pipeline,
                      uncalibrated_params: np.ndarray) -> StationThresholds:
    """Per-station event thresholds for stations the clean calibration does not describe.

    - Stations whose readings are all of networks outside ``calibrated_networks`` (their model
      surprises are self-calibrated on this run) take the thresholds fitted for their station kind
      on clean data (``Pipeline.clean_event_thresholds``, :func:`clean_event_thresholds`); kinds
      without them learn them here: every opener's threshold is the smallest one whose
      segments in this run stay within the calibration's false-event budget per station-month
      (``false_events_per_station_month``; own-event models ``OWN_EVENT_BUDGET_SHARE`` x that).
      Every segment counts against the budget, planted ones too, so the false-event rate is at most
      the budget whatever the share of interference in the run.
    - Stations of kinds outside ``calibrated_station_kinds`` (micro-sensors), and stations with
      less valid history than the outage detector's ``min_history_h`` (and under half the run):
      each group's combined and outage thresholds are the larger of the calibrated ones and the
      ones the group's own readings and gaps in this run allow at the same budgets - a cheap
      sensor's routine dropout, or a one-day file's missing hours, is not a power cut.
    - Own-event models open events only from a station's first valid value on (a feed that has
      not started, e.g. the first hours of a one-day national file, has no known "before"), and
      after its last valid value only while other stations of the run keep reporting for at least
      the outage detector's ``min_gap_h`` (a station dark while its network reports is an outage;
      the end of everybody's data is not).
    Station-months count each station's span from its first to its last reading.
    """
    ev = pipe.events
    n_st, n_t = plain.shape[:2]
    budget = float(pipe.false_events_per_station_month)
    own_budget = budget * OWN_EVENT_BUDGET_SHARE
    first, last = station_spans(panel)
    in_span = (np.arange(n_t)[None, :] >= first[:, None]) & (np.arange(n_t)[None, :] <= last[:, None])
    span_months = np.maximum(last - first + 1, 0) / (24 * 30.44)
    threshold = np.full(n_st, float(ev.threshold))
    persistent = np.zeros(n_st, dtype=bool)
    window = ev.self_calibrated_window_h
    own_models = dict(ev.self_calibrated_own_event_models)
    cal = ~np.asarray(uncalibrated_params, dtype=bool)
    has_cal = panel.present[:, :, cal].any(axis=(1, 2)) if cal.any() else np.zeros(n_st, dtype=bool)
    self_cal = panel.present.any(axis=(1, 2)) & ~has_cal
    kinds = panel.stations["kind"].astype(str).to_numpy() if "kind" in panel.stations.columns \
        else np.full(n_st, "")
    cal_kinds = set(pipe.calibrated_station_kinds)
    # the calibration's openers other than outage (pair_copy) describe its reference stations only:
    # never at self-calibrated stations nor at station kinds it never saw
    reference = ~self_cal & np.isin(kinds, sorted(cal_kinds))
    model_thr = {m: np.where(reference | (m == "outage"), float(t), np.inf) for m, t in ev.model_thresholds.items()}

    def fit(stat_sh: np.ndarray, rows: np.ndarray, share_budget: float) -> float:
        x = np.where(in_span[rows], stat_sh[rows], 0.0)
        return event_threshold(x, ev, float(span_months[rows].sum()), share_budget)

    def open_alone(models: dict, rows: np.ndarray) -> None:
        """Thresholds at which each own-event model opens events alone at ``rows`` (own budget)."""
        for m, w in models.items():
            if m in surprise:
                model_thr.setdefault(m, np.full(n_st, np.inf))
                model_thr[m][rows] = fit(own_event_statistic(surprise[m], int(w)), rows, own_budget)
                own_models.setdefault(m, int(w))

    run_tail = None
    if self_cal.any():
        sh = np.max(np.nan_to_num(plain), axis=2)
        run_tail = fit_tail(sh[self_cal][in_span[self_cal]])
        persistent[self_cal] = True
        clean = pipe.clean_event_thresholds
        # station kinds with thresholds fitted once on clean data take them; the others learn them here
        in_run = self_cal & ~np.isin(kinds, sorted(clean))
        if in_run.any():
            threshold[in_run] = fit(persistent_surprise(sh, window), in_run, budget * SELF_CALIBRATED_BUDGET_SHARE)
            open_alone(dict(own_models), in_run)
            # own-event models for one station kind only (self_calibrated_own_event_models_by_kind)
            for kind, models in ev.self_calibrated_own_event_models_by_kind.items():
                if (in_run & (kinds == kind)).any():
                    open_alone(models, in_run & (kinds == kind))
        for kind, fitted in clean.items():
            rows = self_cal & (kinds == kind)
            if rows.any():
                threshold[rows] = float(fitted["threshold"])
                for m, t in fitted["model_thresholds"].items():
                    model_thr.setdefault(m, np.full(n_st, np.inf))[rows] = float(t)
                    own_models.setdefault(m, int(fitted["model_window_h"][m]))
    v_first, v_last = station_spans(panel, valid_only=True)
    min_history = int(pipe.detector_params("outage")["min_history_h"])
    valid_h = np.maximum(v_last - v_first + 1, 0)
    # groups whose base rate the clean calibration does not describe: station kinds it never saw, and
    # stations with less own history than the detectors assume (a one-day national file in a longer run)
    groups = [kinds == k for k in sorted(set(kinds[~self_cal]) - cal_kinds)]
    short = (valid_h > 0) & (valid_h < min(min_history, n_t / 2)) & np.isin(kinds, sorted(cal_kinds))
    groups.append(short)
    sh_plain = np.max(np.nan_to_num(plain), axis=2)
    out_sh = np.max(surprise["outage"], axis=2) if "outage" in surprise and "outage" in model_thr else None
    for g in groups:
        rows = g & ~self_cal & (span_months > 0)
        if not rows.any():
            continue
        threshold[rows] = np.maximum(threshold[rows], fit(sh_plain, rows, budget))
        if out_sh is not None:
            model_thr["outage"][rows] = np.maximum(model_thr["outage"][rows], fit(out_sh, rows, own_budget))
    if ev.reference_threshold is not None:
        # the ranker's longer list opens at the reference stations only: the groups above keep the
        # capacity's threshold as their floor
        threshold[reference & ~short] = float(ev.reference_threshold)
    net_last = int(v_last.max()) if len(v_last) else -1
    min_gap = int(pipe.detector_params("outage")["min_gap_h"])
    open_until = np.where(net_last - v_last >= min_gap, net_last, v_last)
    return StationThresholds(threshold=threshold, persistent=persistent, window_h=window,
                             model_thresholds=model_thr, open_from=v_first, open_until=open_until,
                             model_window_h={m: int(w) for m, w in own_models.items()}, run_tail=run_tail,
                             reference=reference & ~short)



#: the thresholds :func:`event_threshold` tries on a surprise (-log10 P), strict to lax
SURPRISE_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(12.0, 1.99, -0.1), 2))


def event_threshold(sh: np.ndarray, ev: EventSettings, station_months: float, budget: float,
                    thresholds: tuple[float, ...] = SURPRISE_THRESHOLDS) -> float:
    """Smallest of ``thresholds`` (strict to lax) on the station-hour statistic ``sh`` with <= budget
    events per station-month."""
    # walk down from strict to lax; stop before the false-event rate exceeds the budget (going
    # lower would merge everything into a few giant "events", which is not a lower rate)
    best = thresholds[0]
    for thr in thresholds:  # rounded: the value is the one used later
        n = count_segments(sh >= thr * ev.low_ratio, sh >= thr, ev.merge_gap_h, ev.min_hours)
        if n / max(station_months, 1e-9) > budget:
            break
        best = float(thr)
    return best


def at_capacity(pipe: Pipeline, events_per_station_month: float | None) -> Pipeline:
    """The pipeline whose calibrated combined event threshold (the air network's) spends the
    analysts' capacity: that of the largest fitted false-event budget (``event_thresholds_by_budget``)
    within ``events_per_station_month``, so that on clean data the list holds at most that many
    events per station-month. Unchanged when no capacity is given or the calibration has no table;
    a capacity under every fitted budget takes the smallest.

    The outage model keeps the calibration's own budget: on the development split letting it
    follow the capacity too added no recall (air, 0.3: 0.443 / 0.367 against 0.433 / 0.371 for
    seeds 0 / 1), only gap events on networks whose gaps differ from the reference stations' (the
    CNEMC national day: 36 outages instead of 5). Networks whose thresholds are learned in the run
    keep ``false_events_per_station_month``: on an honest network every event they raise is a
    false one (docs/engine.md, "Operating point").

    With a learned event ranker (``EventSettings.ranker``) the reference stations' events open at
    the combined threshold of the ranker's ``open_at_capacity`` (``reference_threshold``) and are
    listed from the capacity's rank_score on (``list_cut``,
    :func:`analytics.event_ranker.capacity_cut`); every other threshold stays the capacity's."""
    table = pipe.event_thresholds_by_budget
    if events_per_station_month is None or not table:
        return pipe
    events = replace(pipe.events, threshold=budget_threshold(table, events_per_station_month))
    ranker = pipe.events.ranker
    if ranker is not None:
        events = replace(events, reference_threshold=budget_threshold(table, ranker.open_at_capacity),
                         list_cut=capacity_cut(events_per_station_month))
    return replace(pipe, events=events)


def budget_threshold(table: dict, events_per_station_month: float) -> float:
    """The combined threshold of the largest fitted false-event budget within
    ``events_per_station_month`` (the smallest budget's when none is)."""
    budgets = sorted(table, key=float)
    within = [b for b in budgets if float(b) <= float(events_per_station_month) + 1e-9]
    return float(table[within[-1] if within else budgets[0]]["threshold"])


#: per-opener false-event budgets (events per station-month) the clean fit tries, largest first
CLEAN_OPENER_BUDGETS = (0.1, 0.075, 0.05, 0.03, 0.02, 0.015, 0.01, 0.0075, 0.005, 0.0025)


def clean_event_thresholds(panel, plain: np.ndarray, surprise: dict[str, np.ndarray], pipe: Pipeline,
                           uncalibrated_params: np.ndarray, events_per_station_month: float) -> dict[str, dict]:
    """Per station kind of the self-calibrated networks (water sections, polluter outlets): the event
    thresholds ``in_run_thresholds`` learns on *this run* - which must be clean, honest data with
    nothing injected - at the largest per-opener budget of ``CLEAN_OPENER_BUDGETS`` whose openers
    together (combined opener and every own-event model) open at most ``events_per_station_month``
    events there. Kinds differ in how many openers speak (flags and emission limits exist at
    outlets only), so the budget is found per kind, not set.

    In two stages: the openers every self-calibrated station has first (``opener_budget``), then a
    kind's extra openers (``self_calibrated_own_event_models_by_kind``, e.g. the water spike models)
    at the largest budget at which they fit in what the first stage left (``extra_opener_budget``),
    the first stage's thresholds unchanged. Fitted jointly, the extras took their room from the
    others: on the development split the spike openers moved the outage opener 4.8 -> 5.0 and
    outages caught fell 0.10 -> 0.07 (held-out 0.33 -> 0.13).

    Installed as ``Pipeline.clean_event_thresholds`` they replace the in-run fit: an in-run budget
    is spent on whatever the run holds, so an honest network raised about its budget by
    construction (0.33 / 0.39 suspected-interference events per station-month on the development
    split's honest water sections and outlets) and planted cases took the budget from each other.
    ``surprise``/``plain``: read against the network's clean tails (``run.event_surprise``), as
    scoring reads them."""
    extras = pipe.events.self_calibrated_own_event_models_by_kind
    base_pipe = replace(pipe, events=replace(pipe.events, self_calibrated_own_event_models_by_kind={}))
    out = _clean_opener_fit(panel, plain, surprise, base_pipe, uncalibrated_params, events_per_station_month)
    for kind, models in extras.items():
        if kind in out and models:
            out[kind] = _with_extra_openers(panel, plain, surprise, pipe, uncalibrated_params,
                                            events_per_station_month, kind, out[kind], models)
    return out


def _clean_kind_rate(panel, plain: np.ndarray, surprise: dict[str, np.ndarray], ev: EventSettings,
                     st: StationThresholds, rows: np.ndarray) -> float:
    """Events per station-month the openers of ``st`` open at ``rows`` (station spans)."""
    first, last = station_spans(panel)
    months = np.maximum(last - first + 1, 0) / (24 * 30.44)
    low, high = event_openers(plain, surprise, ev, st)
    return count_segments(low[rows], high[rows], ev.merge_gap_h, ev.min_hours) / max(months[rows].sum(), 1e-9)


def _clean_opener_fit(panel, plain: np.ndarray, surprise: dict[str, np.ndarray], pipe: Pipeline,
                      uncalibrated_params: np.ndarray, events_per_station_month: float) -> dict[str, dict]:
    """First stage of :func:`clean_event_thresholds`: every opener of ``pipe`` at one per-kind budget."""
    kinds = panel.stations["kind"].astype(str).to_numpy()
    first, last = station_spans(panel)
    months = np.maximum(last - first + 1, 0) / (24 * 30.44)
    ev = pipe.events
    out: dict[str, dict] = {}
    for budget in CLEAN_OPENER_BUDGETS:
        st = in_run_thresholds(panel, plain, surprise,
                               replace(pipe, false_events_per_station_month=budget, clean_event_thresholds={}),
                               uncalibrated_params)
        for kind in sorted(set(kinds[st.persistent]) - set(out)):
            rows = st.persistent & (kinds == kind)
            rate = _clean_kind_rate(panel, plain, surprise, ev, st, rows)
            if rate > events_per_station_month and budget != CLEAN_OPENER_BUDGETS[-1]:
                continue
            i = int(np.flatnonzero(rows)[0])
            own = {m: int(w) for m, w in st.model_window_h.items()
                   if m in st.model_thresholds and np.isfinite(st.model_thresholds[m][i])}
            out[kind] = {"threshold": float(st.threshold[i]), "window_h": int(st.window_h),
                         "model_thresholds": {m: float(st.model_thresholds[m][i]) for m in own},
                         "model_window_h": own, "opener_budget": budget,
                         "clean_events_per_station_month": round(float(rate), 4),
                         "stations": int(rows.sum()), "station_months": round(float(months[rows].sum()), 1)}
        if set(out) >= set(kinds[st.persistent]):
            break
    return out


def _with_extra_openers(panel, plain: np.ndarray, surprise: dict[str, np.ndarray], pipe: Pipeline,
                        uncalibrated_params: np.ndarray, events_per_station_month: float, kind: str,
                        fitted: dict, extra: dict[str, int]) -> dict:
    """Second stage of :func:`clean_event_thresholds`: ``fitted`` (one kind's first-stage thresholds)
    plus the ``extra`` openers, each fitted alone at the largest budget (x ``OWN_EVENT_BUDGET_SHARE``,
    as in the run) whose events, with the first stage's, stay within ``events_per_station_month``
    (the smallest budget when none does)."""
    kinds = panel.stations["kind"].astype(str).to_numpy()
    st = in_run_thresholds(panel, plain, surprise, replace(pipe, clean_event_thresholds={}), uncalibrated_params)
    rows = st.persistent & (kinds == kind)
    first, last = station_spans(panel)
    t = np.arange(plain.shape[1])[None, :]
    in_span = ((t >= first[:, None]) & (t <= last[:, None]))[rows]
    months = float((np.maximum(last - first + 1, 0) / (24 * 30.44))[rows].sum())
    stats = {m: np.where(in_span, own_event_statistic(surprise[m], int(w))[rows], 0.0)
             for m, w in extra.items() if m in surprise}
    windows = {**fitted["model_window_h"], **{m: int(extra[m]) for m in stats}}
    for budget in CLEAN_OPENER_BUDGETS:
        added = {m: event_threshold(x, pipe.events, months, budget * OWN_EVENT_BUDGET_SHARE) for m, x in stats.items()}
        thresholds = {**fitted["model_thresholds"], **added}
        together = replace(st, threshold=np.where(rows, fitted["threshold"], np.inf),
                           # st's other openers closed: ones the calibration sets for every station
                           # (EventSettings.model_thresholds) would otherwise count here too
                           model_thresholds={**{m: np.full(len(rows), np.inf) for m in st.model_thresholds},
                                             **{m: np.where(rows, v, np.inf) for m, v in thresholds.items()}},
                           model_window_h=windows)
        rate = _clean_kind_rate(panel, plain, surprise, pipe.events, together, rows)
        if rate <= events_per_station_month or budget == CLEAN_OPENER_BUDGETS[-1]:
            return {**fitted, "model_thresholds": thresholds, "model_window_h": windows,
                    "extra_opener_budget": budget, "clean_events_per_station_month": round(float(rate), 4)}
    return fitted
