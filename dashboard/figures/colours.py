"""Official colours: HJ 633-2012 AQI levels, GB 3838-2002 water classes, plus our suspicion ring.

The level/class colours come from ``analytics.standards`` (one source of truth); this module only
adapts their shape for Plotly and adds the dashboard's own colours.
"""

from __future__ import annotations

import math

from analytics.standards.aqi import AQI_LEVELS
from analytics.standards.water import WATER_CLASS_COLOURS

NO_DATA_COLOUR = "#9e9e9e"
SUSPICION_COLOUR = "#6a1b9a"  # purple ring: not an AQI or water-class colour, so it cannot be misread
EXCEEDANCE_COLOUR = "#d32f2f"
COMPLIANT_COLOUR = "#1565c0"
SHADE_COLOUR = "rgba(233, 30, 99, 0.15)"


def _colour_of(entry: object) -> str:
    """Accept the standards module's entry shapes: a hex string, a mapping or an object with a colour."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        for key in ("colour", "color", "hex", "colour_hex"):
            if key in entry:
                return str(entry[key])
    for key in ("colour", "color", "hex", "colour_hex"):
        if hasattr(entry, key):
            return str(getattr(entry, key))
    if isinstance(entry, (tuple, list)) and entry:
        return str(entry[0])
    raise TypeError(f"cannot read a colour from {entry!r}")


def aqi_colour(level: float | int | None) -> str:
    """HJ 633-2012 colour of an AQI level 1..6; grey when the level is unknown."""
    if level is None or (isinstance(level, float) and math.isnan(level)):
        return NO_DATA_COLOUR
    return _colour_of(AQI_LEVELS[int(level)])


def water_colour(cls: float | int | None) -> str:
    """GB 3838-2002 class colour (1..6 = I..worse than V); grey when unknown."""
    if cls is None or (isinstance(cls, float) and math.isnan(cls)):
        return NO_DATA_COLOUR
    return _colour_of(WATER_CLASS_COLOURS[int(cls)])
