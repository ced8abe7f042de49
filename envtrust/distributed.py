"""Run :func:`analytics.pipeline.score_partition` over partitions with dask.distributed.

Partitioning is by station groups with a halo: each partition scores its *core* stations and
also carries every station within the neighbour radius of them (so the spatial, donor and
suppression checks see the same neighbours as in one big run). Only core stations' rows are
kept from each partition. Every per-station computation (robust scales, forests with a fixed
seed) depends only on the station and its neighbours, and the calibration is fixed in the
pipeline, so the partitioned result equals the single-process result for the calibrated (air)
network (tested). Networks that self-calibrate per run (CEMS, water; see docs/engine.md) can differ
slightly between partitions. With few stations (Beijing's 12) every halo is the whole network and
Dask only adds transfer cost; partitioning pays off at province scale.

Note: the donor (copy) check looks for donors among up to ``max_donors`` nearest stations of
the partition; with halos those are the same stations as in a full run only when the donor
list fits inside the halo. ``halo_k`` defaults to ``max_donors`` for that reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.detectors.base import validate_stations
from analytics.pipeline import Pipeline, ScoreResult, load_pipeline, score_partition
from geo.neighbours import nearest_neighbours


def station_partitions(stations: pd.DataFrame, n_parts: int, halo_k: int = 16,
                       max_distance_m: float = 80_000.0) -> list[tuple[list[str], list[str]]]:
    """Split stations into ``n_parts`` spatially compact groups: [(core ids, core + halo ids)].

    Groups are contiguous in a lon/lat sort (a cheap space-filling order), sizes balanced.
    """
    st = validate_stations(stations)
    order = st.assign(_k=np.round(st["lat"], 1) * 1000 + st["lon"]).sort_values("_k")["station_id"].tolist()
    n_parts = max(1, min(n_parts, len(order)))
    groups = [list(g) for g in np.array_split(np.array(order, dtype=object), n_parts) if len(g)]
    nb = nearest_neighbours(st, k=halo_k, max_distance_m=np.inf)
    by = nb.groupby("station_id")["neighbour_id"].apply(list).to_dict()
    out = []
    for core in groups:
        halo = set(core)
        for sid in core:
            halo.update(by.get(sid, []))
        out.append(([str(s) for s in core], sorted(str(s) for s in halo)))
    return out


def _score_core(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline,
                core: list[str]) -> ScoreResult:
    res = score_partition(readings, stations, pipeline)
    keep = set(core)
    return ScoreResult(scores=res.scores[res.scores["station_id"].isin(keep)].reset_index(drop=True),
                       events=res.events[res.events["station_id"].isin(keep)].reset_index(drop=True))


def score_distributed(readings: pd.DataFrame, stations: pd.DataFrame, pipeline: Pipeline | str = "default",
                      n_workers: int = 2, client=None, n_parts: int | None = None) -> ScoreResult:
    """Score on a Dask cluster (a LocalCluster with ``n_workers`` unless ``client`` is given)."""
    from dask.distributed import Client, LocalCluster

    pipe = load_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    k = max(int(pipe.detector_params("donor")["max_donors"]), pipe.panel.k_neighbours)
    parts = station_partitions(stations, n_parts or n_workers, halo_k=k, max_distance_m=pipe.panel.max_distance_m)
    own_cluster = client is None
    cluster = None
    if own_cluster:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        sid = readings["station_id"].astype(str)
        futures = []
        for core, halo in parts:
            r = readings[sid.isin(set(halo))]
            st = stations[stations["station_id"].astype(str).isin(set(halo))]
            futures.append(client.submit(_score_core, r, st, pipe, core, pure=False))
        results = client.gather(futures)
    finally:
        if own_cluster:
            client.close()
            cluster.close()
    scores = pd.concat([r.scores for r in results], ignore_index=True)
    scores = scores.sort_values(["station_id", "parameter", "ts"], kind="stable").reset_index(drop=True)
    events = pd.concat([r.events for r in results], ignore_index=True)
    if not events.empty:
        events = events.sort_values(["station_id", "start"], kind="stable").reset_index(drop=True)
    return ScoreResult(scores=scores, events=events)
