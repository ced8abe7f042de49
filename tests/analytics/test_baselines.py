"""Naive baselines fire on obvious cases and stay low on clean real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.evaluation.baselines import BASELINES, buddy_scores, iforest_scores, rules_scores, stl_scores
from envtrust.evaluation.harness import read_prsa_pollutants


@pytest.fixture(scope="module")
def clean(sample_dir):
    readings, _ = read_prsa_pollutants(sample_dir / "beijing")
    return readings[readings["ts"] < pd.Timestamp("2016-12-15")].reset_index(drop=True)


def _set(readings, station, hours, parameter, values):
    r = readings.copy()
    m = (r["station_id"] == station) & r["ts"].isin(hours) & (r["parameter"] == parameter)
    r.loc[m, "value"] = values
    return r, m


def _top_share(scores: pd.DataFrame, mask_rows: pd.DataFrame) -> float:
    """Share of the marked readings among the top-N scores (N = number marked)."""
    key = ["station_id", "ts", "parameter"]
    s = scores.merge(mask_rows[key].assign(hit=True), on=key, how="left")
    top = s.nlargest(int(mask_rows.shape[0]), "score")
    return float(top["hit"].fillna(False).astype(bool).mean())


def test_rules_fire_on_range_ratio_and_flatline(clean):
    hours = pd.date_range("2016-12-05 00:00", periods=10, freq="h")
    r, _ = _set(clean, "1003A", hours[:2], "PM2.5", 5000.0)         # beyond physical range
    r, _ = _set(r, "1004A", hours[3:5], "PM2.5", 900.0)             # PM2.5 >> PM10
    r, _ = _set(r, "1005A", hours, "NO2", 42.0)                     # flat for 10 h
    s = rules_scores(r).set_index(["station_id", "ts", "parameter"])["score"]
    assert (s.loc[("1003A", hours[0], "PM2.5")] >= 10) and (s.loc[("1004A", hours[3], "PM2.5")] >= 10)
    assert s.loc[("1005A", hours[8], "NO2")] > 0
    assert (s.xs("NO2", level="parameter").loc["1005A"].loc[hours[0]:hours[4]] < 10).all()


def test_buddy_flags_a_station_that_leaves_its_neighbours(clean):
    hours = pd.date_range("2016-12-08 00:00", periods=12, freq="h")
    base = clean[(clean["station_id"] == "1006A") & clean["ts"].isin(hours) & (clean["parameter"] == "PM2.5")]
    r, m = _set(clean, "1006A", hours, "PM2.5", base["value"].to_numpy() * 0.1 + 400)
    s = buddy_scores(r)
    assert _top_share(s, r[m]) >= 0.8


def test_stl_flags_isolated_spikes(clean):
    hours = pd.DatetimeIndex([pd.Timestamp("2016-12-06 03:00"), pd.Timestamp("2016-12-10 15:00")])
    r, m = _set(clean, "1001A", hours, "SO2", 400.0)
    s = stl_scores(r)
    assert _top_share(s, r[m]) == 1.0


def test_iforest_flags_absurd_station_hours(clean):
    hours = pd.DatetimeIndex([pd.Timestamp("2016-12-07 03:00")])
    r = clean.copy()
    m = (r["station_id"] == "1002A") & r["ts"].isin(hours)
    r.loc[m, "value"] = r.loc[m, "value"] * 20
    s = iforest_scores(r)
    assert set(s.columns) == {"station_id", "ts", "score"} and (s["score"] >= 0).all()
    top = s.nlargest(1, "score").iloc[0]
    assert top["station_id"] == "1002A" and top["ts"] == hours[0]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_handle_empty_and_single_station(name, clean):
    one = clean[clean["station_id"] == "1001A"]
    out = BASELINES[name](one)
    assert len(out) > 0 and np.isfinite(out["score"]).all() and (out["score"] >= 0).all()
    empty = BASELINES[name](clean.iloc[:0])
    assert empty.empty
