from dataclasses import replace

import numpy as np
import pandas as pd

from analytics.detectors.iforest import iforest
from data.testing import cells, panel_of, sample_readings, set_values


def test_isolation_forest_isolates_inconsistent_pollutant_mix():
    r, s = sample_readings()
    clean = iforest(panel_of(r, s))["iforest"]
    r2 = set_values(r, "1005A", "CO", "2016-12-27 10:00", 3, lambda v: v * 0 + 12.0)
    r2 = set_values(r2, "1005A", "PM2.5", "2016-12-27 10:00", 3, lambda v: v * 0 + 3.0)
    p = panel_of(r2, s)
    st, ts, pi = cells(p, "1005A", "CO", "2016-12-27 10:00", 3)
    hit = iforest(p)["iforest"][st, ts, pi]
    assert np.median(hit) > np.quantile(clean[clean > 0], 0.99)


def test_deterministic():
    r, s = sample_readings()
    a = iforest(panel_of(r, s))["iforest"]
    b = iforest(panel_of(r, s))["iforest"]
    np.testing.assert_array_equal(a, b)


def test_kept_forest_scores_as_scikit_learn_bit_for_bit():
    from sklearn.ensemble import IsolationForest

    from analytics.detectors.iforest import compact_forest, forest_anomaly, forest_from_bytes, forest_to_bytes

    rng = np.random.default_rng(3)
    for n, max_samples in ((300, 256), (60, 256), (1000, 128)):
        X = rng.normal(size=(n, 9))
        X[:, 3] = np.round(X[:, 3])  # ties: thresholds between equal float32 values
        X[: n // 10, 5] = 0.0
        model = IsolationForest(n_estimators=50, max_samples=min(max_samples, n), random_state=1, n_jobs=1).fit(X)
        names = tuple(f"f{i}" for i in range(9))
        kept = compact_forest(model, names, np.zeros(5), np.ones(5), pd.Timestamp("2017-01-01"),
                              pd.Timestamp("2017-01-02"), n)
        new = np.concatenate([X[:40], rng.normal(scale=3.0, size=(40, 9))])
        expected = -model.score_samples(new)
        np.testing.assert_array_equal(forest_anomaly(kept, new), expected)
        back = forest_from_bytes(forest_to_bytes(kept))  # stored as plain arrays, no pickle
        np.testing.assert_array_equal(forest_anomaly(back, new), expected)
        assert (back.features, back.fit_to, back.rows) == (names, kept.fit_to, n)


def test_a_kept_forest_is_applied_instead_of_a_refit(monkeypatch):
    from analytics.detectors import iforest as module

    r, s = sample_readings()
    first = panel_of(r, s)
    fitted_scores = iforest(first)["iforest"]
    forests = first.cache[module.FITTED_FORESTS]
    assert len(forests) == first.shape[0]

    fits = []
    real_fit = module.IsolationForest.fit
    monkeypatch.setattr(module.IsolationForest, "fit", lambda self, X, *a, **k: fits.append(len(X)) or real_fit(self, X))
    again = panel_of(r, s)
    again.cache[module.KEPT_FORESTS] = forests
    np.testing.assert_array_equal(iforest(again)["iforest"], fitted_scores)  # same data, same fit: same scores
    assert fits == [] and again.cache[module.FITTED_FORESTS] == {}

    other = panel_of(r, s)  # a kept forest of other features (the panel's parameters changed) is refitted
    sid = other.stations["station_id"].iloc[0]
    other.cache[module.KEPT_FORESTS] = forests | {sid: replace(forests[sid], features=("log:PM2.5",))}
    np.testing.assert_array_equal(iforest(other)["iforest"], fitted_scores)
    assert len(fits) == 1 and list(other.cache[module.FITTED_FORESTS]) == [sid]
