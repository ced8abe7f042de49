"""analytics.profiles: openair-style summaries on synthetic series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import profiles


def hourly(days: int = 28, start: str = "2017-01-02 00:00", value=None) -> pd.DataFrame:
    """Hourly frame starting on a Monday; default value = hour of day (so each hour's mean is known)."""
    ts = pd.date_range(start, periods=days * 24, freq="h")
    v = ts.hour.to_numpy(dtype=float) if value is None else value(ts)
    return pd.DataFrame({"ts": ts, "value": v})


def test_diurnal_profile_recovers_the_hourly_pattern():
    out = profiles.diurnal_profile(hourly())
    assert list(out["hour"]) == list(range(24))
    np.testing.assert_allclose(out["mean"], np.arange(24))
    assert (out["n"] == 28).all() and (out["q25"] == out["q75"]).all()


def test_diurnal_profile_skips_missing_and_keeps_empty_hours():
    df = hourly(days=3)
    df.loc[df["ts"].dt.hour == 5, "value"] = np.nan
    out = profiles.diurnal_profile(df)
    assert out.loc[5, "n"] == 0 and np.isnan(out.loc[5, "mean"])
    assert out.loc[6, "n"] == 3


def test_weekly_profile_has_168_rows_and_weekday_signal():
    df = hourly(value=lambda ts: np.where(ts.day_of_week >= 5, 10.0, 50.0))  # weekends low
    wk = profiles.weekly_profile(df)
    assert len(wk) == 168
    assert (wk.loc[wk["weekday"] >= 5, "mean"] == 10).all() and (wk.loc[wk["weekday"] < 5, "mean"] == 50).all()
    days = profiles.weekday_means(df)
    assert list(days["mean"]) == [50, 50, 50, 50, 50, 10, 10]


def test_calendar_daily_means_validity_and_layout():
    df = hourly(days=10, value=lambda ts: ts.day.to_numpy(dtype=float))
    df.loc[(df["ts"].dt.day == 4) & (df["ts"].dt.hour < 6), "value"] = np.nan  # 18 valid hours < 20
    cal = profiles.calendar_daily_means(df)
    assert len(cal) == 10
    day4 = cal[cal["date"] == pd.Timestamp("2017-01-04")].iloc[0]
    assert day4["n_hours"] == 18 and not day4["valid"] and np.isnan(day4["mean"])
    day5 = cal[cal["date"] == pd.Timestamp("2017-01-05")].iloc[0]
    assert day5["mean"] == 5 and day5["weekday"] == 3 and day5["week"] == 0
    assert cal[cal["date"] == pd.Timestamp("2017-01-09")]["week"].iloc[0] == 1  # next Monday starts week 1


def test_calendar_includes_gap_days():
    df = pd.concat([hourly(days=1), hourly(days=1, start="2017-01-05")])
    cal = profiles.calendar_daily_means(df)
    assert len(cal) == 4 and cal["n_hours"].tolist() == [24, 0, 0, 24]


@pytest.mark.parametrize("wd,expected_sector", [(0, 0), (350, 0), (11.2, 0), (11.3, 22.5), (180, 180), (359.9, 0)])
def test_polar_bins_sector_centres(wd, expected_sector):
    df = pd.DataFrame({"value": [1.0, 2.0, 3.0], "WS": [1.5] * 3, "WD": [wd] * 3})
    out = profiles.polar_bins(df)
    assert out["wd_center_deg"].tolist() == [expected_sector]
    assert out[["ws_low_m_s", "ws_high_m_s", "mean", "n"]].iloc[0].tolist() == [1.0, 2.0, 2.0, 3]


def test_polar_bins_drops_sparse_bins_and_bad_rows():
    df = pd.DataFrame({"value": [5, 5, 5, 9, np.nan, 7], "WS": [0.5, 0.5, 0.5, 4.0, 1.0, -1.0],
                       "WD": [90, 90, 90, 270, 90, 90]})
    out = profiles.polar_bins(df)
    assert out["wd_center_deg"].tolist() == [90.0] and out["n"].tolist() == [3]


@pytest.mark.parametrize("kwargs,match", [({"sector_deg": 25}, "divide 360"), ({"ws_step_m_s": 0}, "positive")])
def test_polar_bins_rejects_bad_settings(kwargs, match):
    df = pd.DataFrame({"value": [1.0], "WS": [1.0], "WD": [1.0]})
    with pytest.raises(ValueError, match=match):
        profiles.polar_bins(df, **kwargs)


def test_polar_bins_names_a_missing_column():
    with pytest.raises(ValueError, match="'WD'"):
        profiles.polar_bins(pd.DataFrame({"value": [1.0], "WS": [1.0]}))


def test_paired_values_and_linear_fit():
    a = hourly(days=2, value=lambda ts: np.arange(len(ts), dtype=float))
    b = a.assign(value=2 * a["value"] + 3)
    b.loc[0, "value"] = np.nan
    pairs = profiles.paired_values(a, b)
    assert len(pairs) == 47
    fit = profiles.linear_fit(pairs)
    assert fit["slope"] == pytest.approx(2) and fit["intercept"] == pytest.approx(3) and fit["r"] == pytest.approx(1)
    assert np.isnan(profiles.linear_fit(pairs.head(2))["slope"])


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="'ts'"):
        profiles.diurnal_profile(pd.DataFrame({"value": [1.0]}))


def test_empty_inputs_give_empty_frames():
    empty = pd.DataFrame({"ts": pd.to_datetime([]), "value": []})
    assert profiles.calendar_daily_means(empty).empty
    assert profiles.diurnal_profile(empty)["n"].sum() == 0
    assert profiles.polar_bins(pd.DataFrame({"value": [], "WS": [], "WD": []})).empty
