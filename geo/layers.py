"""Boundary and river layers for the map, always returned as GeoJSON in WGS-84.

Why: the DataV boundaries (provinces, Beijing/Tianjin districts, Hebei cities/counties) are in
GCJ-02 and would sit ~500 m off our WGS-84 stations; Tianditu and river layers are already
WGS-84 (CGCS2000 ~ WGS-84). Every layer is converted once per process with :mod:`geo.coords`,
simplified for web display and its coordinates rounded to 5 decimals (~1 m).

Simplification: polygon layers that tile the plane (admin units) use
``shapely.coverage_simplify`` so neighbouring units keep a shared edge (no slivers or gaps);
line layers use ``simplify(preserve_topology=True)``. Tolerances (degrees for lines, the
coverage tolerance for polygons) are per layer in :data:`LAYERS` and keep every layer under
~500 KB of JSON (``tests/geo/test_layers.py`` measures it).

Source folders: the shipped ``data/sample/geo`` always; the application puts the full data set's
``geo`` folder in front with :func:`set_layer_dirs` once at start-up (this module reads no
settings or environment). Results are cached per process keyed by (name, path, mtime); every call
returns a fresh ``dict`` (parsed from a cached JSON string), so callers may mutate it freely.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from geo.coords import gcj02_to_wgs84

COORD_DECIMALS = 5


@dataclass(frozen=True)
class LayerSpec:
    """How one layer is read: source file, its CRS, which properties to keep, how to simplify."""

    filename: str
    crs: str  # "gcj02" | "wgs84"
    kind: str  # "admin" (polygon coverage) | "lines" | "polygons"
    tolerance: float  # coverage_simplify tolerance for admin; degrees for the others
    keep_properties: tuple[str, ...] | None = None  # None = keep all scalar properties
    description: str = ""


_DATAV_PROPS = ("adcode", "name", "level", "childrenNum", "parent_adcode", "city_adcode")

LAYERS: dict[str, LayerSpec] = {
    "provinces": LayerSpec("china_provinces_datav_gcj02.geojson", "gcj02", "admin", 0.03, _DATAV_PROPS,
                           "China provinces (DataV, converted from GCJ-02)"),
    "bth_cities": LayerSpec("bth_cities_tianditu_wgs84.geojson", "wgs84", "admin", 0.002, None,
                            "Beijing, Tianjin and the 11 Hebei cities (Tianditu)"),
    "bth_counties": LayerSpec("bth_counties_tianditu_wgs84.geojson", "wgs84", "admin", 0.002, None,
                              "Beijing-Tianjin-Hebei counties/districts (Tianditu)"),
    "beijing_districts": LayerSpec("beijing_districts_datav_gcj02.geojson", "gcj02", "admin", 0.001,
                                   _DATAV_PROPS, "Beijing's 16 districts (DataV, converted)"),
    "tianjin_districts": LayerSpec("tianjin_districts_datav_gcj02.geojson", "gcj02", "admin", 0.001,
                                   _DATAV_PROPS, "Tianjin's 16 districts (DataV, converted)"),
    "hebei_cities": LayerSpec("hebei_cities_datav_gcj02.geojson", "gcj02", "admin", 0.002, _DATAV_PROPS,
                              "Hebei's 11 cities (DataV, converted; full data only)"),
    "hebei_counties": LayerSpec("hebei_counties_datav_gcj02.geojson", "gcj02", "admin", 0.005, _DATAV_PROPS,
                                "Hebei's 167 counties (DataV, converted; full data only)"),
    "haihe_rivers": LayerSpec("haihe_rivers_1to4m_hyd2_4l.geojson", "wgs84", "lines", 0.0005, None,
                              "Hai River basin rivers around Beijing (1:4M)"),
    "haihe_lakes": LayerSpec("haihe_lakes_1to4m_hyd2_4p.geojson", "wgs84", "polygons", 0.0005, None,
                             "Hai River basin lakes/reservoirs (1:4M)"),
    "ne_rivers": LayerSpec("ne_50m_rivers_china_bbox.geojson", "wgs84", "lines", 0.002,
                           ("name", "name_en", "name_zh", "scalerank", "featurecla"),
                           "Natural Earth 1:50m rivers in the China bounding box"),
}


#: the layers shipped with the repository (always last in the search order)
SAMPLE_GEO_DIR = Path(__file__).resolve().parent.parent / "data" / "sample" / "geo"
_extra_dirs: tuple[Path, ...] = ()


def set_layer_dirs(dirs: tuple[Path, ...] | list[Path]) -> None:
    """Folders searched before the shipped sample (the full data set's ``geo`` folder).

    Called once by the application at start-up with what its settings name; geometry is the same
    for every user, so a process-wide search path is safe.
    """
    global _extra_dirs
    _extra_dirs = tuple(Path(d) for d in dirs if Path(d) != SAMPLE_GEO_DIR)


def _layer_dirs() -> list[Path]:
    return [*_extra_dirs, SAMPLE_GEO_DIR]


def layer_path(name: str) -> Path:
    """The file a layer is read from (shared data first, then the shipped sample)."""
    spec = _spec(name)
    for folder in _layer_dirs():
        path = folder / spec.filename
        if path.is_file():
            return path
    raise FileNotFoundError(f"layer {name!r}: {spec.filename} not found in {', '.join(map(str, _layer_dirs()))}")


def _spec(name: str) -> LayerSpec:
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}; known: {', '.join(LAYERS)}") from None


def layer_names() -> list[str]:
    """Names of the layers whose source file is present (the 8 sample layers always are)."""
    names = []
    for name in LAYERS:
        try:
            layer_path(name)
        except FileNotFoundError:
            continue
        names.append(name)
    return names


def _clean_properties(props: dict, keep: tuple[str, ...] | None) -> dict:
    """Flatten DataV's ``parent: {adcode}`` and drop nested or GCJ-02 coordinate properties."""
    out = {}
    for key, value in props.items():
        if key == "parent" and isinstance(value, dict):
            out["parent_adcode"] = value.get("adcode")
            continue
        if isinstance(value, (dict, list)):
            continue  # center/centroid (GCJ-02 points) and acroutes: not needed for display
        out[key] = value
    if keep is not None:
        out = {k: out[k] for k in keep if k in out}
    return out


def _to_wgs84(geom, crs: str):
    if crs == "wgs84" or geom is None:
        return geom

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


def _repair(geom):
    """Make an invalid geometry valid without changing its type family (DataV has self-touching rings)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return shapely.make_valid(geom, method="structure", keep_collapsed=False)
    return shapely.make_valid(geom)


@functools.lru_cache(maxsize=32)
def _read_shapes(name: str, path: str, mtime_ns: int) -> tuple[tuple[dict, object], ...]:
    """Full-resolution WGS-84 geometries with cleaned properties (shapely geometries are immutable)."""
    spec = _spec(name)
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    shapes = []
    for feat in raw.get("features", []):
        props = _clean_properties(feat.get("properties") or {}, spec.keep_properties)
        geom = shape(feat["geometry"]) if feat.get("geometry") else None
        geom = _to_wgs84(geom, spec.crs)
        if geom is not None and not geom.is_valid:
            geom = _repair(geom)
        shapes.append((props, geom))
    return tuple(shapes)


def layer_shapes(name: str) -> tuple[tuple[dict, object], ...]:
    """``((properties, shapely geometry in WGS-84), ...)`` at full resolution, cached; READ-ONLY.

    For geometric work (point-in-polygon in :mod:`geo.admin`, river crossings); do not mutate
    the property dicts. Use :func:`load_layer` for display.
    """
    path = layer_path(name)
    return _read_shapes(name, str(path), path.stat().st_mtime_ns)


def _simplify(geoms: list, spec: LayerSpec) -> list:
    present = [i for i, g in enumerate(geoms) if g is not None]
    arr = np.array([geoms[i] for i in present], dtype=object)
    if spec.kind == "admin":
        simplified = shapely.coverage_simplify(arr, spec.tolerance)
    else:
        simplified = shapely.simplify(arr, spec.tolerance, preserve_topology=True)
    out = list(geoms)
    for i, g in zip(present, simplified, strict=True):
        out[i] = g
    return out


def _round_coords(geom):
    return shapely.transform(geom, lambda c: np.round(c, COORD_DECIMALS))


@functools.lru_cache(maxsize=32)
def _display_json(name: str, path: str, mtime_ns: int) -> str:
    spec = _spec(name)
    shapes = _read_shapes(name, path, mtime_ns)
    geoms = _simplify([g for _, g in shapes], spec)
    features = []
    for (props, _), geom in zip(shapes, geoms, strict=True):
        geometry = mapping(_round_coords(geom)) if geom is not None else None
        features.append({"type": "Feature", "properties": dict(props), "geometry": geometry})
    collection = {"type": "FeatureCollection", "name": name, "features": features}
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":"))


def load_layer_json(name: str) -> str:
    """The display layer as a compact GeoJSON string (what a web client downloads)."""
    path = layer_path(name)
    return _display_json(name, str(path), path.stat().st_mtime_ns)


def load_layer(name: str) -> dict:
    """A display layer as a GeoJSON FeatureCollection dict in WGS-84 (a fresh copy per call).

    Names: see :func:`layer_names` (provinces, bth_cities, bth_counties, beijing_districts,
    tianjin_districts, haihe_rivers, haihe_lakes, ne_rivers; hebei_cities and hebei_counties
    when the full data are present). Coordinates are simplified and rounded to 5 decimals.
    """
    return json.loads(load_layer_json(name))


def layer_bounds(name: str) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of a layer in WGS-84 degrees."""
    geoms = [g for _, g in layer_shapes(name) if g is not None and not g.is_empty]
    if not geoms:
        raise ValueError(f"layer {name!r} has no geometry")
    b = shapely.total_bounds(np.array(geoms, dtype=object))
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])
