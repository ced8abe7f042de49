"""The pipeline's configuration, read from ``analytics/pipelines/<name>.toml`` and validated.

Every knob is one typed field with one default: a detector's parameters are the keyword arguments
of its function (``analytics/detectors/``), the ensemble's and the events' knobs the fields of
:class:`~analytics.ensemble.EnsembleSettings` and :class:`~analytics.events.EventSettings`, the
panel's :class:`PanelSettings`, the pipeline-wide ones :class:`Pipeline`'s. A pipeline TOML states
only what it chooses differently. A key no field reads is refused with the known keys named, so a
typo cannot fall back to a default unnoticed.

:func:`fit_fingerprint` names what the fitted files (calibration, combiners) were fitted on.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from analytics.detectors.base import InputError
from analytics.ensemble import FITTED, EnsembleSettings
from analytics.events import EventSettings
from analytics.registry import Registry, default_registry
from analytics.verdicts import VerdictCalibration
from analytics.vocabulary import PARAMETERS, STATION_KINDS

PIPELINE_DIR = Path(__file__).resolve().parent.parent / "pipelines"
#: marks a :class:`Pipeline` field that no TOML sets (where it was read from, what the calibration says)
NOT_CONFIGURED = {"configured": False}
PER_PARAMETER_SCOPES = ("all", "combiner")
DETECTOR_ENTRY_KEYS = ("enabled", "name", "params")

Settings = TypeVar("Settings")


class DetectorConfig(NamedTuple):
    """One detector of a pipeline, in run order: every keyword argument of its function, the TOML's
    values over the function's defaults (so ``fn(panel, **params)`` is the whole call)."""

    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class PanelSettings:
    """The ``[panel]`` section: which stations count as a station's neighbours."""

    k_neighbours: int = 8  # nearest stations of the same network (micro-stations included)
    max_distance_m: float = 80_000.0


@dataclass
class Pipeline:
    """A named, data-described scoring pipeline: its configuration (validated, typed) and what the
    fitted files next to its TOML install into ``ensemble`` and ``events``."""

    name: str
    detectors: tuple[DetectorConfig, ...]
    ensemble: EnsembleSettings = field(default_factory=EnsembleSettings)
    events: EventSettings = field(default_factory=EventSettings)
    panel: PanelSettings = field(default_factory=PanelSettings)
    # the calibration also keeps each model's clean tail per parameter: true (all models), false, or
    # a list of models ...
    per_parameter_calibration: bool | tuple[str, ...] = True
    # ... read everywhere ("all") or only by the learned combiner ("combiner"; the alarm tier keeps
    # the pooled tails)
    per_parameter_scope: str = "combiner"
    # measured for context, never judged: water temperature follows the weather, not the operator
    context_parameters: tuple[str, ...] = ("water_temp",)
    # parameter networks the calibration JSON was fitted on; other networks self-calibrate per run
    calibrated_networks: tuple[str, ...] = ("air",)
    # station kinds whose gaps the clean calibration saw; other kinds (micro-sensors drop out far more
    # often than reference stations) also learn their event thresholds in the run
    calibrated_station_kinds: tuple[str, ...] = ("air_station",)
    source: str = field(default="", metadata=NOT_CONFIGURED)  # the TOML it was read from
    # analysts' verdicts installed for a run (analytics.verdicts.VerdictCalibration); never from a TOML
    verdicts: VerdictCalibration | None = field(default=None, metadata=NOT_CONFIGURED)
    # station_id -> the isolation forest kept from an earlier run, applied instead of a refit
    # (analytics.detectors.iforest.StationForest); installed for an incremental run, never from a TOML
    kept_forests: Mapping[str, Any] | None = field(default=None, metadata=NOT_CONFIGURED)
    # the calibration's false-event budget
    false_events_per_station_month: float = field(default=0.1, metadata=FITTED)
    # the calibrated combined event threshold at other false-event budgets ({"0.3": {"threshold":
    # 6.9}, ...}): the operating point follows the analysts' capacity (at_capacity)
    event_thresholds_by_budget: dict = field(default_factory=dict, metadata=FITTED)
    # station kind of a self-calibrated network -> its event thresholds fitted on clean data
    # ({"water_section": {"threshold": 5.1, "model_thresholds": {...}, ...}}; thresholds.clean_event_thresholds)
    clean_event_thresholds: dict = field(default_factory=dict, metadata=FITTED)
    # network of a self-calibrated family ("water", "flue", "wastewater") -> model -> TailCalibration
    # fitted on that network's clean data: the scale events read surprises on (run.event_surprise)
    clean_network_tails: dict = field(default_factory=dict, metadata=FITTED)

    def model_names(self, registry: Registry | None = None) -> list[str]:
        reg = registry or default_registry()
        return [m for d in self.detectors for m in reg.get(d.name).models]

    def detector_params(self, name: str, registry: Registry | None = None) -> Mapping[str, Any]:
        """The keyword arguments detector ``name`` runs with here: the pipeline's, or its function's
        defaults when the pipeline does not run it (other steps read its notion of a gap, a donor)."""
        for d in self.detectors:
            if d.name == name:
                return d.params
        return keyword_defaults((registry or default_registry()).get(name).fn)

    def per_parameter_models(self, models: Iterable[str]) -> set[str]:
        """The models among ``models`` whose clean tails are also kept per parameter."""
        choice = self.per_parameter_calibration
        if choice is True:
            return set(models)
        return set(choice) & set(models) if choice else set()


def pipeline_path(name_or_path: str | Path) -> Path:
    """``analytics/pipelines/<name>.toml`` for a name, the path itself for a TOML path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PIPELINE_DIR / f"{name_or_path}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PIPELINE_DIR.glob("*.toml")))
        raise InputError(f"no pipeline {name_or_path!r} (looked for {path}); known: {known}")
    return path


def read_config(path: Path, registry: Registry | None = None) -> Pipeline:
    """The pipeline a TOML describes, validated (ValueError naming the file, the section, the key)
    - without its fitted files (see :func:`analytics.pipeline.load.load_pipeline`)."""
    with path.open("rb") as fh:
        cfg = tomllib.load(fh)
    try:
        return pipeline_from_dict(cfg, path.stem, registry or default_registry(), source=str(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def pipeline_from_dict(cfg: Mapping[str, Any], default_name: str, registry: Registry,
                       source: str = "") -> Pipeline:
    """A :class:`Pipeline` from a parsed TOML document (see :func:`read_config`)."""
    scope = {k: v for k, v in cfg.items() if k not in ("detectors", "ensemble", "events", "panel")}
    per_parameter = scope.pop("per_parameter_calibration", True)
    models = set(registry.model_kinds())
    values = settings_values(Pipeline, {"name": default_name, **scope}, "top level")
    pipe = Pipeline(
        detectors=detector_configs(cfg.get("detectors", []), registry),
        ensemble=ensemble_settings(cfg.get("ensemble", {}), models),
        events=event_settings(cfg.get("events", {}), models),
        panel=settings_from_table(PanelSettings, cfg.get("panel", {}), "panel"),
        per_parameter_calibration=per_parameter_choice(per_parameter, models),
        source=source,
        **values,
    )
    check_scope(pipe)
    return pipe


def detector_configs(entries: list[Mapping[str, Any]], registry: Registry) -> tuple[DetectorConfig, ...]:
    """The ``[[detectors]]`` entries in run order, leaving out those with ``enabled = false``."""
    out = []
    for i, entry in enumerate(entries):
        reject_unknown(entry, DETECTOR_ENTRY_KEYS, f"detectors #{i + 1}")
        if coerce(entry.get("enabled", True), True, f"[detectors #{i + 1}] enabled"):
            out.append(detector_config(entry, i, registry))
    return tuple(out)


def detector_config(entry: Mapping[str, Any], index: int, registry: Registry) -> DetectorConfig:
    """One ``[[detectors]]`` entry: a registered name, parameters its function takes (typed like
    their defaults), merged over those defaults."""
    if "name" not in entry:
        raise ValueError(f"[detectors #{index + 1}] has no name")
    name = str(entry["name"])
    try:
        spec = registry.get(name)
    except KeyError as exc:
        raise ValueError(f"[detectors #{index + 1}] {exc.args[0]}") from None
    defaults = keyword_defaults(spec.fn)
    given = dict(entry.get("params", {}))
    reject_unknown(given, defaults, f"detectors.{name}.params")
    params = {k: coerce(given[k], default, f"[detectors.{name}.params] {k}") if k in given else default
              for k, default in defaults.items()}
    return DetectorConfig(name, params)


def keyword_defaults(fn) -> dict[str, Any]:
    """A detector function's keyword-only parameters and their defaults (the one place they live)."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def ensemble_settings(table: Mapping[str, Any], models: set[str]) -> EnsembleSettings:
    """The ``[ensemble]`` section; weights and self-calibrated models must name registered models."""
    settings = settings_from_table(EnsembleSettings, table, "ensemble")
    check_models(settings.weights, models, "[ensemble.weights]")
    check_models(settings.self_calibrate, models, "[ensemble] self_calibrate")
    for model, weight in settings.weights.items():
        settings.weights[model] = coerce(weight, 1.0, f"[ensemble.weights] {model}")
    return settings


def event_settings(table: Mapping[str, Any], models: set[str]) -> EventSettings:
    """The ``[events]`` section; own-event openers must name registered models and station kinds."""
    settings = settings_from_table(EventSettings, table, "events")
    check_windows(settings.self_calibrated_own_event_models, models, "[events] self_calibrated_own_event_models")
    by_kind = settings.self_calibrated_own_event_models_by_kind
    check_names(by_kind, STATION_KINDS, "[events] self_calibrated_own_event_models_by_kind", "station kind")
    for kind, openers in by_kind.items():
        check_windows(openers, models, f"[events] self_calibrated_own_event_models_by_kind.{kind}")
    return settings


def per_parameter_choice(value: Any, models: set[str]) -> bool | tuple[str, ...]:
    """``per_parameter_calibration``: true, false, or a list of model names."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        check_models(value, models, "per_parameter_calibration")
        return tuple(value)
    raise ValueError(f"per_parameter_calibration must be true, false or a list of models, not {value!r}")


def check_scope(pipe: Pipeline) -> None:
    """The pipeline-wide lists name known parameters, networks and station kinds."""
    if pipe.per_parameter_scope not in PER_PARAMETER_SCOPES:
        raise ValueError(f"per_parameter_scope {pipe.per_parameter_scope!r}; known: {', '.join(PER_PARAMETER_SCOPES)}")
    check_names(pipe.context_parameters, PARAMETERS, "context_parameters", "parameter")
    check_names(pipe.calibrated_networks, sorted({p.network for p in PARAMETERS.values()}),
                "calibrated_networks", "network")
    check_names(pipe.calibrated_station_kinds, STATION_KINDS, "calibrated_station_kinds", "station kind")


def check_windows(openers: Mapping[str, Any], models: set[str], where: str) -> None:
    """Own-event openers: registered model -> rolling window in hours (an integer >= 1)."""
    check_models(openers, models, where)
    for model, window_h in openers.items():
        if isinstance(window_h, bool) or not isinstance(window_h, int) or window_h < 1:
            raise ValueError(f"{where}: window of {model!r} must be a whole number of hours >= 1, not {window_h!r}")


def check_models(names: Iterable[str], models: set[str], where: str) -> None:
    check_names(names, sorted(models), where, "model")


def check_names(names: Iterable[str], known: Iterable[str], where: str, what: str) -> None:
    """ValueError for the first of ``names`` not in ``known``, naming the known ones."""
    known = list(known)
    for name in names:
        if name not in known:
            raise ValueError(f"{where}: unknown {what} {name!r}; known: {', '.join(known)}")


def configured_fields(cls: type) -> list[str]:
    """The fields of a settings dataclass that a TOML may set (not the fitted or bookkeeping ones)."""
    return [f.name for f in fields(cls) if not f.metadata.get("fitted") and f.metadata.get("configured", True)]


def reject_unknown(table: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    """ValueError naming the section and the known keys for the first key outside ``known``."""
    known = sorted(known)
    for key in table:
        if key not in known:
            raise ValueError(f"[{section}] unknown key {key!r}; known: {', '.join(known)}")


def settings_from_table(cls: type[Settings], table: Mapping[str, Any], section: str) -> Settings:
    """An instance of the settings dataclass ``cls`` from its TOML table (unknown keys refused)."""
    return cls(**settings_values(cls, table, section))


def settings_values(cls: type, table: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The table's values, checked against ``cls``'s configurable fields and typed like their defaults."""
    known = configured_fields(cls)
    reject_unknown(table, known, section)
    defaults = {f.name: field_default(f) for f in fields(cls)}
    return {k: coerce(v, defaults[k], f"[{section}] {k}") for k, v in table.items()}


def field_default(f: Field) -> Any:
    """A dataclass field's default (None for a required field)."""
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None if f.default is MISSING else f.default


#: how a TOML value becomes a field's type: (type of the default, accepted TOML types, conversion, wording)
CONVERSIONS: tuple[tuple[type, tuple[type, ...], Any, str], ...] = (
    (bool, (bool,), bool, "true or false"),
    (int, (int,), int, "an integer"),
    (float, (int, float), float, "a number"),
    (str, (str,), str, "a string"),
    (tuple, (list, tuple), tuple, "an array"),
    (dict, (dict,), dict, "a table"),
)


def coerce(value: Any, default: Any, where: str) -> Any:
    """``value`` as the type of ``default`` (TOML integers are accepted for floats, arrays for
    tuples; a boolean is never a number); ValueError naming ``where`` when it cannot be one."""
    if default is None:
        return value
    for kind, accepted, convert, wording in CONVERSIONS:
        if type(default) is kind:
            if type(value) not in accepted:
                raise ValueError(f"{where} must be {wording}, not {value!r}")
            return convert(value)
    return value


def fitted_config(pipe: Pipeline) -> dict[str, Any]:
    """What the raw model statistics depend on, and so what a calibration or a combiner was fitted
    for: the detectors in run order with every parameter they run with, and the panel (which
    stations are neighbours). The ensemble's and events' knobs are left out on purpose - they are
    applied to the fitted numbers at scoring time, and tuning them must not invalidate a fit - as
    are the pipeline's name and file (a copy elsewhere is the same pipeline)."""
    return {"detectors": [[d.name, dict(d.params)] for d in pipe.detectors],
            "panel": {f.name: getattr(pipe.panel, f.name) for f in fields(PanelSettings)}}


def fit_fingerprint(pipe: Pipeline) -> str:
    """sha256 of the canonical JSON of :func:`fitted_config`, as the fitted files record it."""
    canonical = json.dumps(fitted_config(pipe), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
