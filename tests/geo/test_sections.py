"""Water sections computed from real river and boundary geometry."""

from __future__ import annotations

import pandas as pd
import pytest
from shapely.geometry import LineString, Point, shape

from geo.layers import load_layer
from geo.sections import (
    SECTION_LAYERS,
    bearing_deg,
    compute_sections,
    orient_network,
    river_arcs,
)

M_PER_DEG = 111_195.0


@pytest.fixture(scope="module")
def layers() -> dict:
    return {name: load_layer(name) for name in SECTION_LAYERS}


@pytest.fixture(scope="module")
def sections(layers) -> pd.DataFrame:
    return compute_sections(layers["haihe_rivers"], layers["haihe_lakes"], layers["bth_cities"],
                            layers["provinces"], layers["ne_rivers"])


def _beijing(layers):
    return next(shape(f["geometry"]) for f in layers["bth_cities"]["features"]
                if str(f["properties"]["city_adcode"]) == "110000")


def _river_lines(layers) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in layers["haihe_rivers"]["features"]:
        out.setdefault(f["properties"]["name_main_zh"], []).append(shape(f["geometry"]))
    for f in layers["ne_rivers"]["features"]:
        zh = {"Huang": "黄河", "Chang Jiang": "长江", "Yangtze": "长江"}.get(f["properties"]["name"])
        if zh:
            out.setdefault(zh, []).append(shape(f["geometry"]))
    return out


def test_bearing_deg():
    assert bearing_deg(116.0, 39.0, 116.0, 40.0) == pytest.approx(0.0)
    assert bearing_deg(116.0, 39.0, 117.0, 39.0) == pytest.approx(90.0, abs=0.5)
    assert bearing_deg(116.0, 39.0, 116.0, 38.0) == pytest.approx(180.0)


def test_every_section_lies_on_its_river(sections, layers):
    lines = _river_lines(layers)
    for _, s in sections.iterrows():
        d_deg = min(line.distance(Point(s.lon, s.lat)) for line in lines[s.river])
        assert d_deg * M_PER_DEG < 50.0, (s.station_id, s["name"], d_deg * M_PER_DEG)


def test_beijing_inbound_and_outbound_sections(sections, layers):
    bj = sections[sections["name"].str.contains("京")]
    yd = bj[bj.river == "永定河"]
    assert {"inbound", "outbound"} <= set(yd.section_role)
    assert "outbound" in set(bj[bj.river == "北运河"].section_role)
    beijing = _beijing(layers)
    # each Beijing section sits on Beijing's side of the border, on the river
    assert all(beijing.contains(Point(x, y)) for x, y in zip(bj.lon, bj.lat, strict=True))
    # the Beiyun leaves Beijing towards the south-east (Tianjin, the sea)
    by = bj[(bj.river == "北运河") & (bj.section_role == "outbound")]
    assert ((by.flow_bearing_deg > 90) & (by.flow_bearing_deg < 270)).all()
    assert (bj["name"].str.endswith("(入境)") == (bj.section_role == "inbound")).all()


def test_roles_names_and_ids(sections):
    assert sections["station_id"].is_unique
    assert sections["station_id"].str.match(r"^W-\d{4}$").all()
    assert set(sections.section_role) <= {"inbound", "outbound", "control", "drinking_source"}
    assert (sections.kind == "water_section").all()
    assert sections.flow_bearing_deg.between(0, 360).all()
    assert {"黄河", "长江"} <= set(sections.river)          # nationwide Natural Earth rivers
    assert (sections.section_role == "control").sum() >= 5


def test_drinking_sources_at_guanting_and_panjiakou(sections, layers):
    ds = sections[sections.section_role == "drinking_source"]
    assert {n.split(" ")[0] for n in ds["name"]} == {"官厅水库", "潘家口水库"}
    lakes = {f["properties"]["identified_as"].split(" ")[0]: shape(f["geometry"])
             for f in layers["haihe_lakes"]["features"] if f["properties"].get("identified_as")}
    for _, s in ds.iterrows():
        assert lakes[s["name"].split(" ")[0]].distance(Point(s.lon, s.lat)) * M_PER_DEG < 1000
    assert (ds.waterbody_type == "lake").all()


def test_upstream_links_point_upstream_on_the_same_river(sections):
    idx = sections.set_index("station_id")
    linked = sections[sections.upstream_station.notna()]
    assert len(linked) > len(sections) / 2
    for _, s in linked.iterrows():
        up = idx.loc[s.upstream_station]
        assert up.river == s.river
        assert up.km_to_mouth > s.km_to_mouth
        # along the river path; never shorter than the difference of shortest distances to the mouth
        assert s.reach_km >= up.km_to_mouth - s.km_to_mouth - 1.0


def test_network_orientation_follows_the_river_not_the_straight_line(layers):
    arcs = orient_network(river_arcs(layers["haihe_rivers"], "name_main_zh",
                                     {"滦河": "滦河", "闪电河": "闪电河", "海河": "海河"}))
    # the Shandian He flows NORTH (away from the sea) into the Luan: a per-arc distance-to-sea rule fails here
    sd = [a for a in arcs if a.river == "闪电河"]
    assert sd and all(a.line.coords[-1][1] > a.line.coords[0][1] for a in sd)
    # the Hai He ends at the Bohai coast near Tanggu
    hai_ends = [a.line.coords[-1] for a in arcs if a.river == "海河"]
    assert min(abs(x - 117.7) + abs(y - 38.98) for x, y in hai_ends) < 0.1


def test_orient_network_on_a_toy_river():
    a = LineString([(118.0, 40.0), (118.5, 39.8)])      # drawn downstream
    b = LineString([(119.2, 39.5), (118.5, 39.8)])      # drawn upstream (ends at the junction)
    arcs = orient_network(river_arcs({"features": [
        {"type": "Feature", "properties": {"n": "x"}, "geometry": a.__geo_interface__},
        {"type": "Feature", "properties": {"n": "x"}, "geometry": b.__geo_interface__}]}, "n"),
        coast=((119.3, 39.45),))
    assert arcs[0].line.coords[0] == (118.0, 40.0)
    assert arcs[1].line.coords[-1] == (119.2, 39.5)


def test_deterministic(sections, layers):
    again = compute_sections(layers["haihe_rivers"], layers["haihe_lakes"], layers["bth_cities"],
                             layers["provinces"], layers["ne_rivers"])
    pd.testing.assert_frame_equal(sections, again)


def test_demo_sections_get_admin_codes():
    from geo.sections import demo_sections

    s = demo_sections()
    bj = s[s["name"].str.contains("京")]
    assert (bj["province_code"].astype(str).str.startswith("11")).all()
    control = s[s.section_role == "control"]
    assert control["name"].str.endswith("控制断面").all()
