"""The learned combiner: a portable additive logistic model that orders readings under the alarm tier."""

import json

import numpy as np

from analytics.pipeline import PIPELINE_DIR, load_pipeline
from analytics.registry import default_registry
from analytics.stacking import (
    KNOTS,
    LearnedCombiner,
    design_rows,
    fit_combiner,
    hinge_basis,
    tiered_surprise,
)


def _cube(rng, shape=(3, 400, 2)):
    """Two fake models' surprises where model 'a' held over a day marks the altered readings."""
    a = rng.exponential(0.6, size=shape)
    b = rng.exponential(0.6, size=shape)
    altered = np.zeros(shape, dtype=bool)
    altered[1, 100:160, 0] = True
    a[altered] += 2.0  # persistent moderate evidence
    b[0, 50, 1] = 9.0  # a lone extreme hour of another model at a clean reading
    return {"a": a, "b": b}, altered


def test_hinge_basis_is_piecewise_linear():
    x = np.array([0.0, 1.5, 7.0])
    b = hinge_basis(x)
    assert b.shape == (3, 1 + len(KNOTS))
    assert np.allclose(b[:, 0], x)
    assert np.allclose(b[2, 1:], np.maximum(7.0 - np.array(KNOTS), 0))
    assert np.allclose(b[0, 1:], 0)


def _fitted(seed):
    """A combiner fitted on :func:`_cube` (one kind of interference), with the cube it was fitted on."""
    surprise, altered = _cube(np.random.default_rng(seed))
    plain = np.maximum(surprise["a"], surprise["b"])
    scored = np.ones(altered.shape, dtype=bool)
    design, names = design_rows(surprise, plain, scored, scored)
    comb = fit_combiner(design, names, altered[scored], np.zeros(int(scored.sum())))
    return comb, surprise, plain, scored, altered


def test_fitted_combiner_ranks_persistent_evidence_above_a_lone_clean_extreme():
    comb, surprise, plain, scored, altered = _fitted(0)
    logit = comb.logit(surprise, plain, scored)
    assert logit[altered].mean() > logit[~altered].mean() + 2
    # the learned order beats the plain max, which ranks the lone extreme first
    assert plain[0, 50, 1] > plain[altered].max()
    assert logit[0, 50, 1] < np.median(logit[altered])


def test_combiner_round_trips_through_json():
    comb, surprise, plain, scored, _ = _fitted(1)
    again = LearnedCombiner.from_dict(json.loads(json.dumps(comb.to_dict())))
    assert np.allclose(again.logit(surprise, plain, scored), comb.logit(surprise, plain, scored), atol=1e-4)


def test_tiers_keep_alarms_on_top_and_follow_the_learned_order_below():
    combined = np.array([[[12.0], [9.5], [3.0], [8.9]]])
    logit = np.array([[[-5.0], [-9.0], [4.0], [-2.0]]])
    out = tiered_surprise(combined, logit, alarm_level=9.0)[0, :, 0]
    assert out[0] == 12.0 and out[1] == 9.5  # the alarm tier keeps its combined surprise
    assert out[2] > out[3] and out[2] < 9.0 and out[3] < 9.0  # below: ordered by the logit, under the tier


def test_shipped_combiner_matches_the_default_pipeline():
    """default.combiner.json must describe the models the default pipeline produces (refit after
    adding or renaming a model: `envtrust evaluate --fit-combiner`)."""
    pipe = load_pipeline("default")
    assert (PIPELINE_DIR / "default.combiner.json").exists()
    assert pipe.ensemble.alarm_level is not None
    by_network = {n: c for c in pipe.ensemble.combiners for n in c.networks}
    assert by_network["air"].alarm == "calibrated"
    assert by_network["flue"].alarm == by_network["wastewater"].alarm == "in_run"  # self-calibrated networks
    models = {m for name, _ in pipe.detectors for m in default_registry().get(name).models}
    for comb in pipe.ensemble.combiners:
        fed = {f.split("@")[0] for f in comb.features} - {"combined"}
        assert fed == models, (fed ^ models)
        assert "development" in comb.fitted_on


def test_kind_weights_go_from_per_reading_to_per_kind():
    from analytics.stacking import kind_weights

    positive = np.array([True] * 90 + [True] * 10 + [False] * 5)
    kind = np.array(["drift"] * 90 + ["spike"] * 10 + [""] * 5)
    alike = kind_weights(positive, kind, 0.0)
    per_kind = kind_weights(positive, kind, 1.0)
    assert np.allclose(alike[:100], 1.0) and np.all(alike[100:] == 0)  # every altered reading alike
    assert np.isclose(per_kind[:90].sum(), per_kind[90:100].sum())  # each kind the same total
    assert np.isclose(per_kind.sum(), 100) and np.isclose(kind_weights(positive, kind, 0.5).sum(), 100)


def test_logit_skips_features_of_zero_curves_and_unknown_models_exactly():
    """The shipped combiners' log-odds equal the sum over every feature array, though the features
    whose curve is 0 (and the rolling means no curve reads) are not computed."""
    from analytics.stacking import feature_arrays

    rng = np.random.default_rng(5)
    shape = (4, 300, 3)
    for comb in load_pipeline("default").ensemble.combiners:
        models = {f.split("@")[0] for f in comb.features} - {"combined"}
        surprise = {m: np.where(rng.random(shape) < 0.3, rng.exponential(1.0, shape), 0.0) for m in models}
        surprise["not_in_the_combiner"] = rng.exponential(1.0, shape)
        plain = np.max(np.stack(list(surprise.values())), axis=0)
        scored = rng.random(shape) < 0.9
        known = {n: i for i, n in enumerate(comb.features)}
        every = np.full(shape, comb.intercept)
        for name, arr in feature_arrays(surprise, plain, scored):
            if name in known:
                every += np.interp(arr, *comb.curve(known[name]))
        assert any(not np.any(c) for c in comb.coef)  # the skip is exercised
        np.testing.assert_array_equal(comb.logit(surprise, plain, scored), every)


def test_logit_of_chosen_parameters_is_the_whole_panels_logit_there():
    """learned_order reads each combiner's logit on its own networks' parameters only: the same
    bits as the whole panel's logit sliced there (station-hour features still see every parameter)."""
    rng = np.random.default_rng(11)
    shape = (5, 400, 4)
    chosen = np.array([True, False, True, False])
    for comb in load_pipeline("default").ensemble.combiners:
        models = {f.split("@")[0] for f in comb.features} - {"combined"}
        surprise = {m: np.where(rng.random(shape) < 0.3, rng.exponential(1.5, shape), 0.0) for m in models}
        plain = np.max(np.stack(list(surprise.values())), axis=0)
        scored = rng.random(shape) < 0.9
        whole = comb.logit(surprise, plain, scored)
        np.testing.assert_array_equal(comb.logit(surprise, plain, scored, parameters=chosen), whole[..., chosen])
        # the unchosen parameters' surprises do reach the chosen ones through the station-hour features
        louder = {m: np.where(chosen, s, s + 3.0) for m, s in surprise.items()}
        assert not np.array_equal(comb.logit(louder, plain, scored, parameters=chosen), whole[..., chosen])


def test_a_silent_model_adds_nothing_to_the_log_odds_bit_for_bit():
    """The combiner skips a model that is 0 on every cell; its features would add +0.0 each."""
    from analytics.stacking import feature_arrays

    rng = np.random.default_rng(3)
    surprise, _ = _cube(rng)
    surprise["silent"] = np.zeros_like(surprise["a"])
    plain = np.maximum(surprise["a"], surprise["b"])
    scored = np.ones(plain.shape, dtype=bool)
    names = [n for n, _ in feature_arrays(surprise, plain, scored)]
    assert any(n.startswith("silent") for n in names)
    comb = LearnedCombiner(tuple(names), rng.normal(size=(len(names), 1 + len(KNOTS))), -1.5)
    expected = np.full(plain.shape, comb.intercept)
    for name, arr in feature_arrays(surprise, plain, scored):  # every feature, the silent ones too
        xp, fp = comb.curve(names.index(name))
        expected += np.interp(arr, xp, fp)
    np.testing.assert_array_equal(comb.logit(surprise, plain, scored), expected)
