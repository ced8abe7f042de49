"""Released values -> the public quality figures (AQI level, water class) via analytics.standards.

One place where the embeds meet H2's standards code: HJ 633-2012 hourly AQI and levels, GB 3838-2002
water classes. Colours are the standards' official ones (AQI_LEVELS, WATER_CLASS_COLOURS).
"""

from __future__ import annotations

import pandas as pd

from data.parameters import AIR_POLLUTANTS

NO_DATA_COLOUR = "#9e9e9e"
WATER_CLASS_ORDER: tuple[str, ...] = ("I", "II", "III", "IV", "V", "劣V")


def _text_colour(hex_colour: str) -> str:
    """Black or white text, whichever reads better on ``hex_colour`` (relative luminance)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return "#000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.55 else "#fff"


def with_air_quality(wide: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``aqi``, ``level`` (1..6) and ``primary_pollutant`` per row (HJ 633-2012 hourly AQI)."""
    from analytics.standards.aqi import hourly_aqi

    if wide is None or wide.empty:
        base = wide if wide is not None else pd.DataFrame(columns=["station_id", "lon", "lat", "ts"])
        return base.assign(aqi=pd.Series(dtype=float), level=pd.Series(dtype=float),
                           primary_pollutant=pd.Series(dtype=object))
    conc = wide.reindex(columns=list(AIR_POLLUTANTS)).astype(float)
    result = hourly_aqi(conc)
    out = wide.reset_index(drop=True).copy()
    result = result.reset_index(drop=True)
    out["aqi"] = result["aqi"].astype(float)
    out["level"] = result["level"]
    out["primary_pollutant"] = result["primary_pollutant"]
    return out


def aqi_style(level, lang: str) -> dict:
    """Colour, text colour and label of an AQI level (NaN = no released data)."""
    from analytics.standards.aqi import AQI_LEVELS

    if level is None or pd.isna(level) or int(level) not in AQI_LEVELS:
        return {"colour": NO_DATA_COLOUR, "text_colour": "#fff", "label": "-" if lang == "zh" else "n/a"}
    info = AQI_LEVELS[int(level)]
    colour = info.colour_hex
    name = info.name_zh if lang == "zh" else info.name_en
    return {"colour": colour, "text_colour": _text_colour(colour), "label": name}


def with_water_class(wide: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``water_class`` (I..劣V, GB 3838-2002 single-factor worst class) per row."""
    from analytics.standards.water import water_class

    if wide is None or wide.empty:
        base = wide if wide is not None else pd.DataFrame(columns=["station_id", "lon", "lat", "ts"])
        return base.assign(water_class=pd.Series(dtype=object))
    out = wide.reset_index(drop=True).copy()
    out["water_class"] = list(water_class(out))
    return out


def water_class_number(water_class) -> float:
    """1..6 for I..劣V (NaN when unknown), for bar heights."""
    return float(WATER_CLASS_ORDER.index(water_class) + 1) if water_class in WATER_CLASS_ORDER else float("nan")


def water_style(water_class, lang: str) -> dict:
    """Colour, text colour and label of a GB 3838 class (None/NaN = no released data)."""
    from analytics.standards.water import WATER_CLASS_COLOURS

    if water_class not in WATER_CLASS_COLOURS:
        return {"colour": NO_DATA_COLOUR, "text_colour": "#fff", "label": "-" if lang == "zh" else "n/a"}
    colour = WATER_CLASS_COLOURS[water_class]
    label = f"{water_class}类" if lang == "zh" else f"Class {water_class}"
    return {"colour": colour, "text_colour": _text_colour(colour), "label": label}
