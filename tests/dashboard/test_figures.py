"""Pure figure builders and the i18n table (no store, no browser)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics import profiles
from analytics.standards.aqi import AQI_LEVELS
from dashboard import i18n
from dashboard.figures.analysis import calendar_figure, polar_figure, profiles_figure, scatter_figure
from dashboard.figures.colours import SUSPICION_COLOUR, aqi_colour, water_colour
from dashboard.figures.situation_map import ALL_LAYERS, situation_map, view_for
from dashboard.figures.station import neighbour_map, series_figure


def status_frame() -> pd.DataFrame:
    """A station_status-shaped frame with one station of each kind."""
    rows = [
        dict(station_id="A1", name="东四", kind="air_station", lon=116.41, lat=39.93, aqi=160.0, aqi_level=4.0,
             primary_pollutant="PM2.5", suspicion=0.9, n_events=2),
        dict(station_id="A2", name="天坛", kind="air_station", lon=116.40, lat=39.88, aqi=np.nan, aqi_level=np.nan,
             suspicion=0.0, n_events=0),
        dict(station_id="M1", name="微站", kind="air_micro", lon=116.42, lat=39.93, aqi=40.0, aqi_level=1.0,
             suspicion=0.0, n_events=0),
        dict(station_id="W1", name="古北口", kind="water_section", lon=117.15, lat=40.69, water_class=3.0,
             section_role="inbound", flow_bearing_deg=180.0, river="潮河", suspicion=0.0, n_events=0),
        dict(station_id="P1", name="排口", kind="polluter_outlet", lon=116.55, lat=39.88, limit_ratio=2.0,
             exceedance=True, worst_parameter="flue_SO2", enterprise="某厂", suspicion=0.3, n_events=1),
    ]
    df = pd.DataFrame(rows)
    df["exceedance"] = df["exceedance"].fillna(False).astype(bool)
    return df


def test_situation_map_is_offline_with_our_layers():
    fig = situation_map(status_frame(), lang="zh")
    assert fig.layout.map.style == "white-bg"
    sources = [layer.source for layer in fig.layout.map.layers]
    assert len(sources) >= 2 and all(isinstance(s, dict) and s["type"] == "FeatureCollection" for s in sources)
    assert all(tr.type == "scattermap" for tr in fig.data)
    assert not any("text" in (tr.mode or "") for tr in fig.data)  # no map text labels (glyph server)


def test_situation_map_colours_and_click_ids():
    fig = situation_map(status_frame(), lang="en")
    by_name = {tr.name: tr for tr in fig.data}
    air4 = by_name["Air stations · Moderately polluted"]
    assert air4.marker.color == AQI_LEVELS[4].colour_hex and [c[0] for c in air4.customdata] == ["A1"]
    assert by_name["Water sections · Class III"].marker.color == water_colour(3)
    assert by_name["Polluter outlets · Exceeding"].customdata[0][0] == "P1"
    ring = by_name["Integrity in doubt"]
    assert ring.marker.color == SUSPICION_COLOUR and {c[0] for c in ring.customdata} == {"A1", "P1"}
    sizes = dict(zip([c[0] for c in ring.customdata], ring.marker.size, strict=True))
    assert sizes["A1"] > sizes["P1"]  # ring grows with the suspicion score
    arrow = by_name["Inbound section · Flow direction"]
    assert arrow.mode == "lines" and min(v for v in arrow.lat if v is not None) < 40.69  # flows south (180 deg)


def test_situation_map_layers_switch_off():
    fig = situation_map(status_frame(), layers=["air_station"], lang="zh")
    assert not fig.layout.map.layers
    kinds = {tr.legendgroup for tr in fig.data}
    assert kinds == {"air_station"}


def test_amap_basemap_shifts_points_to_gcj02():
    from geo.coords import wgs84_to_gcj02

    fig = situation_map(status_frame(), layers=["air_micro", "boundaries"], basemap="amap")
    tr = fig.data[0]
    lon, lat = wgs84_to_gcj02(116.42, 39.93)
    assert tr.lon[0] == pytest.approx(lon) and tr.lat[0] == pytest.approx(lat)
    assert fig.layout.map.layers[0].sourcetype == "raster"
    with pytest.raises(ValueError, match="basemap"):
        situation_map(status_frame(), basemap="google")


def test_view_for_fits_points():
    center, zoom = view_for(pd.Series([116.0, 117.0]), pd.Series([39.0, 40.0]))
    assert center == {"lon": 116.5, "lat": 39.5} and 6 < zoom < 9


def series_frames():
    ts = pd.date_range("2017-01-01", periods=48, freq="h")
    own = pd.DataFrame({"station_id": "A1", "ts": ts, "parameter": "PM2.5", "value": np.arange(48.0), "flag": "N"})
    own.loc[5, "flag"] = "M"
    nb = own.assign(station_id="A2", value=own["value"] + 1, flag="N")
    contrib = pd.DataFrame({"ts": list(ts) * 2, "parameter": "PM2.5", "model": ["ensemble"] * 48 + ["spatial"] * 48,
                            "score": np.linspace(0, 1, 96)})
    return ts, own, nb, contrib


def test_series_figure_shades_overlays_and_flags():
    ts, own, nb, contrib = series_frames()
    fig = series_figure(own, ["PM2.5"], "zh", nb, {"A2": "天坛"}, contrib, (ts[10], ts[20]), "东四")
    names = [tr.name for tr in fig.data]
    assert "天坛" in names and "东四" in names and "ensemble" in names and "spatial" in names
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 3  # one shade per panel
    flags = [tr for tr in fig.data if tr.name and tr.name.endswith(" M")]
    assert len(flags) == 1 and list(flags[0].y) == ["PM2.5"]


def test_series_figure_without_data_says_so():
    fig = series_figure(pd.DataFrame(columns=["station_id", "ts", "parameter", "value", "flag"]), ["PM2.5"], "en")
    assert fig.layout.annotations[0].text == "No data"


def test_neighbour_map_marks_the_station():
    me = {"station_id": "A1", "name": "东四", "lon": 116.41, "lat": 39.93}
    nbrs = pd.DataFrame({"station_id": ["A2"], "name": ["天坛"], "lon": [116.40], "lat": [39.88]})
    fig = neighbour_map(me, nbrs, pd.DataFrame({"station_id": ["A1", "A2"], "value": [10.0, 80.0]}), "PM2.5")
    assert fig.layout.map.style == "white-bg"
    assert [c[0] for c in fig.data[0].customdata] == ["A1", "A2"] and list(fig.data[0].marker.color) == [10.0, 80.0]


def test_analysis_figures_from_profiles():
    ts = pd.date_range("2017-01-02", periods=24 * 14, freq="h")
    df = pd.DataFrame({"ts": ts, "value": ts.hour.to_numpy(dtype=float), "WS": 2.5,
                       "WD": np.tile([0.0, 90.0, 180.0, 270.0], len(ts) // 4)})
    fig = profiles_figure(profiles.diurnal_profile(df), profiles.weekly_profile(df), "PM2.5", "zh")
    assert list(fig.data[2].y) == list(range(24))
    cal = calendar_figure(profiles.calendar_daily_means(df), "PM2.5", "en")
    assert np.asarray(cal.data[0].z).shape == (7, 2) and cal.data[0].y[0] == "Mon"
    polar = polar_figure(profiles.polar_bins(df, value="value"), "PM2.5")
    assert sorted(polar.data[0].theta) == [0.0, 90.0, 180.0, 270.0]
    pairs = profiles.paired_values(df, df.assign(value=df["value"] * 2))
    sc = scatter_figure(pairs, profiles.linear_fit(pairs), "天坛", "东四", "PM2.5", "en")
    assert "y=2.00x" in sc.data[-1].name


def test_empty_analysis_figures_explain():
    assert polar_figure(pd.DataFrame(columns=["wd_center_deg", "ws_low_m_s", "ws_high_m_s", "mean", "n"]),
                        "PM2.5", "en").layout.annotations[0].text == i18n.t("no_wind", "en")


def test_figures_are_json_serialisable():
    json.dumps(situation_map(status_frame()).to_plotly_json(), default=str)


def test_colours_follow_the_standards():
    assert aqi_colour(1) == "#00E400" and aqi_colour(None) == aqi_colour(float("nan"))
    assert water_colour(6) != water_colour(1)


def test_i18n_has_both_languages_and_defaults_to_chinese():
    for key in i18n.text_keys():
        zh, en = i18n.t(key, "zh"), i18n.t(key, "en")
        assert zh and en
    assert i18n.t("nav_situation") == "态势一张图" and i18n.t("nav_situation", "fr") == "态势一张图"
    assert i18n.aqi_level_name(3, "zh") == "轻度污染" and i18n.water_class_name(6, "en") == "Worse than V"
    assert i18n.kind_name("suppression", "en") == "Suppression" and i18n.kind_name("new_kind") == "new_kind"
    assert i18n.station_label("东四", "Dongsi", "1003A", "en") == "东四 (Dongsi)"
    assert i18n.station_label("东四", "Dongsi", "1003A", "zh") == "东四"
    with pytest.raises(KeyError):
        i18n.t("no_such_key")


def test_every_layer_has_a_label():
    for name in ALL_LAYERS:
        assert i18n.t(f"layer_{name}", "en")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_air_hover_fast_path_gives_the_per_row_text(lang):
    from dashboard.figures import situation_map as sm

    air = status_frame()
    air = air[air["kind"].isin(["air_station", "air_micro"])]
    per_row = [sm._hover(row, lang) for row in air.to_dict("records")]
    assert sm._hover_texts(air, lang) == per_row
    assert "PM2.5" in per_row[0] and "0.90 (2)" in per_row[0]  # primary pollutant and suspicion shown
    assert per_row[1].endswith(i18n.t("no_data", lang))
