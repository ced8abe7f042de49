"""The detectors' rolling mean and standard deviation (cumulative sums along any axis, shared
window counts) against pandas' rolling windows and against their definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import nan_rolling_mean, nan_rolling_std


def _panel(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 1.0, size=(4, 300, 3))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[1, :, 2] = np.nan  # a series without any value
    return x


@pytest.mark.parametrize("window,min_count", [(25, 1), (25, 12), (7, 3), (1, 1), (999, 3)])
def test_rolling_mean_and_std_are_pandas_centred_windows(window, min_count):
    x = _panel()
    mean, std = nan_rolling_mean(x, window, min_count=min_count), nan_rolling_std(x, window, min_count=min_count)
    w = min(window, x.shape[1])
    for s in range(x.shape[0]):
        frame = pd.DataFrame(x[s])
        roll = frame.rolling(w, center=True, min_periods=min_count)
        np.testing.assert_allclose(mean[s], roll.mean().to_numpy(), rtol=1e-9, atol=1e-9)
        if w >= 2:  # pandas' online std differs from the cumulative-sum one by rounding only
            np.testing.assert_allclose(std[s], roll.std(ddof=0).to_numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("overflow", [False, True])
def test_rolling_std_is_its_definition_bit_for_bit_along_any_axis(overflow):
    """sqrt(mean(x^2) - mean(x)^2) over the window, each mean with its own valid cells - with
    signed zeros, and also where x^2 overflows (there the counts of x and x^2 differ)."""
    x = _panel()
    x[2, 20:40, 1] = -0.0
    x[3, 50:60, 0] = 0.0
    if overflow:
        x[0, 10, 0] = 1e200
    with np.errstate(all="ignore"):
        for axis, window, min_count in ((1, 24, 12), (0, 3, 1), (2, 2, 1), (-2, 25, 3)):
            m = nan_rolling_mean(x, window, axis, min_count)
            m2 = nan_rolling_mean(x**2, window, axis, min_count)
            expected = np.sqrt(np.clip(m2 - m**2, 0.0, None))
            np.testing.assert_array_equal(nan_rolling_std(x, window, axis, min_count), expected)


def test_window_sums_are_the_zero_padded_cumulative_sums_bit_for_bit():
    """Without the padded copy, the same bits as the cumulative sum of the zero-padded series,
    signed zeros included (a leading -0.0 becomes 0.0 there), along every axis and window."""
    from analytics.detectors.base import _along, _window_sums

    def padded_definition(a, window, axis):
        shape = list(a.shape)
        shape[axis] += window
        padded = np.zeros(shape)
        padded[_along(axis, a.ndim, slice(window // 2 + 1, window // 2 + 1 + a.shape[axis]))] = a
        cs = np.cumsum(padded, axis=axis)
        return cs[_along(axis, a.ndim, slice(window, None))] - cs[_along(axis, a.ndim, slice(None, -window))]

    rng = np.random.default_rng(7)
    for _ in range(200):
        shape = tuple(int(n) for n in rng.integers(1, 20, 3))
        axis = int(rng.integers(0, 3))
        window = int(rng.integers(1, shape[axis] + 1))
        a = rng.normal(size=shape) * (rng.random(shape) < 0.7)
        a[rng.random(shape) < 0.3] = -0.0
        got, want = _window_sums(a, window, axis), padded_definition(a, window, axis)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
