"""The learned event ranker of the air reference stations' list.

Why: an event's own row says more about whether it is interference than any single opener's
strength - how long it lasted, which models fired, how many parameters left the neighbours, its
kind. A logistic regression over that row, fitted on injected interference of the development
years (``envtrust.evaluation.event_ranker``), orders the list; its value is read against the
clean development list (``clean_tail``: clean events per station-month at least that high), so an
event's ``rank_score`` stays "more unusual than 1 in N clean station-hours" and the analysts'
capacity (events per station-month) is a cut on it (:func:`capacity_cut`).

An event whose rarest opener is rarer than anything the clean development list held
(``beyond_clean``: that list's top ``rank_score`` before the ranker) keeps that rank when it is the
higher: the ranker alone put planted copies below dozens of clean events (a copy's donor looks like
its copier, so the regression cannot trust the copy statistics), where the openers' clean rates put
them above the whole clean list (engine-tuning.md, session 12, second change).

Portable: coefficients and standardisation only (``<pipeline>.event_ranker.json``), no pickles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics.events import HOURS_PER_MONTH, EventRateTail

#: the features of an event's row, in this order; then ``model:<name>`` (the model's surprise in
#: ``evidence.models``, 0 when it did not fire) and ``kind:<kind>`` (one-hot)
ROW_FEATURES = ("rank_score", "log_hours", "peak_surprise", "deviating_parameters")


def event_features(evidence: dict, kind: str, rank_score: float) -> dict[str, float]:
    """An event's features by name: its ranking before the ranker (``rank_score``, the rarest
    opener's clean rate), log(1 + hours), its peak combined surprise, how many parameters deviate
    from the neighbours, each fired model's surprise and its kind."""
    out = {"rank_score": float(rank_score), "log_hours": math.log1p(float(evidence.get("hours", 0.0))),
           "peak_surprise": float(evidence.get("peak_surprise", 0.0) or 0.0),
           "deviating_parameters": float(len(evidence.get("deviation_pct_vs_neighbours", {}) or {}))}
    out.update({f"model:{m}": float(v) for m, v in (evidence.get("models", {}) or {}).items()})
    out[f"kind:{kind}"] = 1.0
    return out


def capacity_cut(events_per_station_month: float) -> float:
    """The ``rank_score`` an event needs to be within the analysts' capacity: on clean data at most
    ``events_per_station_month`` events reach it, i.e. 1 in (hours per month / capacity) clean
    station-hours (0.3 -> 3.39, 1.0 -> 2.86)."""
    return float(np.log10(HOURS_PER_MONTH / float(events_per_station_month)))


@dataclass(frozen=True)
class EventRanker:
    """Standardised logistic regression over :func:`event_features` and its clean rate tail."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    #: clean events per station-month whose value is at least each threshold (development split)
    clean_tail: EventRateTail
    #: the air list is opened at the combined threshold of this capacity (events per station-month),
    #: longer than the analysts read, so the ranker has events to choose from
    open_at_capacity: float = 1.0
    #: the clean development list's top rank before the ranker (the rarest opener's clean rate); an
    #: event above it keeps that rank when higher than the ranker's (see the module doc)
    beyond_clean: float | None = None
    fingerprint: str | None = None
    fitted_on: str = ""

    def value(self, features: dict[str, float]) -> float:
        """The ranker's logit for one event's features (unknown features are ignored)."""
        x = np.array([features.get(f, 0.0) for f in self.features], dtype=float)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(z @ np.asarray(self.coef) + self.intercept)

    def rank_score(self, features: dict[str, float]) -> float:
        """-log10 of the clean events per station-hour at least this event's value."""
        return self.clean_tail.rarity(self.value(features))

    def rank_event(self, evidence: dict, kind: str, rank_score: float) -> float:
        """An event row's rank (its evidence, kind and ``rank_score`` before the ranker): the
        ranker's :meth:`rank_score`, or the rank before it where that is beyond the clean list's
        top (``beyond_clean``) and higher."""
        learned = self.rank_score(event_features(evidence, kind, rank_score))
        if self.beyond_clean is not None and float(rank_score) > self.beyond_clean:
            return max(learned, float(rank_score))
        return learned

    def to_dict(self) -> dict:
        return {"kind": "event_ranker", "fingerprint": self.fingerprint, "fitted_on": self.fitted_on,
                "open_at_capacity": self.open_at_capacity, "beyond_clean": self.beyond_clean,
                "features": list(self.features),
                "mean": [round(float(v), 6) for v in self.mean], "scale": [round(float(v), 6) for v in self.scale],
                "coef": [round(float(v), 6) for v in self.coef], "intercept": round(float(self.intercept), 6),
                "clean_tail": self.clean_tail.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> EventRanker:
        return cls(features=tuple(d["features"]), mean=tuple(float(v) for v in d["mean"]),
                   scale=tuple(float(v) for v in d["scale"]), coef=tuple(float(v) for v in d["coef"]),
                   intercept=float(d["intercept"]), clean_tail=EventRateTail.from_dict(d["clean_tail"]),
                   open_at_capacity=float(d.get("open_at_capacity", 1.0)),
                   beyond_clean=None if d.get("beyond_clean") is None else float(d["beyond_clean"]),
                   fingerprint=d.get("fingerprint"),
                   fitted_on=str(d.get("fitted_on", "")))


def clean_value_tail(values: np.ndarray, station_months: float) -> EventRateTail:
    """The clean rate tail of ranker values: at each clean event's value (ascending), the clean
    events per station-month at least that high."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0 or station_months <= 0:
        raise ValueError("the clean list is empty: no rate tail to read the ranker against")
    thresholds, first = np.unique(v, return_index=True)
    rates = (v.size - first) / float(station_months)
    return EventRateTail(tuple(float(t) for t in thresholds), tuple(float(r) for r in rates))
