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

    from analytics.detectors.testing import sample_readings, set_values
    from analytics.pipeline import score_partition

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
