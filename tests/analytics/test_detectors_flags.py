import numpy as np
import pandas as pd

from analytics.detectors.base import build_panel, validate_readings, validate_stations
from analytics.detectors.flags import flags


def _cems(n_hours=500, flagged=()):
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=n_hours, freq="h")
    rows = []
    for st in ("P1", "P2", "P3"):
        base = 20 + 5 * np.sin(np.arange(n_hours) / 24 * 2 * np.pi) + rng.normal(0, 1, n_hours)
        flag = np.array(["N"] * n_hours, dtype=object)
        if st == "P1":
            for a, b in flagged:
                base[a:b] *= 2.5
                flag[a:b] = "M"
        rows.append(pd.DataFrame({"station_id": st, "ts": ts, "parameter": "flue_SO2", "value": base, "flag": flag}))
    stations = pd.DataFrame({"station_id": ["P1", "P2", "P3"], "kind": "polluter_outlet",
                             "lon": [116.0, 116.1, 116.2], "lat": [39.9, 39.9, 39.9]})
    return pd.concat(rows, ignore_index=True), stations


def _panel(r, s):
    st = validate_stations(s)
    return build_panel(validate_readings(r, st), st)[0]


def test_flags_on_high_load_score_higher_than_routine_maintenance():
    r, s = _cems(flagged=[(100, 106), (300, 303)])
    p = _panel(r, s)
    out = flags(p)["flag_abuse"]
    assert (out[0, 100:106, 0] > 1.5).all()
    assert (out[1:] == 0).all()
    assert (out[0, :100] == 0).all()


def test_no_flags_no_evidence():
    r, s = _cems()
    assert flags(_panel(r, s))["flag_abuse"].max() == 0
