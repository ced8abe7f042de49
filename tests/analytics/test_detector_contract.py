"""The contract every registered detector keeps, whatever it is given.

A detector is ``fn(panel, **params) -> {model_name: ndarray}`` (``analytics/registry.py``). For
each registered name and each input below, its output must:

- name exactly the models its registry spec lists,
- be shaped like ``panel.values`` ([station, hour, parameter]),
- hold only values >= 0 or NaN (NaN/0 = no evidence; never negative, never infinite).

The inputs are the edge cases a partitioned run meets in practice: no rows at all, rows whose
values are all null, a single station (no neighbours), a single hour, constant values, every other
value null, and an ordinary few days -
on each network (air stations, water sections, CEMS outlets with HJ 212 flags) and on a partition
mixing them. Adding a detector to the registry adds it here with no change to this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.analytics import factories as f

DETECTORS = f.registry().names()

NETWORKS = {
    "air": dict(kind="air_station", parameters=("PM2.5", "PM10", "SO2", "NO2", "CO", "O3"), columns={}),
    "water": dict(kind="water_section", parameters=("pH", "DO", "CODMn", "NH3-N", "TP", "TN", "water_temp"),
                  columns={"waterbody_type": "river"}),
    "cems": dict(kind="polluter_outlet", parameters=("flue_SO2", "flue_NOx", "flue_dust", "flue_O2"),
                 columns={"ref_o2_pct": 6.0,
                          "limits_json": f.outlet_limits(flue_SO2=35.0, flue_NOx=50.0, flue_dust=10.0)}),
}


def _network_input(network: str, n_stations: int, hours: int, prefix: str = "S") -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = NETWORKS[network]
    st = f.stations(n_stations, kind=spec["kind"], prefix=prefix, **spec["columns"])
    r = f.readings(st, spec["parameters"], hours=hours, seed=n_stations + hours)
    if network == "cems":  # a few HJ 212 flags, as outlets report them
        r["flag"] = np.where(np.arange(len(r)) % 17 == 0, "C", "N")
    return r, st


def _typical(network):
    return _network_input(network, 4, 24 * 10)


def _empty(network):
    return f.empty_readings(), _network_input(network, 3, 1)[1]


def _all_missing(network):
    r, st = _network_input(network, 3, 72)
    return r.assign(value=np.nan), st


def _single_station(network):
    return _network_input(network, 1, 24 * 10)


def _one_hour(network):
    return _network_input(network, 4, 1)


def _constant(network):
    """Every value the same (zero variance: a scale of 0 must not become an infinite z)."""
    r, st = _network_input(network, 4, 72)
    return r.assign(value=5.0), st


def _half_null(network):
    r, st = _network_input(network, 4, 72)
    return r.assign(value=r["value"].where(r.index % 2 == 1)), st


def _mixed(_network):
    parts = [_network_input(n, 3, 96, prefix=n[0].upper()) for n in NETWORKS]
    r = pd.concat([p[0] for p in parts], ignore_index=True)
    r["flag"] = r["flag"].fillna("N")
    st = pd.concat([p[1] for p in parts], ignore_index=True)
    return r, st


CASES = {"typical": _typical, "empty": _empty, "all_missing": _all_missing,
         "single_station": _single_station, "one_hour": _one_hour,
         "constant": _constant, "half_null": _half_null}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("name", DETECTORS)
def test_detector_keeps_contract(name, network, case):
    r, st = CASES[case](network)
    panel = f.make_panel(r, st)
    out = f.run_detector(name, panel)
    f.assert_detector_contract(name, out, panel)


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_keeps_contract_on_a_mixed_partition(name):
    """Air stations, water sections and outlets in one panel (a store partition holds them all)."""
    r, st = _mixed(None)
    panel = f.make_panel(r, st)
    f.assert_detector_contract(name, f.run_detector(name, panel), panel)


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_finds_no_evidence_where_there_is_no_data(name):
    """All-null readings carry no evidence: every model is 0 or NaN at every cell."""
    r, st = _all_missing("air")
    panel = f.make_panel(r, st)
    for model, arr in f.run_detector(name, panel).items():
        a = np.nan_to_num(np.asarray(arr, dtype=float))
        if name == "outage":  # missing data is exactly what outage scores
            continue
        assert (a == 0).all(), f"{name}.{model}: evidence {a.max():.3g} on a panel without a single value"


def test_registry_lists_every_detector_module():
    """The contract covers all families: a new module under analytics/detectors must register."""
    families = {f.registry().get(n).family for n in DETECTORS}
    assert families == {"rules", "flatline", "outage", "spatial", "seasonal", "iforest", "donor", "drift",
                        "clipping", "flags", "suppression"}
