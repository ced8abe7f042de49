"""Flue-gas CEMS rules: reference-O2 correction (HJ 75-2017 / GB 13223-2011) and emission limits.

Concentrations are mg/m3 (dry, standard state) as measured; O2 in % (dry). The store keeps the
measured value only (analytics/vocabulary.py); the corrected ("折算", HJ 212 ``-Zs*``) value is
computed here:

    C_ref = C_meas * (21 - O2_ref) / (21 - O2_meas)

The formula is the standard one of GB 13223 / GB 13271; standards.md section 5 marks it
UNVERIFIED against the HJ 75 text in our corpus. O2_meas >= 21 % (ambient air, i.e. the unit is
not firing or the probe is in ambient air) has no finite correction and gives NaN, as do negative
O2 and negative concentrations.

Reference O2 by unit type (coal boiler 6 %, oil/gas boiler 3 %, gas turbine 15 %) and the
ultra-low emission limits are UNVERIFIED (standards.md 5) and therefore parameters with these
defaults, overridable per outlet (stations.ref_o2_pct, stations.limits_json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

FLUE_POLLUTANTS: tuple[str, ...] = ("flue_SO2", "flue_NOx", "flue_dust")
O2_PARAMETER = "flue_O2"
AMBIENT_O2_PCT = 21.0

# Reference O2 (%) by unit type - unverified, see module doc.
REFERENCE_O2_PCT: dict[str, float] = {
    "coal_boiler": 6.0,
    "oil_boiler": 3.0,
    "gas_boiler": 3.0,
    "gas_turbine": 15.0,
}

# GB 13223-2011 table 1 (thermal power), mg/m3. SO2/NOx values: standards.md 5 (verified);
# dust values: unverified (not in the excerpt). "existing" NOx 200 applies to W-flame, CFB and
# pre-2004 units only; other existing coal units have NOx 100 - pass explicit limits for them.
GB13223_LIMITS_MG_M3: dict[tuple[str, str], dict[str, float]] = {
    ("coal_boiler", "new"): {"flue_SO2": 100.0, "flue_NOx": 100.0, "flue_dust": 30.0},
    ("coal_boiler", "existing"): {"flue_SO2": 200.0, "flue_NOx": 200.0, "flue_dust": 30.0},
    ("gas_boiler", "new"): {"flue_SO2": 35.0, "flue_NOx": 100.0, "flue_dust": 5.0},
    ("gas_turbine", "new"): {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 5.0},
}
# Ultra-low emission (2015 work plan, coal units), mg/m3 at 6 % O2; some provinces use dust 5.
ULTRA_LOW_LIMITS_MG_M3: dict[str, float] = {"flue_SO2": 35.0, "flue_NOx": 50.0, "flue_dust": 10.0}


def reference_o2_pct(unit_type: str, overrides: Mapping[str, float] | None = None) -> float:
    """Reference O2 (%) for a unit type (coal_boiler, oil_boiler, gas_boiler, gas_turbine)."""
    table = {**REFERENCE_O2_PCT, **(overrides or {})}
    try:
        return float(table[unit_type])
    except KeyError:
        raise ValueError(f"unknown unit type {unit_type!r}; known: {', '.join(table)}") from None


def emission_limits_mg_m3(unit_type: str, regime: str = "new") -> dict[str, float]:
    """Limits by parameter (flue_SO2, flue_NOx, flue_dust) for a unit type and regime.

    ``regime``: "new" or "existing" (GB 13223-2011 table 1) or "ultra_low" (coal units).
    """
    if regime == "ultra_low":
        return dict(ULTRA_LOW_LIMITS_MG_M3)
    try:
        return dict(GB13223_LIMITS_MG_M3[(unit_type, regime)])
    except KeyError:
        known = ", ".join(f"{u}/{r}" for u, r in GB13223_LIMITS_MG_M3)
        raise ValueError(f"no GB 13223 limits for {unit_type!r}/{regime!r}; known: {known}, or regime ultra_low") from None


def _shaped(out: np.ndarray, index, name: str):
    if index is not None:
        return pd.Series(out, index=index, name=name)
    return float(out) if out.ndim == 0 else out


def o2_corrected_mg_m3(conc, o2_pct, ref_o2_pct, *, min_gap_pct: float | None = None):
    """Concentration at reference O2: ``C * (21 - ref_o2_pct) / (21 - o2_pct)`` (mg/m3).

    Vectorised and broadcasting (scalars, arrays, Series; a Series argument keeps its index).
    NaN where any input is NaN, O2 >= 21 %, O2 < 0 or the concentration is negative: the limit
    check of a real outlet never divides by a flue that is ambient air.

    ``min_gap_pct`` floors ``21 - O2`` instead (no NaN): the synthetic outlets use 0.5 % so that a
    start-up hour with the flue nearly ambient gets the large finite value a data logger records.
    """
    index = next((x.index for x in (conc, o2_pct, ref_o2_pct) if isinstance(x, pd.Series)), None)
    c = np.asarray(conc, dtype=float)
    o2 = np.asarray(o2_pct, dtype=float)
    ref = np.asarray(ref_o2_pct, dtype=float)
    if min_gap_pct is not None:
        return _shaped(c * (AMBIENT_O2_PCT - ref) / np.maximum(AMBIENT_O2_PCT - o2, min_gap_pct), index,
                       "corrected_mg_m3")
    with np.errstate(invalid="ignore", divide="ignore"):
        bad = (o2 >= AMBIENT_O2_PCT) | (o2 < 0) | (c < 0) | (ref >= AMBIENT_O2_PCT) | (ref < 0)
        out = np.where(bad, np.nan, c * (AMBIENT_O2_PCT - ref) / (AMBIENT_O2_PCT - o2))
    return _shaped(out, index, "corrected_mg_m3")


def measured_from_corrected_mg_m3(conc_ref, o2_pct, ref_o2_pct):
    """The inverse of :func:`o2_corrected_mg_m3`: what the analyser reads at ``o2_pct`` for a value
    ``conc_ref`` at the reference O2, ``C_ref * (21 - O2) / (21 - O2_ref)`` (mg/m3). With
    ``conc_ref = 1`` it is the factor from a reference-O2 limit to the measured-O2 limit."""
    index = next((x.index for x in (conc_ref, o2_pct, ref_o2_pct) if isinstance(x, pd.Series)), None)
    c = np.asarray(conc_ref, dtype=float)
    o2 = np.asarray(o2_pct, dtype=float)
    ref = np.asarray(ref_o2_pct, dtype=float)
    return _shaped(c * (AMBIENT_O2_PCT - o2) / (AMBIENT_O2_PCT - ref), index, "measured_mg_m3")


def limits_from_stations(stations: pd.DataFrame) -> pd.DataFrame:
    """Per-outlet limits from ``stations.limits_json`` -> station_id, parameter, limit_mg_m3."""
    rows = []
    for sid, raw in zip(stations["station_id"], stations.get("limits_json", pd.Series(dtype=object)), strict=False):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw == "":
            continue
        try:
            limits = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"station {sid}: limits_json is not a JSON object: {raw!r}") from exc
        rows += [(str(sid), p, float(v)) for p, v in limits.items()]
    return pd.DataFrame(rows, columns=["station_id", "parameter", "limit_mg_m3"])


def hourly_exceedance(readings: pd.DataFrame, limits, ref_o2_pct, *,
                      valid_flags: frozenset[str] = frozenset({"N"})) -> pd.DataFrame:
    """O2-corrected hourly flue-gas concentrations compared with emission limits.

    ``readings``: long hourly readings of outlets (flue_SO2, flue_NOx, flue_dust and flue_O2 at
    the same station_id/ts). ``limits``: a mapping parameter -> mg/m3 applied to every outlet, or
    a DataFrame (station_id, parameter, limit_mg_m3) per outlet (see :func:`limits_from_stations`).
    ``ref_o2_pct``: one value, or a Series indexed by station_id.

    Returns one row per pollutant reading: station_id, ts, parameter, value (measured), o2_pct,
    corrected_mg_m3, limit_mg_m3, valid (both pollutant and O2 flags valid and values present),
    exceedance (valid and corrected > limit). Pollutants without a limit get NaN limit and never exceed.
    """
    missing = {"station_id", "ts", "parameter", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns {sorted(missing)}")
    flags = readings["flag"] if "flag" in readings.columns else pd.Series("N", index=readings.index)
    r = readings.assign(flag=flags.fillna("N"))
    pol = r[r["parameter"].isin(FLUE_POLLUTANTS)]
    o2 = (r[r["parameter"] == O2_PARAMETER][["station_id", "ts", "value", "flag"]]
          .rename(columns={"value": "o2_pct", "flag": "o2_flag"})
          .drop_duplicates(["station_id", "ts"]))
    out = pol.merge(o2, on=["station_id", "ts"], how="left")
    if isinstance(limits, pd.DataFrame):
        out = out.merge(limits[["station_id", "parameter", "limit_mg_m3"]], on=["station_id", "parameter"], how="left")
    else:
        out["limit_mg_m3"] = out["parameter"].map(dict(limits)).astype(float)
    if isinstance(ref_o2_pct, pd.Series):
        ref = out["station_id"].map(ref_o2_pct).astype(float)
        if ref.isna().any():
            unknown = sorted(out.loc[ref.isna(), "station_id"].unique())[:5]
            raise ValueError(f"ref_o2_pct has no value for stations {unknown}")
    else:
        ref = float(ref_o2_pct)
    out["corrected_mg_m3"] = o2_corrected_mg_m3(out["value"].to_numpy(float), out["o2_pct"].to_numpy(float),
                                                 np.asarray(ref, dtype=float))
    out["valid"] = (out["flag"].isin(valid_flags) & out["o2_flag"].isin(valid_flags)
                    & out["corrected_mg_m3"].notna())
    out["exceedance"] = out["valid"] & (out["corrected_mg_m3"] > out["limit_mg_m3"])
    cols = ["station_id", "ts", "parameter", "value", "o2_pct", "corrected_mg_m3", "limit_mg_m3", "valid", "exceedance"]
    return out[cols].sort_values(["station_id", "ts", "parameter"], ignore_index=True)
