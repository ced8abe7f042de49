"""The speed changes of issue 12 compute the same bits as the code they replace."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.detectors.base import nanquantile_axis
from data.scoring import model_scores_json


@pytest.mark.parametrize("q", [0.0, 0.05, 0.5, 0.99, 0.999, 1.0])
def test_nanquantile_axis_is_numpys_nanquantile(q):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 300, 4))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0, :, 0] = np.nan  # all missing
    x[1, :, 1] = 5.0  # constant
    x[2, :290, 2] = np.nan  # few values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanquantile(x, q, axis=1, keepdims=True)
    np.testing.assert_array_equal(nanquantile_axis(x, q, axis=1), want)


def test_model_scores_json_is_json_dumps_of_each_row():
    rng = np.random.default_rng(1)
    n = 2000
    df = pd.DataFrame({"station_id": "a", "ts": pd.Timestamp("2016-12-01"), "parameter": "PM2.5", "score": 0.5},
                      index=range(n))
    for c in ("spatial_high", "flat|PM2.5", "donor_copy"):
        x = rng.random(n).astype(np.float32)
        x[rng.random(n) < 0.5] = 0
        x[rng.random(n) < 0.1] = np.nan
        x[:5] = [1, 0.00001, 0.99995, 0.00005, 0.00004]
        df[c] = x
    df["float64_model"] = rng.random(n)
    df.loc[7, ["spatial_high", "flat|PM2.5", "donor_copy", "float64_model"]] = 0.0  # nothing to say: {}
    m = df.drop(columns=["station_id", "ts", "parameter", "score"]).round(4)
    want = [json.dumps({k: v for k, v in row.items() if v and v == v}) for row in m.to_dict("records")]
    got = model_scores_json(df)
    assert got == want and got[7] == "{}"
