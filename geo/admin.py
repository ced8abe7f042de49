"""Administrative units of stations by point-in-polygon (province / city / county).

Sources, best first (all WGS-84 after :mod:`geo.layers`):
1. Beijing-Tianjin-Hebei: the Tianditu county layer (``bth_counties``, WGS-84 at source) gives
   province, city and county codes (GB/T 2260 adcodes) and names in one lookup.
2. Nationwide: the DataV provinces (``provinces``, converted from GCJ-02) give the province.
   No national city/county layer ships with the project, so outside BTH the city and county are
   taken from the station table itself (the CNEMC station list has city names) - geometry never
   invents them.
3. A point in no polygon (e.g. a coastal station just off the simplified coastline) takes the
   nearest province within ``max_snap_deg`` (default 0.1 degree, ~10 km); otherwise the
   existing names are kept and the codes are looked up from the names where possible.

Geometry is read at full resolution (``geo.layers.layer_shapes``), trees are built per call
(about 10 ms for ~230 polygons), and 2,000 stations are assigned well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from geo.layers import layer_shapes

ADMIN_COLUMNS: tuple[str, ...] = ("province_code", "province", "city_code", "city", "county_code", "county")
BTH_PROVINCES: frozenset[str] = frozenset({"110000", "120000", "130000"})


def _code(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(int(value)) if isinstance(value, (int, float, np.integer)) else str(value)


def _lookup(points: np.ndarray, layer: str) -> tuple[np.ndarray, list[dict], STRtree, np.ndarray]:
    """Index (into the layer's features) of the polygon containing each point, -1 if none."""
    shapes = [(p, g) for p, g in layer_shapes(layer) if g is not None and not g.is_empty]
    props = [p for p, _ in shapes]
    geoms = np.array([g for _, g in shapes], dtype=object)
    tree = STRtree(geoms)
    hit = np.full(len(points), -1, dtype=int)
    if len(points):
        pt_idx, geom_idx = tree.query(points, predicate="intersects")
        # first hit per point (admin polygons do not overlap except along shared edges)
        order = np.argsort(pt_idx, kind="stable")
        pt_idx, geom_idx = pt_idx[order], geom_idx[order]
        first = np.unique(pt_idx, return_index=True)[1]
        hit[pt_idx[first]] = geom_idx[first]
    return hit, props, tree, geoms


def _snap(points: np.ndarray, hit: np.ndarray, tree: STRtree, max_snap_deg: float) -> np.ndarray:
    """Nearest polygon within ``max_snap_deg`` for points in none."""
    todo = np.flatnonzero((hit < 0) & ~shapely.is_missing(points) & ~shapely.is_empty(points))
    if len(todo) and max_snap_deg > 0:
        pt_idx, geom_idx = tree.query_nearest(points[todo], max_distance=max_snap_deg, all_matches=False)
        hit = hit.copy()
        hit[todo[pt_idx]] = geom_idx
    return hit


def assign_admin(stations: pd.DataFrame, *, max_snap_deg: float = 0.1) -> pd.DataFrame:
    """Return a copy of ``stations`` with province/city/county codes and names filled.

    ``stations`` needs ``lon``, ``lat`` (WGS-84 degrees); existing admin columns (e.g. province
    and city names from the CNEMC station list) are used only where geometry has no answer.
    Adds/overwrites: province_code, province, city_code, city, county_code, county (str or None).
    """
    missing = {"lon", "lat"} - set(stations.columns)
    if missing:
        raise ValueError(f"stations lack columns {sorted(missing)}; need WGS-84 lon, lat")
    out = stations.copy()
    for col in ADMIN_COLUMNS:
        if col not in out.columns:
            out[col] = None
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    lon = pd.to_numeric(out["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(out["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    points = np.full(len(out), None, dtype=object)
    points[ok] = shapely.points(lon[ok], lat[ok])

    # 1. provinces nationwide (DataV, converted to WGS-84)
    p_hit, p_props, p_tree, _ = _lookup(points, "provinces")
    p_hit = _snap(points, p_hit, p_tree, max_snap_deg)
    prov_code = np.array([_code(p_props[i].get("adcode")) if i >= 0 else None for i in p_hit], dtype=object)
    prov_name = np.array([p_props[i].get("name") or None if i >= 0 else None for i in p_hit], dtype=object)
    has = pd.notna(prov_code)
    out.loc[has, "province_code"] = prov_code[has]
    out.loc[has, "province"] = prov_name[has]

    # codes from names where geometry failed (station-list names such as 北京市)
    name_to_code = {p.get("name"): _code(p.get("adcode")) for p in p_props if p.get("name")}
    no_code = out["province_code"].isna() & out["province"].notna()
    out.loc[no_code, "province_code"] = out.loc[no_code, "province"].map(name_to_code)

    # 2. Beijing-Tianjin-Hebei counties (Tianditu, WGS-84) override province/city/county there
    c_hit, c_props, c_tree, _ = _lookup(points, "bth_counties")
    in_bth = out["province_code"].isin(BTH_PROVINCES).to_numpy()
    c_hit = np.where((c_hit < 0) & in_bth, _snap(points, c_hit, c_tree, max_snap_deg), c_hit)
    use = c_hit >= 0
    if use.any():
        rows = [c_props[i] for i in c_hit[use]]
        out.loc[use, "province_code"] = [_code(p.get("province_adcode")) for p in rows]
        out.loc[use, "province"] = [p.get("province_name") for p in rows]
        out.loc[use, "city_code"] = [_code(p.get("city_adcode")) for p in rows]
        out.loc[use, "city"] = [p.get("city_name") for p in rows]
        out.loc[use, "county_code"] = [_code(p.get("district_adcode")) for p in rows]
        out.loc[use, "county"] = [p.get("district_name") for p in rows]
    return out
