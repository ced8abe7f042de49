"""Station status from measured values: the one definition the internal map and the public embeds share.

An air station's status is its AQI, AQI level (1..6) and primary pollutant (HJ 633-2012); a water
section's is its GB 3838-2002 class (1..6 = I..worse than V, worst-indicator rule, lake limits for
lakes and reservoirs). ``data.views`` applies these to period means of every station for the
internal situation map; ``data.public_views`` to the released values of one hour or one station for
the embeds. Pure functions: a wide frame (one row per station or station-hour, one column per
parameter) in, a frame or series on the same index out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.standards import aqi as aqi_standard
from analytics.standards import water as water_standard
from analytics.vocabulary import AIR_POLLUTANTS, WATER_PARAMETERS

AVERAGINGS: tuple[str, ...] = ("1h", "24h")


def air_status(wide: pd.DataFrame, averaging: str = "1h", o3_stats: pd.DataFrame | None = None,
               aqi_table: str | None = None) -> pd.DataFrame:
    """AQI, level and primary pollutant per row of pollutant columns (HJ 633-2012).

    ``averaging="1h"``: real-time AQI of hourly values. ``"24h"``: daily AQI of period means, with
    ``o3_stats`` (index = ``wide``'s index; columns O3_8h = maximum 8-h moving mean, O3_1h = maximum
    hour) standing in for O3. ``aqi_table`` names the breakpoint table (see
    :mod:`analytics.standards.aqi`). Returns, on ``wide``'s index, ``aqi`` (float), ``aqi_level``
    (float 1..6) and ``primary_pollutant`` (str or None); NaN / None where nothing is present.
    """
    if averaging not in AVERAGINGS:
        raise ValueError(f"averaging must be one of {AVERAGINGS}, not {averaging!r}")
    cols = [c for c in AIR_POLLUTANTS if c in wide.columns]
    empty = pd.DataFrame({"aqi": np.nan, "aqi_level": np.nan, "primary_pollutant": None}, index=wide.index)
    if wide.empty or not cols:
        return empty
    if averaging == "1h":
        res = aqi_standard.hourly_aqi(wide[cols].astype(float), table=aqi_table)
    else:
        daily = wide[[c for c in cols if c != "O3"]].astype(float)
        if o3_stats is not None and not o3_stats.empty:
            daily = daily.join(o3_stats[["O3_8h", "O3_1h"]], how="left")
        if daily.shape[1] == 0:
            return empty
        res = aqi_standard.daily_aqi(daily, table=aqi_table)
    return pd.DataFrame({"aqi": res["aqi"].astype(float),
                         "aqi_level": pd.to_numeric(res["level"], errors="coerce").astype(float),
                         "primary_pollutant": res["primary_pollutant"]}, index=wide.index)


def waterbodies(waterbody: str | pd.Series | None, index: pd.Index) -> pd.Series:
    """The GB 3838 waterbody per row: ``waterbody`` (one name, or per row), unknown or missing = river."""
    body = waterbody.reindex(index) if isinstance(waterbody, pd.Series) else pd.Series(waterbody, index=index,
                                                                                      dtype=object)
    return body.where(body.isin(water_standard.WATERBODIES), "river")


def water_status(wide: pd.DataFrame, waterbody: str | pd.Series | None = None) -> pd.Series:
    """GB 3838-2002 class per row (float 1..6 = I..worse than V; NaN when nothing is evaluable).

    ``waterbody``: "river" or "lake" for every row, or a series of them on ``wide``'s index
    (lakes and reservoirs use the lake limits); unknown or missing means river.
    """
    out = pd.Series(np.nan, index=wide.index, dtype=float)
    cols = [c for c in WATER_PARAMETERS if c in wide.columns]
    if wide.empty or not cols:
        return out
    body = waterbodies(waterbody, wide.index)
    for kind in body.unique():
        rows = body.index[body == kind]
        cls = water_standard.water_class(wide.loc[rows, cols].astype(float), waterbody=kind)
        out.loc[rows] = pd.to_numeric(cls, errors="coerce").astype(float).to_numpy()
    return out
