"""Display layers: WGS-84, simplified, small, valid, fresh copies, sample fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from envtrust.settings import load_settings
from geo import layers
from geo.coords import wgs84_to_gcj02
from geo.neighbours import haversine_m

SAMPLE_LAYERS = [
    "provinces", "bth_cities", "bth_counties", "beijing_districts", "tianjin_districts",
    "haihe_rivers", "haihe_lakes", "ne_rivers",
]


@pytest.fixture()
def sample_only(monkeypatch):
    """Force the shipped sample (ENVTRUST_SHARED_DATA='' means: no shared data)."""
    monkeypatch.setenv("ENVTRUST_SHARED_DATA", "")
    load_settings()


def test_layer_names_include_the_sample_layers(sample_only):
    names = layers.layer_names()
    assert names == SAMPLE_LAYERS  # hebei_* ship only with the full data


@pytest.mark.parametrize("name", SAMPLE_LAYERS)
def test_layer_is_small_valid_rounded_geojson(sample_only, name):
    text = layers.load_layer_json(name)
    assert len(text.encode()) < 500_000
    fc = json.loads(text)
    assert fc["type"] == "FeatureCollection" and fc["features"]
    for feat in fc["features"]:
        geom = feat["geometry"]
        assert geom is not None
        g = shape(geom)
        assert g.is_valid and not g.is_empty
        coords = shapely.get_coordinates(g)
        # rounded to 5 decimals
        assert abs(coords * 1e5 - (coords * 1e5).round()).max() < 1e-6
        assert (coords[:, 0] > 60).all() and (coords[:, 0] < 141).all()


def test_load_layer_returns_fresh_copies(sample_only):
    a = layers.load_layer("beijing_districts")
    a["features"].clear()
    b = layers.load_layer("beijing_districts")
    assert len(b["features"]) == 16


def test_datav_layer_is_converted_to_wgs84(sample_only):
    """DataV Beijing districts (GCJ-02 source) must line up with the Tianditu WGS-84 counties.

    Measured on the sample: converted centroids are 10-260 m (median ~75 m) from Tianditu's (two
    independent surveys and simplifications), the raw GCJ-02 ones 380-800 m (median ~560 m).
    """
    conv = {f["properties"]["name"]: shape(f["geometry"]).centroid
            for f in layers.load_layer("beijing_districts")["features"]}
    raw_fc = json.loads(layers.layer_path("beijing_districts").read_text(encoding="utf-8"))
    raw = {f["properties"]["name"]: shape(f["geometry"]).centroid for f in raw_fc["features"]}
    td = {f["properties"]["district_name"]: shape(f["geometry"]).centroid
          for f in layers.load_layer("bth_counties")["features"]
          if str(f["properties"]["province_adcode"]) == "110000"}
    assert set(conv) == set(td) == set(raw)
    d_conv = np.array([haversine_m(conv[n].x, conv[n].y, td[n].x, td[n].y) for n in td])
    d_raw = np.array([haversine_m(raw[n].x, raw[n].y, td[n].x, td[n].y) for n in td])
    assert np.median(d_conv) < 150 and d_conv.max() < 350
    assert np.median(d_raw) > 400
    assert (d_conv < d_raw).all()


def test_known_point_falls_in_its_province(sample_only):
    """Tiananmen (WGS-84 116.3975, 39.9087) is in Beijing; Shanghai's Bund in Shanghai."""
    provinces = layers.load_layer("provinces")["features"]

    def province_of(lon, lat):
        p = Point(lon, lat)
        return [f["properties"]["name"] for f in provinces if shape(f["geometry"]).contains(p)]

    assert province_of(116.3975, 39.9087) == ["北京市"]
    assert province_of(121.4906, 31.2397) == ["上海市"]


def test_properties_are_flat_and_datav_extras_dropped(sample_only):
    feat = layers.load_layer("provinces")["features"][0]
    props = feat["properties"]
    assert "center" not in props and "acroutes" not in props
    assert props["parent_adcode"] == 100000
    assert set(props) <= {"adcode", "name", "level", "childrenNum", "parent_adcode", "city_adcode"}


def test_layer_bounds_cover_beijing(sample_only):
    lon_min, lat_min, lon_max, lat_max = layers.layer_bounds("bth_cities")
    assert lon_min < 116.4 < lon_max and lat_min < 39.9 < lat_max


def test_unknown_layer_names_the_known_ones():
    with pytest.raises(KeyError, match="provinces"):
        layers.load_layer("nope")


def test_gcj_sanity_forward_offset_direction():
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert lon > 116.4 and lat > 39.9


def test_full_data_layers_when_present(tmp_path, monkeypatch):
    """With ENVTRUST_SHARED_DATA pointing at a folder holding geo/hebei_counties*, that layer is
    listed and converted; files missing there fall back to the sample."""
    shared = tmp_path / "shared"
    (shared / "geo").mkdir(parents=True)
    src = layers.layer_path("beijing_districts")  # any GCJ-02 DataV file will do as a stand-in
    (shared / "geo" / "hebei_counties_datav_gcj02.geojson").write_bytes(src.read_bytes())
    monkeypatch.setenv("ENVTRUST_SHARED_DATA", str(shared))
    load_settings()
    assert "hebei_counties" in layers.layer_names()
    assert layers.layer_path("hebei_counties").parent == shared / "geo"
    assert layers.layer_path("provinces").parent.name == "geo"  # sample fallback
    fc = layers.load_layer("hebei_counties")
    assert len(fc["features"]) == 16
