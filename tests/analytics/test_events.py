import numpy as np

from analytics.events import segments, summarise


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
