"""GB 3838-2002 classes: golden cases (tests/analytics/golden/water_class_cases.csv) and API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.standards.water import (
    WATER_CLASS,
    WATER_CLASS_COLOURS,
    indicator_class,
    water_class,
    water_class_detail,
)

CASES = pd.read_csv(Path(__file__).parent / "golden" / "water_class_cases.csv")
INDICATORS = ["pH", "DO", "CODMn", "NH3-N", "TP", "TN"]


@pytest.mark.parametrize("case", CASES.to_dict("records"), ids=lambda c: c["case"])
def test_water_class_golden(case):
    wide = pd.DataFrame([{k: case[k] for k in INDICATORS}], dtype=float)
    detail = water_class_detail(wide, waterbody=case["waterbody"]).iloc[0]
    if pd.isna(case["expected_class"]):
        assert pd.isna(detail["water_class"]) and detail["worst_indicators"] is None
        return
    assert detail["water_class"] == case["expected_class"], case["working"]
    assert detail["worst_indicators"] == case["expected_worst"], case["working"]
    values = {k: case[k] for k in INDICATORS if not pd.isna(case[k])}
    assert water_class(values, waterbody=case["waterbody"]) == case["expected_class"]


@pytest.mark.parametrize("indicator,value,expected", [
    ("DO", 7.5, 1), ("DO", 7.49, 2), ("DO", 6.0, 2), ("DO", 5.0, 3), ("DO", 3.0, 4), ("DO", 2.0, 5), ("DO", 1.99, 6),
    ("CODMn", 15.0, 5), ("CODMn", 15.1, 6), ("COD", 15.0, 1), ("COD", 16.0, 3), ("BOD5", 3.0, 1),
    ("pH", 5.99, 6), ("pH", 9.0, 1), ("fecal_coliform", 2000.0, 2),
])
def test_indicator_class_boundaries(indicator, value, expected):
    assert indicator_class(indicator, value) == expected


def test_indicator_class_vectorised_with_nan():
    s = pd.Series([0.1, np.nan, 0.35, 5.0], index=list("abcd"))
    out = indicator_class("TP", s, waterbody="river")
    assert list(out.index) == list("abcd")
    assert out["a"] == 2 and np.isnan(out["b"]) and out["c"] == 5 and out["d"] == 6
    arr = indicator_class("TP", np.array([0.1, 0.35]), waterbody="lake")
    np.testing.assert_array_equal(arr, [4.0, 6.0])  # lake TP: 0.1 is the class IV limit


def test_water_class_frame_returns_int64_series():
    wide = pd.DataFrame({"DO": [8.0, 2.5], "NH3-N": [0.1, 0.3], "turbidity": [5.0, 500.0]})
    out = water_class(wide)
    assert out.dtype == "Int64" and list(out) == [1, 5]  # turbidity is not a GB 3838 class item


def test_errors():
    with pytest.raises(ValueError, match="waterbody"):
        water_class({"DO": 5.0}, waterbody="sea")
    with pytest.raises(ValueError, match="TN"):
        indicator_class("TN", 1.0, waterbody="river")
    with pytest.raises(TypeError):
        water_class([1, 2])


def test_water_class_table():
    assert sorted(WATER_CLASS) == [1, 2, 3, 4, 5, 6]
    assert WATER_CLASS[6].name_zh == "劣V类" and WATER_CLASS[3].roman == "III"
    assert set(WATER_CLASS_COLOURS) == set(WATER_CLASS)
    assert len(set(WATER_CLASS_COLOURS.values())) == 6
