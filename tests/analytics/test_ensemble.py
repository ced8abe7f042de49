"""The ensemble's calibration: a surprise means the same rarity on every parameter."""
import warnings

import numpy as np

from analytics.ensemble import MAX_SURPRISE, PROBS, EnsembleSettings, fit_tail, model_surprise, parameter_key


def test_per_parameter_tails_make_one_in_a_hundred_mean_the_same_on_every_parameter():
    rng = np.random.default_rng(0)
    light = rng.exponential(1.0, size=(4, 5000))
    heavy = rng.exponential(5.0, size=(4, 5000))  # this parameter's statistic runs 5x larger when clean
    x = np.stack([light, heavy], axis=2)
    pooled = EnsembleSettings(calibration={"m": fit_tail(x)})
    per_param = EnsembleSettings(calibration={"m": fit_tail(x), parameter_key("m", "PM2.5"): fit_tail(light),
                                              parameter_key("m", "SO2"): fit_tail(heavy)})
    share_pooled = (model_surprise({"m": x}, pooled)["m"] >= 2).mean(axis=(0, 1))
    share_per_param = (model_surprise({"m": x}, per_param, parameters=("PM2.5", "SO2"))["m"] >= 2).mean(axis=(0, 1))
    assert share_pooled[1] > 5 * share_pooled[0]  # pooled: the heavy parameter raises most alarms
    assert np.allclose(share_per_param, 0.01, atol=0.003)  # per parameter: 1 in 100 on each
    # a parameter without its own tail falls back to the pooled one
    fallback = model_surprise({"m": x}, per_param, parameters=("PM2.5", "NO2"))["m"]
    assert np.allclose(fallback[..., 1], model_surprise({"m": x}, pooled)["m"][..., 1])


def test_tail_extrapolates_only_past_its_last_quantile_bit_for_bit():
    """The surprise computed where it applies equals the interpolation and the log-linear tail
    computed everywhere and selected (the plain formula), on ordinary, extreme and odd values."""
    rng = np.random.default_rng(5)
    cal = fit_tail(rng.exponential(1.0, size=5000))
    x = np.concatenate([rng.exponential(3.0, size=2000), [0.0, 1e-300, 1e300, np.inf, np.nan, 60.0]])
    q = np.maximum.accumulate(np.asarray(cal.quantiles, dtype=float))
    fp = max(cal.frac_positive, 1.0 / cal.n)
    logp = np.log10(fp) + np.log10(np.maximum(1.0 - PROBS, 0.5 / max(cal.n * fp, 1.0)))
    qx = q + np.arange(len(q)) * 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        beyond = -logp[-1] + (x - qx[-1]) * (logp[-2] - logp[-1]) / max(qx[-1] - qx[-2], 1e-9)
        plain = np.nan_to_num(np.where(x > qx[-1], beyond, -np.interp(x, qx, logp)), posinf=1e6)
        assert (x > qx[-1]).sum() > 10
        np.testing.assert_array_equal(cal.rarity(x), np.where(x > 0, np.clip(plain, 0.0, None), 0.0))
        np.testing.assert_array_equal(cal.surprise(x), np.where(x > 0, np.clip(plain, 0.0, MAX_SURPRISE), 0.0))
