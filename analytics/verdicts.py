"""Analyst verdicts as labels: per-station recalibration of the models that raised false alarms.

An analyst's review (confirmed / false alarm, or a case closed as 误报 or with a penalty) says
whether an event was interference. The next scoring run reads those labels: for each station and
model, the false alarms and confirmations the model took part in give the odds that the model's
evidence *at that station* is a false alarm, and an event the model raises there is lowered by
``log10`` of those odds (capped) - its rank figure, and its 0-1 score by the same factor. An event
like a station's past false alarms (a micro-climate, siting or analyser that makes one model fire
on honest data) drops down the list; a model whose events at the station were confirmed keeps its
full weight. Station-hour scores and the events' thresholds are left as they are: in networks whose
thresholds are learned in the run (a false-event budget), lowering surprises only lets other
stations' events fill the budget (measured: CEMS held-out unmatched events +40%). Pure: labels in, penalties out; the SQL that loads the labels is
in :mod:`data.scoring`.

Each labelled event counts once per model that fired in it (its evidence ``models``: model ->
peak surprise, the models at >= 2), weighted by that model's share of the event's strongest
evidence (``surprise / max surprise``), so a model that only joined in weakly is barely blamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: the labels' columns (``models``: dict or JSON text of model -> peak surprise in the event)
LABEL_COLUMNS = ["station_id", "kind", "start", "end", "verdict", "models"]
#: verdicts that are labels (``reopened`` withdraws one)
LABEL_VERDICTS = ("confirmed", "false_alarm")
#: Laplace prior (events) on both sides of the odds: one false alarm against no confirmation
#: lowers a model by log10(2) = 0.3; five by log10(6) = 0.78
PRIOR_EVENTS = 1.0
#: the largest lowering [log10 units]: a model at a station never goes entirely silent
MAX_PENALTY = 3.0


@dataclass(frozen=True)
class VerdictCalibration:
    """Per (station_id, model): how much the model's surprise at the station is lowered [log10]."""

    penalty: dict[tuple[str, str], float] = field(default_factory=dict)
    labels: int = 0
    false_alarms: int = 0

    def for_model(self, model: str, station_ids) -> np.ndarray | None:
        """Penalty per station (axis-0 order of ``station_ids``) for ``model``; None when there is none."""
        out = np.array([self.penalty.get((str(s), model), 0.0) for s in station_ids], dtype=np.float64)
        return out if out.any() else None


def models_of(value) -> dict[str, float]:
    """An event's fired models (dict, or the JSON text of one) as model -> surprise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    out = {}
    for k, v in value.items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(x) and x > 0:
            out[str(k)] = x
    return out


def evidence_models(evidence) -> dict:
    """The ``models`` entry of an event's evidence (dict, or its JSON text); {} without one."""
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence)
        except ValueError:
            return {}
    got = evidence.get("models") if isinstance(evidence, dict) else None
    return got if isinstance(got, dict) else {}


def fit_verdicts(labels: pd.DataFrame | None, prior_events: float = PRIOR_EVENTS,
                 max_penalty: float = MAX_PENALTY) -> VerdictCalibration:
    """Per-station, per-model penalties from labelled events (:data:`LABEL_COLUMNS`).

    penalty = clip(log10((false alarms + prior) / (confirmations + prior)), 0, max_penalty), both
    counts weighted by the model's share of the event's strongest evidence."""
    if labels is None or labels.empty:
        return VerdictCalibration()
    lab = labels[labels["verdict"].isin(LABEL_VERDICTS)]
    fa: dict[tuple[str, str], float] = {}
    ok: dict[tuple[str, str], float] = {}
    for row in lab.itertuples(index=False):
        models = models_of(row.models)
        if not models:
            continue
        top = max(models.values())
        target = fa if row.verdict == "false_alarm" else ok
        for m, v in models.items():
            key = (str(row.station_id), m)
            target[key] = target.get(key, 0.0) + v / top
    penalty = {}
    for key, n_fa in fa.items():
        p = float(np.log10((n_fa + prior_events) / (ok.get(key, 0.0) + prior_events)))
        if p > 0:
            penalty[key] = round(min(p, max_penalty), 4)
    return VerdictCalibration(penalty=penalty, labels=int(len(lab)),
                              false_alarms=int((lab["verdict"] == "false_alarm").sum()))


def event_penalty(models: dict[str, float], station_id: str, calibration: VerdictCalibration | None,
                  how: str = "max") -> float:
    """How far an event's figure is lowered [log10]: its fired models' penalties at the station,
    each weighted by the model's share of the event's strongest evidence (``surprise / max``);
    ``how`` = "max" (the most penalised model) or "mean" (surprise-weighted mean)."""
    if calibration is None or not calibration.penalty or not models:
        return 0.0
    top = max(models.values())
    parts = [(v, v / top * calibration.penalty.get((str(station_id), m), 0.0)) for m, v in models.items()]
    if how == "mean":
        return float(sum(v * p for v, p in parts) / max(sum(v for v, _ in parts), 1e-12))
    return float(max(p for _, p in parts))


def demote_events(events: pd.DataFrame, calibration: VerdictCalibration | None, how: str = "max") -> pd.DataFrame:
    """Events with each one's figure lowered by its :func:`event_penalty`: ``rank_score`` minus the
    penalty, ``score`` = 1 - (1 - score) x 10^penalty (the same evidence, that much less rare), and
    the penalty kept in the evidence (``verdict_penalty``). An event like the station's past false
    alarms drops down the list; nothing else moves."""
    if calibration is None or not calibration.penalty or events is None or events.empty:
        return events
    pen = np.array([event_penalty(models_of(evidence_models(e)), sid, calibration, how)
                    for sid, e in zip(events["station_id"], events["evidence"], strict=True)])
    if not pen.any():
        return events
    out = events.copy()
    out["rank_score"] = pd.to_numeric(out["rank_score"], errors="coerce") - pen
    out["score"] = 1.0 - (1.0 - out["score"].astype(float)) * 10.0 ** pen
    out["score"] = out["score"].clip(lower=0.0)
    out["evidence"] = [({**e, "verdict_penalty": round(float(p), 3)} if p > 0 and isinstance(e, dict) else e)
                       for e, p in zip(out["evidence"], pen, strict=True)]
    return out


def simulated_verdicts(events: pd.DataFrame, matched: np.ndarray) -> pd.DataFrame:
    """Labels an analyst who knew the truth would give the ``events`` read: ``confirmed`` where
    ``matched`` (the event matches an injected one), else ``false_alarm``. For replay in the
    evaluation (development split only)."""
    if events is None or events.empty:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    evidence = events["evidence"] if "evidence" in events.columns else events["evidence_json"]
    models = [models_of(evidence_models(e)) for e in evidence]
    return pd.DataFrame({"station_id": events["station_id"].astype(str).to_numpy(),
                         "kind": events["kind"].astype(str).to_numpy(),
                         "start": pd.to_datetime(events["start"]).to_numpy(),
                         "end": pd.to_datetime(events["end"]).to_numpy(),
                         "verdict": np.where(np.asarray(matched, dtype=bool), "confirmed", "false_alarm"),
                         "models": models})
