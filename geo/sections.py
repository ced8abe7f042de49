"""Water-quality sections placed geometrically on real river lines.

Real automatic water stations sit where a river crosses an administrative boundary (跨界断面:
inbound 入境 / outbound 出境, assessed under the river-chief system), at control sections
(控制断面) between them, and at drinking-water sources (饮用水源地). We do not have the official
section list, so we compute plausible sites from real geometry:

1. **River network and flow direction.** The 1:4M Hai-basin arcs (``haihe_rivers``) and the
   Natural Earth lines (``ne_rivers``) are digitised in arbitrary vertex order. We snap arc ends
   into nodes, build an undirected network per connected component, take as its *mouth* the node
   nearest to the sea (great-circle distance to a short list of coastal points, :data:`COAST_POINTS`)
   and orient every arc from its end farther *along the network* from the mouth to the nearer one.
   This "distance-to-sea along the network" heuristic stands in for elevation (not available);
   it is right for rivers that meander away from the coast (the Shandian He flows north before
   the Luan turns south-east), where a straight-line distance-to-sea rule per arc would be wrong.
   It is wrong only where a network has two outlets to the sea, which the 1:4M layer does not show.
2. **Boundary crossings.** Each oriented arc is intersected with the boundaries of the
   Beijing/Tianjin/Hebei cities (Tianditu, WGS-84) and, outside that region, of the provinces.
   The admin unit just upstream and just downstream of a crossing gives its role: for Beijing the
   role is Beijing's (入境 inbound / 出境 outbound); for other city pairs the section is the
   downstream city's inbound section. The section point is moved ``SECTION_OFFSET_M`` along the
   line into the unit whose section it is, so it lies on the river and inside that unit.
3. **Control sections** at the middle of long arcs; **drinking-source sections** where a river
   leaves the Guanting (官厅) and Panjiakou (潘家口) reservoirs (``haihe_lakes``).
4. **Upstream links**: each section's ``upstream_station`` is the nearest section upstream on the
   same river along the oriented network, with ``reach_km`` the river distance between them
   (the water generator uses it for travel times).

Flow bearing: degrees clockwise from north of the oriented line over +-``BEARING_HALF_WINDOW_M``
around the section.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from shapely.geometry import LineString, MultiLineString, Point, shape
from shapely.ops import unary_union

from geo.neighbours import haversine_m

#: Points on the Bohai / Yellow Sea / East China Sea coast (WGS-84, chosen by us from maps):
#: used only to pick each river network's mouth.
COAST_POINTS: tuple[tuple[float, float], ...] = (
    (117.72, 38.98),   # Haihe mouth, Tanggu
    (117.75, 39.12),   # Yongding Xinhe mouth
    (117.90, 38.35),   # Huanghua
    (119.28, 39.43),   # Luan He mouth
    (119.60, 39.92),   # Qinhuangdao
    (122.00, 40.80),   # Liao He mouth
    (119.25, 37.75),   # Yellow River mouth
    (121.90, 31.40),   # Yangtze mouth
    (113.60, 22.20),   # Pearl River mouth
)

HAI_RIVERS_EN: dict[str, str] = {
    "永定河": "Yongding He", "北运河": "Beiyun He", "海河": "Hai He", "子牙河": "Ziya He",
    "南运河": "Nanyun He", "滦河": "Luan He", "闪电河": "Shandian He",
}
NATIONAL_RIVERS: dict[str, str] = {"Huang": "黄河", "Chang Jiang": "长江", "Yangtze": "长江"}

SNAP_TOLERANCE_DEG = 0.01          # arc ends closer than ~1 km are the same node
SECTION_OFFSET_M = 300.0           # section sits this far inside the unit it belongs to
BEARING_HALF_WINDOW_M = 500.0
MIN_CROSSING_SPACING_KM = 40.0     # repeated crossings of one border closer than this are one site
CONTROL_MIN_ARC_KM = 40.0          # arcs longer than this get a control section at mid-length
CONTROL_MIN_SPACING_KM = 15.0
CONTROL_MIN_FOCUS_KM = 10.0       # a river reach this long inside Beijing gets a control section
DRINKING_SOURCES: tuple[str, ...] = ("官厅水库", "潘家口水库")
M_PER_DEG_LAT = 111_195.0


@dataclass
class Arc:
    river: str
    line: LineString                    # oriented downstream
    start: int = -1                     # node ids after orientation
    end: int = -1
    length_km: float = 0.0
    mouth_km_end: float = 0.0           # network distance from the arc's downstream end to the mouth
    sections: list[int] = field(default_factory=list)


def _line_length_km(line: LineString) -> float:
    xy = np.asarray(line.coords)
    return float(haversine_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum() / 1000.0)


def _deg_per_m(lat: float) -> float:
    """Approximate degrees per metre along a line at latitude ``lat`` (mixed lon/lat direction)."""
    return 1.0 / (M_PER_DEG_LAT * (0.5 + 0.5 * math.cos(math.radians(lat))))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north (0..360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def _iter_lines(geom) -> list[LineString]:
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    return []


def river_arcs(layer: dict, name_key: str, names: Mapping[str, str] | None = None) -> list[Arc]:
    """Arcs of the named rivers (``names`` maps a property value to the Chinese river name)."""
    arcs = []
    for feat in layer["features"]:
        raw = feat["properties"].get(name_key)
        river = raw if names is None else names.get(raw)
        if not river:
            continue
        for line in _iter_lines(shape(feat["geometry"])):
            if len(line.coords) < 2 or line.length == 0 or line.is_ring:
                continue
            arcs.append(Arc(river=river, line=line, length_km=_line_length_km(line)))
    return arcs


def orient_network(arcs: list[Arc], coast: tuple[tuple[float, float], ...] = COAST_POINTS,
                   tol_deg: float = SNAP_TOLERANCE_DEG) -> list[Arc]:
    """Orient arcs downstream by network distance to the mouth (module docstring, step 1)."""
    ends: list[tuple[float, float]] = []

    def node_of(xy: tuple[float, float]) -> int:
        for i, (x, y) in enumerate(ends):
            if abs(x - xy[0]) <= tol_deg and abs(y - xy[1]) <= tol_deg:
                return i
        ends.append(xy)
        return len(ends) - 1

    raw = [(node_of(a.line.coords[0]), node_of(a.line.coords[-1])) for a in arcs]
    n = len(ends)
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for (u, v), a in zip(raw, arcs, strict=True):
        adj[u].append((v, a.length_km))
        adj[v].append((u, a.length_km))
    xy = np.asarray(ends)
    cx, cy = np.asarray(coast).T
    sea_km = haversine_m(xy[:, :1], xy[:, 1:], cx[None, :], cy[None, :]).min(axis=1) / 1000.0
    dist = np.full(n, np.inf)
    seen = np.zeros(n, bool)
    for _ in range(n):  # components: seed each with its node nearest the sea (Dijkstra)
        rest = np.flatnonzero(~seen)
        if rest.size == 0:
            break
        comp = _component(rest[0], adj)
        mouth = min(comp, key=lambda i: sea_km[i])
        dist[mouth] = 0.0
        _dijkstra(mouth, adj, dist)
        seen[list(comp)] = True
    for (u, v), a in zip(raw, arcs, strict=True):
        if dist[u] < dist[v]:
            a.line = LineString(list(a.line.coords)[::-1])
            u, v = v, u
        a.start, a.end, a.mouth_km_end = u, v, float(dist[v])
    return arcs


def _component(start: int, adj) -> set[int]:
    comp, stack = {start}, [start]
    while stack:
        for v, _ in adj[stack.pop()]:
            if v not in comp:
                comp.add(v)
                stack.append(v)
    return comp


def _dijkstra(src: int, adj, dist: np.ndarray) -> None:
    import heapq
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            if d + w < dist[v]:
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))


def _point_at_m(line: LineString, along_deg: float, shift_m: float) -> Point:
    lat = line.interpolate(along_deg).y
    pos = min(max(along_deg + shift_m * _deg_per_m(lat), 0.0), line.length)
    return line.interpolate(pos)


def _flow_bearing(line: LineString, along_deg: float) -> float:
    a = _point_at_m(line, along_deg, -BEARING_HALF_WINDOW_M)
    b = _point_at_m(line, along_deg, BEARING_HALF_WINDOW_M)
    return round(bearing_deg(a.x, a.y, b.x, b.y), 1)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    short: str
    geom: object


def units_from_layers(cities: dict, provinces: dict | None) -> list[Unit]:
    """Admin units for crossings: the 13 BTH cities, then every other province."""
    units = [Unit(str(f["properties"]["city_adcode"]), f["properties"]["city_name"],
                  f["properties"]["short_name"], shape(f["geometry"]).buffer(0))
             for f in cities["features"]]
    for f in (provinces or {"features": []})["features"]:
        code = str(f["properties"].get("adcode") or "")
        name = f["properties"].get("name") or ""
        if not name or code[:2] in ("11", "12", "13"):
            continue
        short = name
        for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市"):
            if short.endswith(suffix):
                short = short[: -len(suffix)]
                break
        units.append(Unit(code, name, short, shape(f["geometry"]).buffer(0)))
    return units


def _unit_at(units: list[Unit], pt: Point) -> Unit | None:
    for u in units:
        if u.geom.contains(pt):
            return u
    return None


def boundary_crossings(arcs: list[Arc], units: list[Unit]) -> list[dict]:
    """Crossings of oriented arcs with unit boundaries: one dict per (river, upstream, downstream) site."""
    borders = unary_union([u.geom.boundary for u in units])
    out: list[dict] = []
    for ai, arc in enumerate(arcs):
        hits = arc.line.intersection(borders)
        pts = [g for g in getattr(hits, "geoms", [hits]) if isinstance(g, Point)]
        for p in sorted(pts, key=arc.line.project):
            along = arc.line.project(p)
            up = _unit_at(units, _point_at_m(arc.line, along, -SECTION_OFFSET_M))
            down = _unit_at(units, _point_at_m(arc.line, along, SECTION_OFFSET_M))
            if up is None or down is None or up.code == down.code:
                continue
            out.append({"arc": ai, "along": along, "up": up, "down": down,
                        "km_to_mouth": arc.mouth_km_end + (arc.line.length - along) / arc.line.length * arc.length_km})
    # a river running along a border crosses it again and again: of each run of crossings of the
    # same river and pair of units (consecutive ones closer than the spacing) keep the first, and
    # for Beijing's border also the last (Beijing's inbound/outbound pair carries the net direction)
    runs: dict[tuple, list[list[dict]]] = {}
    for c in sorted(out, key=lambda c: -c["km_to_mouth"]):
        key = (arcs[c["arc"]].river, frozenset((c["up"].code, c["down"].code)))
        chains = runs.setdefault(key, [])
        if chains and chains[-1][-1]["km_to_mouth"] - c["km_to_mouth"] < MIN_CROSSING_SPACING_KM:
            chains[-1].append(c)
        else:
            chains.append([c])
    kept: list[dict] = []
    for chains in runs.values():
        for chain in chains:
            kept.append(chain[0])
            beijing = "110000" in (chain[0]["up"].code, chain[0]["down"].code)
            if beijing and len(chain) > 1 and chain[0]["km_to_mouth"] - chain[-1]["km_to_mouth"] > 2.0:
                kept.append(chain[-1])
    return kept


def _crossing_record(c: dict, arc: Arc) -> dict:
    up, down = c["up"], c["down"]
    beijing = "110000"
    if beijing in (up.code, down.code):
        inbound = down.code == beijing
        other = up if inbound else down
        pair = {"12": "京津界", "13": "京冀界"}.get(other.code[:2], f"京{other.short}界")
        role = "inbound" if inbound else "outbound"
        name = f"{arc.river} {pair} ({'入境' if inbound else '出境'})"
        shift = SECTION_OFFSET_M if inbound else -SECTION_OFFSET_M
    else:
        role = "inbound"
        name = f"{arc.river} {up.short}-{down.short}界 (入{down.short})"
        shift = SECTION_OFFSET_M
    pt = _point_at_m(arc.line, c["along"], shift)
    return {"name": name, "river": arc.river, "section_role": role, "pt": pt, "arc": c["arc"],
            "along": arc.line.project(pt), "waterbody_type": "river"}


def control_sections(arcs: list[Arc], existing: list[dict], region=None, focus=None) -> list[dict]:
    """Control sections at mid-length of long arcs and of each river reach inside ``focus``
    (Beijing), away from other sections."""
    out = []
    candidates = []
    for ai, arc in enumerate(arcs):
        if focus is not None and arc.line.intersects(focus):
            inside = arc.line.intersection(focus)
            for part in _iter_lines(inside) if not isinstance(inside, LineString) else [inside]:
                if _line_length_km(part) >= CONTROL_MIN_FOCUS_KM:
                    candidates.append((ai, part.interpolate(0.5, normalized=True)))
        if arc.length_km >= CONTROL_MIN_ARC_KM:
            candidates.append((ai, arc.line.interpolate(0.5, normalized=True)))
    for ai, pt in candidates:
        arc = arcs[ai]
        pt = arc.line.interpolate(arc.line.project(pt))
        if region is not None and not region.contains(pt):
            continue
        near = [s for s in existing + out
                if haversine_m(s["pt"].x, s["pt"].y, pt.x, pt.y) < CONTROL_MIN_SPACING_KM * 1000]
        if near:
            continue
        out.append({"name": f"{arc.river} 控制断面", "river": arc.river, "section_role": "control",
                    "pt": pt, "arc": ai, "along": arc.line.project(pt), "waterbody_type": "river"})
    return out


def drinking_source_sections(arcs: list[Arc], lakes: dict) -> list[dict]:
    """Where a river leaves a drinking-water reservoir: the outflow point on the lake shore."""
    out = []
    for feat in lakes["features"]:
        ident = feat["properties"].get("identified_as") or ""
        res = next((r for r in DRINKING_SOURCES if ident.startswith(r)), None)
        if res is None:
            continue
        poly = shape(feat["geometry"])
        best = None
        for ai, arc in enumerate(arcs):
            if not arc.line.intersects(poly):
                continue
            hits = arc.line.intersection(poly.boundary)
            for p in [g for g in getattr(hits, "geoms", [hits]) if isinstance(g, Point)]:
                along = arc.line.project(p)
                outside_below = not poly.contains(_point_at_m(arc.line, along, SECTION_OFFSET_M))
                if outside_below and (best is None or arcs[ai].mouth_km_end < arcs[best[0]].mouth_km_end):
                    best = (ai, along)
        if best is None:
            continue
        ai, along = best
        pt = _point_at_m(arcs[ai].line, along, -SECTION_OFFSET_M)  # just inside: the dam intake
        out.append({"name": f"{res} 饮用水源地 ({arcs[ai].river})", "river": arcs[ai].river,
                    "section_role": "drinking_source", "pt": pt, "arc": ai,
                    "along": arcs[ai].line.project(pt), "waterbody_type": "lake"})
    return out


def link_upstream(sections: list[dict], arcs: list[Arc]) -> None:
    """Set ``upstream`` (index) and ``reach_km`` for each section: nearest section upstream, same river."""
    for i, s in enumerate(sections):
        arcs[s["arc"]].sections.append(i)
    ends_at: dict[int, list[int]] = {}
    for ai, a in enumerate(arcs):
        ends_at.setdefault(a.end, []).append(ai)

    def km_along(arc: Arc, along: float) -> float:
        return along / arc.line.length * arc.length_km

    for s in sections:
        arc = arcs[s["arc"]]
        same = [j for j in arc.sections if sections[j]["along"] < s["along"] - 1e-12]
        s["upstream"], s["reach_km"] = None, None
        if same:
            j = max(same, key=lambda j: sections[j]["along"])
            s["upstream"] = j
            s["reach_km"] = km_along(arc, s["along"]) - km_along(arc, sections[j]["along"])
            continue
        frontier = [(arc.start, km_along(arc, s["along"]))]
        visited = {s["arc"]}
        while frontier and s["upstream"] is None:
            found, nxt = [], []
            for node, acc in frontier:
                for aj in ends_at.get(node, []):
                    if aj in visited or arcs[aj].river != s["river"]:
                        continue
                    visited.add(aj)
                    a = arcs[aj]
                    if a.sections:
                        j = max(a.sections, key=lambda j: sections[j]["along"])
                        found.append((acc + a.length_km - km_along(a, sections[j]["along"]), j))
                    else:
                        nxt.append((a.start, acc + a.length_km))
            if found:
                km, j = min(found)
                s["upstream"], s["reach_km"] = j, km
            frontier = nxt


def compute_sections(rivers: dict, lakes: dict, cities: dict, provinces: dict | None = None,
                     ne_rivers: dict | None = None) -> pd.DataFrame:
    """All demo sections from GeoJSON layers (pure: no I/O). See the module docstring.

    Returns ``station_id, name, name_en, kind, lon, lat, river, section_role, flow_bearing_deg,
    upstream_station, reach_km, km_to_mouth, waterbody_type`` (admin codes are added by
    :func:`demo_sections`). ``reach_km`` and ``km_to_mouth`` are river distances along the network.
    """
    hai = orient_network(river_arcs(rivers, "name_main_zh", {k: k for k in HAI_RIVERS_EN}))
    units = units_from_layers(cities, provinces)
    bth = unary_union([u.geom for u in units if u.code[:2] in ("11", "12", "13")])
    recs = [_crossing_record(c, hai[c["arc"]]) for c in boundary_crossings(hai, units)]
    recs += drinking_source_sections(hai, lakes)
    beijing = next((u.geom for u in units if u.code == "110000"), None)
    recs += control_sections(hai, recs, region=bth, focus=beijing)
    arc_sets = [(hai, recs)]
    if ne_rivers is not None and provinces is not None:
        ne = orient_network(river_arcs(ne_rivers, "name", NATIONAL_RIVERS))
        prov_units = units_from_layers({"features": []}, provinces)
        prov_units += [Unit(c, n, s, g) for c, n, s, g in _bth_provinces(provinces)]
        ne_recs = []
        for c in boundary_crossings(ne, prov_units):
            arc = ne[c["arc"]]
            pt = _point_at_m(arc.line, c["along"], SECTION_OFFSET_M)
            ne_recs.append({"name": f"{arc.river} {c['up'].short}-{c['down'].short}界 (入{c['down'].short})",
                            "river": arc.river, "section_role": "inbound", "pt": pt, "arc": c["arc"],
                            "along": arc.line.project(pt), "waterbody_type": "river"})
        arc_sets.append((ne, ne_recs))
    rows = []
    for arcs, secs in arc_sets:
        link_upstream(secs, arcs)
        for s in secs:
            arc = arcs[s["arc"]]
            s["km_to_mouth"] = arc.mouth_km_end + (1 - s["along"] / arc.line.length) * arc.length_km
            s["bearing"] = _flow_bearing(arc.line, s["along"])
        start = len(rows)
        for s in secs:
            s["_row"] = len(rows)
            rows.append(s)
        for s in rows[start:]:
            s["_up_row"] = None if s["upstream"] is None else secs[s["upstream"]]["_row"]
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["river"], -rows[i]["km_to_mouth"]))
    ids = {i: f"W-{k + 1:04d}" for k, i in enumerate(order)}
    out = []
    for i in order:
        s = rows[i]
        out.append({
            "station_id": ids[i], "name": s["name"],
            "name_en": f"{HAI_RIVERS_EN.get(s['river'], _en_national(s['river']))} {s['section_role']} section",
            "kind": "water_section", "lon": round(s["pt"].x, 6), "lat": round(s["pt"].y, 6),
            "river": s["river"], "section_role": s["section_role"], "flow_bearing_deg": s["bearing"],
            "upstream_station": ids.get(s["_up_row"]) if s["_up_row"] is not None else None,
            "reach_km": None if s["reach_km"] is None else round(float(s["reach_km"]), 2),
            "km_to_mouth": round(float(s["km_to_mouth"]), 2), "waterbody_type": s["waterbody_type"],
            "control_level": "national" if s["section_role"] in ("inbound", "outbound") else "provincial",
        })
    return pd.DataFrame(out)


def _en_national(river_zh: str) -> str:
    return {"黄河": "Yellow River", "长江": "Yangtze"}.get(river_zh, river_zh)


def _bth_provinces(provinces: dict):
    for f in provinces["features"]:
        code = str(f["properties"].get("adcode") or "")
        if code in ("110000", "120000", "130000"):
            name = f["properties"]["name"]
            yield code, name, name[:2], shape(f["geometry"]).buffer(0)


SECTION_LAYERS: tuple[str, ...] = ("haihe_rivers", "haihe_lakes", "bth_cities", "provinces", "ne_rivers")


def demo_sections(layers: Mapping[str, dict] | None = None) -> pd.DataFrame:
    """The demo's water sections with admin codes (loads layers through ``geo.layers`` unless given)."""
    if layers is None:
        from geo.layers import load_layer
        layers = {name: load_layer(name) for name in SECTION_LAYERS}
    sections = compute_sections(layers["haihe_rivers"], layers["haihe_lakes"], layers["bth_cities"],
                                layers.get("provinces"), layers.get("ne_rivers"))
    from geo.admin import assign_admin
    sections = assign_admin(sections)
    named = sections["section_role"] == "control"
    county = sections.get("county")
    if county is not None:
        sections.loc[named, "name"] = [
            f"{r} {c if isinstance(c, str) and c else ''} 控制断面".replace("  ", " ")
            for r, c in zip(sections.loc[named, "river"], county[named], strict=True)]
    return sections
