"""The ensemble's calibration: a surprise means the same rarity on every parameter."""
import numpy as np

from analytics.ensemble import EnsembleSettings, fit_tail, model_surprise, parameter_key


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
