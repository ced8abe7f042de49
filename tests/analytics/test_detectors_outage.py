import numpy as np
import pandas as pd

from analytics.detectors.outage import outage
from analytics.detectors.testing import cells, panel_of, sample_readings


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
