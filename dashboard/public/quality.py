"""Released values -> the public quality figures (AQI level, water class) via analytics.standards.

One place where the embeds meet H2's standards code: HJ 633-2012 hourly AQI and levels, GB 3838-2002
water classes. Colours are the standards' official ones (AQI_LEVELS, WATER_CLASS_COLOURS).
"""

from __future__ import annotations

import pandas as pd

from analytics.vocabulary import AIR_POLLUTANTS

NO_DATA_COLOUR = "#9e9e9e"


def _empty_stations() -> pd.DataFrame:
    """No station of a network: the columns a released-hour frame has, without rows."""
    from data.public_views import STATION_COLUMNS

    return pd.DataFrame(columns=[*STATION_COLUMNS, "ts"])


def _text_colour(hex_colour: str) -> str:
    """Black or white text, whichever reads better on ``hex_colour`` (relative luminance)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return "#000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.55 else "#fff"


def with_air_quality(wide: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``aqi``, ``level`` (1..6) and ``primary_pollutant`` per row (HJ 633-2012 hourly AQI)."""
    from analytics.standards.aqi import hourly_aqi

    if wide is None or wide.empty:
        base = wide if wide is not None else _empty_stations()
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


def with_water_class(wide: pd.DataFrame | None, waterbody: str | None = None) -> pd.DataFrame:
    """Add ``water_class`` (1..6 = I..劣V, GB 3838-2002 worst-indicator rule) per row.

    The waterbody (river | lake: lake TP limits differ) comes from ``waterbody`` or, per row, from the
    ``waterbody_type`` column; unknown means river.
    """
    from analytics.standards.water import water_class

    if wide is None or wide.empty:
        base = wide if wide is not None else _empty_stations()
        return base.assign(water_class=pd.Series(dtype="Int64"))
    out = wide.reset_index(drop=True).copy()
    kinds = (pd.Series(waterbody or "river", index=out.index) if waterbody or "waterbody_type" not in out
             else out["waterbody_type"].where(out["waterbody_type"].isin(["river", "lake"]), "river"))
    classes = pd.Series(pd.NA, index=out.index, dtype="Int64")
    for body, rows in out.groupby(kinds).groups.items():
        classes.loc[rows] = water_class(out.loc[rows], waterbody=body)
    out["water_class"] = classes
    return out


def water_class_number(water_class) -> float:
    """1..6 for I..劣V (NaN when unknown), for bar heights."""
    return float("nan") if water_class is None or pd.isna(water_class) else float(water_class)


def water_style(water_class, lang: str) -> dict:
    """Colour, text colour and label of a GB 3838 class 1..6 (None/NA = no released data)."""
    from analytics.standards.water import WATER_CLASS

    if water_class is None or pd.isna(water_class) or int(water_class) not in WATER_CLASS:
        return {"colour": NO_DATA_COLOUR, "text_colour": "#fff", "label": "-" if lang == "zh" else "n/a"}
    info = WATER_CLASS[int(water_class)]
    return {"colour": info.colour_hex, "text_colour": _text_colour(info.colour_hex),
            "label": info.name_zh if lang == "zh" else info.name_en}
