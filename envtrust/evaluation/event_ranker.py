"""Fit the learned event rankers (:mod:`analytics.event_ranker`) on the DEVELOPMENT years only.

Air reference stations: every air kind is injected into the real Beijing development split with
the seeds the learned combiner is fitted on (``TRAINING_SEEDS``, which ``envtrust evaluate`` never
uses); the shipped pipeline, without a ranker, opens its list at the ranker's capacity
(``OPEN_AT_CAPACITY``); a logistic regression learns from each event's row which events match a
planted case. Its values are then read against the clean development split's list (nothing
injected): clean events per station-month at least that high, so an event's ``rank_score`` stays
"1 in N clean station-hours"; and that list's top rank before the ranker (``EventRanker.beyond_clean``).

Water sections (:func:`fit_water_event_ranker_on_development`): the same regression over the
sections' events opened at looser clean thresholds (``WATER_OPEN_RATE`` clean events per
station-month, fitted on the honest network the shipped thresholds are fitted on), learned from
the water kinds injected into the evaluation's sections generated with the combiner's seeds, read
against that honest network's list and cut where it keeps the shipped clean rate
(``CLEAN_EVENTS_PER_STATION_MONTH``), so an honest network stays as quiet as before.
The held-out years are never touched.

Reproduce (writes ``analytics/pipelines/default.event_ranker.json`` /
``default.event_ranker.water.json``)::

    envtrust evaluate --fit-event-ranker      # or: make fit-event-ranker
    envtrust evaluate --fit-event-ranker --networks water
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.evaluation.inject import AIR_KINDS, WATER_KINDS, inject_interference
from analytics.evaluation.metrics import match_events, station_hour_grid, station_months
from analytics.event_ranker import ROW_FEATURES, EventRanker, clean_value_tail, event_features
from analytics.events import DATA_GAP_KIND
from analytics.pipeline import (
    at_capacity,
    calibrate_clean_events,
    fit_fingerprint,
    load_pipeline,
    score_partition,
)
from analytics.pipeline.calibration import CLEAN_EVENTS_PER_STATION_MONTH
from envtrust.evaluation.combiner import CLEAN_NETWORK_SEED, N_PER_KIND, TRAINING_SEEDS
from envtrust.evaluation.harness import water_network

#: the air list is opened at the combined threshold of this capacity (events per station-month):
#: on the development split a ranker over it carried across seeds and years, one over the 0.3 list
#: did not (benchmarks/results/engine-tuning.md, session 12)
OPEN_AT_CAPACITY = 1.0
#: inverse regularisation strength of the logistic regression (the measurement's, not tuned)
RANKER_C = 0.3
#: the water sections' list opens at the thresholds at which the honest clean network opens this many
#: events per station-month (its openers together), six times what it lists
WATER_OPEN_RATE = 0.3
WATER_STATION_KIND = "water_section"


def listed_events(readings: pd.DataFrame, stations: pd.DataFrame, pipe,
                  station_kind: str | None = None) -> pd.DataFrame:
    """The suspected-interference events of a run (the Beijing stations are all air reference
    stations, ranked by their openers' clean rates: the rows the ranker reads), at stations of
    ``station_kind`` only when given."""
    events = score_partition(readings, stations, pipe).events
    keep = events["kind"] != DATA_GAP_KIND
    if station_kind is not None:
        ids = set(stations.loc[stations["kind"].astype(str) == station_kind, "station_id"].astype(str))
        keep &= events["station_id"].astype(str).isin(ids)
    return events[keep].reset_index(drop=True)


def feature_names(rows: list[dict[str, float]]) -> tuple[str, ...]:
    """The row features, then every fired model and kind seen in ``rows``, in name order."""
    extra = sorted({k for r in rows for k in r} - set(ROW_FEATURES))
    return (*ROW_FEATURES, *[k for k in extra if k.startswith("model:")], *[k for k in extra if k.startswith("kind:")])


def event_rows(events: pd.DataFrame) -> list[dict[str, float]]:
    return [event_features(e, str(k), float(r))
            for e, k, r in zip(events["evidence"], events["kind"], events["rank_score"], strict=True)]


def fit_ranker(rows: list[dict[str, float]], matched: np.ndarray, clean_rows: list[dict[str, float]],
               clean_station_months: float, **meta) -> EventRanker:
    """Logistic regression of ``matched`` on the standardised ``rows``; its clean tail read on
    ``clean_rows`` over ``clean_station_months``."""
    from sklearn.linear_model import LogisticRegression

    names = feature_names(rows)
    x = np.array([[r.get(f, 0.0) for f in names] for r in rows], dtype=float)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=RANKER_C, max_iter=2000).fit((x - mu) / sd, np.asarray(matched, dtype=bool))
    unread = EventRanker(names, tuple(mu), tuple(sd), tuple(model.coef_[0]), float(model.intercept_[0]),
                         clean_tail=clean_value_tail(np.zeros(1), 1.0), **meta)
    clean_values = np.array([unread.value(r) for r in clean_rows], dtype=float)
    return EventRanker(**{**unread.__dict__, "clean_tail": clean_value_tail(clean_values, clean_station_months)})


def fit_event_ranker_on_development(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: str = "default",
                                    seeds: tuple[int, ...] = TRAINING_SEEDS,
                                    progress: Callable[[str], None] | None = None) -> EventRanker:
    """Fit the ranker on injected copies of ``readings`` (the development split, CST-selected) and
    read it against ``readings`` themselves (clean)."""
    progress = progress or (lambda msg: None)
    pipe = at_capacity(load_pipeline(pipeline, refit=("event_ranker",)), OPEN_AT_CAPACITY)
    rows, matched = [], []
    for seed in seeds:
        progress(f"  injection seed {seed}: the list at capacity {OPEN_AT_CAPACITY:g} ...")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            injected, truth = inject_interference(readings, stations, kinds=list(AIR_KINDS),
                                                  n_per_kind=N_PER_KIND, seed=seed)
        events = listed_events(injected, stations, pipe)
        rows += event_rows(events)
        matched.append(match_events(events, truth)[0])
    progress("  the clean development list ...")
    clean = listed_events(readings, stations, pipe)
    span = f"{pd.Timestamp(readings['ts'].min()):%Y-%m-%d}..{pd.Timestamp(readings['ts'].max()):%Y-%m-%d} UTC"
    y = np.concatenate(matched)
    progress(f"  fitting on {len(y):,} events ({int(y.sum()):,} matching a planted case); "
             f"{len(clean):,} clean events")
    return fit_ranker(rows, y, event_rows(clean), station_months(station_hour_grid(readings)),
                      open_at_capacity=OPEN_AT_CAPACITY, beyond_clean=round(float(clean["rank_score"].max()), 4),
                      fingerprint=fit_fingerprint(pipe),
                      fitted_on=f"Beijing development split {span}, injection seeds {list(seeds)}; "
                                f"clean tail on the same split, nothing injected")


def fit_water_event_ranker_on_development(start_cst: str, end_cst: str, pipeline: str = "default",
                                          seeds: tuple[int, ...] = TRAINING_SEEDS, rain_mm: pd.Series | None = None,
                                          open_rate: float = WATER_OPEN_RATE,
                                          progress: Callable[[str], None] | None = None) -> EventRanker:
    """The water sections' ranker: opened at ``open_rate`` on the honest network the clean thresholds
    are fitted on (all the project's sections, ``CLEAN_NETWORK_SEED``), learned from the evaluation's
    sections generated and injected with ``seeds``, read against that honest network's list."""
    progress = progress or (lambda msg: None)
    pipe = load_pipeline(pipeline, refit=("event_ranker",))
    # the honest network of envtrust.evaluation.combiner.clean_networks: all sections, its seed
    clean_r, clean_s, _ = water_network(start_cst, end_cst, CLEAN_NETWORK_SEED, max_sections=None, rain_mm=rain_mm)
    progress(f"  the honest water network: thresholds at {open_rate:g} clean events per station-month ...")
    opened = calibrate_clean_events(clean_r, clean_s, pipe, events_per_station_month=open_rate)["thresholds"]
    open_thresholds = opened[WATER_STATION_KIND]
    pipe = replace(pipe, clean_event_thresholds={**pipe.clean_event_thresholds, WATER_STATION_KIND: open_thresholds})
    rows, matched = [], []
    for seed in seeds:
        progress(f"  water, generator and injection seed {seed}: the list opened at {open_rate:g} ...")
        readings, stations, _ = water_network(start_cst, end_cst, seed, rain_mm=rain_mm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            injected, truth = inject_interference(readings, stations, kinds=list(WATER_KINDS),
                                                  n_per_kind=N_PER_KIND, seed=seed)
        events = listed_events(injected, stations, pipe, WATER_STATION_KIND)
        rows += event_rows(events)
        matched.append(match_events(events, truth)[0])
    progress("  the honest network's list ...")
    clean = listed_events(clean_r, clean_s, pipe, WATER_STATION_KIND)
    y = np.concatenate(matched)
    progress(f"  fitting on {len(y):,} events ({int(y.sum()):,} matching a planted case); "
             f"{len(clean):,} clean events")
    return fit_ranker(rows, y, event_rows(clean), station_months(station_hour_grid(clean_r)),
                      open_at_capacity=open_rate, fingerprint=fit_fingerprint(pipe),
                      station_kind=WATER_STATION_KIND, open_thresholds=open_thresholds,
                      list_rate=CLEAN_EVENTS_PER_STATION_MONTH,
                      fitted_on=f"synthetic water sections {start_cst}..{end_cst} CST (development period), "
                                f"generator and injection seeds {list(seeds)}; opened and read against the honest "
                                f"network of all sections, generator seed {CLEAN_NETWORK_SEED}, nothing injected")


def write_event_ranker(ranker: EventRanker, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(ranker.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path
