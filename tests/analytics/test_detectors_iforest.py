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


def test_kept_forest_is_scikit_learns_forest_bit_for_bit():
    from sklearn.ensemble import IsolationForest

    from analytics.detectors.iforest import (
        fit_station_forest,
        forest_anomaly,
        forest_from_bytes,
        forest_to_bytes,
    )

    rng = np.random.default_rng(3)
    for n, max_samples, seed in ((300, 256, 0), (60, 256, 1), (1000, 128, 7)):
        X = rng.normal(size=(n, 9))
        X[:, 3] = np.round(X[:, 3])  # ties: thresholds between equal float32 values
        X[: n // 10, 5] = 0.0
        model = IsolationForest(n_estimators=50, max_samples=min(max_samples, n), random_state=seed, n_jobs=1).fit(X)
        names = tuple(f"f{i}" for i in range(9))
        hours = pd.date_range("2017-01-01", periods=n, freq="h")
        kept = fit_station_forest(X, names, np.zeros(5), np.ones(5), hours, n_estimators=50,
                                  max_samples=max_samples, seed=seed)
        assert kept.value.size == sum(e.tree_.node_count for e in model.estimators_)  # the same trees ...
        new = np.concatenate([X[:40], rng.normal(scale=3.0, size=(40, 9))])
        expected = -model.score_samples(new)
        np.testing.assert_array_equal(forest_anomaly(kept, new), expected)  # ... and the same scores
        back = forest_from_bytes(forest_to_bytes(kept))  # stored as plain arrays, no pickle
        np.testing.assert_array_equal(forest_anomaly(back, new), expected)
        assert (back.features, back.fit_from, back.fit_to, back.rows) == (names, hours[0], hours[-1], n)


def test_isolation_trees_are_the_ensembles_trees():
    from sklearn.ensemble import IsolationForest

    from analytics.detectors.iforest import isolation_trees

    X = np.random.default_rng(11).normal(size=(400, 6))
    model = IsolationForest(n_estimators=30, max_samples=256, random_state=4, n_jobs=1).fit(X)
    ours = isolation_trees(X, n_estimators=30, max_samples=256, seed=4)
    for theirs, tree in zip((e.tree_ for e in model.estimators_), ours, strict=True):
        for field in ("feature", "threshold", "children_left", "children_right", "n_node_samples"):
            np.testing.assert_array_equal(getattr(tree, field), getattr(theirs, field))


def test_a_kept_forest_is_applied_instead_of_a_refit(monkeypatch):
    from analytics.detectors import iforest as module

    r, s = sample_readings()
    first = panel_of(r, s)
    fitted_scores = iforest(first)["iforest"]
    forests = first.cache[module.FITTED_FORESTS]
    assert len(forests) == first.shape[0]

    fits = []
    real_fit = module.isolation_trees
    monkeypatch.setattr(module, "isolation_trees", lambda X, **k: fits.append(len(X)) or real_fit(X, **k))
    again = panel_of(r, s)
    again.cache[module.KEPT_FORESTS] = forests
    np.testing.assert_array_equal(iforest(again)["iforest"], fitted_scores)  # same data, same fit: same scores
    assert fits == [] and again.cache[module.FITTED_FORESTS] == {}

    other = panel_of(r, s)  # a kept forest of other features (the panel's parameters changed) is refitted
    sid = other.stations["station_id"].iloc[0]
    other.cache[module.KEPT_FORESTS] = forests | {sid: replace(forests[sid], features=("log:PM2.5",))}
    np.testing.assert_array_equal(iforest(other)["iforest"], fitted_scores)
    assert len(fits) == 1 and list(other.cache[module.FITTED_FORESTS]) == [sid]
