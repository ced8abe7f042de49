"""Events: contiguous suspicious periods per station, each with a kind, a score, the parameters
involved, evidence (which models fired, which neighbours, how far off) and a one-line summary in
English and Chinese.

A station-hour is suspicious when its strongest reading's combined surprise ``S`` reaches the
event threshold (calibrated on clean data to the false-event budget). An event grows while ``S``
stays above ``low_ratio x threshold`` (hysteresis) and bridges gaps up to ``merge_gap_h`` hours.
Its kind is the kind whose models carry most surprise inside the event.

Stations of networks the clean calibration never saw (CEMS outlets when it was fitted on air) and
station kinds with their own gap behaviour (micro-sensors) get per-station thresholds learned in
the run (:class:`StationThresholds`, built by ``analytics.pipeline.thresholds.in_run_thresholds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.completeness import missing_runs_h
from analytics.detectors.base import Panel, run_lengths
from analytics.detectors.donor import PAIR_COPY
from analytics.detectors.rules import COMPONENT_PAIRS, COMPONENT_TOLERANCE
from analytics.ensemble import FITTED
from analytics.standards.air_quality import gap_costing_a_valid_day_h
from analytics.standards.analysers import analyser_disagreement
from analytics.vocabulary import monitored_columns

KIND_ZH = {
    "data_gap": "数据缺失/传输中断(无干扰迹象)",
    "suppression": "疑似人为压低(喷淋/堵塞采样头)", "outage": "高值时段数据缺失(疑似断电/停机)",
    "flatline": "数值恒定(疑似仪器卡滞或人工设定)", "fabrication": "疑似数据复制或人工平滑",
    "drift": "相对邻站逐渐偏离(疑似校准漂移)", "clipping": "数值聚集在限值之下(疑似削峰)",
    "flag_abuse": "维护/故障标记与高排放重合(疑似滥用标记)", "spike": "不合理的突变或数值",
}
KIND_EN = {
    "data_gap": "data missing / transmission interrupted (no sign of interference)",
    "suppression": "suspected suppression (spraying / blocked inlet)",
    "outage": "data missing during high pollution (suspected power cut / shutdown)",
    "flatline": "constant values (stuck analyser or hand-set data)",
    "fabrication": "suspected copied or hand-smoothed data",
    "drift": "growing bias against neighbours (suspected calibration drift)",
    "clipping": "values bunched under a limit (suspected clipping)",
    "flag_abuse": "maintenance/fault flags coincide with high emissions",
    "spike": "implausible value or jump",
}

#: wording where a kind looks different in another network (zh, en); air wording otherwise
KIND_TEXT_BY_NETWORK: dict[str, dict[str, tuple[str, str]]] = {
    "water": {
        "suppression": ("疑似稀释水样或改动采样管路(读数被压低)",
                        "suspected sample dilution or sample-line tampering (readings pushed down)"),
        "drift": ("相对邻近断面逐渐偏离(疑似探头污染或校准漂移)",
                  "growing bias against neighbouring sections (suspected probe fouling or calibration drift)"),
        "clipping": ("数值聚集在水质类别限值附近(疑似削峰)", "values bunched at a water-class limit (suspected clipping)"),
    },
    "polluter": {
        "suppression": ("疑似掺入空气稀释烟气(读数被压低)", "suspected dilution air in the flue (readings pushed down)"),
        "clipping": ("数值聚集在排放限值之下(疑似削峰)", "values bunched under the emission limit (suspected clipping)"),
    },
}
STATION_NETWORK = {"air_station": "air", "air_micro": "air", "water_section": "water", "polluter_outlet": "polluter"}


def kind_text(kind: str, network: str = "air") -> tuple[str, str]:
    """(zh, en) description of an event kind as it shows in ``network``."""
    own = KIND_TEXT_BY_NETWORK.get(network, {}).get(kind)
    return own if own else (KIND_ZH.get(kind, kind), KIND_EN.get(kind, kind))


#: ``score``: 0-1 (1 - P_clean), the file contract's confidence; ``rank_score``: -log10 P_clean of the
#: same evidence without the cap, the graded figure the list is sorted by (no ties at the top)
EVENT_COLUMNS = ["event_id", "station_id", "start", "end", "kind", "score", "parameters", "summary", "evidence",
                 "rank_score"]
#: a gap with no sign of interference: reported as a data-completeness alarm, not as interference
DATA_GAP_KIND = "data_gap"
#: the neighbour prediction during a gap must sit this many robust scales above the station's own
#: level (or the neighbours must put PM2.5 above the episode level) for the gap to be "outage
#: during an episode" rather than a plain data gap
GAP_LEVEL_Z = 1.0
GAP_EPISODE_PM25_UGM3 = 75.0
#: a suppression event needs its readings at least this far below the neighbour prediction (%)
SUPPRESSION_MIN_DROP_PCT = 15.0


@dataclass(frozen=True)
class EventSettings:
    """The ``[events]`` section of a pipeline TOML (defaults here and nowhere else) plus the
    thresholds the calibration installs (``FITTED`` fields; ``threshold`` too, when it has one)."""

    threshold: float = 4.0  # combined surprise S that opens an event; the calibration sets it from the budget
    low_ratio: float = 0.75  # S >= low_ratio * threshold keeps it open
    merge_gap_h: int = 3
    min_hours: int = 1
    # a gap whose rows are absent scores as its strongest hour would as a null row, in self-calibrated
    # networks too (water, CEMS): a power cut that drops the packets ranks like one that sends empty ones
    absent_gaps_like_readings: bool = True
    # networks outside the clean calibration (CEMS, water) open events from this centred rolling mean
    # of the station-hour surprise: a self-calibrated surprise says "rare in this run", interference lasts
    self_calibrated_window_h: int = 12
    # ... and these models open events there alone (model -> rolling window, h), each at 1.5x the
    # false-event budget: clip_limit (outlets) replaces clip_bunch there; flag_hidden opens an event
    # alone from one flagged hour (docs/cems.md)
    self_calibrated_own_event_models: dict[str, int] = field(default_factory=lambda: {
        "outage": 1, "flatline": 1, "clip_limit": 24, "flag_hidden": 1})
    # extra openers for one station kind, e.g. {water_section = {pm_ratio = 1}} (none here; the shipped
    # pipeline gives water sections the impossible-value models: a 1-3 h spike is averaged away by the
    # 12 h opener). Fitted on clean data after the other openers, in what they leave of the clean
    # budget (thresholds.clean_event_thresholds), so an honest network stays quiet and the others keep theirs
    self_calibrated_own_event_models_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    # model -> surprise that opens an event alone (from the calibration)
    model_thresholds: dict = field(default_factory=dict, metadata=FITTED)
    # a run of at least this many hours without a valid value at a station, inside its reporting
    # period, is a data-completeness alarm whatever the event thresholds (:func:`completeness_gaps`);
    # default: the shortest gap that can cost a valid day (GB 3095-2012 table 4, unverified)
    data_gap_min_h: int = gap_costing_a_valid_day_h()
    # opener -> EventRateTail: how often each opener (``COMBINED_OPENER``, an own-event model, an
    # opener statistic) opens an event at least this strong on the clean calibration data; an event at
    # a reference station ranks by the rarest of its openers (:func:`event_rarity`)
    rate_tails: dict = field(default_factory=dict, metadata=FITTED)
    # the learned event ranker (analytics.event_ranker.EventRanker, ``<pipeline>.event_ranker.json``):
    # the reference stations' events rank by it in place of their rarest opener
    ranker: object | None = field(default=None, metadata=FITTED)
    # the operating point (set by analytics.pipeline.at_capacity from the analysts' capacity, not by the
    # TOML): the combined threshold that opens events at the reference stations when the ranker
    # orders them (longer than the capacity's), and the rank_score their events need to be listed
    reference_threshold: float | None = field(default=None, metadata=FITTED)
    list_cut: float | None = field(default=None, metadata=FITTED)


#: the name of the combined station-hour surprise among the openers (``EventSettings.rate_tails``)
COMBINED_OPENER = "combined"
#: hours in a mean month: events per station-month / this = events per station-hour
HOURS_PER_MONTH = 24 * 30.44
#: the grid of an event-rate tail: the clean statistic's quantiles at these shares of its
#: station-hours (the top 1% down to its maximum, which opens 1 event in the whole calibration)
RATE_TAIL_TOP_SHARES = tuple(float(x) for x in np.logspace(-2, -6, 33))


@dataclass(frozen=True)
class EventRateTail:
    """How often an opener opens an event at least this strong on clean data: at each threshold
    (ascending) of its station-hour statistic, the events per station-month it opens there alone
    (non-increasing). Why: the combined surprise, the outage model and the opener statistics
    (``pair_copy``, ``smooth_beyond``) are on different scales and spend different shares of the
    false-event budget; their clean event rates are one scale, the one the analyst's workload is
    counted in, so an event one opener alone opens ranks by how rare it is, not by its weak
    combined surprise."""

    thresholds: tuple[float, ...]
    events_per_station_month: tuple[float, ...]

    def rarity(self, peak: float) -> float:
        """-log10 of the clean events per station-hour that reach ``peak`` ("more unusual than 1 in
        N clean station-hours", N = 10^rarity); log-linear in the threshold between the grid's
        points and past its top (the slope of its last decade of rates), the lowest point's below it."""
        t = np.asarray(self.thresholds, dtype=float)
        lr = np.log10(np.asarray(self.events_per_station_month, dtype=float))
        x = float(peak)
        if x <= t[-1] or len(t) < 2:
            log_rate = float(np.interp(x, t, lr))
        else:
            first = int(np.nonzero(lr <= lr[-1] + 1.0)[0][0])
            first = min(first, len(t) - 2)
            slope = (lr[-1] - lr[first]) / max(t[-1] - t[first], 1e-9)
            log_rate = float(lr[-1] + min(slope, 0.0) * (x - t[-1]))
        return float(np.log10(HOURS_PER_MONTH) - log_rate)

    def to_dict(self) -> dict:
        return {"thresholds": [round(float(v), 4) for v in self.thresholds],
                "events_per_station_month": [round(float(v), 6) for v in self.events_per_station_month]}

    @classmethod
    def from_dict(cls, d: dict) -> EventRateTail:
        return cls(tuple(float(v) for v in d["thresholds"]), tuple(float(v) for v in d["events_per_station_month"]))


def fit_event_rate_tail(stat: np.ndarray, settings: EventSettings, station_months: float) -> EventRateTail | None:
    """The clean event-rate tail of a station-hour statistic [S, T] (events opened by it alone with
    the hysteresis and merging of ``settings``) on a grid of its top quantiles
    (:data:`RATE_TAIL_TOP_SHARES`); None when it never speaks. A lower threshold can merge two events
    into one, so each point takes the largest rate at or above its threshold (non-increasing)."""
    x = np.nan_to_num(np.asarray(stat, dtype=float))
    pos = x[x > 0]
    if pos.size == 0 or station_months <= 0:
        return None
    shares = np.asarray(RATE_TAIL_TOP_SHARES) * x.size / pos.size
    grid = np.unique(np.r_[np.quantile(pos, 1.0 - np.clip(shares, 0.0, 1.0)), pos.max()])
    rates = np.array([count_segments(x >= t * settings.low_ratio, x >= t, settings.merge_gap_h, settings.min_hours)
                      for t in grid], dtype=float) / station_months
    rates = np.maximum.accumulate(rates[::-1])[::-1]
    keep = rates > 0
    return EventRateTail(tuple(grid[keep]), tuple(rates[keep]))


def event_rarity(tails: dict, s: int, a: int, b: int, station_hour: np.ndarray,
                 surprise: dict[str, np.ndarray], openers: dict | None) -> float | None:
    """The rarest of an event's openers on clean data: max over the openers with an event-rate tail
    (:class:`EventRateTail`) of its rarity at the opener's peak over hours [a, b] of station ``s``
    (``station_hour``: the combined station-hour surprise [S, T]); None without tails."""
    best = None
    for name, tail in tails.items():
        if name == COMBINED_OPENER:
            x = station_hour[s, a:b + 1]
        elif name in surprise:
            x = surprise[name][s, a:b + 1]
        elif openers and name in openers:
            x = openers[name].values[s, a:b + 1]
        else:
            continue
        peak = float(np.nanmax(x)) if np.isfinite(x).any() else 0.0
        if peak > 0:
            r = tail.rarity(peak)
            best = r if best is None else max(best, r)
    return best


@dataclass(frozen=True)
class StationThresholds:
    """Per-station event thresholds, overriding :class:`EventSettings` where set.

    ``threshold``: combined surprise that opens an event, per station [S]. ``persistent``: stations
    whose combined opener is the centred ``window_h`` rolling mean of the station-hour surprise
    (self-calibrated networks: a single rare hour is only rare *in this run*, interference lasts).
    ``model_thresholds``: model -> [S] surprise that opens an event alone (``inf`` = never).
    ``open_from`` / ``open_until``: per station, the hours (indices, inclusive) in which an
    own-event model may open an event - a feed that has not started yet is not a gap, nor is the
    end of every station's data.
    """

    threshold: np.ndarray
    persistent: np.ndarray
    window_h: int
    model_thresholds: dict
    open_from: np.ndarray | None = None
    open_until: np.ndarray | None = None
    model_window_h: dict = field(default_factory=dict)  # model -> rolling-mean window on ``persistent`` stations
    run_tail: object | None = None  # TailCalibration of the station-hour surprise of ``persistent`` stations
    # stations whose base rate the clean calibration describes (reference stations with enough history):
    # their events rank by the openers' clean event rates (EventSettings.rate_tails); None = every station
    reference: np.ndarray | None = None


def persistent_surprise(sh: np.ndarray, window_h: int) -> np.ndarray:
    """Centred rolling mean of the station-hour surprise [S, T] (0 where there is none)."""
    from analytics.detectors.base import nan_rolling_mean

    w = max(1, int(window_h))
    return np.nan_to_num(nan_rolling_mean(sh, w, axis=1, min_count=max(1, w // 3)))


def event_openers(combined: np.ndarray, surprise: dict[str, np.ndarray], settings: EventSettings,
                  per_station: StationThresholds | None = None,
                  openers: dict | None = None, monitored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) station-hour masks [S, T]: ``high`` opens an event, ``low`` keeps it open.
    ``openers``: name -> ``OpenerStatistic``, statistics that open events alone at their threshold
    in ``model_thresholds`` like a model's surprise, but are no model (not scored, not combined).
    ``monitored``: [P] the parameters whose cells may open an event (:func:`monitored_columns`)."""
    some = monitored if monitored is not None and not monitored.all() else None
    sh = station_hour_surprise(combined if some is None else combined[:, :, some])
    n_st = sh.shape[0]
    thr = np.full(n_st, float(settings.threshold)) if per_station is None else per_station.threshold
    opener = sh
    if per_station is not None and per_station.persistent.any():
        opener = np.where(per_station.persistent[:, None], persistent_surprise(sh, per_station.window_h), sh)
    high = opener >= thr[:, None]
    low = opener >= thr[:, None] * settings.low_ratio
    models = dict(settings.model_thresholds)
    if per_station is not None:
        models.update(per_station.model_thresholds)
    allowed = None
    if per_station is not None and per_station.open_from is not None:
        t = np.arange(sh.shape[1])[None, :]
        allowed = t >= per_station.open_from[:, None]
        if per_station.open_until is not None:
            allowed &= t <= per_station.open_until[:, None]
    for model, m_thr in models.items():
        # a model with its own threshold opens events by itself (outage: a gap whose rows are
        # absent has no reading score, so its event is the only evidence the analyst sees)
        if model not in surprise and model not in (openers or {}):
            continue
        t = np.broadcast_to(np.asarray(m_thr, dtype=float), (n_st,))[:, None]
        if model in surprise:
            m = np.max(surprise[model] if some is None else surprise[model][:, :, some], axis=2)
        else:
            m = openers[model].values
        w = 1 if per_station is None else int(per_station.model_window_h.get(model, 1))
        if w > 1 and per_station.persistent.any():
            m = np.where(per_station.persistent[:, None], persistent_surprise(m, w), m)
        h, lo = m >= t, m >= t * settings.low_ratio
        if allowed is not None:
            h, lo = h & allowed, lo & allowed
        high |= h
        low |= lo
    return low, high


def lone_opener(openers: dict, settings: EventSettings, per_station: StationThresholds | None,
                s: int, a: int, b: int) -> str | None:
    """The name of the first opener statistic that reaches its threshold at station ``s`` in hours
    [a, b] (None if none does)."""
    thresholds = {**settings.model_thresholds, **(per_station.model_thresholds if per_station is not None else {})}
    for name, opener in openers.items():
        if name in thresholds:
            t = np.broadcast_to(np.asarray(thresholds[name], dtype=float), (opener.values.shape[0],))[s]
            if (opener.values[s, a:b + 1] >= t).any():
                return name
    return None


def station_hour_surprise(combined: np.ndarray) -> np.ndarray:
    """Max over parameters of the combined surprise, [S, T]."""
    return np.max(np.nan_to_num(combined), axis=2)


def _bridged(mask_low: np.ndarray, merge_gap_h: int) -> np.ndarray:
    """mask_low with False gaps of up to merge_gap_h hours between True runs filled."""
    m = mask_low.copy()
    if merge_gap_h > 0:
        gaps = run_lengths(~m)
        left = np.maximum.accumulate(np.where(m, np.arange(m.shape[1])[None, :], -1), axis=1) >= 0
        right = np.flip(np.maximum.accumulate(np.flip(m, axis=1), axis=1), axis=1)
        m = m | ((~m) & (gaps <= merge_gap_h) & left & right)
    return m


def count_segments(mask_low: np.ndarray, mask_high: np.ndarray, merge_gap_h: int, min_hours: int) -> int:
    """``len(segments(...))`` without building the list (vectorised; used by threshold searches)."""
    m = _bridged(np.asarray(mask_low, dtype=bool), merge_gap_h)
    padded = np.zeros((m.shape[0], m.shape[1] + 1), dtype=bool)
    padded[:, :-1] = m
    r = padded.ravel()
    starts = r & ~np.concatenate([[False], r[:-1]])
    ids = np.cumsum(starts)
    lengths = np.bincount(ids, weights=r)
    hi = np.zeros_like(padded)
    hi[:, :-1] = np.asarray(mask_high, dtype=bool) & m
    has_high = np.bincount(ids, weights=hi.ravel(), minlength=len(lengths)) > 0
    ok = has_high & (lengths >= max(min_hours, 1))
    ok[0] = False  # id 0 = cells before the first run
    return int(ok.sum())


def segments(mask_low: np.ndarray, mask_high: np.ndarray, merge_gap_h: int, min_hours: int) -> list[tuple[int, int, int]]:
    """(station, t_start, t_end inclusive) of runs of mask_low containing a mask_high hour,
    after bridging False gaps of up to merge_gap_h hours between True runs."""
    m = mask_low.copy()
    if merge_gap_h > 0:
        gaps = run_lengths(~m)
        inner = np.zeros_like(m)
        # a gap is bridgeable only if it has True on both sides
        left = np.maximum.accumulate(np.where(m, np.arange(m.shape[1])[None, :], -1), axis=1) >= 0
        right = np.flip(np.maximum.accumulate(np.flip(m, axis=1), axis=1), axis=1)
        inner = (~m) & (gaps <= merge_gap_h) & left & right
        m = m | inner
    out = []
    padded = np.zeros((m.shape[0], m.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = m
    d = np.diff(padded, axis=1)
    for s in range(m.shape[0]):
        starts = np.nonzero(d[s] == 1)[0]
        ends = np.nonzero(d[s] == -1)[0] - 1
        if not len(starts):
            continue
        hi_cum = np.concatenate([[0], np.cumsum(mask_high[s])])
        for a, b in zip(starts, ends, strict=True):
            if b - a + 1 >= min_hours and hi_cum[b + 1] - hi_cum[a] > 0:
                out.append((s, int(a), int(b)))
    return out


def build_events(panel: Panel, combined: np.ndarray, final: np.ndarray, surprise: dict[str, np.ndarray],
                 model_kinds: dict[str, str | None], settings: EventSettings,
                 expected: np.ndarray | None = None, score_of=None, peak_bonus: float = 0.0,
                 per_station: StationThresholds | None = None, rarity_of=None,
                 openers: dict | None = None) -> pd.DataFrame:
    """Events table (EVENT_COLUMNS) from the combined surprise cube [S, T, P].

    ``per_station`` replaces the calibrated thresholds station by station (see
    :class:`StationThresholds`). ``settings.absent_gaps_like_readings``: in self-calibrated networks
    too, a gap whose rows are absent scores as its strongest hour would as a null row (the run
    peak's bonus, the readings' calibration), so a power cut that drops the packets ranks like one
    that sends empty ones. ``rarity_of``: combined surprise -> -log10 P_clean without the cap
    (``rank_score``); events whose numbers do not support their kind are dropped. Data-completeness
    alarms (``DATA_GAP_KIND``) come from :func:`completeness_gaps`, not from the thresholds: every
    gap of ``settings.data_gap_min_h`` hours or more that no suspected-interference event overlaps.
    ``openers``: opener statistics that are no model (:func:`event_openers`); an event only they
    open takes their kind (a scaled copy reads high beside its neighbours too, and the spatial
    models' mass would call it an unsupported spike)."""
    monitored = monitored_columns(panel.parameters)  # the weather never opens an event
    low, high = event_openers(combined, surprise, settings, per_station, openers, monitored)
    segs = segments(low, high, settings.merge_gap_h, settings.min_hours)
    opened_by_models = event_openers(combined, surprise, settings, per_station, monitored=monitored)[1] \
        if openers else high
    rows, covered = [], []  # covered: (station, first, last hour) of the suspected-interference events
    kinds = sorted({k for k in model_kinds.values() if k})
    n_st = combined.shape[0]
    thr = np.full(n_st, float(settings.threshold)) if per_station is None else per_station.threshold
    outage_open = np.full(n_st, np.inf if settings.model_thresholds.get("outage") is None
                          else float(settings.model_thresholds["outage"]))
    if per_station is not None and "outage" in per_station.model_thresholds:
        outage_open = np.broadcast_to(np.asarray(per_station.model_thresholds["outage"], dtype=float), (n_st,))
    tails = settings.rate_tails
    by_rate = np.ones(n_st, dtype=bool) if per_station is None or per_station.reference is None \
        else per_station.reference & ~per_station.persistent
    station_hour = station_hour_surprise(combined if monitored.all() else combined[:, :, monitored]) if tails else None
    for s, a, b in segs:
        o_open = float(outage_open[s]) if np.isfinite(outage_open[s]) else None
        scorer, bonus, rarity = score_of, peak_bonus, rarity_of
        if per_station is not None and per_station.persistent[s] and per_station.run_tail is not None:
            # self-calibrated network: the event ranks against this run's station-hours of that network,
            # and a gap ranks by its own outage evidence - the peak bonus (the air alarm budget's
            # one-alarm-per-run lift) would put every gap of the run at the top of that tail (score 1.0)
            tail = per_station.run_tail
            scorer = lambda v, tail=tail: float(1.0 - 10.0 ** (-tail.surprise(np.array([v]))[0]))  # noqa: E731
            bonus = 0.0
            rarity = lambda v, tail=tail: float(tail.rarity(np.array([v]))[0])  # noqa: E731
        gap = (score_of, peak_bonus, rarity_of) if settings.absent_gaps_like_readings else (scorer, bonus, rarity)
        only = None if opened_by_models[s, a:b + 1].any() else lone_opener(openers, settings, per_station, s, a, b)
        rare = event_rarity(tails, s, a, b, station_hour, surprise, openers) if tails and by_rate[s] else None
        row = _describe(panel, s, a, b, combined, final, surprise, model_kinds, kinds,
                        float(thr[s]) * settings.low_ratio, expected, scorer, bonus, o_open, gap, rarity,
                        openers[only].kind if only else None, rare, monitored, opened_by=only)
        # an outage with no sign of interference is left to the completeness check below, which
        # finds every gap whether or not the interference threshold opened an event on it
        if row is not None and row[4] != DATA_GAP_KIND:
            covered.append((s, a, b))
            if settings.ranker is not None and rare is not None:
                row = ranked_row(row, settings.ranker)
                if settings.list_cut is not None and row[9] < settings.list_cut:
                    continue  # beyond the analysts' capacity: opened to rank, not listed
            rows.append(row)
    for s, a, b in completeness_gaps(missing_hours(panel), settings.data_gap_min_h):
        if not any(cs == s and ca <= b and cb >= a for cs, ca, cb in covered):
            rows.append(data_gap_row(panel, s, a, b))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS}).astype(
            {"start": "datetime64[us]", "end": "datetime64[us]", "score": float, "rank_score": float})
    ev = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    ev["start"] = ev["start"].astype("datetime64[us]")
    ev["end"] = ev["end"].astype("datetime64[us]")
    return ev


def ranked_row(row: list, ranker) -> list:
    """An event row (``EVENT_COLUMNS``) ranked by the learned ranker: its ``rank_score`` becomes the
    ranker's clean rarity (``EventRanker.rank_event``, fed the row's ranking before it) with
    :func:`rank_figure`'s tie-breaks (peak surprise, then the largest deviation)."""
    evidence, before = row[8], float(row[9])
    rarity = float(ranker.rank_event(evidence, str(row[4]), before))
    deviation = evidence.get("deviation_pct_vs_neighbours", {}) or {}
    rank = rank_figure(0.0, 0.0, None, np.array([float(evidence.get("peak_surprise", 0.0) or 0.0)]),
                       deviation, clean_rarity=rarity)
    evidence = {**evidence, "rarity": round(rank, 2), "rarity_before_ranker": round(before, 2)}
    return [*row[:8], evidence, rank]


def _describe(panel, s, a, b, combined, final, surprise, model_kinds, kinds, low, expected, score_of=None,
              peak_bonus: float = 0.0, outage_open: float | None = None, gap_scoring: tuple | None = None,
              rarity_of=None, opener_kind: str | None = None, clean_rarity: float | None = None,
              monitored: np.ndarray | None = None, opened_by: str | None = None) -> list | None:
    """One event row, or None when its numbers do not support its kind (see :func:`kind_supported`,
    :func:`fabrication_supported`). ``opener_kind``, ``opened_by``: the kind and name of the opener
    statistic that alone opened the event, if one did.
    ``clean_rarity``: the event's rank on its openers' clean event rates (:func:`event_rarity`), in
    place of its typical evidence's when given. ``monitored``: :func:`monitored_columns` of the panel."""
    sl = combined[s, a:b + 1, :]
    monitored = monitored_columns(panel.parameters) if monitored is None else monitored
    hot = (np.nan_to_num(sl) >= low) & monitored  # cells that carry the event
    if not hot.any():  # opened by a persistent signal no single cell reaches: its strongest quarter
        hot = strongest_cells(np.where(monitored, sl, np.nan)) & monitored
    if not hot.any():
        return None  # only the weather sensors carried it: context for the analysers, not interference
    model_max = {m: float(np.max(np.where(hot, arr[s, a:b + 1, :], 0.0))) for m, arr in surprise.items()}
    kind_mass = {k: 0.0 for k in kinds}
    for m, arr in surprise.items():
        k = model_kinds.get(m)
        if k:
            kind_mass[k] += float(np.sum(np.where(hot, arr[s, a:b + 1, :], 0.0)))
    kind = opener_kind or (max(kind_mass, key=kind_mass.get) if kind_mass and max(kind_mass.values()) > 0
                           else "spike")
    if kind == "fabrication" and held_at_one_value(panel, s, a, b, hot):
        kind = "flatline"  # a stuck probe also loses its roughness (donor_smooth); copied data keep it
    flagged_share = suspect_flag_share(panel, s, a, b, hot)
    if kind in FLAG_HIDEABLE_KINDS and flagged_share >= FLAG_EVENT_SHARE:
        # high or bunched values under HJ 212 maintenance/fault flags: the flags are the interference
        kind = "flag_abuse"
    p_hot = np.nonzero(hot.any(axis=0))[0]
    params = [panel.parameters[p] for p in p_hot]
    station_id = str(panel.stations["station_id"].iloc[s])
    name = _station_name(panel, s)
    start, end = panel.times[a], panel.times[b]
    # event confidence: the calibrated score of the event's weaker hot hours (lower quartile), not
    # of its peak - the peak reading already carries its own score, and an event must not lend
    # its strongest hour's score to every hour it spans. Exception: an event over hours whose rows
    # are absent (an outage that removed the data) has no reading to carry the evidence, so it
    # ranks like the peak of a suspicious run.
    hot_s = sl[hot]
    typical = float(np.quantile(hot_s, 0.25)) if hot_s.size else float(np.nanmax(sl))
    absent_h = ~panel.present[s, a:b + 1, :].any(axis=1)
    rows_absent = bool(absent_h.any())
    # a gap whose rows are absent keeps its outage evidence even when the event around it takes
    # another kind by mass (e.g. odd readings next to the gap): the gap alone would open an event
    gap_opens = (outage_open is not None and "outage" in surprise and rows_absent
                 and float(np.max(surprise["outage"][s, a:b + 1][absent_h])) >= outage_open)
    if (kind == "outage" and rows_absent) or gap_opens:
        if gap_scoring is not None:  # absent rows: scored as the gap's strongest hour would be as a reading
            score_of, peak_bonus, rarity_of = gap_scoring
        typical = float(np.nanmax(sl)) + peak_bonus
    elif kind == "outage":  # null rows carry their own scores; the event adds no evidence to them
        typical = float(np.min(hot_s)) if hot_s.size else typical
    score = float(score_of(typical)) if score_of is not None else float(np.nanmax(final[s, a:b + 1, :]))
    nb_ids = [str(panel.stations["station_id"].iloc[j]) for j in panel.neighbours.index[s] if j >= 0][:5]
    deviation, predicted, difference = {}, {}, {}
    if expected is not None:
        for p in p_hot:
            v = panel.values[s, a:b + 1, p]
            e = expected[s, a:b + 1, p]
            ok = np.isfinite(v) & np.isfinite(e) & (e > 0)
            if ok.any():
                deviation[panel.parameters[p]] = round(float(np.median(v[ok] / e[ok] - 1.0)) * 100, 1)
                predicted[panel.parameters[p]] = round(float(np.median(e[ok])), 3)
                difference[panel.parameters[p]] = round(float(np.median(v[ok] - e[ok])), 3)
    # a parameter the neighbours do not measure is judged against the station's own hours around it
    own_level = {panel.parameters[p]: d for p in p_hot if panel.parameters[p] not in difference
                 for d in [own_level_difference(panel.values[s, :, p], a, b)] if d is not None}
    fired = {m: round(v, 2) for m, v in sorted(model_max.items(), key=lambda kv: -kv[1]) if v >= 2.0}
    hours = b - a + 1
    network = STATION_NETWORK.get(str(panel.stations["kind"].iloc[s]), "air") if "kind" in panel.stations.columns \
        else "air"
    if (not kind_supported(kind, deviation, {**own_level, **difference}, fired, network)
            or natural_runoff(kind, deviation, network)):
        return None
    # after the checks: a storm's shared rise stays dropped as runoff; a shared drop of >= 15% is the
    # suppression those checks ask for
    kind = held_at_class_minimum(shared_shift_kind(kind, deviation, fired, network), deviation, fired, network)
    rank = rank_figure(typical, score, rarity_of, sl, deviation, clean_rarity)
    gap_level = None
    if kind == "outage":
        gap_level = gap_neighbour_level(panel, s, a, b, EPISODE_PARAMETERS.get(network))
        if not gap_level["high"]:
            kind = DATA_GAP_KIND
    evidence = {"models": fired, "neighbours": nb_ids, "deviation_pct_vs_neighbours": deviation,
                "difference_vs_neighbours": difference, "hours": hours, "peak_surprise": round(float(np.nanmax(sl)), 2),
                "kind_mass": {k: round(v, 1) for k, v in kind_mass.items() if v > 0}}
    if own_level:
        evidence["difference_vs_own_level"] = own_level
    if flagged_share > 0:
        evidence["suspect_flag_share"] = round(flagged_share, 2)
    if gap_level is not None:
        evidence["gap_neighbour_level_z"] = gap_level["z"]
        if gap_level.get("pm25") is not None:
            evidence["gap_neighbour_pm25"] = gap_level["pm25"]
    evidence["rarity"] = round(rank, 2)
    evidence["neighbour_prediction"] = predicted
    evidence["sentences"] = model_sentences(fired, deviation, predicted, hours, len(nb_ids), gap_level)
    evidence["series"] = event_series(panel, s, a, b, expected, deviation)
    name_zh = str(panel.stations["name"].iloc[s]) if "name" in panel.stations.columns else None
    evidence["kind_figures"] = kind_figures(panel, s, a, b, kind, params, gap_level, flagged_share)
    if kind == "fabrication" and not fabrication_supported(evidence["kind_figures"], fired, opened_by):
        return None
    summary = summarise(name, kind, params, hours, deviation, name_zh if name_zh not in (None, "nan") else None,
                        network=network, figures={**evidence["kind_figures"], "own_level": own_level})
    event_id = f"{station_id}-{start:%Y%m%d%H}-{kind}"
    return [event_id, station_id, start, end, kind, score, ",".join(params), summary, evidence, rank]


def missing_hours(panel: Panel) -> np.ndarray:
    """[S, T] bool: station-hours without a valid value for any parameter (row absent, or present
    with every value null)."""
    return ~np.isfinite(panel.values).any(axis=2)


def completeness_gaps(missing: np.ndarray, min_h: int) -> list[tuple[int, int, int]]:
    """(station, first, last hour inclusive) of every run of at least ``min_h`` missing hours
    ([S, T] ``missing``) between two hours with data at the station
    (:func:`analytics.completeness.missing_runs_h`, the run finder the enforcement rule uses too).
    Hours before a station's first valid value (not commissioned yet) and after its last are outside
    its reporting period: a scored window's end is not the network's present, so a feed that stops
    for good is the enforcement rule's to report (``envtrust.alarms.missing_runs``, bounded by the
    registry's service dates and the newest hour of the station's data source)."""
    out = []
    for s in range(missing.shape[0]):
        out.extend((s, a, b) for a, b in missing_runs_h(np.nonzero(~missing[s])[0], min_h))
    return out


#: rank_score of a data-completeness alarm per missing hour (capped below ``DATA_GAP_RANK_CAP``): the
#: completeness list reads longest gap first, and no gap outranks a suspected-interference event
DATA_GAP_RANK_PER_H = 1e-4
DATA_GAP_RANK_CAP = 0.0999


def data_gap_row(panel: Panel, s: int, a: int, b: int) -> list:
    """A data-completeness alarm (``DATA_GAP_KIND``) over missing hours a..b of station ``s``: score
    0 (no sign of interference), the missing hours in words, and how high the neighbours read
    meanwhile as evidence (:func:`gap_neighbour_level`)."""
    hours = b - a + 1
    absent = int((~panel.present[s, a:b + 1, :].any(axis=1)).sum())
    empty = hours - absent
    station_id = str(panel.stations["station_id"].iloc[s])
    network = STATION_NETWORK.get(str(panel.stations["kind"].iloc[s]), "air") if "kind" in panel.stations.columns \
        else "air"
    level = gap_neighbour_level(panel, s, a, b, EPISODE_PARAMETERS.get(network))
    nb_ids = [str(panel.stations["station_id"].iloc[j]) for j in panel.neighbours.index[s] if j >= 0][:5]
    params = [panel.parameters[p] for p in np.nonzero(np.isfinite(panel.values[s]).any(axis=0))[0]]
    rank = round(min(hours * DATA_GAP_RANK_PER_H, DATA_GAP_RANK_CAP), 7)
    z = "" if level["z"] is None else f"{level['z']:.1f}"
    how_en = ", ".join(t for n, t in ((absent, f"{absent} h without a record"),
                                      (empty, f"{empty} h with no valid value")) if n)
    how_zh = "，".join(t for n, t in ((absent, f"{absent}小时无记录"), (empty, f"{empty}小时无有效值")) if n)
    sentence = {"model": "completeness", "surprise": 0.0,
                "zh": f"{hours}小时没有有效数据（{how_zh}）" + (f"，邻站读数相对本站常态为{z}个稳健标准差" if z else ""),
                "en": f"no valid data for {hours} h ({how_en})"
                      + (f"; the neighbours read {z} robust scales from the station's usual level" if z else "")}
    evidence = {"models": {}, "neighbours": nb_ids, "hours": hours, "hours_without_record": absent,
                "hours_without_valid_value": empty, "gap_neighbour_level_z": level["z"], "rarity": rank,
                "neighbour_prediction": {}, "sentences": [sentence], "series": {}}
    if level.get("pm25") is not None:
        evidence["gap_neighbour_pm25"] = level["pm25"]
    name_zh = str(panel.stations["name"].iloc[s]) if "name" in panel.stations.columns else None
    summary = data_gap_summary(_station_name(panel, s), name_zh, hours, how_en, how_zh, network, level)
    start, end = panel.times[a], panel.times[b]
    return [f"{station_id}-{start:%Y%m%d%H}-{DATA_GAP_KIND}", station_id, start, end, DATA_GAP_KIND, 0.0,
            ",".join(params), summary, evidence, rank]


def data_gap_summary(name: str, name_zh: str | None, hours: int, how_en: str, how_zh: str, network: str,
                     level: dict) -> str:
    """A data-completeness alarm in one line (English | Chinese): how many hours are missing, and
    that there is no sign of interference - or, where the neighbours read high meanwhile
    (``level["high"]``, :func:`gap_neighbour_level`) but the gap opened no interference event,
    that instead: the analyst should not read "no sign" there."""
    zh_kind, en_kind = kind_text(DATA_GAP_KIND, network)
    if level.get("high"):
        z = f" at {level['z']:+.1f} robust scales" if level.get("z") is not None else ""
        zh_z = f"，{level['z']:+.1f}个稳健标准差" if level.get("z") is not None else ""
        en_kind = (f"data missing / transmission interrupted (the neighbours read high meanwhile{z}, below the "
                   "outage threshold)")
        zh_kind = f"数据缺失/传输中断(期间邻站读数偏高{zh_z}，未达停机告警阈值)"
    zh_name = name_zh if name_zh not in (None, "nan") else name
    return f"{name}: {hours} h of data missing ({how_en}) - {en_kind} | {zh_name}：缺失{hours}小时数据（{how_zh}） - {zh_kind}"


#: a parameter held within this many reporting steps over an event's hot hours reads one value
FLAT_RANGE_STEPS = 2.0


def held_at_one_value(panel: Panel, s: int, a: int, b: int, hot: np.ndarray) -> bool:
    """Whether a hot parameter of the event stays at one value over its hot hours, give or take
    ``FLAT_RANGE_STEPS`` reporting steps (at least 3 readings): what a stuck probe, a frozen logger
    or a hand-set level reads. Data copied from a neighbour or an earlier day, or smoothed
    (fabrication), keep the source's variation. Why: a flat run has also lost its hour-to-hour
    roughness, so the fabrication model (``donor_smooth``) outweighs the flatline model - on the
    development split's water sections every caught flatline was labelled a fabrication."""
    for p in np.nonzero(hot.any(axis=0))[0]:
        v = panel.values[s, a:b + 1, p][hot[:, p]]
        v = v[np.isfinite(v)]
        if v.size >= 3 and float(v.max() - v.min()) <= FLAT_RANGE_STEPS * reporting_step(panel, int(p)):
            return True
    return False


def reporting_step(panel: Panel, p: int) -> float:
    """A parameter's reporting resolution (the flatline detector's known one, else estimated from the data)."""
    from analytics.detectors.flatline import RESOLUTION, data_resolution

    name = panel.parameters[p]
    return float(RESOLUTION[name]) if name in RESOLUTION else float(data_resolution(panel.values[:, :, p]))


def rank_figure(typical: float, score: float, rarity_of, sl: np.ndarray, deviation: dict[str, float],
                clean_rarity: float | None = None) -> float:
    """The graded figure an event is sorted by: ``clean_rarity`` where given (-log10 of the clean
    events per station-hour its rarest opener opens that strong, :func:`event_rarity`), else
    -log10 P_clean of its evidence without the cap (``rarity_of``), else from the 0-1 score. Two
    events of equal evidence (two capped impossible values) are ordered by their strongest hour
    (+ 1e-3 x peak surprise), then by how far the station is from its neighbours (+ 1e-7 x the
    largest |deviation| in %)."""
    if clean_rarity is not None:
        r = float(clean_rarity)
    elif rarity_of is not None:
        r = float(rarity_of(typical))
    else:
        r = -float(np.log10(max(1.0 - float(score), 1e-12)))
    peak = float(np.nanmax(np.nan_to_num(sl))) if sl.size else 0.0
    dev = min(max((abs(v) for v in deviation.values()), default=0.0), 9999.0)
    return round(r + 1e-3 * peak + 1e-7 * dev, 7)


#: a drift is one analyser walking off its calibration; a shift of at least this share (%) against
#: the neighbour prediction that ``SHARED_SHIFT_MIN_PARAMETERS`` of a network's pollutant analysers
#: (``EPISODE_PARAMETERS``: four instruments on four principles) share in one direction is the sample
SHARED_SHIFT_PCT = SUPPRESSION_MIN_DROP_PCT
SHARED_SHIFT_MIN_PARAMETERS = 3


def shared_shift_kind(kind: str, deviation: dict[str, float], fired: dict[str, float], network: str) -> str:
    """The kind of a ``drift`` whose shift the pollutant analysers share (:data:`SHARED_SHIFT_PCT`):
    not one probe but the water reaching all of them. Pushed down together it is a diluted sample or
    a tampered sample line (``suppression``); copied from another station's record it is
    ``fabrication`` - where the copy model (``donor_copy``) fired, and, for a shift down, outweighs
    the drift models. Other kinds and networks without ``EPISODE_PARAMETERS`` keep their kind."""
    pollutants = EPISODE_PARAMETERS.get(network)
    if kind != "drift" or not pollutants:
        return kind
    down = sum(1 for p in pollutants if deviation.get(p, 0.0) <= -SHARED_SHIFT_PCT)
    up = sum(1 for p in pollutants if deviation.get(p, 0.0) >= SHARED_SHIFT_PCT)
    copied = fired.get("donor_copy", 0.0)
    if up >= SHARED_SHIFT_MIN_PARAMETERS and copied > 0:
        return "fabrication"  # dilution never raises; a dirtier station's record does
    if down >= SHARED_SHIFT_MIN_PARAMETERS:
        return "fabrication" if copied > max(fired.get("drift", 0.0), fired.get("drift_ramp", 0.0)) else "suppression"
    return kind


def held_at_class_minimum(kind: str, deviation: dict[str, float], fired: dict[str, float], network: str) -> str:
    """A water ``drift`` reading DO above the neighbour prediction while the class-limit bunching
    model (``clip_class``) fires is DO held just above its GB 3838-2002 class minimum (``clipping``),
    not a drifting probe: a fouled DO membrane reads low, and the readings pile up at the limit."""
    if kind == "drift" and network == "water" and deviation.get("DO", 0.0) > 0 and fired.get("clip_class", 0.0) > 0:
        return "clipping"
    return kind


def kind_supported(kind: str, deviation: dict[str, float], difference: dict[str, float] | None = None,
                   fired: dict[str, float] | None = None, network: str = "air") -> bool:
    """Do the event's numbers support its kind?

    - A suppression needs a parameter well below what the neighbours predict (at least
      ``SUPPRESSION_MIN_DROP_PCT``: "-2% vs neighbours" is no suppression), in the air network a
      particulate one (``SUPPRESSED_PARAMETERS``: spraying or a blocked inlet lowers PM; a gas
      analyser alone reading its floor for an hour is its zero check, not a suppression).
    - With ``difference`` (station minus neighbour prediction, median over the event, in the
      parameter's unit; for a parameter no neighbour measures, minus the station's own hours
      around the event, :func:`own_level_difference`) a spike or a suppression also needs it in
      absolute terms (:func:`beyond_analyser_disagreement`).
    """
    if kind == "suppression":
        allowed = SUPPRESSED_PARAMETERS.get(network)
        low = {p: v for p, v in deviation.items()
               if v <= -SUPPRESSION_MIN_DROP_PCT and (allowed is None or p in allowed)}
        if not low:
            return False
        difference = {p: d for p, d in difference.items() if p in low} if difference else difference
    if kind in ABSOLUTE_KINDS and difference:
        return beyond_analyser_disagreement(kind, difference, fired or {})
    return True


#: kinds that say "the station reads far from its neighbours" (+1 above, -1 below), so their
#: numbers must show it in absolute terms too
ABSOLUTE_KINDS: dict[str, int] = {"spike": 1, "suppression": -1}
#: models whose evidence needs no neighbour: a value outside the physical range, a component above
#: its total (PM2.5 > PM10, NH3-N > TN)
IMPOSSIBLE_VALUE_MODELS = ("range", "pm_ratio")
#: the parameters a suppression lowers, per network (any parameter where not listed)
SUPPRESSED_PARAMETERS: dict[str, tuple[str, ...]] = {"air": ("PM2.5", "PM10")}


def beyond_analyser_disagreement(kind: str, difference: dict[str, float], fired: dict[str, float]) -> bool:
    """Is some parameter of the event further from the neighbour prediction, in the kind's
    direction, than two honest analysers may read apart (``analyser_disagreement``, HJ 654-2013 /
    HJ 653-2013)? A one-hour O3 of 65 ug/m3 beside a predicted 4 is +1,600% - rare in log space
    at the night-time analyser floor - but 61 ug/m3 is within two O3 analysers' allowed error, so
    it is no spike. Parameters without an acceptance limit (water, CEMS) always qualify, and so
    does a spike of impossible values (``IMPOSSIBLE_VALUE_MODELS``)."""
    if kind == "spike" and any(m in fired for m in IMPOSSIBLE_VALUE_MODELS):
        return True
    sign = ABSOLUTE_KINDS[kind]
    for p, d in difference.items():
        floor = analyser_disagreement(p)
        if floor is None or sign * d >= floor:
            return True
    return False


def own_level_difference(series: np.ndarray, a: int, b: int, context_h: int | None = None) -> float | None:
    """The median of a station's readings over hours [a, b] minus the median of its own readings in
    the ``context_h`` hours either side (``SERIES_CONTEXT_H``), in the parameter's unit; None
    without readings on both. What a spike is measured against where no neighbour measures the
    parameter (a reference station among micro-sensors that measure PM and NO2 only has no O3
    prediction)."""
    h = SERIES_CONTEXT_H if context_h is None else context_h
    inside = series[a:b + 1]
    around = np.r_[series[max(0, a - h):a], series[b + 1:b + 1 + h]]
    inside, around = inside[np.isfinite(inside)], around[np.isfinite(around)]
    if not inside.size or not around.size:
        return None
    return round(float(np.median(inside) - np.median(around)), 3)


def whole_gap_h(present_h: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """The whole run of absent hours around an event's hours [a, b]: the event keeps only the hours
    its detector fired on (often the few where the neighbours happen to run highest), so judging
    the neighbours over those alone would call ordinary noise an episode."""
    while a > 0 and not present_h[a - 1]:
        a -= 1
    while b + 1 < present_h.size and not present_h[b + 1]:
        b += 1
    return a, b


#: parameters whose high level is a pollution episode, per network (all parameters where not listed):
#: in a river, a gap while the neighbours read high DO, pH or conductivity is no sign of a hidden wave
EPISODE_PARAMETERS: dict[str, tuple[str, ...]] = {"water": ("CODMn", "NH3-N", "TP", "TN")}
#: a storm's runoff raises turbidity and particle-bound phosphorus and dilutes the dissolved ions
#: (conductivity): a section showing all three against its neighbours is seeing rain, not tampering
RUNOFF_MIN_TURBIDITY_PCT = 15.0
RUNOFF_MIN_TP_PCT = 10.0
RUNOFF_KINDS = ("spike", "drift")


def natural_runoff(kind: str, deviation: dict[str, float], network: str) -> bool:
    """Does a water event read like a storm's runoff (turbidity and TP well above the neighbours,
    conductivity not above them)? Such an event is not raised as a spike or drift."""
    if network != "water" or kind not in RUNOFF_KINDS:
        return False
    turbidity, tp, conductivity = (deviation.get(p) for p in ("turbidity", "TP", "conductivity"))
    return (turbidity is not None and tp is not None and turbidity >= RUNOFF_MIN_TURBIDITY_PCT
            and tp >= RUNOFF_MIN_TP_PCT and (conductivity is None or conductivity <= 0.0))


def gap_neighbour_level(panel: Panel, s: int, a: int, b: int, parameters: tuple[str, ...] | None = None) -> dict:
    """How high the neighbours put the station while its data are missing (robust z of the
    neighbour prediction against the station's own level, median over the whole gap, max over
    ``parameters`` (all when None); the predicted PM2.5's median over the gap when the network has
    it). ``high``: a sign of interference (a gap during an episode)."""
    from analytics.detectors.base import log_values, nanmedian_quiet, robust_scale

    fit = panel.cache.get("spatial_fit")
    if fit is None:
        return {"z": None, "high": False}
    a, b = whole_gap_h(panel.present[s].any(axis=1), a, b)
    y = log_values(panel)[s]
    pred = fit["pred"][s, a:b + 1, :]
    missing = ~np.isfinite(panel.values[s, a:b + 1, :])
    with np.errstate(all="ignore"):
        centre = nanmedian_quiet(y, axis=0)
        scale = robust_scale(y[None], axis=1, floor=0.05)[0, 0]
        z = (pred - centre[None, :]) / scale[None, :]
    z = np.where(missing & np.isfinite(z), z, np.nan)
    if parameters is not None:
        z[:, [panel.parameters[p] not in parameters for p in range(len(panel.parameters))]] = np.nan
    zmax = float(np.nanmax(nanmedian_quiet(z, axis=0))) if np.isfinite(z).any() else None
    out = {"z": None if zmax is None else round(zmax, 2), "high": zmax is not None and zmax >= GAP_LEVEL_Z}
    ep = panel.pindex("PM2.5")
    if ep is not None and np.isfinite(pred[:, ep]).any():
        pm = float(np.nanmedian(np.exp(pred[:, ep]) - panel.cache["log_offset"][ep]))
        out["pm25"] = round(pm, 1)
        out["high"] = out["high"] or pm >= GAP_EPISODE_PM25_UGM3
    return out


#: at most this many hours of an event's chart (the event and a few hours either side)
SERIES_MAX_H = 96
SERIES_CONTEXT_H = 6


def event_series(panel: Panel, s: int, a: int, b: int, expected: np.ndarray | None,
                 deviation: dict[str, float]) -> dict:
    """A small chart's data: the station against its neighbour prediction over the event (the
    parameter that deviates most, else the first hot one), a few hours either side."""
    if expected is None or not deviation:
        return {}
    param = max(deviation, key=lambda k: abs(deviation[k]))
    p = panel.pindex(param)
    lo = max(0, a - SERIES_CONTEXT_H)
    hi = min(panel.shape[1], min(b + SERIES_CONTEXT_H, a + SERIES_MAX_H) + 1)

    def cells(x):
        return [None if not np.isfinite(v) else round(float(v), 3) for v in x]

    return {"parameter": param, "start": str(panel.times[lo]), "hours": hi - lo,
            "event_from": a - lo, "event_to": b - lo,
            "station": cells(panel.values[s, lo:hi, p]), "neighbours": cells(expected[s, lo:hi, p])}


def strongest_cells(sl: np.ndarray, share: float = 0.25) -> np.ndarray:
    """The ``share`` of an event's cells with the largest positive surprise (all cells if none is
    positive). Cells with no surprise - parameters kept as context - never carry an event."""
    x = np.nan_to_num(sl)
    pos = x > 0
    if not pos.any():
        return np.ones_like(x, dtype=bool)
    return pos & (x >= np.quantile(x[pos], 1.0 - share))


#: HJ 212-2017 data flags that take a reading out of compliance statistics (F stopped, M maintenance,
#: S manual, D fault, C calibration): the flags a dishonest operator sets to hide emissions
SUSPECT_FLAGS = ("F", "M", "S", "D", "C")
#: kinds whose high/odd values a suspect flag can hide (a stuck analyser flagged D is an honest fault)
FLAG_HIDEABLE_KINDS = ("spike", "clipping", "flag_abuse")
#: share of an event's hot readings under suspect flags that makes the flags the explanation
FLAG_EVENT_SHARE = 0.5


def suspect_flag_share(panel: Panel, s: int, a: int, b: int, hot: np.ndarray) -> float:
    """Share of the event's hot readings that carry a suspect HJ 212 flag (0 without flags)."""
    flags = getattr(panel, "flags", None)
    if flags is None or not hot.any():
        return 0.0
    from analytics.detectors.base import FLAG_CODES

    codes = [FLAG_CODES.index(f) for f in SUSPECT_FLAGS if f in FLAG_CODES]
    flagged = np.isin(flags[s, a:b + 1, :], codes)
    return float(flagged[hot].mean())


def _station_name(panel: Panel, s: int) -> str:
    row = panel.stations.iloc[s]
    for col in ("name_en", "name"):
        if col in panel.stations.columns and isinstance(row.get(col), str) and row.get(col):
            return str(row[col])
    return str(row["station_id"])


#: days back a copied record is looked for (a week: the same weekday's hours)
REPEAT_LAGS_D = range(1, 8)


def repeated_day_hours(series: np.ndarray, a: int, b: int, tolerance: float) -> tuple[int, int, int]:
    """Hours a..b of an hourly ``series`` whose value repeats, within ``tolerance``, the value at the
    same hour ``d`` days earlier, for the ``d`` in :data:`REPEAT_LAGS_D` with most such hours (a
    record copied from another day). Returns (repeating hours, d, hours with a value); (0, 0, n)
    when nothing repeats."""
    x = series[a:b + 1]
    have = np.isfinite(x)
    best = (0, 0)
    for d in REPEAT_LAGS_D:
        lo = a - 24 * d
        if lo < 0:
            break
        y = series[lo:lo + len(x)]
        n = int((have & np.isfinite(y) & (np.abs(x - y) <= tolerance)).sum())
        if n > best[0]:
            best = (n, d)
    return best[0], best[1], int(have.sum())


def roughness_ratio(series: np.ndarray, a: int, b: int) -> float | None:
    """Hour-to-hour roughness of hours a..b (mean |x_t - (x_t-1 + x_t+1) / 2|, the donor detector's
    measure of hand smoothing) over the same outside them: under 1 is smoother than usual."""
    x = np.asarray(series, dtype=float)
    rough = np.full(x.shape, np.nan)
    rough[1:-1] = np.abs(x[1:-1] - 0.5 * (x[:-2] + x[2:]))
    inside = np.zeros(x.shape, dtype=bool)
    inside[a:b + 1] = True
    ev, usual = rough[inside], rough[~inside]
    if not np.isfinite(ev).any() or not np.isfinite(usual).any():
        return None
    usual_mean = float(np.nanmean(usual))
    return None if usual_mean <= 0 else round(float(np.nanmean(ev)) / usual_mean, 3)


#: share of an event's hours repeating an earlier day's above which a record reads as copied
REPEAT_MIN_SHARE = 0.5


#: a series under this many reporting steps moves by its resolution (CO at 0.4 mg/m3 in 0.1 steps):
#: its hour-to-hour variation is the rounding's, so a low roughness there says nothing of smoothing
ROUGHNESS_MIN_STEPS = 10.0
#: a hand-smoothed record varies hour to hour at most this share of the station's usual
SMOOTHED_MAX_ROUGHNESS = 0.5


def fabrication_supported(figures: dict, fired: dict[str, float], opened_by: str | None = None) -> bool:
    """Do a fabrication's numbers show a copied or smoothed record? Copied from another station (the
    copy model fired, or the pair's spread fell below its history, ``PAIR_COPY``), copied from an
    earlier day (:data:`REPEAT_MIN_SHARE` of its hours repeat one), or smoothed: a parameter read
    well above its resolution (:data:`ROUGHNESS_MIN_STEPS`) varies hour to hour at most
    :data:`SMOOTHED_MAX_ROUGHNESS` of its usual. A record smooth only at its analyser's resolution
    is no fabrication."""
    if "donor_copy" in fired or opened_by == PAIR_COPY:
        return True
    if figures.get("repeat_share", 0.0) >= REPEAT_MIN_SHARE:
        return True
    r = figures.get("roughness_ratio")
    return r is not None and r <= SMOOTHED_MAX_ROUGHNESS


def kind_figures(panel: Panel, s: int, a: int, b: int, kind: str, params: list[str], gap_level: dict | None,
                 flagged_share: float) -> dict:
    """The numbers that support an event's kind, for its summary (:func:`summarise`) beside the
    neighbour deviation: an outage's neighbour level over the gap; a copied record's hours that
    repeat another day's and its roughness against its usual (hand smoothing); a flatline's held
    value; the share of readings under suspect flags."""
    out: dict = {}
    if kind in ("outage", DATA_GAP_KIND) and gap_level:
        out.update({k: gap_level[k] for k in ("z", "pm25") if gap_level.get(k) is not None})
    if kind in ("fabrication", "flatline") and params:
        found = []
        for name in params:
            p = panel.pindex(name)
            step = reporting_step(panel, p)
            n, d, have = repeated_day_hours(panel.values[s, :, p], a, b, 0.5 * step if step > 0 else 0.0)
            x = panel.values[s, a:b + 1, p]
            if have:
                level = float(np.nanmedian(x))
                measurable = step <= 0 or abs(level) >= ROUGHNESS_MIN_STEPS * step
                found.append({"parameter": name, "repeat_hours": n, "repeat_lag_days": d, "hours_with_value": have,
                              "repeat_share": round(n / have, 2),
                              "roughness_ratio": roughness_ratio(panel.values[s, :, p], a, b) if measurable else None,
                              "held_value": round(level, 4)})
        if found:  # the parameter that repeats an earlier day most (a stuck value repeats too), else the smoothest
            best = max(found, key=lambda f: f["repeat_share"])
            rough = [f for f in found if f["roughness_ratio"] is not None]
            if kind == "fabrication" and best["repeat_share"] < REPEAT_MIN_SHARE and rough:
                best = min(rough, key=lambda f: f["roughness_ratio"])
            out.update({k: v for k, v in best.items() if kind == "flatline" or k != "held_value"})
    if kind == "flag_abuse" and flagged_share > 0:
        out["suspect_flag_share"] = round(flagged_share, 2)
    if kind == "spike":
        out.update(component_above_total(panel, s, a, b))
    return out


def component_above_total(panel: Panel, s: int, a: int, b: int) -> dict:
    """The hour of hours [a, b] whose component reads furthest above its total beyond the analysers'
    tolerance (:data:`~analytics.detectors.rules.COMPONENT_PAIRS`: PM2.5 > PM10, NH3-N > TN), as
    {component, total, component_value, total_value}; {} when none does. An impossible value is the
    spike's own evidence: the neighbours' deviation says nothing about it."""
    best: dict = {}
    for component, total, _ in COMPONENT_PAIRS:
        ic, it = panel.pindex(component), panel.pindex(total)
        if ic is None or it is None:
            continue
        c, t = panel.values[s, a:b + 1, ic], panel.values[s, a:b + 1, it]
        with np.errstate(invalid="ignore"):
            over = np.where(c > t + COMPONENT_TOLERANCE[component], c / np.where(t > 0, t, np.nan), np.nan)
        if np.isfinite(over).any():
            h = int(np.nanargmax(over))
            if not best or over[h] > best["_ratio"]:
                best = {"component": component, "total": total, "component_value": round(float(c[h]), 4),
                        "total_value": round(float(t[h]), 4), "_ratio": float(over[h])}
    best.pop("_ratio", None)
    return best


#: the direction the parameter an event's summary quotes reads in against the neighbours, per kind
#: (+1 above, -1 below): a suppression quotes a drop, a spike a rise, a clipping values held low
HEADLINE_DIRECTION: dict[str, int] = {"spike": 1, "suppression": -1, "clipping": -1}


def headline_parameter(kind: str, deviation: dict[str, float], network: str = "air") -> str | None:
    """The parameter an event's summary quotes: the largest deviation from the neighbours in its
    kind's direction (:data:`HEADLINE_DIRECTION`; a suppression among the parameters it lowers,
    :data:`SUPPRESSED_PARAMETERS`), else the largest either way; None without deviations. Why: a
    suppression whose PM2.5 is 44% low while its O3 reads +1,014% beside a night-time prediction of
    6 ug/m3 must not read "O3 +1014% ... suspected suppression"."""
    if not deviation:
        return None
    sign = HEADLINE_DIRECTION.get(kind)
    allowed = SUPPRESSED_PARAMETERS.get(network) if kind == "suppression" else None
    fitting = {p: v for p, v in deviation.items()
               if sign is not None and sign * v > 0 and (allowed is None or p in allowed)}
    pool = fitting or deviation
    return max(pool, key=lambda k: abs(pool[k]))


def evidence_clause(kind: str, params: list[str], deviation: dict[str, float], figures: dict,
                    network: str = "air") -> tuple[str, str]:
    """(en, zh) what an event's summary says it saw, with the numbers of its kind
    (:func:`kind_figures`), else the neighbour deviation in the kind's direction
    (:func:`headline_parameter`), else the parameters."""
    plist = ", ".join(params[:4]) + (" ..." if len(params) > 4 else "")
    if kind in ("outage", DATA_GAP_KIND) and figures.get("z") is not None:
        z, pm = figures["z"], figures.get("pm25")
        if pm is not None:
            return (f"no data while the neighbours put PM2.5 at about {pm:.0f} ug/m3 ({z:+.1f} robust scales from "
                    "the station's usual level)",
                    f"数据缺失期间邻站推算PM2.5约{pm:.0f}微克/立方米（相对本站常态{z:+.1f}个稳健标准差）")
        return (f"no data while the neighbours read {z:+.1f} robust scales from the station's usual level",
                f"数据缺失期间邻站读数相对本站常态{z:+.1f}个稳健标准差")
    if kind == "flatline" and figures.get("held_value") is not None:
        v = _fmt_value(figures["held_value"])
        return f"{figures['parameter']} held at {v} ({plist})", f"{figures['parameter']}恒定在{v}（{plist}）"
    if kind == "fabrication" and figures.get("repeat_share", 0) < REPEAT_MIN_SHARE \
            and figures.get("roughness_ratio") is not None:
        r = figures["roughness_ratio"]
        return (f"{figures['parameter']} hour-to-hour variation {r:.0%} of its usual ({plist})",
                f"{figures['parameter']}逐时波动仅为本站常态的{r:.0%}（{plist}）")
    if kind == "fabrication" and figures.get("repeat_hours"):
        n, have, d, share = (figures[k] for k in ("repeat_hours", "hours_with_value", "repeat_lag_days",
                                                   "repeat_share"))
        return (f"{figures['parameter']}: {n} of {have} h repeat the values of {d} day{'s' * (d != 1)} earlier "
                f"({share:.0%}) ({plist})",
                f"{figures['parameter']}：{have}小时中{n}小时与{d}天前同时段数值相同（{share:.0%}）（{plist}）")
    if kind == "flag_abuse" and figures.get("suspect_flag_share"):
        share = figures["suspect_flag_share"]
        return (f"{share:.0%} of the event's readings under maintenance/fault flags ({plist})",
                f"{share:.0%}的读数带维护/故障标记（{plist}）")
    if kind == "spike" and figures.get("component") is not None:
        c, t = figures["component"], figures["total"]
        cv, tv = f"{figures['component_value']:.3g}", f"{figures['total_value']:.3g}"
        return (f"{c} {cv} above its total {t} {tv}, which is impossible ({plist})",
                f"{c}({cv})高于其总量{t}({tv})，物理上不可能（{plist}）")
    p0 = headline_parameter(kind, deviation, network)
    if p0 is not None:
        return (f"{p0} {deviation[p0]:+.0f}% vs neighbours ({plist})",
                f"{p0}较邻站{'偏高' if deviation[p0] > 0 else '偏低'}{abs(deviation[p0]):.0f}%（{plist}）")
    own = figures.get("own_level") or {}
    if own and params and params[0] in own:  # no neighbours measure it: the station's own hours around it
        p0, d = params[0], own[params[0]]
        return (f"{p0} {_fmt_value(d) if d < 0 else '+' + _fmt_value(d)} against the station's own level ({plist})",
                f"{p0}较本站常态{'偏高' if d > 0 else '偏低'}{_fmt_value(abs(d))}（{plist}）")
    return plist, plist


def summarise(name: str, kind: str, params: list[str], hours: int, deviation: dict[str, float],
              name_zh: str | None = None, network: str = "air", figures: dict | None = None) -> str:
    """One line in English, then the same in Chinese, e.g.
    'Dongsi: PM2.5 -62% vs neighbours (PM2.5, PM10) for 12 h - suspected suppression ... | 东四：...',
    stating the numbers of its kind (:func:`evidence_clause`)."""
    en_what, zh_what = evidence_clause(kind, params, deviation, figures or {}, network)
    zh_kind, en_kind = kind_text(kind, network)
    en = f"{name}: {en_what} for {hours} h - {en_kind}"
    zh = f"{name_zh or name}：{zh_what}，持续{hours}小时 - {zh_kind}"
    return f"{en} | {zh}"


#: one sentence per model that fired: (zh, en) templates over the event's numbers
#: ({param} {dev} {pred} {n} {h} {z} {rare}); the UI shows the user's language
MODEL_SENTENCES: dict[str, tuple[str, str]] = {
    "spatial_high": ("{param}比{n}个邻站的预测值({pred})高{dev}%，持续{h}小时",
                     "{param} {dev}% above what {n} neighbouring stations predict ({pred}) for {h} h"),
    "spatial_low": ("{param}比{n}个邻站的预测值({pred})低{dev}%，持续{h}小时",
                    "{param} {dev}% below what {n} neighbouring stations predict ({pred}) for {h} h"),
    "suppression": ("颗粒物较邻站预测值低{dev}%，降幅大于本站气态污染物，PM2.5与PM10同比例下降",
                    "particulate matter {dev}% below the neighbours' prediction, more than the station's own gases, "
                    "PM2.5 and PM10 by the same factor"),
    "range": ("{param}超出仪器物理量程", "{param} outside the analyser's physical range"),
    "pm_ratio": ("分量高于总量(如PM2.5高于PM10、氨氮高于总氮)", "a component above its total (PM2.5 > PM10 or NH3-N > TN)"),
    "spike": ("{param}出现1-2小时的尖峰，邻站没有", "{param} peaks for one or two hours; the neighbours do not"),
    "extreme_ratio": ("{param}远超邻站和本站自身的99%分位数", "{param} far beyond both the neighbours and its own 99th percentile"),
    "flatline": ("数值在{h}小时内恒定不变(按仪器分辨率)", "values constant for {h} h (at the analyser's resolution)"),
    "outage": ("数据缺失{h}小时，邻站读数比本站常态高{z}个稳健标准差",
               "data missing for {h} h while the neighbours read {z} robust scales above the station's usual level"),
    "seasonal_high": ("{param}相对本站同时段、同季节的常态偏高", "{param} high for the station's time of day and season"),
    "seasonal_low": ("{param}相对本站同时段、同季节的常态偏低", "{param} low for the station's time of day and season"),
    "drift": ("相对邻站的偏差持续多日({dev}%)", "a bias against the neighbours lasting days ({dev}%)"),
    "drift_ramp": ("相对邻站的偏差逐日线性增大后突然复位", "a bias against the neighbours growing day by day, then reset"),
    "donor_copy": ("数据与另一站点的序列成比例一致(疑似复制)", "the series moves in lockstep with another station's (copied, scaled)"),
    "donor_smooth": ("逐时波动明显小于邻站(疑似人工平滑)", "hour-to-hour variation far below the neighbours' (hand smoothing)"),
    "clip_neighbour": ("邻站超过限值时本站数值停在限值之下", "values held just under a limit while the neighbours exceed it"),
    "clip_bunch": ("数值异常聚集在限值之下", "values bunched just under a limit"),
    "clip_limit": ("折算后排放浓度聚集在排放限值之下", "O2-corrected emissions bunched just under the emission limit"),
    "clip_class": ("数值停在水质类别限值附近", "values held at the section's water-class limit"),
    "flag_abuse": ("维护/故障标记下的排放高于未标记时的水平", "emissions under maintenance/fault flags above the unflagged level"),
    "flag_hidden": ("标记数据掩盖了高排放", "flagged readings hide high emissions"),
    "iforest": ("浓度与比值组合异常(孤立森林)", "an unusual combination of levels and ratios (isolation forest)"),
}


def model_sentences(fired: dict[str, float], deviation: dict[str, float], predicted: dict[str, float],
                    hours: int, n_neighbours: int, gap_level: dict | None) -> list[dict]:
    """A sentence per model that fired (strongest first), in Chinese and English, with the numbers
    that matter and how rare the model's evidence is on clean data ("1 in N")."""
    param = max(deviation, key=lambda k: abs(deviation[k])) if deviation else ""
    dev = abs(deviation[param]) if param else None
    low_params = [k for k, v in deviation.items() if v < 0]
    out = []
    for model, surprise in fired.items():
        zh, en = MODEL_SENTENCES.get(model, ("{model}模型触发", "model {model} fired"))
        if model in ("spatial_high", "spatial_low", "drift", "suppression") and dev is None:
            continue  # no neighbour numbers to state
        p = param
        if model in ("spatial_low", "suppression") and low_params:
            p = min(low_params, key=lambda k: deviation[k])
        values = {"model": model, "param": p or "", "h": hours, "n": n_neighbours,
                  "dev": f"{abs(deviation[p]):.0f}" if p in deviation else "?",
                  "pred": _fmt_value(predicted.get(p)), "z": _fmt_z(gap_level)}
        rare = f"{10 ** min(float(surprise), 12):,.0f}"
        out.append({"model": model, "surprise": surprise,
                    "zh": zh.format(**values) + f"(干净数据中约{rare}个读数才出现一次)",
                    "en": en.format(**values) + f" (about 1 in {rare} clean readings)"})
    return out


def _fmt_value(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.2g}"


def _fmt_z(gap_level: dict | None) -> str:
    z = (gap_level or {}).get("z")
    return "?" if z is None else f"{z:.1f}"
