"""Assessment substitution (penalty) rule as a versioned policy, with a provenance code per value.

Where quality data are faked, or missing for lack of power or other support, rankings count the
station's value at a penalty. Three policies are known (accountability.md 3; standards.md 7):

- ``jinan-2018``: seed 000 item 3 - factor (default :data:`PENALTY_FACTOR` 1.5, configurable via
  ``Settings.penalty_factor``) x the highest concentration in the whole city in the same period
  (window configurable: hour by default, day or month). No national text was found (UNVERIFIED).
- ``mee-2015-175-day`` / ``-month``: 环发〔2015〕175号 - faked data replaced by the highest
  concentration of the day or of the month (factor 1; "historic highest" read here as the city's
  highest valid hourly value in that local day or month; wording UNVERIFIED).
- ``none``: no substitution; invalid hours stay out of the statistics.

Triggers (each policy lists the ones it acts on): ``interference`` (hours inside confirmed
interference; never excusable), ``missing`` (no value, or the station-hour absent), and
``invalid_flag`` (an HJ 212 flag other than the valid ones). Missing or invalid hours covered by an
accepted reason (power, maintenance, ... recorded by the bureau) are excused, not substituted.

Every assessed hourly value carries a :class:`Provenance` code, as EPA's MODC does for CEMS hours.
Scope (our choice, docs/assessment.md): per pollutant, over the city's standard stations (kind
``air_station``) that have a valid value in the window; if none has, the hour stays invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import pandas as pd

#: the seeds' factor: a faked or missing value counts as 1.5 x the city's highest concentration
PENALTY_FACTOR = 1.5
DEFAULT_POLICY_ID = "jinan-2018"


class Provenance(StrEnum):
    """How an assessed hourly value was determined (cf. EPA 40 CFR 75 MODC)."""

    MEASURED = "01"
    CITY_MAX = "S1"        # factor x city maximum in the window
    HISTORIC_MAX = "S2"    # highest city value of the day / month
    EXCUSED = "E1"         # missing or invalid with an accepted reason: left out, not substituted
    INVALID = "V0"         # invalid and not substituted (policy none, trigger off, nothing to substitute)


PROVENANCE_TEXT: dict[Provenance, tuple[str, str]] = {
    Provenance.MEASURED: ("实测有效", "measured, valid"),
    Provenance.CITY_MAX: ("按全市同期最高浓度倍数替代", "substituted: factor x city maximum"),
    Provenance.HISTORIC_MAX: ("按当日/当月最高浓度替代", "substituted: highest of the day/month"),
    Provenance.EXCUSED: ("有正当理由缺测，不替代", "missing with an accepted reason, not substituted"),
    Provenance.INVALID: ("无效，未替代", "invalid, not substituted"),
}


class Trigger(StrEnum):
    """Why an hour is not a measured valid value."""

    INTERFERENCE = "interference"
    MISSING = "missing"
    INVALID_FLAG = "invalid_flag"


RULES: tuple[str, ...] = ("city_max", "historic_max", "none")
WINDOWS: tuple[str, ...] = ("hour", "day", "month")
ALL_TRIGGERS: frozenset[str] = frozenset(t.value for t in Trigger)


@dataclass(frozen=True)
class SubstitutionPolicy:
    """One versioned substitution rule: which hours it replaces, by what, and where it comes from."""

    policy_id: str
    version: int
    rule: str                 # city_max | historic_max | none
    factor: float
    window: str               # hour | day | month (local CST)
    triggers: frozenset[str]
    source: str
    text_zh: str
    verified: bool = False

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown substitution rule {self.rule!r}; known: {', '.join(RULES)}")
        if self.window not in WINDOWS:
            raise ValueError(f"unknown substitution window {self.window!r}; known: {', '.join(WINDOWS)}")
        if not float(self.factor) > 0:
            raise ValueError(f"penalty factor must be positive; got {self.factor}")
        unknown = set(self.triggers) - ALL_TRIGGERS
        if unknown:
            raise ValueError(f"unknown triggers {sorted(unknown)}; known: {sorted(ALL_TRIGGERS)}")

    @property
    def label(self) -> str:
        return f"{self.policy_id} v{self.version}"

    @property
    def substitute_code(self) -> Provenance:
        return Provenance.HISTORIC_MAX if self.rule == "historic_max" else Provenance.CITY_MAX


POLICIES: dict[str, SubstitutionPolicy] = {p.policy_id: p for p in (
    SubstitutionPolicy("jinan-2018", 1, "city_max", PENALTY_FACTOR, "hour", ALL_TRIGGERS,
                       "济南 2018 实施方案 (seed 000 item 3)",
                       "弄虚作假或因停电等保障不到位造成数据缺失的，按同期全市最高浓度值的1.5倍计"),
    SubstitutionPolicy("mee-2015-175-day", 1, "historic_max", 1.0, "day", ALL_TRIGGERS,
                       "环发〔2015〕175号 (wording unverified)", "弄虚作假数据以当日全市最高浓度值替代"),
    SubstitutionPolicy("mee-2015-175-month", 1, "historic_max", 1.0, "month", ALL_TRIGGERS,
                       "环发〔2015〕175号 / 2017 national letter (wording unverified)",
                       "弄虚作假数据以当月全市最高浓度值替代"),
    SubstitutionPolicy("none", 1, "none", 1.0, "hour", frozenset(), "no substitution",
                       "不替代：无效数据不参与统计", verified=True),
)}


def resolve_policy(policy_id: str | None = None, *, factor: float | None = None,
                   window: str | None = None) -> SubstitutionPolicy:
    """The named policy (default :data:`DEFAULT_POLICY_ID`), its factor/window overridden if given.

    An override makes a new version label (``+factor=2``) so results say what they used.
    """
    name = policy_id or DEFAULT_POLICY_ID
    try:
        policy = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown substitution policy {name!r}; known: {', '.join(POLICIES)}") from None
    if factor is not None and policy.rule == "city_max" and float(factor) != policy.factor:
        policy = replace(policy, factor=float(factor))
    if window is not None and window != policy.window:
        policy = replace(policy, window=window)
    return policy


def _window_key(ts: pd.Series, window: str, utc_offset_hours: float) -> pd.Series:
    local = pd.to_datetime(ts) + pd.Timedelta(hours=utc_offset_hours)
    if window == "hour":
        return pd.to_datetime(ts)
    if window == "day":
        return local.dt.normalize()
    return local.dt.to_period("M").dt.start_time


def substitute_hours(hours: pd.DataFrame, policy: SubstitutionPolicy, *,
                     valid_flags: frozenset[str] = frozenset({"N"}), utc_offset_hours: float = 8.0) -> pd.DataFrame:
    """Apply ``policy`` to a complete grid of expected station-hours.

    ``hours``: station_id, city, ts (UTC), parameter, value (NaN = missing or absent), flag, and
    optionally ``interference`` and ``excused`` (bool). Returns the frame with ``valid`` (a
    measured valid value), ``trigger`` (a :class:`Trigger` or ""), ``window_max``,
    ``assessed_value`` and ``provenance`` (:class:`Provenance`) added.
    """
    missing = {"station_id", "city", "ts", "parameter", "value"} - set(hours.columns)
    if missing:
        raise ValueError(f"hours lack columns {sorted(missing)}")
    r = hours.copy()
    flag = r["flag"].fillna("N") if "flag" in r.columns else pd.Series("N", index=r.index)
    interference = r["interference"].fillna(False).astype(bool) if "interference" in r.columns \
        else pd.Series(False, index=r.index)
    excused = r["excused"].fillna(False).astype(bool) if "excused" in r.columns else pd.Series(False, index=r.index)
    present = r["value"].notna()
    flag_ok = flag.isin(valid_flags)
    r["valid"] = present & flag_ok & ~interference
    r["trigger"] = np.select([interference, ~present, ~flag_ok],
                             [Trigger.INTERFERENCE.value, Trigger.MISSING.value, Trigger.INVALID_FLAG.value], "")
    keys = [r["city"], _window_key(r["ts"], policy.window, utc_offset_hours), r["parameter"]]
    r["window_max"] = r["value"].where(r["valid"]).groupby(keys).transform("max")
    wants = ~r["valid"] & r["trigger"].isin(policy.triggers) & (policy.rule != "none")
    is_excused = ~r["valid"] & excused & (r["trigger"] != Trigger.INTERFERENCE.value)
    can = wants & ~is_excused & r["window_max"].notna()
    r["assessed_value"] = np.where(r["valid"], r["value"], np.where(can, policy.factor * r["window_max"], np.nan))
    r["provenance"] = np.select([r["valid"], can, is_excused],
                                [Provenance.MEASURED.value, policy.substitute_code.value, Provenance.EXCUSED.value],
                                Provenance.INVALID.value)
    return r


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

    policy = SubstitutionPolicy("adhoc", 1, "city_max", factor, "hour", ALL_TRIGGERS, "argument", "")
    r["flag"] = np.where(r["valid"], "N", "X")
    out = substitute_hours(r, policy, valid_flags=frozenset({"N"}))
    out = out.rename(columns={"window_max": "city_max"})
    out["substituted"] = out["provenance"] == Provenance.CITY_MAX.value
    cols = ["station_id", "city", "ts", "parameter", "value", "valid", "city_max", "assessed_value", "substituted"]
    return out[cols].sort_values(["city", "ts", "parameter", "station_id"], ignore_index=True)
