import numpy as np
import pandas as pd

from analytics.detectors.outage import outage
from data.testing import cells, panel_of, sample_readings


def test_gap_during_episode_scores_higher_than_gap_in_clean_air():
    r, s = sample_readings()
    # 2016-12-20 is a heavy episode in Beijing; 2016-12-05 evening was clean
    def drop(df, start, hours):
        t0 = pd.Timestamp(start)
        m = (df["station_id"] == "1010A") & (df["ts"] >= t0) & (df["ts"] < t0 + pd.Timedelta(hours=hours))
        return df[~m]

    r2 = drop(drop(r, "2016-12-20 06:00", 12), "2016-12-05 20:00", 12)
    p = panel_of(r2, s)
    out = outage(p)["outage"]
    st, ts_e, pi = cells(p, "1010A", "PM2.5", "2016-12-20 06:00", 12)
    _, ts_c, _ = cells(p, "1010A", "PM2.5", "2016-12-05 20:00", 12)
    assert np.median(out[st, ts_e, pi]) > 2 * max(np.median(out[st, ts_c, pi]), 0.1)
    assert (out[np.isfinite(p.values)] == 0).all()


def test_gap_shared_by_the_network_is_discounted():
    """A gap most neighbours share at the same hours (data system down) is not one station going dark."""
    r, s = sample_readings()
    t0 = pd.Timestamp("2016-12-20 06:00")
    in_gap = (r["ts"] >= t0) & (r["ts"] < t0 + pd.Timedelta(hours=12))
    p0 = panel_of(r, s)
    st = int(np.nonzero(p0.stations["station_id"].to_numpy() == "1010A")[0][0])
    nb = [str(p0.stations["station_id"].iloc[j]) for j in p0.neighbours.index[st][:6] if j >= 0]
    alone = r[~(in_gap & (r["station_id"] == "1010A"))]
    shared = r[~(in_gap & r["station_id"].isin(["1010A", *nb]))]
    _, ts, pi = cells(p0, "1010A", "PM2.5", "2016-12-20 06:00", 12)
    pa, ps = panel_of(alone, s), panel_of(shared, s)
    out_alone = outage(pa, shared_gap_power=2.0)["outage"][st, ts, pi]
    out_shared = outage(ps, shared_gap_power=2.0)["outage"][st, ts, pi]
    out_shared_plain = outage(ps, shared_gap_power=0.0)["outage"][st, ts, pi]
    assert np.median(out_alone) > 1.0
    assert np.median(out_shared_plain) > 1.0  # the remaining neighbours still say "episode"
    assert np.median(out_shared) < 0.5 * np.median(out_shared_plain)


def test_whole_station_gap_outranks_one_missing_analyser():
    r, s = sample_readings()
    t0 = pd.Timestamp("2016-12-20 06:00")
    in_gap = (r["station_id"] == "1010A") & (r["ts"] >= t0) & (r["ts"] < t0 + pd.Timedelta(hours=12))
    whole = r[~in_gap]
    one = r[~(in_gap & (r["parameter"] == "PM2.5"))]
    st, ts, pi = cells(panel_of(whole, s), "1010A", "PM2.5", "2016-12-20 06:00", 12)
    w = outage(panel_of(whole, s), all_params_bonus=3.0)["outage"][st, ts, pi]
    o = outage(panel_of(one, s), all_params_bonus=3.0)["outage"][st, ts, pi]
    assert np.median(w) > 3 * np.median(o) > 0
