"""Fixture factories for detector tests: small synthetic stations, series and panels.

Each factory builds one thing from a few keyword arguments, so a test reads as its own example
(SaQC's ``tests/fixtures.py`` style)::

    st = stations(3)                                   # three air stations 10 km apart
    r = readings(st, ["PM2.5", "NO2"], hours=72)       # a smooth daily cycle, a little noise
    r = set_series(r, "S01", "PM2.5", start_hour=30, values=[42.0] * 12)   # a 12 h flatline
    panel = make_panel(r, st)

Panels are built exactly as the pipeline builds them before it runs the detectors
(``validate_stations`` -> ``validate_readings`` -> ``build_panel``), with the pipeline's default
neighbour settings. Assertion helpers for detector outputs live at the bottom of this module.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analytics.detectors.base import Panel, build_panel, validate_readings, validate_stations
from analytics.registry import DetectorSpec, default_registry

START = "2016-12-01 00:00"  # naive China Standard Time, as the sample files
K_NEIGHBOURS = 8  # analytics/pipelines/default.toml [panel]
MAX_DISTANCE_M = 80_000.0

#: a plausible level (canonical unit) and daily amplitude per parameter, for smooth clean series
LEVELS: dict[str, tuple[float, float]] = {
    "PM2.5": (60.0, 20.0), "PM10": (90.0, 25.0), "SO2": (12.0, 4.0), "NO2": (45.0, 15.0),
    "CO": (1.2, 0.4), "O3": (40.0, 25.0),
    "pH": (7.6, 0.1), "DO": (8.0, 1.0), "CODMn": (4.0, 0.5), "NH3-N": (0.4, 0.1), "TP": (0.12, 0.03),
    "TN": (1.5, 0.3), "turbidity": (20.0, 5.0), "conductivity": (500.0, 30.0), "water_temp": (12.0, 2.0),
    "flue_SO2": (20.0, 4.0), "flue_NOx": (35.0, 6.0), "flue_dust": (5.0, 1.0), "flue_O2": (9.0, 0.5),
    "flue_flow": (8.0e5, 5.0e4), "flue_temp": (120.0, 5.0),
    "ww_COD": (30.0, 5.0), "ww_NH3-N": (2.0, 0.4), "ww_flow": (400.0, 50.0),
}


# ------------------------------------------------------------------------------ stations

def stations(n: int = 3, *, kind: str = "air_station", spacing_km: float = 10.0, prefix: str = "S",
             lon0: float = 116.4, lat0: float = 39.9, **columns) -> pd.DataFrame:
    """``n`` stations of one kind on an east-west line ``spacing_km`` apart (ids S01, S02, ...).

    Extra keyword arguments become columns (one value for all, or one per station), e.g.
    ``waterbody_type="lake"`` or ``limits_json=outlet_limits(flue_SO2=35.0)``.
    """
    dlon = spacing_km / (111.32 * np.cos(np.radians(lat0)))
    st = pd.DataFrame({
        "station_id": [f"{prefix}{i + 1:02d}" for i in range(n)],
        "kind": kind,
        "lon": lon0 + dlon * np.arange(n),
        "lat": lat0,
    })
    for col, val in columns.items():
        st[col] = val
    return st


def outlet_limits(**limits: float) -> str:
    """An outlet's emission limits as the ``limits_json`` column holds them (mg/m3 or mg/L)."""
    return json.dumps(limits)


# ------------------------------------------------------------------------------ readings

def readings(st: pd.DataFrame, parameters: Sequence[str] = ("PM2.5", "PM10", "NO2"), *, hours: int = 72,
             start: str = START, noise: float = 0.05, seed: int = 0, flag: str | None = None) -> pd.DataFrame:
    """Long hourly readings for every station and parameter: a daily cycle around the parameter's
    level (``LEVELS``), multiplicative noise of relative size ``noise``, a small per-station offset.

    Neighbours share the cycle, so spatial checks see agreeing stations. ``flag`` adds an HJ 212
    flag column (all the same code) when given.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="h")
    cycle = np.sin(2 * np.pi * (times.hour.to_numpy() - 8) / 24)
    frames = []
    for i, sid in enumerate(st["station_id"]):
        for p in parameters:
            level, amp = LEVELS.get(p, (10.0, 2.0))
            base = (level + amp * cycle) * (1 + 0.03 * i)
            v = base * (1 + noise * rng.standard_normal(hours))
            v = np.round(np.clip(v, level * 0.05, None), 3)
            frames.append(pd.DataFrame({"station_id": sid, "ts": times, "parameter": p, "value": v}))
    cols = ["station_id", "ts", "parameter", "value"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    if flag is not None:
        out["flag"] = flag
    return out


def from_series(series: dict[tuple[str, str], Sequence[float | None]], *, start: str = START,
                flags: dict[tuple[str, str], Sequence[str]] | None = None) -> pd.DataFrame:
    """Long readings from explicit hourly values: ``{(station_id, parameter): [v0, v1, ...]}``.

    ``None`` (or NaN) is a reading row with a null value; to leave an hour absent, drop the row
    afterwards (see :func:`drop_hours`). Used by the golden cases in ``tests/golden/detectors``.
    """
    frames = []
    for (sid, p), vals in series.items():
        v = np.array([np.nan if x is None else float(x) for x in vals])
        f = pd.DataFrame({"station_id": sid, "ts": pd.date_range(start, periods=len(v), freq="h"),
                          "parameter": p, "value": v})
        if flags is not None:
            f["flag"] = list(flags.get((sid, p), ["N"] * len(v)))
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def set_series(r: pd.DataFrame, station: str, parameter: str, *, start_hour: int,
               values: Iterable[float] | None = None, fn=None, flag: str | None = None) -> pd.DataFrame:
    """A copy of ``r`` with hours [start_hour, start_hour + n) of one series replaced by ``values``
    (or transformed by ``fn(old_values) -> new_values`` over ``len(values)`` hours), optionally
    flagged ``flag`` over the same hours."""
    out = r.copy()
    t0 = out["ts"].min() + pd.Timedelta(hours=start_hour)
    sel = (out["station_id"] == station) & (out["parameter"] == parameter) & (out["ts"] >= t0)
    vals = None if values is None else np.asarray(list(values), dtype=float)
    n = len(vals) if vals is not None else int(sel.sum())
    sel &= out["ts"] < t0 + pd.Timedelta(hours=n)
    idx = out.index[sel]
    new = fn(out.loc[idx, "value"].to_numpy()) if fn is not None else vals[: len(idx)]
    out.loc[idx, "value"] = new
    if flag is not None:
        if "flag" not in out.columns:
            out["flag"] = "N"
        out.loc[idx, "flag"] = flag
    return out


def drop_hours(r: pd.DataFrame, station: str, *, start_hour: int, hours: int,
               parameters: Sequence[str] | None = None) -> pd.DataFrame:
    """``r`` without the rows of one station over [start_hour, start_hour + hours) (an outage:
    the hours are absent, not null). ``parameters`` limits the gap to some series."""
    t0 = r["ts"].min() + pd.Timedelta(hours=start_hour)
    gone = (r["station_id"] == station) & r["ts"].between(t0, t0 + pd.Timedelta(hours=hours - 1))
    if parameters is not None:
        gone &= r["parameter"].isin(parameters)
    return r[~gone].reset_index(drop=True)


# ------------------------------------------------------------------------------ panels and detectors

def make_panel(r: pd.DataFrame, st: pd.DataFrame, *, k_neighbours: int = K_NEIGHBOURS,
               max_distance_m: float = MAX_DISTANCE_M) -> Panel:
    """The panel the pipeline's ``run_models`` builds from these readings and stations."""
    s = validate_stations(st)
    return build_panel(validate_readings(r, s), s, k_neighbours=k_neighbours, max_distance_m=max_distance_m)[0]


def empty_readings() -> pd.DataFrame:
    """No rows at all, with the reading columns and dtypes."""
    return pd.DataFrame({"station_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us]"),
                         "parameter": pd.Series(dtype=str), "value": pd.Series(dtype=float)})


_REGISTRY = None


def registry():
    """The default detector registry (built once per test session)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = default_registry()
    return _REGISTRY


def run_detector(name: str, panel: Panel, **params) -> dict[str, np.ndarray]:
    """Run one registered detector as the pipeline does: the detectors it ``needs`` run first on the
    same panel (they fill ``panel.cache``), numpy warnings silenced like ``run_models`` does."""
    spec: DetectorSpec = registry().get(name)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for dep in spec.needs:
            registry().get(dep).fn(panel)
        return spec.fn(panel, **params)


# ------------------------------------------------------------------------------ assertion helpers

def assert_detector_contract(name: str, out: dict[str, np.ndarray], panel: Panel) -> None:
    """A detector's output obeys the registry contract: exactly the models its spec names, each a
    float array shaped like ``panel.values``, every value >= 0 or NaN (no negatives, no inf)."""
    spec = registry().get(name)
    assert set(out) == set(spec.models), f"{name}: returned models {sorted(out)}, spec says {sorted(spec.models)}"
    for model, arr in out.items():
        arr = np.asarray(arr)
        assert arr.shape == panel.shape, f"{name}.{model}: shape {arr.shape}, panel is {panel.shape}"
        assert np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool, \
            f"{name}.{model}: dtype {arr.dtype} is not numeric"
        a = arr.astype(float)
        assert not np.isinf(a).any(), f"{name}.{model}: {int(np.isinf(a).sum())} infinite value(s)"
        neg = a < 0
        if neg.any():
            where = tuple(int(i[0]) for i in np.nonzero(neg))
            raise AssertionError(f"{name}.{model}: {int(neg.sum())} negative value(s), e.g. {a[where]} at {where}")


def cell_index(panel: Panel, station: str, parameter: str) -> tuple[int, int]:
    """(station axis index, parameter axis index) of one series in a panel."""
    ids = panel.stations["station_id"].astype(str).tolist()
    assert station in ids, f"station {station!r} not in panel ({ids})"
    p = panel.pindex(parameter)
    assert p is not None, f"parameter {parameter!r} not in panel {panel.parameters}"
    return ids.index(station), p


def describe_series(stat: np.ndarray, hours: Sequence[int]) -> str:
    """``hour: value`` pairs of a statistic, for assertion messages."""
    return ", ".join(f"{h}: {stat[h]:.3g}" for h in hours)


# ------------------------------------------------------------------------------ golden detector cases

def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _edit_mask(r: pd.DataFrame, edit: dict, t0: pd.Timestamp) -> pd.Series:
    a, b = edit["hours"]
    m = r["ts"].between(t0 + pd.Timedelta(hours=a), t0 + pd.Timedelta(hours=b))
    if edit.get("station", "*") != "*":
        m &= r["station_id"].isin(_as_list(edit["station"]))
    if edit.get("parameter", "*") != "*":
        m &= r["parameter"].isin(_as_list(edit["parameter"]))
    return m


def apply_edit(r: pd.DataFrame, edit: dict, t0: pd.Timestamp) -> pd.DataFrame:
    """One edit of a golden case (see tests/golden/detectors/README.md) applied to a copy of ``r``.

    Selects ``station`` / ``parameter`` (a name, a list or ``"*"``) over the inclusive hour range
    ``hours: [a, b]`` counted from the first hour, then: ``set`` a constant, ``scale`` by a factor,
    ``add`` a constant, ``ramp: [from, to]`` add a linear offset, ``values`` explicit numbers,
    ``copy_from: {station, parameter}`` another series' values at the same hours (then ``scale`` etc.),
    ``null: true`` keep the rows without values, ``drop: true`` remove the rows; ``flag`` sets the
    HJ 212 flag of the selected rows (with or without a value change).
    """
    r = r.copy()
    m = _edit_mask(r, edit, t0)
    if not m.any():
        raise ValueError(f"edit {edit} selects no reading")
    if edit.get("drop"):
        return r[~m].reset_index(drop=True)
    v = r.loc[m, "value"].to_numpy(dtype=float)
    if "copy_from" in edit:
        src = edit["copy_from"]
        donor = r[(r["station_id"] == src["station"]) & (r["parameter"] == src.get("parameter", edit.get("parameter")))]
        v = r.loc[m, "ts"].map(donor.set_index("ts")["value"]).to_numpy(dtype=float)
    if "set" in edit:
        v = np.full_like(v, float(edit["set"]))
    if "scale" in edit:
        v = v * float(edit["scale"])
    if "add" in edit:
        v = v + float(edit["add"])
    if "ramp" in edit:
        lo, hi = edit["ramp"]
        h = ((r.loc[m, "ts"] - t0) / pd.Timedelta(hours=1)).to_numpy()
        a, b = edit["hours"]
        v = v + lo + (hi - lo) * (h - a) / max(b - a, 1)
    if "values" in edit:
        vals = np.array([np.nan if x is None else float(x) for x in edit["values"]])
        if len(vals) != len(v):
            raise ValueError(f"edit {edit}: {len(vals)} values for {len(v)} selected readings")
        v = vals
    if edit.get("null"):
        v = np.full_like(v, np.nan)
    r.loc[m, "value"] = v
    if "flag" in edit:
        if "flag" not in r.columns:
            r["flag"] = "N"
        r.loc[m, "flag"] = str(edit["flag"])
    return r


def case_inputs(case: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(readings, stations) of a golden detector case: the ``stations`` and ``readings`` blocks
    feed :func:`stations` and :func:`readings`; then each of ``edits`` is applied in order."""
    st_spec = dict(case.get("stations", {}))
    st = pd.DataFrame(st_spec["list"]) if "list" in st_spec else stations(**st_spec)
    rd = dict(case.get("readings", {}))
    r = readings(st, **rd)
    if "flag" not in r.columns and any("flag" in e for e in case.get("edits", [])):
        r["flag"] = "N"
    t0 = pd.Timestamp(rd.get("start", START))
    for edit in case.get("edits", []):
        r = apply_edit(r, edit, t0)
    return r, st


def selected_values(out: dict[str, np.ndarray], panel: Panel, check: dict) -> np.ndarray:
    """The statistic ``check['model']`` at the check's station(s), parameter(s) and hour range
    (``hours: [a, b]`` inclusive; the whole run when absent), flattened."""
    model = check["model"]
    assert model in out, f"model {model!r} not among the detector's outputs {sorted(out)}"
    stat = np.asarray(out[model], dtype=float)
    ids = panel.stations["station_id"].astype(str).tolist()
    st = ids if check.get("station", "*") == "*" else _as_list(check["station"])
    ps = list(panel.parameters) if check.get("parameter", "*") == "*" else _as_list(check["parameter"])
    si = [cell_index(panel, s, ps[0])[0] for s in st]
    pi = [cell_index(panel, st[0], p)[1] for p in ps]
    a, b = check.get("hours", [0, panel.shape[1] - 1])
    return stat[np.ix_(si, np.arange(a, b + 1), pi)].ravel()


_AGG = {"min": np.min, "max": np.max, "median": np.median, "mean": np.mean}


def assert_fires(out: dict[str, np.ndarray], panel: Panel, check: dict) -> None:
    """``agg`` (default min: every hour) of the selected statistic is above ``above``."""
    v = np.nan_to_num(selected_values(out, panel, check))
    agg = check.get("agg", "min")
    got = float(_AGG[agg](v))
    assert got > check["above"], (f"expected {check['model']} to fire: {agg} {got:.4g} <= {check['above']} at "
                                  f"{_where(check)}; values {np.round(v[:24], 3).tolist()}")


def assert_quiet(out: dict[str, np.ndarray], panel: Panel, check: dict) -> None:
    """``agg`` (default max: no hour) of the selected statistic stays below ``below``."""
    v = np.nan_to_num(selected_values(out, panel, check))
    agg = check.get("agg", "max")
    got = float(_AGG[agg](v))
    if got >= check["below"]:
        worst = int(np.argmax(v))
        raise AssertionError(f"expected {check['model']} to stay quiet: {agg} {got:.4g} >= {check['below']} at "
                             f"{_where(check)} (worst flattened cell {worst})")


def _where(check: dict) -> str:
    return ", ".join(f"{k}={check[k]}" for k in ("station", "parameter", "hours") if k in check) or "everywhere"


# ------------------------------------------------------------------------------ golden tables

def assert_frame_matches(actual: pd.DataFrame, expected: pd.DataFrame, *, key: Sequence[str],
                         rtol: float = 1e-9, name: str = "table", show: int = 10) -> None:
    """``actual`` equals ``expected`` (a golden table); on a difference the message lists the
    first ``show`` differing rows side by side (matched on ``key``) before pandas' own report."""
    try:
        pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected.reset_index(drop=True),
                                      check_exact=False, rtol=rtol, atol=0.0)
        return
    except AssertionError as exc:
        detail = str(exc)
    key = list(key)
    m = actual.merge(expected, on=key, how="outer", suffixes=("", " (golden)"), indicator=True)
    differs = m["_merge"] != "both"
    for col in (c for c in actual.columns if c not in key and f"{c} (golden)" in m.columns):
        a, e = m[col], m[f"{col} (golden)"]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(e):
            same = np.isclose(a, e, rtol=rtol, atol=0.0) | (a.isna() & e.isna())
        else:
            same = (a.astype(object) == e.astype(object)) | (a.isna() & e.isna())
        differs |= ~same
    rows = m[differs].copy()
    rows["_merge"] = rows["_merge"].astype(str).map({"left_only": "only now", "right_only": "only golden",
                                                      "both": "both"})
    rows = rows.rename(columns={"_merge": "in"})
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        listing = rows.head(show).to_string(index=False) if len(rows) else "(same rows; order or dtypes differ)"
    raise AssertionError(f"{name}: {len(rows)} row(s) differ from the golden file "
                         f"(regenerate deliberately with `python -m tests.golden.regenerate`):\n"
                         f"{listing}\n\n{detail}")
