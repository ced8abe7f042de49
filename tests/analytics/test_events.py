import numpy as np

from analytics.events import repeated_day_hours, roughness_ratio, segments, summarise


def test_segments_bridge_short_gaps_and_need_a_peak():
    low = np.array([[1, 1, 0, 1, 0, 0, 0, 0, 1, 1]], dtype=bool)
    high = np.array([[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=bool)
    assert segments(low, high, merge_gap_h=1, min_hours=1) == [(0, 0, 3)]
    assert segments(low, high, merge_gap_h=0, min_hours=1) == [(0, 0, 1)]


def test_summary_is_bilingual_and_says_how_far_off():
    s = summarise("Dongsi", "suppression", ["PM2.5", "PM10"], 12, {"PM2.5": -62.0}, "东四")
    assert "Dongsi: PM2.5 -62% vs neighbours" in s and "12 h" in s
    assert "东四" in s and "偏低62%" in s and "持续12小时" in s


def test_events_carry_evidence():
    import pandas as pd

    from analytics.pipeline import score_partition
    from data.testing import sample_readings, set_values

    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-16"]
    r = set_values(r, "1009A", "PM2.5", "2016-12-10 10:00", 1, lambda v: v * 0 + 1500.0)
    ev = score_partition(r, s, "default").events
    hit = ev[(ev["station_id"] == "1009A") & (ev["start"] <= pd.Timestamp("2016-12-10 10:00"))
             & (ev["end"] >= pd.Timestamp("2016-12-10 10:00"))]
    assert len(hit) == 1
    e = hit.iloc[0]
    assert e["kind"] == "spike"
    assert "PM2.5" in e["parameters"]
    assert e["evidence"]["models"] and e["evidence"]["neighbours"]
    assert e["evidence"]["deviation_pct_vs_neighbours"]["PM2.5"] > 100


def test_absent_rows_gap_keeps_its_rank_inside_an_event_of_another_kind():
    """Rows removed during an episode inside an event whose kind (by mass) is not outage: the gap's
    own outage evidence still ranks the event like a run peak (the gap has no reading of its own)."""
    import pandas as pd

    from analytics.events import EventSettings, build_events
    from analytics.pipeline import load_pipeline, run_models
    from data.testing import sample_readings

    r, s = sample_readings()
    t0 = pd.Timestamp("2016-12-20 06:00")
    gap = (r["station_id"] == "1010A") & (r["ts"] >= t0) & (r["ts"] < t0 + pd.Timedelta(hours=6))
    panel, _, _, _ = run_models(r[~gap], s, load_pipeline("default"))
    st = int(np.nonzero(panel.stations["station_id"].to_numpy() == "1010A")[0][0])
    a = int((t0 - panel.times[0]) / pd.Timedelta(hours=1))
    shape = panel.shape
    outage = np.zeros(shape)
    outage[st, a:a + 6, :] = 5.0  # the gap (absent rows)
    other = np.zeros(shape)
    other[st, a - 24:a + 30, 0] = 6.0  # a day-long run of another kind around it carries more mass
    combined = np.maximum(outage, other)
    settings = EventSettings(threshold=5.0, low_ratio=0.75, merge_gap_h=3, min_hours=1,
                             model_thresholds={"outage": 4.0})

    def events(model_thresholds):
        st_ = EventSettings(**{**settings.__dict__, "model_thresholds": model_thresholds})
        ev = build_events(panel, combined, combined, {"outage": outage, "other": other},
                          {"outage": "outage", "other": "drift"}, st_, score_of=lambda x: x, peak_bonus=5.0)
        return ev[ev["kind"] != "data_gap"]  # the sample's own gaps are data-completeness alarms

    with_gap = events({"outage": 4.0})
    assert len(with_gap) == 1 and with_gap.iloc[0]["kind"] == "drift"
    assert with_gap.iloc[0]["score"] == 6.0 + 5.0  # peak + run-peak bonus
    # a gap too weak to open an event alone lends nothing: the lower quartile of the hot hours
    assert events({"outage": 9.0}).iloc[0]["score"] < 6.0 + 5.0


def test_summary_words_a_kind_as_it_happens_in_its_network():
    """Suppression at an air station is spraying or a blocked inlet; at a water section it is a diluted
    sample or a tampered sample line - the analyst reads the one that can have happened there."""
    from analytics.events import summarise

    air = summarise("Dongsi", "suppression", ["PM2.5"], 5, {"PM2.5": -60.0})
    water = summarise("S-01", "suppression", ["NH3-N"], 5, {"NH3-N": -60.0}, network="water")
    assert "spraying" in air and "喷淋" in air
    assert "dilution" in water and "稀释" in water and "spraying" not in water
    assert summarise("S-01", "spike", ["TP"], 1, {}, network="water") == summarise("S-01", "spike", ["TP"], 1, {})


def test_an_event_no_single_cell_carries_names_its_strongest_cells_never_a_context_parameter():
    """Events opened by a persistent signal (every cell under the keep-open level) are described by
    their strongest quarter of cells; a parameter with no surprise (context, e.g. water_temp) never
    shows up in the event's parameters."""
    from analytics.events import strongest_cells

    sl = np.array([[1.0, 0.2, 0.0], [1.5, 0.1, 0.0], [0.9, 1.2, 0.0], [0.3, 0.2, 0.0]])  # hours x params
    hot = strongest_cells(sl)
    assert hot[:, 2].sum() == 0  # the context parameter
    assert hot[1, 0] and hot[2, 1] and not hot[3, 1]
    assert strongest_cells(np.zeros((3, 2))).all()  # nothing positive: the whole event


# every kind's summary states the numbers that support it, in both languages (issue 10 item 5)

def _halves(s: str) -> tuple[str, str]:
    en, zh = s.split(" | ")
    return en, zh


def test_an_outage_summary_gives_the_neighbours_level_not_a_gas_deviation():
    """The predecessor's example read "CO较邻站偏低12% ... 高值时段数据缺失": the CO figure is noise. An
    outage's evidence is how high the neighbours read during the gap."""
    s = summarise("Dongsi", "outage", ["PM2.5", "CO"], 9, {"CO": -12.0}, "东四",
                  figures={"z": 3.4, "pm25": 186.0})
    en, zh = _halves(s)
    assert "-12%" not in s and "偏低12%" not in s
    assert "neighbours put PM2.5 at about 186 ug/m3 (+3.4 robust scales" in en and "for 9 h" in en
    assert "邻站推算PM2.5约186微克/立方米（相对本站常态+3.4个稳健标准差）" in zh and "持续9小时" in zh


def test_a_data_gap_event_summary_gives_the_neighbours_level():
    en, zh = _halves(summarise("Dongsi", "data_gap", ["CO"], 7, {"CO": -5.0}, "东四", figures={"z": 0.3}))
    assert "neighbours read +0.3 robust scales" in en and "-5%" not in en and "常态+0.3个稳健标准差" in zh


def test_a_copied_record_summary_says_what_was_copied():
    """The predecessor's example "长江 安徽-江苏界：TN，持续23小时" had no numbers at all."""
    figures = {"parameter": "TN", "repeat_hours": 20, "repeat_lag_days": 7, "hours_with_value": 23,
               "repeat_share": 0.87}
    en, zh = _halves(summarise("Yangtze AH-JS", "fabrication", ["TN"], 23, {}, "长江 安徽-江苏界", "water", figures))
    assert "TN: 20 of 23 h repeat the values of 7 days earlier (87%)" in en
    assert "TN：23小时中20小时与7天前同时段数值相同（87%）" in zh and "持续23小时" in zh


def test_a_smoothed_record_summary_gives_its_roughness():
    """The demo's copied-looking water record is hand smoothing (donor_smooth): few hours repeat a day."""
    figures = {"parameter": "TN", "repeat_hours": 2, "repeat_lag_days": 4, "hours_with_value": 23,
               "repeat_share": 0.09, "roughness_ratio": 0.06}
    en, zh = _halves(summarise("Yangtze AH-JS", "fabrication", ["TN"], 23, {}, "长江 安徽-江苏界", "water", figures))
    assert "TN hour-to-hour variation 6% of its usual" in en and "TN逐时波动仅为本站常态的6%" in zh


def test_roughness_ratio_sees_a_smoothed_stretch():
    rng = np.random.default_rng(2)
    series = rng.normal(10, 1, 200)
    series[100:124] = np.linspace(10, 11, 24)
    assert roughness_ratio(series, 100, 123) < 0.1
    assert 0.7 < roughness_ratio(series, 20, 43) < 1.4


def test_a_flatline_summary_gives_the_held_value():
    en, zh = _halves(summarise("Dongsi", "flatline", ["SO2"], 30, {}, "东四",
                               figures={"parameter": "SO2", "held_value": 8.0}))
    assert "SO2 held at 8 (SO2) for 30 h" in en and "SO2恒定在8（SO2）" in zh


def test_a_flag_abuse_summary_gives_the_flagged_share():
    en, zh = _halves(summarise("Out-1", "flag_abuse", ["flue_SO2"], 12, {"flue_SO2": 40.0}, None, "polluter",
                               figures={"suspect_flag_share": 0.75}))
    assert "75% of the event's readings under maintenance/fault flags" in en and "75%的读数带维护/故障标记" in zh


def test_deviation_kinds_state_the_deviation():
    for kind in ("suppression", "spike", "drift", "clipping"):
        en, zh = _halves(summarise("Dongsi", kind, ["PM2.5"], 5, {"PM2.5": 48.0}, "东四"))
        assert "PM2.5 +48% vs neighbours" in en and "偏高48%" in zh, kind


def test_repeated_day_hours_finds_the_copied_day():
    rng = np.random.default_rng(1)
    series = rng.normal(10, 2, 24 * 10).round(1)
    series[24 * 9: 24 * 9 + 20] = series[24 * 6: 24 * 6 + 20]  # 20 hours copied from 3 days earlier
    assert repeated_day_hours(series, 24 * 9, 24 * 9 + 22, 0.05) == (20, 3, 23)
    assert repeated_day_hours(series, 24 * 8, 24 * 8 + 22, 0.05)[0] <= 1  # a day nobody copied


def test_without_neighbours_a_summary_gives_the_stations_own_level():
    """An outlet has no neighbours: its clipping or spike reads against its own hours around it."""
    en, zh = _halves(summarise("Out-1", "clipping", ["flue_SO2", "flue_O2"], 38, {}, None, "polluter",
                               figures={"own_level": {"flue_SO2": 110.42, "flue_O2": -0.05}}))
    assert "flue_SO2 +110 against the station's own level" in en and "flue_SO2较本站常态偏高110" in zh


def test_a_suppression_quotes_the_particulate_drop_not_a_gas_rise():
    """The sample demo's 临潼区 event read "O3 +1014% vs neighbours ... suspected suppression": its
    PM2.5 and PM10 were 44% and 56% below the neighbours, its O3 high beside a night-time 6 ug/m3."""
    deviation = {"PM2.5": -44.3, "PM10": -55.8, "O3": 1013.8}
    en, zh = _halves(summarise("Lintong", "suppression", ["PM2.5", "PM10", "O3"], 8, deviation, "临潼区"))
    assert "PM10 -56% vs neighbours" in en and "O3 +" not in en
    assert "PM10较邻站偏低56%" in zh


def test_a_spike_quotes_a_rise_and_a_clipping_a_drop():
    deviation = {"NO2": -30.0, "CO": 12.0}
    assert "CO +12% vs neighbours" in _halves(summarise("Dongsi", "spike", ["NO2", "CO"], 2, deviation))[0]
    assert "NO2 -30% vs neighbours" in _halves(summarise("Dongsi", "clipping", ["NO2", "CO"], 2, deviation))[0]


def test_an_impossible_value_spike_says_the_component_exceeds_its_total():
    """An NH3-N above its TN needs no neighbour: "TN -21% vs neighbours" said nothing of it."""
    figures = {"component": "NH3-N", "total": "TN", "component_value": 2.6, "total_value": 1.96}
    en, zh = _halves(summarise("S-04", "spike", ["NH3-N", "TN"], 1, {"TN": -20.6}, "南运河", "water", figures))
    assert "NH3-N 2.6 above its total TN 1.96" in en and "-21%" not in en
    assert "NH3-N(2.6)高于其总量TN(1.96)" in zh


def test_a_smoothing_needs_a_measurable_roughness_or_a_copy():
    from analytics.detectors.donor import PAIR_COPY
    from analytics.events import fabrication_supported

    smooth = {"parameter": "NO2", "repeat_share": 0.1, "roughness_ratio": 0.2}
    only_resolution = {"parameter": "CO", "repeat_share": 0.33, "roughness_ratio": None}
    assert fabrication_supported(smooth, {})
    assert not fabrication_supported(only_resolution, {"spatial_high": 2.97})
    assert not fabrication_supported({**smooth, "roughness_ratio": 0.8}, {})
    assert fabrication_supported(only_resolution, {"donor_copy": 3.1})
    assert fabrication_supported(only_resolution, {}, opened_by=PAIR_COPY)
    assert fabrication_supported({"repeat_share": 0.87, "roughness_ratio": None}, {})
