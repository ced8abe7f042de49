"""Assessment substitution: missing or invalidated data counted at factor x the city maximum.

Local assessment rules (以同期全市最高浓度值的1.5倍计) count a station's missing or invalidated
value, e.g. after interference, as 1.5 x the highest concentration in the whole city in the same
period. No national text was found (standards.md 7: UNVERIFIED), so both the factor and the scope
are choices:

- factor: argument ``factor`` (default :data:`PENALTY_FACTOR`; the application passes
  ``Settings.penalty_factor``, env ``ENVTRUST_PENALTY_FACTOR``);
- scope (our choice, documented in docs/standards.md): per pollutant, per hour, over the city's
  stations of kind ``air_station`` that have a valid value in that hour. A station-hour is
  substituted when its value is missing, its flag is not valid, or the caller marks it
  (``invalidate``, e.g. hours inside a confirmed interference event). If no station in the city
  has a valid value in that hour, nothing can be substituted (assessed value stays NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the seeds' factor: a faked or missing value counts as 1.5 x the city's highest concentration
PENALTY_FACTOR = 1.5


def penalty_substitution(readings: pd.DataFrame, stations: pd.DataFrame, *, factor: float = PENALTY_FACTOR,
                         invalidate: pd.Series | None = None, complete: bool = True,
                         valid_flags: frozenset[str] = frozenset({"N"}),
                         city_column: str = "city_code") -> pd.DataFrame:
    """Assessed hourly values with the city-maximum substitution applied.

    ``readings``: long (station_id, ts, parameter, value[, flag]). ``stations``: station_id and
    ``city_column`` (default city_code; stations without a city are left out with their rows);
    when a ``kind`` column is present only ``air_station`` rows count (micro-stations do not).
    ``invalidate``: optional boolean Series aligned with ``readings`` marking extra hours to
    substitute. ``complete=True`` also substitutes station-hours ABSENT from ``readings``: every
    city station is expected for every (hour, parameter) that occurs in its city.

    Returns station_id, city, ts, parameter, value, valid, city_max, assessed_value, substituted.
    ``assessed_value`` = value where valid, else ``factor * city_max``.
    """
    factor = float(factor)
    if factor <= 0:
        raise ValueError(f"penalty factor must be positive; got {factor}")
    if city_column not in stations.columns:
        raise ValueError(f"stations need a {city_column!r} column (fill it with geo.admin.assign_admin)")
    missing = {"station_id", "ts", "parameter", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns {sorted(missing)}")
    if invalidate is not None and len(invalidate) != len(readings):
        raise ValueError(f"invalidate has {len(invalidate)} rows, readings {len(readings)}")

    members = stations if "kind" not in stations.columns else stations[stations["kind"] == "air_station"]
    city = members.dropna(subset=[city_column]).set_index("station_id")[city_column].astype(str)
    r = readings[["station_id", "ts", "parameter", "value"]].copy()
    flags = readings["flag"].fillna("N") if "flag" in readings.columns else pd.Series("N", index=readings.index)
    r["valid"] = r["value"].notna() & flags.isin(valid_flags)
    if invalidate is not None:
        r["valid"] &= ~invalidate.to_numpy(dtype=bool)
    r["city"] = r["station_id"].map(city)
    r = r.dropna(subset=["city"])

    if complete and not r.empty:
        slots = r[["city", "ts", "parameter"]].drop_duplicates()
        members = city.rename("city").reset_index()
        grid = slots.merge(members, on="city")
        r = grid.merge(r, on=["city", "ts", "parameter", "station_id"], how="left")
        r["valid"] = r["valid"].fillna(False).astype(bool)

    valid_values = r["value"].where(r["valid"])
    r["city_max"] = valid_values.groupby([r["city"], r["ts"], r["parameter"]]).transform("max")
    r["assessed_value"] = np.where(r["valid"], r["value"], factor * r["city_max"])
    r["substituted"] = ~r["valid"] & r["city_max"].notna()
    cols = ["station_id", "city", "ts", "parameter", "value", "valid", "city_max", "assessed_value", "substituted"]
    return r[cols].sort_values(["city", "ts", "parameter", "station_id"], ignore_index=True)
