"""HJ 75 O2 correction, GB 13223 / ultra-low limits, hourly exceedance (golden: cems_o2_cases.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.standards.cems import (
    emission_limits_mg_m3,
    hourly_exceedance,
    limits_from_stations,
    o2_corrected_mg_m3,
    reference_o2_pct,
)

CASES = pd.read_csv(Path(__file__).parent / "golden" / "cems_o2_cases.csv")


@pytest.mark.parametrize("case", CASES.to_dict("records"), ids=lambda c: c["working"][:40])
def test_o2_correction_golden(case):
    got = o2_corrected_mg_m3(case["conc_mg_m3"], case["o2_pct"], case["ref_o2_pct"])
    if pd.isna(case["expected_mg_m3"]):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(case["expected_mg_m3"], rel=1e-8)


def test_o2_correction_vectorised():
    got = o2_corrected_mg_m3(CASES["conc_mg_m3"], CASES["o2_pct"].to_numpy(), 6.0)
    assert isinstance(got, pd.Series) and len(got) == len(CASES)
    assert got.iloc[1] == pytest.approx(125.0)
    arr = o2_corrected_mg_m3(np.array([100.0, 100.0]), np.array([9.0, 21.0]), 6.0)
    assert arr[0] == pytest.approx(125.0) and np.isnan(arr[1])


def test_reference_o2_and_limits():
    assert reference_o2_pct("coal_boiler") == 6.0
    assert reference_o2_pct("gas_turbine") == 15.0
    assert reference_o2_pct("coal_boiler", {"coal_boiler": 9.0}) == 9.0
    with pytest.raises(ValueError, match="coal_boiler"):
        reference_o2_pct("nuclear")
    assert emission_limits_mg_m3("coal_boiler") == {"flue_SO2": 100.0, "flue_NOx": 100.0, "flue_dust": 30.0}
    assert emission_limits_mg_m3("gas_turbine")["flue_NOx"] == 50.0
    assert emission_limits_mg_m3("coal_boiler", "ultra_low") == {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 10.0}
    with pytest.raises(ValueError, match="known"):
        emission_limits_mg_m3("coal_boiler", "ancient")


def _outlet(sid, so2, o2, so2_flags=None):
    ts = pd.date_range("2024-01-01", periods=len(so2), freq="h")
    a = pd.DataFrame({"station_id": sid, "ts": ts, "parameter": "flue_SO2", "value": so2,
                      "flag": so2_flags or ["N"] * len(so2)})
    b = pd.DataFrame({"station_id": sid, "ts": ts, "parameter": "flue_O2", "value": o2, "flag": "N"})
    return pd.concat([a, b], ignore_index=True)


def test_hourly_exceedance_uses_corrected_values():
    # 30 mg/m3 at 12 % O2 -> 30*15/9 = 50 > 35 ultra-low limit; at 6 % it is 30 (no exceedance)
    r = _outlet("P1", [30.0, 30.0, 30.0, 30.0], [6.0, 12.0, 21.0, 12.0], ["N", "N", "N", "M"])
    out = hourly_exceedance(r, emission_limits_mg_m3("coal_boiler", "ultra_low"), reference_o2_pct("coal_boiler"))
    assert list(out["corrected_mg_m3"].round(6)[:2]) == [30.0, 50.0]
    assert list(out["exceedance"]) == [False, True, False, False]
    assert list(out["valid"]) == [True, True, False, False]


def test_hourly_exceedance_per_station_limits_and_ref_o2():
    r = pd.concat([_outlet("P1", [40.0], [6.0]), _outlet("P2", [40.0], [15.0])], ignore_index=True)
    stations = pd.DataFrame({"station_id": ["P1", "P2"],
                             "limits_json": ['{"flue_SO2": 35}', '{"flue_SO2": 100}']})
    limits = limits_from_stations(stations)
    out = hourly_exceedance(r, limits, pd.Series({"P1": 6.0, "P2": 15.0}))
    assert list(out["limit_mg_m3"]) == [35.0, 100.0]
    assert list(out["exceedance"]) == [True, False]
    with pytest.raises(ValueError, match="P2"):
        hourly_exceedance(r, limits, pd.Series({"P1": 6.0}))
    with pytest.raises(ValueError, match="JSON"):
        limits_from_stations(pd.DataFrame({"station_id": ["X"], "limits_json": ["{nope"]}))
