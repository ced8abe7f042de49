"""Property: substitution never improves a unit's statistics or composite index, and a unit whose
own data trigger substitution never gains a rank (40 CFR 50 App. N: missing data never help)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.assessment import assess, parse_period
from analytics.standards.hj663 import INDEX_STATISTICS
from analytics.standards.penalty import POLICIES
from analytics.vocabulary import AIR_POLLUTANTS

PERIOD = parse_period("2016-12-01..2016-12-02")
SCALE = {"PM2.5": 60, "PM10": 100, "SO2": 15, "NO2": 35, "CO": 1.2, "O3": 70}


def _network(seed: int, n_cities: int, per_city: int, p_missing: float, n_events: int, only_city: int | None):
    rng = np.random.default_rng(seed)
    stations, rows, events = [], [], []
    hours = PERIOD.utc_hours
    for c in range(n_cities):
        level = rng.uniform(0.5, 1.5)
        for k in range(per_city):
            sid = f"S{c}{k}"
            stations.append({"station_id": sid, "kind": "air_station", "city_code": f"C{c}", "city": f"city{c}",
                             "county_code": f"C{c}K{k}", "county": f"county{c}{k}"})
            hit = only_city is None or only_city == c
            for p in AIR_POLLUTANTS:
                v = SCALE[p] * level * rng.lognormal(0, 0.5, len(hours))
                keep = rng.random(len(hours)) >= (p_missing if hit else 0.0)
                flags = np.where(rng.random(len(hours)) < (0.02 if hit else 0.0), "M", "N")
                rows.append(pd.DataFrame({"station_id": sid, "ts": hours[keep], "parameter": p,
                                          "value": v[keep], "flag": flags[keep]}))
            if hit:
                for _ in range(n_events):
                    a = int(rng.integers(0, len(hours) - 1))
                    b = min(len(hours) - 1, a + int(rng.integers(0, 20)))
                    events.append({"station_id": sid, "start": hours[a], "end": hours[b],
                                   "parameters": str(rng.choice(["", "PM2.5", "PM10,O3", "NO2"]))})
    ev = pd.DataFrame(events, columns=["station_id", "start", "end", "parameters"])
    return pd.concat(rows, ignore_index=True), pd.DataFrame(stations), ev


network = st.tuples(st.integers(0, 2**31 - 1), st.integers(2, 4), st.integers(1, 3),
                    st.floats(0.0, 0.4), st.integers(0, 3))


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(network, st.sampled_from(sorted(POLICIES)), st.floats(1.0, 3.0))
def test_substitution_never_improves_statistics_or_index(net, policy_id, factor):
    from analytics.standards.penalty import resolve_policy

    readings, stations, events = _network(*net, only_city=None)
    result = assess(readings, stations, PERIOD, resolve_policy(policy_id, factor=factor), interference=events)
    s = result.statistics.dropna(subset=["value_raw"])
    assert (s["value_pen"] >= s["value_raw"] - 1e-9).all()
    u = result.units.dropna(subset=["index_raw"])
    assert (u["index_pen"] >= u["index_raw"] - 1e-9).all()
    assert set(result.statistics["statistic"]) == set(INDEX_STATISTICS)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(network, st.integers(0, 3), st.sampled_from(sorted(POLICIES)))
def test_a_unit_never_gains_rank_from_its_own_substitution(net, which, policy_id):
    from analytics.standards.penalty import resolve_policy

    seed, n_cities, per_city, p_missing, n_events = net
    guilty = which % n_cities
    readings, stations, events = _network(seed, n_cities, per_city, p_missing, n_events, only_city=guilty)
    u = assess(readings, stations, PERIOD, resolve_policy(policy_id), interference=events).units.set_index("unit")
    me = u.loc[f"C{guilty}"]
    if np.isnan(me["rank_raw"]):  # too few data to rank raw: ranked (last or not) only under the penalty
        return
    assert me["rank_pen"] >= me["rank_raw"]
    others = u.drop(index=f"C{guilty}")
    assert (others["rank_pen"] <= others["rank_raw"]).all()  # the others can only gain from it
