"""The city-maximum assessment substitution (factor x city max, per pollutant per hour)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.standards.penalty import penalty_substitution

STATIONS = pd.DataFrame({
    "station_id": ["A", "B", "C", "D", "M"],
    "city_code": ["110000", "110000", "110000", "120000", "110000"],
    "kind": ["air_station"] * 4 + ["air_micro"],
})


def _readings():
    t0, t1 = pd.Timestamp("2017-01-01 00:00"), pd.Timestamp("2017-01-01 01:00")
    rows = [
        ("A", t0, "PM2.5", 100.0, "N"), ("B", t0, "PM2.5", 200.0, "N"), ("C", t0, "PM2.5", np.nan, "N"),
        ("D", t0, "PM2.5", 50.0, "N"), ("M", t0, "PM2.5", 900.0, "N"),
        ("A", t1, "PM2.5", 80.0, "N"), ("B", t1, "PM2.5", 120.0, "M"),  # C absent at t1
        ("D", t1, "PM2.5", 40.0, "N"),
    ]
    return pd.DataFrame(rows, columns=["station_id", "ts", "parameter", "value", "flag"])


def test_substitution_per_city_hour_pollutant():
    out = penalty_substitution(_readings(), STATIONS, factor=1.5).set_index(["station_id", "ts"])
    t0, t1 = pd.Timestamp("2017-01-01 00:00"), pd.Timestamp("2017-01-01 01:00")
    # t0: C missing -> 1.5 x max(A, B) = 300 (micro-station M and Tianjin D do not count)
    assert out.loc[("C", t0), "assessed_value"] == 300 and out.loc[("C", t0), "substituted"]
    assert out.loc[("A", t0), "assessed_value"] == 100 and not out.loc[("A", t0), "substituted"]
    # t1: B flagged M -> invalid; C absent -> expected; city max = A 80 -> 120
    assert out.loc[("B", t1), "assessed_value"] == 120 and out.loc[("C", t1), "assessed_value"] == 120
    assert out.loc[("D", t1), "assessed_value"] == 40
    assert "M" not in out.index.get_level_values("station_id")


def test_factor_from_settings_and_invalidate(monkeypatch):
    from envtrust.settings import load_settings

    monkeypatch.setenv("ENVTRUST_PENALTY_FACTOR", "2")
    r = _readings()
    inv = pd.Series(False, index=r.index)
    inv.iloc[1] = True  # B at t0, e.g. inside a confirmed interference event
    out = penalty_substitution(r, STATIONS, factor=load_settings().penalty_factor, invalidate=inv,
                               complete=False).set_index(["station_id", "ts"])
    t0 = pd.Timestamp("2017-01-01 00:00")
    assert out.loc[("B", t0), "assessed_value"] == 200  # 2 x A's 100
    assert ("C", pd.Timestamp("2017-01-01 01:00")) not in out.index  # complete=False: absent rows stay absent


def test_no_valid_value_in_city_leaves_nan_and_errors():
    r = pd.DataFrame({"station_id": ["A"], "ts": [pd.Timestamp("2017-01-01")], "parameter": ["SO2"],
                      "value": [np.nan], "flag": ["N"]})
    out = penalty_substitution(r, STATIONS, factor=1.5)
    assert out["assessed_value"].isna().all() and not out["substituted"].any()
    with pytest.raises(ValueError, match="positive"):
        penalty_substitution(r, STATIONS, factor=0)
    with pytest.raises(ValueError, match="city_code"):
        penalty_substitution(r, STATIONS.drop(columns="city_code"), factor=1.5)
