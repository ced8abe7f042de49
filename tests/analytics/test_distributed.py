"""A 2-worker Dask LocalCluster gives the same result as the in-process run."""

import pandas as pd

from analytics.pipeline import score_partition
from data.testing import sample_readings
from envtrust.distributed import score_distributed, station_partitions


def test_partitions_cover_every_station_once_with_halo():
    _, s = sample_readings()
    parts = station_partitions(s, 3, halo_k=4)
    cores = [sid for core, _ in parts for sid in core]
    assert sorted(cores) == sorted(s["station_id"])
    for core, halo in parts:
        assert set(core) <= set(halo)


def test_two_worker_cluster_equals_local_run():
    r, s = sample_readings()
    r = r[r["ts"] < "2016-12-11"]
    local = score_partition(r, s, "default")
    dist = score_distributed(r, s, "default", n_workers=2)
    keys = ["station_id", "parameter", "ts"]
    a = local.scores.sort_values(keys).reset_index(drop=True)
    b = dist.scores.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    cols = ["event_id", "station_id", "start", "end", "kind", "parameters"]
    a = local.events[cols].sort_values("event_id").reset_index(drop=True)
    b = dist.events[cols].sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
