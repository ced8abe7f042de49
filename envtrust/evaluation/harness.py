"""The evaluation run behind ``envtrust evaluate``.

Loads the real Beijing data (full 2013-03..2017-02 set from the shared data folder when present,
else the shipped sample), injects interference with :mod:`analytics.evaluation.inject`, scores
the result with envtrust and with the naive baselines, and reports the same metrics for all.
Three networks: Beijing air (real data), CEMS outlets (the project's honest synthetic polluters)
and surface-water sections (the project's honest synthetic sections on real rivers); any
pipeline (a TOML path) can be evaluated.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.ensemble import final_score
from analytics.evaluation.baselines import BASELINES
from analytics.evaluation.inject import (
    AIR_KINDS,
    CEMS_KINDS,
    WATER_KINDS,
    inject_interference,
)
from analytics.evaluation.metrics import (
    DEFAULT_BUDGET,
    DEFAULT_TOLERANCE_H,
    WORKLOAD_RATES,
    changed_mask,
    event_metrics,
    event_rows,
    grid_positions,
    label_grid,
    own_events_at_workload,
    recall_at_false_alarm_rates,
    reviewed_prefix,
    score_metrics,
    station_hour_grid,
    station_months,
    to_station_hours,
    unmatched_for_recall,
)
from analytics.events import DATA_GAP_KIND
from analytics.pipeline import PIPELINE_DIR, at_capacity, load_pipeline, score_partition
from analytics.timeconv import CST_OFFSET
from analytics.verdicts import VerdictCalibration, demote_events, fit_verdicts, simulated_verdicts
from data.adapters.beijing import read_prsa_pollutants
from data.adapters.cnemc import read_cnemc_day, read_cnemc_station_list
from data.synthetic.polluters import generate_polluters, polluter_outlets
from data.synthetic.water import generate_water
from envtrust.settings import load_settings
from geo.neighbours import nearest_neighbours
from geo.sections import demo_sections

# ---------------------------------------------------------------------------------------------
# CNEMC national day (quotsoft layout: date, hour, type, one column per station code)
# ---------------------------------------------------------------------------------------------

def load_cnemc_day(day_csv: str | Path, station_list_csv: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real national day -> ``(readings, stations)``: hourly values of the six pollutants.

    Read with the CNEMC adapters of ingest (hourly ``type`` rows; derived ``*_24h``/``AQI`` rows
    are skipped); ``ts`` is naive UTC; stations lacking coordinates are dropped.
    """
    readings = read_cnemc_day(day_csv).readings
    stations = read_cnemc_station_list(station_list_csv)
    stations = stations.dropna(subset=["lon", "lat"])
    stations = stations[stations["station_id"].isin(readings["station_id"].unique())].reset_index(drop=True)
    readings = readings[readings["station_id"].isin(stations["station_id"])].reset_index(drop=True)
    return readings, stations


# ---------------------------------------------------------------------------------------------
# the evaluation run
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """A period of the data (China Standard Time dates, end exclusive) and what it is for."""

    name: str
    start_cst: str
    end_cst: str
    purpose: str


FULL_SPLITS = (
    Split("development", "2013-03-01", "2015-03-01", "engine tuning allowed"),
    Split("held_out", "2015-03-01", "2017-03-01", "never tuned on"),
)
SAMPLE_SPLITS = (
    Split("development", "2016-12-01", "2016-12-21", "engine tuning allowed"),
    Split("held_out", "2016-12-21", "2017-01-11", "never tuned on"),
)
FULL_N_PER_KIND = 30
SAMPLE_N_PER_KIND = 3
CEMS_OUTLETS = 6
QUICK_MAX_OUTLETS = 8
NETWORKS: tuple[str, ...] = ("air", "cems", "water")
#: water sections evaluated: the best-connected ones (10 of 64: ~1.6 M readings per 2-year split,
#: about 40 s with every method on an idle machine); see :func:`water_sections`
WATER_SECTIONS = 10
WATER_NEIGHBOUR_DISTANCE_M = 80_000.0  # the default pipeline's panel.max_distance_m
WATER_SEED_OFFSET = 500  # water injection/generation seeds: seed x 1000 + 500 + 2 x split (never the combiner's 100-103)


@dataclass
class MethodRun:
    """One method's output on one split: station-hour scores, own events (envtrust only), wall time."""

    name: str
    station_hour_scores: np.ndarray
    events: pd.DataFrame | None
    wall_s: float
    readings: int
    error: str | None = None
    data_gaps: int = 0  # data-completeness alarms (envtrust), not counted as own events


def halves(readings: pd.DataFrame) -> tuple[Split, Split]:
    """Development = first half of the days in ``readings`` (CST), held-out = the rest (custom data)."""
    cst = pd.to_datetime(readings["ts"]) + CST_OFFSET
    first, last = cst.min().normalize(), cst.max().normalize() + pd.Timedelta(days=1)
    mid = first + ((last - first) / 2).round("D")
    fmt = "%Y-%m-%d"
    return (Split("development", first.strftime(fmt), mid.strftime(fmt), "engine tuning allowed"),
            Split("held_out", mid.strftime(fmt), last.strftime(fmt), "never tuned on"))


def select_period(readings: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Readings whose CST time falls in the split (ts in the frame is naive UTC)."""
    lo = pd.Timestamp(split.start_cst) - CST_OFFSET
    hi = pd.Timestamp(split.end_cst) - CST_OFFSET
    ts = pd.to_datetime(readings["ts"])
    return readings[(ts >= lo) & (ts < hi)].reset_index(drop=True)


def _engine_station_hours(result, grid: pd.DataFrame, below_alarm: float | None = None) -> np.ndarray:
    """envtrust station-hour score = reading scores, plus own events over hours without readings.

    Events count because an outage removes rows: a gap's only evidence is its event. One event is
    one case, so it raises ONE alarm (the engine's own rule for runs, see ``emphasise_peaks``): its
    score goes to its first hour without a reading; its other such hours rank at most just under the
    alarm tier (``below_alarm``, the final score at the calibrated alarm level), i.e. at the top of
    the graded middle - without it one 25-hour outage would spend 25 alarms of the budget.
    Hours with readings keep their reading scores (the event's score is derived from them).
    """
    sh = to_station_hours(result.scores, grid)
    events = result.events
    if events is None or events.empty:
        return sh
    has_reading = to_station_hours(result.scores.assign(_one=1.0), grid, "_one") > 0
    pos = grid_positions(grid)
    for ev in events.itertuples(index=False):
        rows = event_rows(pos, str(ev.station_id), pd.Timestamp(ev.start), pd.Timestamp(ev.end))
        rows = rows[~has_reading[rows]]
        if not rows.size:
            continue
        score = float(ev.score) if pd.notna(ev.score) else 0.0
        rest = score if below_alarm is None else min(score, below_alarm)
        sh[rows[0]] = max(sh[rows[0]], score)
        sh[rows[1:]] = np.maximum(sh[rows[1:]], rest)
    return sh


def run_engine(readings: pd.DataFrame, stations: pd.DataFrame, grid: pd.DataFrame,
               pipeline: str = "default", capacity: float | None = None) -> MethodRun:
    """Score with envtrust's pipeline (``score_partition``) at the air network's analyst ``capacity``
    (:func:`analytics.pipeline.at_capacity`); wall time includes loading it."""
    t0 = time.perf_counter()
    pipe = at_capacity(load_pipeline(pipeline), capacity)
    result = score_partition(readings, stations, pipe)
    wall = time.perf_counter() - t0
    below = None
    if pipe.ensemble.alarm_level is not None and pipe.ensemble.combined is not None:
        below = float(np.nextafter(final_score(np.array([pipe.ensemble.alarm_level]), pipe.ensemble)[0], 0.0))
    events = interference_events(result.events)
    run = MethodRun("envtrust", _engine_station_hours(replace(result, events=events), grid, below),
                    events, wall, len(readings))
    run.data_gaps = int((result.events["kind"] == DATA_GAP_KIND).sum()) if len(result.events) else 0
    return run


def interference_events(events: pd.DataFrame) -> pd.DataFrame:
    """The suspected-interference list: events without the data-completeness alarms (a gap with no
    sign of interference has its own list and count and is no own-event candidate)."""
    if events is None or events.empty:
        return events
    return events[events["kind"] != DATA_GAP_KIND].reset_index(drop=True)


def run_baseline(name: str, readings: pd.DataFrame, grid: pd.DataFrame) -> MethodRun:
    t0 = time.perf_counter()
    scores = BASELINES[name](readings)
    wall = time.perf_counter() - t0
    return MethodRun(name, to_station_hours(scores, grid), None, wall, len(readings))


def cems_network(start_cst: str, end_cst: str, seed: int,
                 max_outlets: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Polluter outlets for the CEMS kinds: the project's seeded synthetic polluters, honest
    (``dishonest={}``): the only interference is what the evaluation injects and labels."""
    hours = int((pd.Timestamp(end_cst) - pd.Timestamp(start_cst)) / pd.Timedelta(hours=1))
    start_utc = pd.Timestamp(start_cst) - CST_OFFSET
    stations = polluter_outlets()
    if max_outlets is not None and len(stations) > max_outlets:
        # keep both outlet types: flue-gas first, then wastewater, alternating
        by_type = [g for _, g in stations.groupby("outlet_type", sort=True)]
        stations = pd.concat([g.head((max_outlets + 1) // 2) for g in by_type]).head(max_outlets)
        stations = stations.reset_index(drop=True)
    end_utc = start_utc + pd.Timedelta(hours=hours - 1)
    readings, _ = generate_polluters(stations, start_utc, end_utc, seed=seed, dishonest={})
    return readings, stations, "data.synthetic.polluters (honest network, dishonest={})"


def water_sections(max_sections: int | None = WATER_SECTIONS) -> pd.DataFrame:
    """The project's water sections (``geo.sections.demo_sections``) evaluated on the water network.

    Keeps the ``max_sections`` sections with the most other sections within the pipeline's
    neighbour distance (80 km; ties by station_id): the Beijing-Tianjin-Langfang cluster on the
    Beiyun, Yongding and Nanyun rivers, where neighbours and upstream links exist (a lone Yangtze
    section 300 km from the next one has no spatial evidence at all). ``None`` keeps all 64.
    """
    sections = demo_sections()
    sections = sections[sections["kind"] == "water_section"].reset_index(drop=True)
    if max_sections is None or len(sections) <= max_sections:
        return sections
    nb = nearest_neighbours(sections, k=8, max_distance_m=WATER_NEIGHBOUR_DISTANCE_M)
    count = nb.groupby("station_id").size().reindex(sections["station_id"]).fillna(0).to_numpy()
    order = sorted(range(len(sections)), key=lambda i: (-count[i], str(sections["station_id"].iloc[i])))
    return sections.iloc[sorted(order[:max_sections])].reset_index(drop=True)


def load_beijing_rain(beijing_dir: str | Path) -> pd.Series | None:
    """Hourly rain (mm) averaged over the Beijing PRSA stations, indexed by naive UTC hour.

    The water generator uses it for the Hai-basin storms (as ``envtrust demo`` does); None when
    the files carry no RAIN column.
    """
    parts = []
    for f in sorted(Path(beijing_dir).glob("PRSA_Data_*.csv*")):
        df = pd.read_csv(f, usecols=lambda c: c in {"year", "month", "day", "hour", "RAIN"})
        if "RAIN" not in df:
            return None
        ts = pd.to_datetime(df[["year", "month", "day", "hour"]]) - CST_OFFSET
        parts.append(pd.Series(pd.to_numeric(df["RAIN"], errors="coerce").to_numpy(), index=ts))
    if not parts:
        return None
    rain = pd.concat(parts)
    return rain.groupby(level=0).mean().rename("RAIN")


def water_network(start_cst: str, end_cst: str, seed: int, max_sections: int | None = WATER_SECTIONS,
                  rain_mm: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Surface-water sections for the water kinds: the project's seeded synthetic sections over the split.

    ``data.synthetic.water.generate_water`` on real river geometry (diurnal DO/pH, seasons,
    storms from the real Beijing rain when given, upstream-downstream coherence, its own honest
    gaps); nothing is planted: the only interference is what the evaluation injects and labels.
    """
    sections = water_sections(max_sections)
    hours = int((pd.Timestamp(end_cst) - pd.Timestamp(start_cst)) / pd.Timedelta(hours=1))
    start_utc = pd.Timestamp(start_cst) - CST_OFFSET
    end_utc = start_utc + pd.Timedelta(hours=hours - 1)
    readings = generate_water(sections, start_utc, end_utc, seed=seed, rain_mm=rain_mm)
    rain = "real Beijing rain" if rain_mm is not None and float(np.nansum(rain_mm)) > 0 else "synthetic rain only"
    return readings, sections, (f"data.synthetic.water ({len(sections)} of the demo's sections, honest, "
                                f"{rain})")


def resolve_pipeline(pipeline: str | Path | None) -> str:
    """A pipeline name (analytics/pipelines/<name>.toml), a TOML path, or a folder holding default.toml
    (as written by ``--fit-combiner --pipeline-dir``) -> what ``load_pipeline`` takes; ValueError
    with the reason when it cannot be loaded."""
    if pipeline is None or str(pipeline) == "":
        return "default"
    p = Path(pipeline)
    if p.is_dir():
        if not (p / "default.toml").is_file():
            raise ValueError(f"--pipeline {p}: the folder holds no default.toml")
        p = p / "default.toml"
    name = str(p)
    try:
        load_pipeline(name)
    except Exception as exc:  # any reason a pipeline cannot load is the user's to fix
        raise ValueError(f"--pipeline {pipeline}: cannot load it: {type(exc).__name__}: {exc}") from None
    return name


def pipeline_fingerprint(pipeline: str) -> dict[str, str]:
    """sha256 (first 12 hex) of the pipeline's TOML and its calibration/combiner JSON files, so a
    figure can be traced to the exact pipeline files evaluated (a copy elsewhere included)."""
    path = Path(pipeline) if str(pipeline).endswith(".toml") else PIPELINE_DIR / f"{pipeline}.toml"
    if not path.is_file():
        return {}
    files = [path, *sorted(path.parent.glob(path.stem + ".calibration.json")),
             *sorted(path.parent.glob(path.stem + ".combiner*.json"))]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in files}


def parse_networks(networks) -> list[str]:
    """A comma list or sequence of network names -> validated list in report order (air, cems, water)."""
    if networks is None:
        return list(NETWORKS)
    items = [n.strip() for n in (networks.split(",") if isinstance(networks, str) else networks) if n.strip()]
    unknown = sorted(set(items) - set(NETWORKS))
    if unknown or not items:
        raise ValueError(f"unknown networks {unknown}; known: {', '.join(NETWORKS)}" if unknown
                         else f"no network given; known: {', '.join(NETWORKS)}")
    return [n for n in NETWORKS if n in items]


def evaluate_network(readings: pd.DataFrame, stations: pd.DataFrame, kinds: tuple[str, ...], n_per_kind: int,
                     seed: int, methods: list[str], progress: Callable[[str], None],
                     pipeline: str | Path = "default", verdicts: VerdictCalibration | None = None,
                     capacity: float | None = None) -> dict:
    """Inject, score with every method, measure. Returns the metrics per method plus the truth and
    (``_labels``) the verdicts an analyst who knew the truth would give envtrust's events.

    ``pipeline``: the envtrust pipeline scored (a name in analytics/pipelines/ or a TOML path).
    ``verdicts``: labels from another split (the development one) replayed: envtrust is scored a
    second time with them installed and ``verdict_replay`` compares the two event lists.
    ``capacity``: the air network's analyst capacity, envtrust's operating point.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        injected, truth = inject_interference(readings, stations, kinds=list(kinds), n_per_kind=n_per_kind, seed=seed)
    placement_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    grid = station_hour_grid(readings)
    labels = label_grid(grid, truth)
    changed = changed_mask(readings, injected, grid)
    out: dict = {"n_readings": int(len(injected)), "n_stations": int(readings["station_id"].nunique()),
                 "station_hours": int(len(grid)), "station_months": round(station_months(grid), 1),
                 "truth_events": int(len(truth)), "truth_by_kind": truth["kind"].value_counts().sort_index().to_dict(),
                 "positive_station_hour_share": float((labels >= 0).mean()),
                 "changed_station_hour_share": float((changed & (labels >= 0)).mean()),
                 "placement_warnings": placement_warnings,
                 "methods": {}}
    for name in methods:
        progress(f"  {name} ...")
        try:
            run = (run_engine(injected, stations, grid, pipeline=str(pipeline), capacity=capacity) if name == "envtrust"
                   else run_baseline(name, injected, grid))
        except Exception as exc:  # a broken method must not hide the others' figures
            out["methods"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            progress(f"  {name} failed: {type(exc).__name__}: {exc}")
            continue
        m = score_metrics(run.station_hour_scores, grid, truth, labels=labels, changed=changed)
        m["at_workload"] = recall_at_false_alarm_rates(run.station_hour_scores, grid, truth, labels=labels)
        m["wall_s"] = round(run.wall_s, 2)
        m["readings_per_s"] = round(run.readings / run.wall_s) if run.wall_s > 0 else None
        if run.events is not None:
            m["own_events"] = event_metrics(run.events, truth, grid)
            m["own_events"]["workload"] = own_events_at_workload(run.events, truth, grid)
            m["own_events"]["data_gaps"] = run.data_gaps
            m["own_events"]["data_gaps_per_station_month"] = run.data_gaps / station_months(grid)
            reviewed, matched = reviewed_prefix(run.events, truth, grid, REVIEW_RATE)
            out["_labels"] = simulated_verdicts(reviewed, matched)
            if verdicts is not None and verdicts.penalty:
                # what score_partition does with the verdicts installed: the events, demoted
                m["verdict_replay"] = verdict_replay(run.events, demote_events(run.events, verdicts), truth, grid,
                                                     verdicts)
        out["methods"][name] = m
        wl = m["at_workload"][f"{WORKLOAD_RATES[0]:g}"]["recall"]
        progress(f"  {name}: AP {m['ap']:.3f}, recall@1% {m['event_recall']:.3f}, "
                 f"recall@{WORKLOAD_RATES[0]:g} false seg./stn-month {wl:.3f}, {run.wall_s:.1f} s")
    out["_truth"] = truth
    return out


#: the replayed analyst reviews the top of the list up to this many unmatched events per station-month
REVIEW_RATE = WORKLOAD_RATES[-1]


def verdict_replay(before: pd.DataFrame, after: pd.DataFrame, truth: pd.DataFrame, grid: pd.DataFrame,
                   verdicts: VerdictCalibration) -> dict:
    """Own events without and with replayed verdicts: unmatched events per station-month at the
    recall the list without verdicts reaches at each workload rate (the fall is the verdicts' effect),
    and the workload figures with verdicts."""
    wl_before = own_events_at_workload(before, truth, grid)["at_rate"]
    wl_after = own_events_at_workload(after, truth, grid)
    out = {"labels": verdicts.labels, "false_alarm_labels": verdicts.false_alarms,
           "penalised_station_models": len(verdicts.penalty), "at_rate": {}, "with_verdicts": wl_after}
    for rate, w in wl_before.items():
        u0 = w["unmatched_per_station_month"]
        u1 = unmatched_for_recall(after, truth, grid, w["recall"])
        out["at_rate"][rate] = {"recall": w["recall"], "unmatched_before": u0, "unmatched_after": u1,
                                "fall": (1.0 - u1 / u0) if u0 > 0 and np.isfinite(u1) else None,
                                "recall_after_at_rate": wl_after["at_rate"][rate]["recall"]}
    return out


def national_day(sample_dir: Path, top: int = 10, pipeline: str | Path = "default",
                 capacity: float | None = None) -> dict:
    """Run envtrust (``pipeline``) on the real CNEMC national day 2017-01-01 and list what it flags."""
    day, stations = load_cnemc_day(sample_dir / "cnemc" / "china_sites_20170101.csv.gz",
                                   sample_dir / "cnemc" / "station_list_cnemc_2024.csv")
    out: dict = {"readings": int(len(day)), "stations": int(stations.shape[0])}
    t0 = time.perf_counter()
    result = score_partition(day, stations, at_capacity(load_pipeline(str(pipeline)), capacity))
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    ev = result.events
    out["events"] = int(len(ev))
    out["events_by_kind"] = ev["kind"].value_counts().to_dict() if len(ev) else {}
    if len(ev):
        names = stations.set_index("station_id")["name"].to_dict()
        cities = stations.set_index("station_id")["city"].to_dict() if "city" in stations else {}
        topev = ev.sort_values("score", ascending=False).head(top)
        out["top_events"] = [{
            "station_id": str(e.station_id), "name": str(names.get(e.station_id, "")),
            "city": str(cities.get(e.station_id, "")), "kind": str(e.kind),
            "start_cst": str(pd.Timestamp(e.start) + CST_OFFSET), "end_cst": str(pd.Timestamp(e.end) + CST_OFFSET),
            "score": round(float(e.score), 3), "summary": str(getattr(e, "summary", "")),
        } for e in topev.itertuples(index=False)]
    return out


def run_evaluation(data_dir: str | Path | None = None, quick: bool = False, seed: int = 0,
                   n_per_kind: int | None = None, methods: list[str] | None = None,
                   progress: Callable[[str], None] | None = None, networks=None,
                   pipeline: str | Path | None = "default", replay_verdicts: bool = True) -> dict:
    """The whole evaluation: both splits, the chosen networks (air = real Beijing, cems and water =
    the project's honest synthetic networks; default all three), all methods.

    ``data_dir``: the shared data folder (holding ``beijing_multisite_aq``) or a folder of PRSA
    files; default from settings; ``quick`` forces the shipped sample. ``networks``: comma list or
    sequence from air, cems, water. ``pipeline``: the envtrust pipeline evaluated (name in
    analytics/pipelines/, a TOML path, or a folder holding default.toml). ``replay_verdicts``: the
    verdicts an analyst would give envtrust's development events (matched = confirmed, else false
    alarm, read at ``REVIEW_RATE``) are installed for a second held-out run (``verdict_replay``).
    Returns a JSON-able report. Bad options raise ValueError/FileNotFoundError with the reason.
    """
    progress = progress or (lambda msg: None)
    settings = load_settings()
    networks = parse_networks(networks)
    beijing_dir, source = _beijing_source(data_dir, quick, settings)
    full = source == "full"
    n_per_kind = n_per_kind or (FULL_N_PER_KIND if full else SAMPLE_N_PER_KIND)
    if methods is None:
        methods = ["envtrust", *BASELINES]
    unknown = set(methods) - {"envtrust", *BASELINES}
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; known: envtrust, {', '.join(BASELINES)}")
    if not methods:
        raise ValueError(f"no method given; known: envtrust, {', '.join(BASELINES)}")
    pipeline = resolve_pipeline(pipeline) if "envtrust" in methods else str(pipeline or "default")
    t_start = time.perf_counter()
    progress(f"loading Beijing data ({source}) from {beijing_dir}")
    readings, stations = read_prsa_pollutants(beijing_dir)
    rain = load_beijing_rain(beijing_dir) if "water" in networks else None
    splits = FULL_SPLITS if full else SAMPLE_SPLITS if source == "sample" else halves(readings)
    report: dict = {
        "data": {"source": source, "beijing_dir": str(beijing_dir), "readings": int(len(readings)),
                 "stations": int(readings["station_id"].nunique())},
        "seed": seed, "n_per_kind": n_per_kind, "methods": methods, "networks": networks,
        "pipeline": pipeline, "pipeline_files": pipeline_fingerprint(pipeline) if "envtrust" in methods else {},
        "budget": DEFAULT_BUDGET, "tolerance_h": DEFAULT_TOLERANCE_H,
        "analyst_capacity": dict(settings.analyst_capacity),
        "splits": {},
    }
    truths = {}
    labels: dict[str, pd.DataFrame] = {}
    capacity = settings.analyst_capacity["air"]  # the operating point of the calibrated (air) thresholds

    def replayed(net: str, split_name: str) -> VerdictCalibration | None:
        """The development split's simulated verdicts on ``net``, for the held-out split only."""
        if not replay_verdicts or split_name != "held_out" or net not in labels:
            return None
        return fit_verdicts(labels[net])

    for k, split in enumerate(splits):
        entry: dict = {"start_cst": split.start_cst, "end_cst": split.end_cst, "purpose": split.purpose}
        truths[split.name] = {}
        if "air" in networks:
            part = select_period(readings, split)
            progress(f"{split.name} ({split.start_cst} .. {split.end_cst} CST, {split.purpose}): air network")
            entry["air"] = evaluate_network(part, stations, AIR_KINDS, n_per_kind, seed * 1000 + 2 * k, methods,
                                            progress, pipeline, replayed("air", split.name), capacity=capacity)
            del part
        if "cems" in networks:
            progress(f"{split.name}: CEMS network")
            cems_r, cems_s, entry["cems_source"] = cems_network(split.start_cst, split.end_cst, seed * 1000 + 2 * k + 1,
                                                                max_outlets=None if full else QUICK_MAX_OUTLETS)
            entry["cems"] = evaluate_network(cems_r, cems_s, CEMS_KINDS, n_per_kind, seed * 1000 + 2 * k + 1,
                                             methods, progress, pipeline, replayed("cems", split.name), capacity=capacity)
            del cems_r
        if "water" in networks:
            progress(f"{split.name}: water network")
            water_seed = seed * 1000 + WATER_SEED_OFFSET + 2 * k
            water_r, water_s, entry["water_source"] = water_network(split.start_cst, split.end_cst, water_seed,
                                                                    rain_mm=rain)
            entry["water"] = evaluate_network(water_r, water_s, WATER_KINDS, n_per_kind, water_seed, methods,
                                              progress, pipeline, replayed("water", split.name), capacity=capacity)
            del water_r
        for net in networks:
            truths[split.name][net] = entry[net].pop("_truth")
            got = entry[net].pop("_labels", None)
            if split.name == "development" and got is not None:
                labels[net] = got
        report["splits"][split.name] = entry
    if "envtrust" in methods and "air" in networks:
        progress("national day 2017-01-01 (CNEMC)")
        report["national_day"] = national_day(settings.sample_dir, pipeline=pipeline, capacity=capacity)
    elif "air" not in networks:
        report["national_day"] = {"error": "the air network was not run (--networks)"}
    else:
        report["national_day"] = {"error": "envtrust not among the methods run"}
    report["wall_s_total"] = round(time.perf_counter() - t_start, 1)
    report["_truths"] = truths
    return report


def _beijing_source(data_dir, quick: bool, settings) -> tuple[Path, str]:
    """Which Beijing files to use: the full shared set when present (and not --quick), else the sample."""
    sample = Path(settings.sample_dir) / "beijing"
    if quick:
        return sample, "sample"
    candidates = []
    if data_dir is not None:
        d = Path(data_dir)
        if not d.is_dir():
            raise FileNotFoundError(f"--data-dir {d} does not exist")
        candidates += [d / "beijing_multisite_aq", d]
    elif settings.has_full_data:
        candidates.append(Path(settings.shared_data) / "beijing_multisite_aq")
    for c in candidates:
        if any(c.glob("PRSA_Data_*_20130301-20170228.csv*")):
            return c, "full"
        if any(c.glob("PRSA_Data_*.csv*")):
            return c, "sample" if c.resolve() == sample.resolve() else "custom"
    if data_dir is not None:
        raise FileNotFoundError(f"no PRSA_Data_*.csv files in {data_dir} or {Path(data_dir) / 'beijing_multisite_aq'}")
    return sample, "sample"


# ---------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------

#: issue 10's held-out targets (every network, both seeds), at the analyst's workload
TARGETS = {"own_event_recall": 0.7, "own_event_kind_recall_min": 0.5, "own_kind_accuracy": 0.8,
           "score_recall": 0.6, "workload_rate": WORKLOAD_RATES[0]}


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def target_check(network: dict) -> dict:
    """The held-out targets for envtrust on one network (at 0.3 unmatched events or alarm segments
    per station-month), each with the measured figure."""
    env = network["methods"].get("envtrust")
    if not env or "error" in env or "at_workload" not in env:
        return {}
    rate = f"{TARGETS['workload_rate']:g}"
    own = env.get("own_events", {}).get("workload", {}).get("at_rate", {}).get(rate, {})
    kinds = own.get("per_kind_recall") or {}
    kinds_min = min(kinds.values()) if kinds else float("nan")
    recall, acc = own.get("recall", float("nan")), own.get("kind_accuracy", float("nan"))
    score_recall = env["at_workload"][rate]["recall"]
    return {
        f"own-event recall >= 0.7 at {rate} unmatched/stn-month": (recall, recall >= TARGETS["own_event_recall"]),
        "every kind >= 0.5": (kinds_min, kinds_min >= TARGETS["own_event_kind_recall_min"]),
        "kind accuracy >= 0.8": (acc, acc >= TARGETS["own_kind_accuracy"]),
        f"score recall >= 0.6 at {rate} false seg./stn-month": (score_recall, score_recall >= TARGETS["score_recall"]),
    }


def _network_table(network: dict) -> list[str]:
    kinds = sorted(network["truth_by_kind"])
    head = ["method", "AP", "AP (windows)", "recall@1%", "false alarm seg./stn-month", *[f"{k}" for k in kinds],
            "own-event recall", "own false events/stn-month", "kind acc.", "own-event hours in truth",
            "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in network["methods"].items():
        if "error" in m:
            lines.append(f"| {name} | error: {m['error']} |" + " |" * (len(head) - 2))
            continue
        own = m.get("own_events", {})
        row = [name, _f(m["ap"]), _f(m.get("ap_windows")), _f(m["event_recall"]), _f(m["false_alarm_segments_per_station_month"], 2),
               *[_f(m["per_kind_recall"].get(k), 2) for k in kinds],
               _f(own.get("event_recall")), _f(own.get("false_events_per_station_month"), 2),
               _f(own.get("kind_accuracy"), 2), _f(own.get("hours_in_truth_share"), 2), _f(m["wall_s"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "AP by kind (each kind's hours against all clean hours):", "",
              "| method | " + " | ".join(kinds) + " |", "|" + "---|" * (len(kinds) + 1)]
    for name, m in network["methods"].items():
        if "error" not in m:
            lines.append(f"| {name} | " + " | ".join(_f(m.get("per_kind_ap", {}).get(k)) for k in kinds) + " |")
    return lines + _workload_tables(network, kinds)


def _workload_tables(network: dict, kinds: list[str]) -> list[str]:
    """Recall at the analyst's workload: every method's station-hour score at matched false-alarm
    rates, and envtrust's own events read from the top of the list."""
    lines = ["", "At the analyst's workload - station-hour scores thresholded so that unmatched alarm segments "
             "(flagged hours merged across gaps <= 2 h) stay within each rate per station-month:", "",
             "| method | rate | recall | " + " | ".join(kinds) + " | false seg./stn-month | flagged share |",
             "|" + "---|" * (len(kinds) + 5)]
    for name, m in network["methods"].items():
        for rate, w in (m.get("at_workload") or {}).items():
            lines.append(f"| {name} | {rate} | {_f(w['recall'])} | "
                         + " | ".join(_f(w["per_kind_recall"].get(k), 2) for k in kinds)
                         + f" | {_f(w['false_segments_per_station_month'], 2)} | {_f(w['flagged_share'], 4)} |")
    env = network["methods"].get("envtrust", {})
    wl = env.get("own_events", {}).get("workload") if "error" not in env else None
    if wl:
        lines += ["", "envtrust's own events, read from the top of the list until the unmatched ones reach each "
                  "rate per station-month:", "",
                  "| rate | events | recall | " + " | ".join(kinds) + " | kind acc. | unmatched/stn-month |",
                  "|" + "---|" * (len(kinds) + 5)]
        for rate, w in wl["at_rate"].items():
            lines.append(f"| {rate} | {w['events']} | {_f(w['recall'])} | "
                         + " | ".join(_f(w["per_kind_recall"].get(k), 2) for k in kinds)
                         + f" | {_f(w['kind_accuracy'], 2)} | {_f(w['unmatched_per_station_month'], 2)} |")
        own = env["own_events"]
        lines += _replay_lines(env.get("verdict_replay"))
        lines += ["", f"Data-completeness alarms (gaps with no sign of interference, a list of their own): "
                  f"{own.get('data_gaps', 0)} ({_f(own.get('data_gaps_per_station_month'), 2)} per station-month)."]
        curve = wl.get("pr_curve") or []
        if curve:
            step = max(1, len(curve) // 8)
            pts = curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else [])
            lines += ["", "Event-level precision-recall (own events by rank): "
                      + "; ".join(f"top {p['events']}: P {_f(p['precision'], 2)} R {_f(p['recall'], 2)}"
                                  for p in pts)]
    return lines


def _replay_lines(replay: dict | None) -> list[str]:
    """The verdict replay: unmatched events at the same recall without and with the development
    split's simulated verdicts."""
    if not replay:
        return []
    lines = ["", f"Analysts' verdicts replayed ({replay['labels']} development events reviewed, "
             f"{replay['false_alarm_labels']} false alarms; {replay['penalised_station_models']} station-model "
             "pairs lowered): unmatched events per station-month at the same recall:", "",
             "| rate | recall | unmatched without verdicts | with verdicts | fall | recall at the rate with verdicts |",
             "|---|---|---|---|---|---|"]
    for rate, r in replay["at_rate"].items():
        fall = "-" if r["fall"] is None else f"{r['fall']:.0%}"
        lines.append(f"| {rate} | {_f(r['recall'])} | {_f(r['unmatched_before'], 3)} | {_f(r['unmatched_after'], 3)} | "
                     f"{fall} | {_f(r['recall_after_at_rate'])} |")
    return lines


def render_markdown(report: dict, command: str = "envtrust evaluate") -> str:
    """The evaluation report as Markdown (tables per split and network, targets, national day)."""
    d = report["data"]
    out = [f"# envtrust evaluation ({d['source']} Beijing data)", "",
           f"Command: `{command}`  ", f"Data: {d['source']} - `{d['beijing_dir']}` ({d['readings']:,} readings, "
           f"{d['stations']} stations); seed {report['seed']}; {report['n_per_kind']} events per kind and network; "
           f"alarm budget top {report['budget']:.0%} of station-hours; match tolerance {report['tolerance_h']} h; "
           f"total wall {report['wall_s_total']} s.", ""]
    if report.get("analyst_capacity"):
        caps = ", ".join(f"{k} {v:g}" for k, v in report["analyst_capacity"].items())
        out += [f"Operating point: analyst capacity {caps} events per station-month (the air network's calibrated "
                "event thresholds are those of the false-event budget within it).", ""]
    if report.get("pipeline") not in (None, "default") or report.get("pipeline_files"):
        files = ", ".join(f"{k} {v}" for k, v in report.get("pipeline_files", {}).items())
        out += [f"Pipeline: `{report.get('pipeline', 'default')}`" + (f" (sha256: {files})" if files else "") + ".", ""]
    prov = report.get("provenance")
    if prov:
        mod = prov.get("engine_files_modified") or []
        out += [f"Code: commit {prov.get('commit')}" + (f", with uncommitted changes in {len(mod)} engine files "
                                                         f"({', '.join(mod[:6])}{' ...' if len(mod) > 6 else ''})"
                                                         if mod else ", no uncommitted engine changes") + ".", ""]
    for name, sp in report["splits"].items():
        out.append(f"## {name}: {sp['start_cst']} .. {sp['end_cst']} CST ({sp['purpose']})")
        out.append("")
        labels = {"air": "Beijing air, real data with injected interference",
                  "cems": f"CEMS outlets ({sp.get('cems_source')})",
                  "water": f"Surface-water sections ({sp.get('water_source')})"}
        for net_name, label in labels.items():
            if net_name not in sp:
                continue
            net = sp[net_name]
            out += [f"### {label}", "",
                    f"{net['n_readings']:,} readings, {net['n_stations']} stations, {net['station_months']} station-months, "
                    f"{net['truth_events']} truth events {net['truth_by_kind']}, "
                    f"{net['positive_station_hour_share']:.1%} of station-hours inside events, "
                    f"{net.get('changed_station_hour_share', float('nan')):.1%} actually altered.", ""]
            out += _network_table(net)
            checks = target_check(net)
            if checks:
                title = "Targets (held-out, at the analyst's workload)"
                out += ["", f"{title}: " + "; ".join(
                    f"{k}: {_f(v[0])} {'PASS' if v[1] else 'FAIL'}" for k, v in checks.items())]
            if net["placement_warnings"]:
                out += ["", "Placement: " + "; ".join(net["placement_warnings"])]
            out.append("")
    nd = report.get("national_day", {})
    out += ["## Real national day 2017-01-01 (CNEMC, no injection)", ""]
    if "readings" in nd:
        out.append(f"{nd['readings']:,} readings at {nd['stations']} stations.")
    if "error" in nd:
        out.append(f"Not scored: {nd['error']}.")
    else:
        out.append(f"envtrust raised {nd.get('events', 0)} events {nd.get('events_by_kind', {})} in {nd.get('wall_s')} s. Top events:")
        out += ["", "| station | name | city | kind | start (CST) | end (CST) | score | summary |", "|---|---|---|---|---|---|---|---|"]
        for e in nd.get("top_events", []):
            out.append(f"| {e['station_id']} | {e['name']} | {e['city']} | {e['kind']} | {e['start_cst']} | "
                       f"{e['end_cst']} | {e['score']} | {e['summary']} |")
    out.append("")
    return "\n".join(out)


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    return x


def write_report(report: dict, out_dir: str | Path, command: str = "envtrust evaluate") -> list[Path]:
    """Write evaluation.json, evaluation.md and the truth events (CSV) to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "evaluation.json", out_dir / "evaluation.md"]
    paths[0].write_text(json.dumps(_json_safe(report), indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    paths[1].write_text(render_markdown(report, command), encoding="utf-8")
    for split, nets in report.get("_truths", {}).items():
        for net, truth in nets.items():
            p = out_dir / f"truth_{split}_{net}.csv"
            truth.to_csv(p, index=False)
            paths.append(p)
    return paths
