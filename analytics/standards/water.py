"""Surface-water quality class per GB 3838-2002 table 1 (basic items), worst-indicator rule.

Units: mg/L (pH dimensionless; fecal coliform count/L). Indicator names follow
analytics/vocabulary.py (pH, DO, CODMn, NH3-N, TP, TN) plus COD, BOD5, fecal_coliform.

Rules (standards.md section 4):
- A value meets class k if it is <= the class-k limit ("smaller is better" items), >= the
  class-k limit for dissolved oxygen ("greater is better"), or inside 6-9 for pH (same range for
  all classes: outside it, no class is met). The indicator's class is the best class it meets;
  meeting none is 劣V ("worse than V"), coded 6.
- Section class = the worst indicator class among the evaluated indicators (worst-indicator
  rule; exact clause unverified, evaluation practice).
- TP has separate limits for lakes/reservoirs. TN is evaluated only for lakes/reservoirs (for
  rivers it is excluded from the class, as in the MEE evaluation rules); fecal coliform is also
  excluded by those rules, so it is evaluated only when asked for explicitly via ``indicators``.
- DO class I is 7.5 mg/L "or 90 % saturation"; the saturation alternative is not implemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

WATERBODIES: tuple[str, ...] = ("river", "lake")  # "lake" = lakes and reservoirs

# GB 3838-2002 table 1: limits for classes I..V (mg/L).
_SMALLER_IS_BETTER: dict[str, tuple[float, ...]] = {
    "CODMn": (2, 4, 6, 10, 15),
    "COD": (15, 15, 20, 30, 40),
    "BOD5": (3, 3, 4, 6, 10),
    "NH3-N": (0.15, 0.5, 1.0, 1.5, 2.0),
    "TP_river": (0.02, 0.1, 0.2, 0.3, 0.4),
    "TP_lake": (0.01, 0.025, 0.05, 0.1, 0.2),
    "TN_lake": (0.2, 0.5, 1.0, 1.5, 2.0),
    "fecal_coliform": (200, 2000, 10000, 20000, 40000),
}
DO_MIN_MG_L: tuple[float, ...] = (7.5, 6, 5, 3, 2)
PH_RANGE: tuple[float, float] = (6.0, 9.0)

DEFAULT_INDICATORS: dict[str, tuple[str, ...]] = {
    "river": ("pH", "DO", "CODMn", "COD", "BOD5", "NH3-N", "TP"),
    "lake": ("pH", "DO", "CODMn", "COD", "BOD5", "NH3-N", "TP", "TN"),
}


@dataclass(frozen=True)
class WaterClass:
    """One GB 3838 class with display names and a UI colour."""

    code: int  # 1..6
    roman: str
    name_zh: str
    name_en: str
    colour_hex: str


# Colours: the blue-green-yellow-orange-red ramp commonly used on ministry/provincial water
# quality maps. It is a UI choice of ours, not part of GB 3838.
WATER_CLASS: dict[int, WaterClass] = {
    1: WaterClass(1, "I", "I类", "Class I", "#33CCFF"),
    2: WaterClass(2, "II", "II类", "Class II", "#0070C0"),
    3: WaterClass(3, "III", "III类", "Class III", "#00B050"),
    4: WaterClass(4, "IV", "IV类", "Class IV", "#FFFF00"),
    5: WaterClass(5, "V", "V类", "Class V", "#FFC000"),
    6: WaterClass(6, "劣V", "劣V类", "Worse than Class V", "#FF0000"),
}
WATER_CLASS_COLOURS: dict[int, str] = {k: v.colour_hex for k, v in WATER_CLASS.items()}


def _check_waterbody(waterbody: str) -> None:
    if waterbody not in WATERBODIES:
        raise ValueError(f"waterbody must be one of {WATERBODIES} (lake = lake or reservoir); got {waterbody!r}")


def _limits_key(indicator: str, waterbody: str) -> str | None:
    if indicator == "TP":
        return f"TP_{waterbody}"
    if indicator == "TN":
        return "TN_lake" if waterbody == "lake" else None
    return indicator if indicator in _SMALLER_IS_BETTER else None


def class_limits(indicator: str, waterbody: str = "river") -> tuple[float, ...]:
    """GB 3838-2002 table 1 limits of classes I..V (mg/L) for one indicator, in class order.

    Smaller-is-better items (CODMn, COD, BOD5, NH3-N, TP, TN for lakes, fecal coliform) give
    maxima; DO gives minima (see :func:`limit_is_minimum`). Empty when the table has no class
    limits for it in this waterbody: TN in rivers, pH (one 6-9 range for every class), and items
    outside table 1's basic list (turbidity, conductivity, water temperature).
    """
    _check_waterbody(waterbody)
    if indicator == "DO":
        return tuple(float(x) for x in DO_MIN_MG_L)
    key = _limits_key(indicator, waterbody)
    return tuple(float(x) for x in _SMALLER_IS_BETTER[key]) if key else ()


def limit_is_minimum(indicator: str) -> bool:
    """True when the class limit is a minimum ("greater is better": dissolved oxygen), so a value
    meets class k at or above it; False for the maxima of the smaller-is-better items."""
    return indicator == "DO"


def indicator_class(indicator: str, value, *, waterbody: str = "river"):
    """GB 3838 class (1..6, 6 = 劣V) of one indicator's value(s); NaN -> NaN (float output).

    Scalars give a float (1.0..6.0 or NaN), arrays an array, Series a Series (same index).
    """
    _check_waterbody(waterbody)
    index = value.index if isinstance(value, pd.Series) else None
    v = np.asarray(value, dtype=float)
    if indicator == "pH":
        with np.errstate(invalid="ignore"):
            cls = np.where((v >= PH_RANGE[0]) & (v <= PH_RANGE[1]), 1.0, 6.0)
    elif indicator == "DO":
        limits = np.asarray(DO_MIN_MG_L)
        with np.errstate(invalid="ignore"):
            meets = v[..., None] >= limits  # (..., 5)
        cls = np.where(meets.any(axis=-1), np.argmax(meets, axis=-1) + 1.0, 6.0)
    else:
        key = _limits_key(indicator, waterbody)
        if key is None:
            raise ValueError(
                f"GB 3838 table 1 has no {waterbody} class limits for {indicator!r}; "
                f"known: pH, DO, {', '.join(k for k in _SMALLER_IS_BETTER if not k.endswith(('_river', '_lake')))}, "
                "TP, TN (lake only)"
            )
        limits = np.asarray(_SMALLER_IS_BETTER[key], dtype=float)
        with np.errstate(invalid="ignore"):
            meets = v[..., None] <= limits
        cls = np.where(meets.any(axis=-1), np.argmax(meets, axis=-1) + 1.0, 6.0)
    cls = np.where(np.isnan(v), np.nan, cls)
    if index is not None:
        return pd.Series(cls, index=index, name=f"class_{indicator}")
    return float(cls) if cls.ndim == 0 else cls


def water_class_detail(wide: pd.DataFrame, *, waterbody: str = "river",
                       indicators: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Section class per row (worst indicator) with the deciding indicators.

    ``wide``: one row per sample/station-time, columns named like the indicators (others are
    ignored). Returns ``water_class`` (Int64 1..6, <NA> when no indicator is present),
    ``worst_indicators`` (comma-separated, the indicators at the worst class; None when class is
    missing) and ``class_<indicator>`` for each evaluated indicator present.
    """
    _check_waterbody(waterbody)
    wanted = indicators if indicators is not None else DEFAULT_INDICATORS[waterbody]
    present = [i for i in wanted if i in wide.columns]
    classes = pd.DataFrame(index=wide.index)
    for ind in present:
        classes[f"class_{ind}"] = indicator_class(ind, wide[ind].to_numpy(dtype=float), waterbody=waterbody)
    values = classes.to_numpy(dtype=float) if present else np.full((len(wide), 0), np.nan)
    all_nan = np.isnan(values).all(axis=1) if present else np.ones(len(wide), dtype=bool)
    worst = np.where(all_nan, np.nan, np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=1)
                     if present else np.nan)
    names = np.asarray(present, dtype=object)
    at_worst = values == worst[:, None] if present else np.zeros((len(wide), 0), dtype=bool)
    out = pd.DataFrame(index=wide.index)
    out["water_class"] = pd.array(np.where(all_nan, pd.NA, worst), dtype="Int64")
    out["worst_indicators"] = pd.Series(
        [",".join(names[row]) if row.any() else None for row in at_worst], index=wide.index, dtype=object)
    return pd.concat([out, classes], axis=1)


def water_class(values, *, waterbody: str = "river", indicators: tuple[str, ...] | None = None):
    """GB 3838-2002 class (1..6, 6 = 劣V) by the worst-indicator rule.

    ``values``: a mapping ``{indicator: value}`` (returns an int, or None when nothing is
    evaluable) or a wide DataFrame (returns an Int64 Series on its index).
    ``waterbody``: "river" or "lake" (lakes and reservoirs: lake TP limits, TN evaluated).
    """
    if isinstance(values, pd.DataFrame):
        return water_class_detail(values, waterbody=waterbody, indicators=indicators)["water_class"]
    if isinstance(values, Mapping):
        frame = pd.DataFrame([{k: float(v) if v is not None else np.nan for k, v in values.items()}])
        cls = water_class_detail(frame, waterbody=waterbody, indicators=indicators)["water_class"].iloc[0]
        return None if pd.isna(cls) else int(cls)
    raise TypeError(f"water_class takes a mapping or a DataFrame, not {type(values).__name__}")
