"""Spatial neighbours between stations: great-circle distances and k-nearest tables.

Pure numpy; works for 12 stations and for 2,000 (a 2,000 x 2,000 distance matrix is 32 MB).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres between WGS-84 points (degrees); broadcasts like numpy."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def distance_matrix_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Pairwise distances (metres) between points; diagonal is 0."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])


def nearest_order(d: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(d, axis=1)[:, :k]``: each row's ``k`` smallest, nearest first.

    Why not the full sort: the national day's 1,522 stations sorted 1,522 distances each, twice per
    block (neighbours and donors), for 8 of them: 0.1 s CPU a call. The ``k`` smallest are
    selected first and only they are sorted; a row with equal distances among them or at the
    ``k``-th place (or any not finite) is sorted whole as before, so ties keep the full sort's
    order and the result is the same indices."""
    if k <= 0 or k >= d.shape[1]:
        return np.argsort(d, axis=1)[:, :k]
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(np.take_along_axis(d, part, axis=1), axis=1), axis=1)
    near = np.take_along_axis(d, order, axis=1)
    tied = ((np.diff(near, axis=1) == 0).any(axis=1) | ~np.isfinite(near).all(axis=1)
            | ((d == near[:, -1:]).sum(axis=1) > 1))
    if tied.any():
        order[tied] = np.argsort(d[tied], axis=1)[:, :k]
    return order


def nearest_neighbours(stations: pd.DataFrame, k: int = 8, max_distance_m: float = 50_000.0,
                       candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each station, its up to ``k`` nearest other stations within ``max_distance_m``.

    ``stations`` (and ``candidates``, default the same table) need ``station_id, lon, lat``.
    Returns ``station_id, neighbour_id, distance_m, rank`` (rank 1 = nearest), never the
    station itself. A station with no neighbour in range has no rows: callers must treat
    "no neighbours" as "no spatial evidence", not as agreement.
    """
    cand = stations if candidates is None else candidates
    columns = ["station_id", "neighbour_id", "distance_m", "rank"]
    if stations.empty or cand.empty:
        return pd.DataFrame(columns=columns)
    d = haversine_m(stations["lon"].to_numpy()[:, None], stations["lat"].to_numpy()[:, None],
                    cand["lon"].to_numpy()[None, :], cand["lat"].to_numpy()[None, :])
    same = stations["station_id"].to_numpy()[:, None] == cand["station_id"].to_numpy()[None, :]
    d = np.where(same, np.inf, d)
    kk = min(k, d.shape[1])
    order = nearest_order(d, kk)
    rows_i = np.repeat(np.arange(d.shape[0]), kk)
    cols_j = order.ravel()
    dist = d[rows_i, cols_j]
    out = pd.DataFrame({
        "station_id": stations["station_id"].to_numpy()[rows_i],
        "neighbour_id": cand["station_id"].to_numpy()[cols_j],
        "distance_m": dist,
        "rank": np.tile(np.arange(1, kk + 1), d.shape[0]),
    })
    out = out[np.isfinite(out["distance_m"]) & (out["distance_m"] <= max_distance_m)]
    return out.reset_index(drop=True)
