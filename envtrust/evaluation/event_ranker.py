"""Fit the air reference stations' learned event ranker (:mod:`analytics.event_ranker`) on the
DEVELOPMENT years only.

Every air kind is injected into the real Beijing development split with the seeds the learned
combiner is fitted on (``TRAINING_SEEDS``, which ``envtrust evaluate`` never uses); the shipped
pipeline, without a ranker, opens its list at the ranker's capacity (``OPEN_AT_CAPACITY``); a
logistic regression learns from each event's row which events match a planted case. Its values
are then read against the clean development split's list (nothing injected): clean events per
station-month at least that high, so an event's ``rank_score`` stays "1 in N clean station-hours";
and that list's top rank before the ranker (``EventRanker.beyond_clean``).
The held-out years are never touched.

Reproduce (writes ``analytics/pipelines/default.event_ranker.json``)::

    envtrust evaluate --fit-event-ranker      # or: make fit-event-ranker
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.evaluation.inject import AIR_KINDS, inject_interference
from analytics.evaluation.metrics import match_events, station_hour_grid, station_months
from analytics.event_ranker import ROW_FEATURES, EventRanker, clean_value_tail, event_features
from analytics.events import DATA_GAP_KIND
from analytics.pipeline import at_capacity, fit_fingerprint, load_pipeline, score_partition
from envtrust.evaluation.combiner import N_PER_KIND, TRAINING_SEEDS

#: the air list is opened at the combined threshold of this capacity (events per station-month):
#: on the development split a ranker over it carried across seeds and years, one over the 0.3 list
#: did not (benchmarks/results/engine-tuning.md, session 12)
OPEN_AT_CAPACITY = 1.0
#: inverse regularisation strength of the logistic regression (the measurement's, not tuned)
RANKER_C = 0.3


def listed_events(readings: pd.DataFrame, stations: pd.DataFrame, pipe) -> pd.DataFrame:
    """The suspected-interference events of a run (the Beijing stations are all air reference
    stations, ranked by their openers' clean rates: the rows the ranker reads)."""
    events = score_partition(readings, stations, pipe).events
    return events[events["kind"] != DATA_GAP_KIND].reset_index(drop=True)


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


def write_event_ranker(ranker: EventRanker, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(ranker.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path
