"""How the embeds show a station's status: colour, text colour and label of an AQI level or water class.

The status itself (HJ 633-2012 hourly AQI and level, GB 3838-2002 water class) is added to released
values by ``data.public_views.with_air_quality`` / ``with_water_class``, through the same
``analytics.station_status`` the internal map uses. Colours and names are the standards' official
ones (AQI_LEVELS, WATER_CLASS).
"""

from __future__ import annotations

import pandas as pd
from dash import html

from analytics.standards.aqi import AQI_LEVELS
from analytics.standards.water import WATER_CLASS
from dashboard.public.text import status_label

NO_DATA_COLOUR = "#9e9e9e"


def _text_colour(hex_colour: str) -> str:
    """Black or white text, whichever reads better on ``hex_colour`` (relative luminance)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return "#000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.55 else "#fff"


def aqi_style(level, lang: str) -> dict:
    """Colour, text colour and label of an AQI level (NaN = no released data)."""
    if level is None or pd.isna(level) or int(level) not in AQI_LEVELS:
        return {"colour": NO_DATA_COLOUR, "text_colour": "#fff", "label": "-" if lang == "zh" else "n/a"}
    info = AQI_LEVELS[int(level)]
    colour = info.colour_hex
    name = info.name_zh if lang == "zh" else info.name_en
    return {"colour": colour, "text_colour": _text_colour(colour), "label": name}


def water_class_number(water_class) -> float:
    """1..6 for I..劣V (NaN when unknown), for bar heights."""
    return float("nan") if water_class is None or pd.isna(water_class) else float(water_class)


def water_style(water_class, lang: str) -> dict:
    """Colour, text colour and label of a GB 3838 class 1..6 (None/NA = no released data)."""
    if water_class is None or pd.isna(water_class) or int(water_class) not in WATER_CLASS:
        return {"colour": NO_DATA_COLOUR, "text_colour": "#fff", "label": "-" if lang == "zh" else "n/a"}
    info = WATER_CLASS[int(water_class)]
    return {"colour": info.colour_hex, "text_colour": _text_colour(info.colour_hex),
            "label": info.name_zh if lang == "zh" else info.name_en}


def status_tag(status: str | None, lang: str) -> html.Span:
    """The release status in words, with a class per status for styling (``embed-status-final``)."""
    key = status if isinstance(status, str) and status else "none"
    return html.Span(status_label(status, lang), className=f"embed-status embed-status-{key}")
