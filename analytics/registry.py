"""Detector registry: checks are found by name, so a pipeline can be written as data (SaQC style).

A detector is a pure function ``fn(panel, **params) -> dict[model_name, ndarray]``: it reads a
:class:`analytics.detectors.base.Panel` and returns one or more *raw statistics*, each an array
shaped like ``panel.values`` (float, >= 0, larger = less plausible, NaN/0 = no evidence). Each
returned model carries the interference kind its evidence points at; the ensemble calibrates
the raw statistics against clean data, so a detector never has to guess its own threshold.

    @register("flatline", models={"flatline": "flatline"})
    def flatline(panel, *, min_run_h=4): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

import numpy as np

from analytics.vocabulary import EVENT_KINDS

DetectorFn = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    fn: DetectorFn
    models: dict[str, str | None]  # model name -> event kind it points at (None = unspecific)
    family: str  # module it lives in (documentation)
    needs: tuple[str, ...] = ()  # other detectors whose outputs it reads via panel.cache


_DETECTOR_MODULES = ("rules", "flatline", "outage", "spatial", "seasonal", "iforest", "donor", "drift",
                     "clipping", "flags", "suppression")


class Registry:
    """Name -> DetectorSpec. One instance per process is built lazily by :func:`default_registry`."""

    def __init__(self) -> None:
        self._specs: dict[str, DetectorSpec] = {}

    def add(self, spec: DetectorSpec) -> None:
        if spec.name in self._specs and self._specs[spec.name].fn is not spec.fn:
            raise ValueError(f"detector {spec.name!r} registered twice")
        for kind in spec.models.values():
            if kind is not None and kind not in EVENT_KINDS:
                raise ValueError(f"detector {spec.name!r}: unknown event kind {kind!r}")
        self._specs[spec.name] = spec

    def get(self, name: str) -> DetectorSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"unknown detector {name!r}; known: {', '.join(sorted(self._specs))}") from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def model_kinds(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for spec in self._specs.values():
            out.update(spec.models)
        return out


def register(name: str, models: dict[str, str | None] | None = None,
             needs: tuple[str, ...] = ()) -> Callable[[DetectorFn], DetectorFn]:
    """Decorator recording a detector function under ``name`` (collected when the registry loads)."""

    def wrap(fn: DetectorFn) -> DetectorFn:
        spec = DetectorSpec(name=name, fn=fn, models=dict(models or {name: None}),
                            family=fn.__module__.rsplit(".", 1)[-1], needs=needs)
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return wrap


def default_registry() -> Registry:
    """A registry holding every detector in ``analytics.detectors`` (imports the modules)."""
    reg = Registry()
    for mod in _DETECTOR_MODULES:
        module = import_module(f"analytics.detectors.{mod}")
        for obj in vars(module).values():
            spec = getattr(obj, "spec", None)
            if isinstance(spec, DetectorSpec) and spec.family == mod:
                reg.add(spec)
    return reg
