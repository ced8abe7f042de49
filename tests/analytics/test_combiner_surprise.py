"""The learned combiner's surprises (per-parameter tails) are re-read only where such a tail applies,
not recomputed over the whole panel: the result must be the slow path's, bit for bit - on air
(calibrated), on water (uncalibrated network, a context parameter) and on one panel mixing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.pipeline import load_pipeline, run_models, scoring_surprise
from analytics.pipeline.run import combiner_surprise
from data.testing import sample_readings
from envtrust.evaluation.harness import water_network


def _air():
    r, s = sample_readings()
    return r[r["ts"] < "2016-12-20"], s


def _water():
    r, s, _ = water_network("2016-12-01", "2016-12-20", seed=3, max_sections=6)
    return r, s


def _mixed():
    (ra, sa), (rw, sw) = _air(), _water()
    return pd.concat([ra, rw], ignore_index=True), pd.concat([sa, sw], ignore_index=True)


@pytest.mark.parametrize("network", [_air, _water, _mixed], ids=["air", "water", "mixed"])
def test_combiner_surprise_is_the_slow_paths_bit_for_bit(network):
    readings, stations = network()
    pipe = load_pipeline("default")
    assert pipe.per_parameter_scope == "combiner" and pipe.per_parameter_models(["spatial_high"])
    panel, _, _, raw = run_models(readings, stations, pipe)
    surprise, _, _ = scoring_surprise(panel, raw, pipe)
    fast = combiner_surprise(panel, raw, pipe, surprise)
    slow = scoring_surprise(panel, raw, pipe, for_combiner=True)[0]
    assert fast.keys() == slow.keys()
    differs = 0
    for name in slow:
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
        assert fast[name].dtype == slow[name].dtype
        differs += not np.array_equal(fast[name], surprise[name])
    if network is not _water:  # the per-parameter tails do change air's surprises (else the test proves nothing)
        assert differs > 0
