"""Isolation forest on per-station multivariate features (the product owner's first model).

Features per station-hour: log levels of every pollutant, cross-pollutant log ratios (PM2.5/PM10,
PM/CO, PM/NO2), the neighbour residuals z of every pollutant, and hour/season context (sin/cos).
One forest per station (scikit-learn, fixed seed, so a partitioned run gives the same answer);
the anomaly score of a station-hour is shared by its readings, scaled by how much each
parameter's own features stand out, so the ensemble can point at a parameter.

A fitted forest is kept as plain arrays (:class:`StationForest`: the feature layout, the fit
window's standardisation and the trees' nodes), so an incremental run applies the forest a
station was fitted with instead of refitting it every hour (``panel.cache[KEPT_FORESTS]``,
installed by the pipeline); the forests a run fits are left in ``panel.cache[FITTED_FORESTS]``.
Scoring walks all trees at once in numpy (:func:`forest_anomaly`) and gives scikit-learn's
``-score_samples`` bit for bit, without its per-tree Python calls.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.detectors.base import Panel, log_values, robust_scale
from analytics.detectors.spatial import spatial_fit_or_compute
from analytics.registry import register
from analytics.threads import map_in_threads

RATIOS = (("PM2.5", "PM10"), ("PM2.5", "CO"), ("PM2.5", "NO2"), ("PM10", "CO"))
CONTEXT_FEATURES = ("hour_sin", "hour_cos", "doy_sin", "doy_cos")
#: bump when the features or the stored layout change: kept forests of another format are refitted
FOREST_FORMAT = 1
#: panel.cache keys: station_id -> StationForest to apply (in), and the forests this run fitted (out)
KEPT_FORESTS = "kept_forests"
FITTED_FORESTS = "fitted_forests"


@dataclass(frozen=True)
class StationForest:
    """One station's fitted isolation forest as plain arrays (stored without pickle).

    ``features`` names the columns it was fitted on; ``centre``/``scale`` standardise the
    non-context features as in the fit window. Nodes of all trees are concatenated: tree ``k``
    starts at ``roots[k]``; at an inner node ``value`` is the split threshold (left when
    ``x <= value``), at a leaf (``feature == -1``) the path length scikit-learn adds for a sample
    ending there (node depth + c(leaf samples) - 1). ``left``/``right`` are indices within the tree.
    """

    features: tuple[str, ...]
    centre: np.ndarray  # [F - 4] float64
    scale: np.ndarray  # [F - 4] float64
    roots: np.ndarray  # [n_trees] int64
    feature: np.ndarray  # [N] int8, -1 at a leaf
    value: np.ndarray  # [N] float64
    left: np.ndarray  # [N] int16, within the tree
    right: np.ndarray  # [N] int16
    denominator: float  # n_trees x c(max_samples)
    fit_from: pd.Timestamp
    fit_to: pd.Timestamp
    rows: int  # station-hours the forest was fitted on


def feature_cube(panel: Panel) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Unstandardised features [S, T, F-4], the hour/season context [T, 4] and all F names."""
    y = log_values(panel)
    z = spatial_fit_or_compute(panel)["z"]
    feats, names = [y, np.clip(z, -20, 20)], [f"log:{p}" for p in panel.parameters] + [f"z:{p}" for p in panel.parameters]
    ratio_cols = []
    for a, b in RATIOS:
        ia, ib = panel.pindex(a), panel.pindex(b)
        if ia is not None and ib is not None:
            ratio_cols.append(y[:, :, ia] - y[:, :, ib])
            names.append(f"ratio:{a}/{b}")
    if ratio_cols:
        feats.append(np.stack(ratio_cols, axis=2))
    hours = panel.hour_of_day
    doy = panel.times.day_of_year.to_numpy()
    ctx = np.stack([np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24),
                    np.sin(2 * np.pi * doy / 365.25), np.cos(2 * np.pi * doy / 365.25)], axis=1)
    return np.concatenate(feats, axis=2), ctx, tuple(names) + CONTEXT_FEATURES


def feature_standardisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per station: the median and robust scale (floor 1e-3) of each feature over time, [S, 1, F]."""
    centre = np.nanmedian(X, axis=1, keepdims=True) if np.isfinite(X).any() else np.zeros((X.shape[0], 1, X.shape[2]))
    return centre, robust_scale(X, axis=1, floor=1e-3)


def standardised(X: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Robust z of the features, clipped to +-20, NaN -> 0."""
    return np.nan_to_num(np.clip((X - centre) / scale, -20, 20))


def station_features(panel: Panel) -> np.ndarray:
    """[S, T, F] feature cube (NaN filled with 0 after robust standardisation per station)."""
    X, ctx, _ = feature_cube(panel)
    centre, scale = feature_standardisation(X)
    X = standardised(X, centre, scale)
    return np.concatenate([X, np.broadcast_to(ctx[None], (X.shape[0], X.shape[1], 4))], axis=2)


def fit_station_forest(X: np.ndarray, features: tuple[str, ...], centre: np.ndarray, scale: np.ndarray,
                       times: pd.DatetimeIndex, *, n_estimators: int, max_samples: int, seed: int) -> StationForest:
    """One station's isolation forest on its rows ``X`` [n, F] (hours ``times``): the trees
    scikit-learn's ``IsolationForest(n_estimators, max_samples, random_state=seed).fit(X)`` grows."""
    max_samples = min(max_samples, len(X))
    trees = isolation_trees(X, n_estimators=n_estimators, max_samples=max_samples, seed=seed)
    return compact_forest(trees, max_samples, features, centre, scale, times[0], times[-1], len(X))


def import_tree_builder() -> None:
    """Import the scikit-learn modules the forests are grown with (:func:`isolation_trees`).

    Why a function: the import takes ~1 s of CPU (scikit-learn's validation, scipy.stats), on
    the critical path of a run's first forest, so a run with a spare thread starts it at once,
    beside validation and the neighbour fit (``analytics.pipeline.run.run_models``)."""
    import sklearn.ensemble._iforest  # noqa: F401
    import sklearn.tree._classes  # noqa: F401
    import sklearn.utils.random  # noqa: F401


def isolation_trees(X: np.ndarray, *, n_estimators: int, max_samples: int, seed: int) -> list:
    """The fitted trees (``sklearn.tree._tree.Tree``) of ``IsolationForest(n_estimators=n_estimators,
    max_samples=max_samples, random_state=seed).fit(X)``, the same random draws in the same order,
    without the ensemble's per-tree estimator cloning and parameter validation.

    Why: at 256 samples a tree's own growing is a fraction of its Python bookkeeping. It follows
    scikit-learn's bagging protocol (targets drawn from RandomState(seed); one seed per tree from
    a second RandomState(seed); per tree the estimator's seed and the feature and row draws) and
    drives the tree builder ``ExtraTreeRegressor._fit`` drives (:func:`_grow_tree`), without its
    per-tree input checks and fresh random generators (0.078 -> ~0.04 s CPU per 100-tree forest
    on 2,545 hours, 0.085 -> ~0.05 s on 168 hours). A test checks the trees equal IsolationForest's, so a scikit-learn that
    changes it fails loudly (and kept forests are refitted, as its version is part of their
    engine version)."""
    from sklearn.utils.random import sample_without_replacement

    max_int = np.iinfo(np.int32).max
    x = np.ascontiguousarray(X, dtype=np.float32)
    n, n_features = x.shape
    target = np.ascontiguousarray(np.random.RandomState(seed).uniform(size=n).reshape(-1, 1), dtype=np.float64)
    max_depth = int(np.ceil(np.log2(max(max_samples, 2))))
    trees = []
    # two generators reseeded per tree: RandomState(s) draws OS entropy before it seeds (118 us,
    # three per tree), .seed(s) only seeds (2 us) - the same streams
    draws, tree_state = np.random.RandomState(0), np.random.RandomState(0)
    for tree_seed in np.random.RandomState(seed).randint(max_int, size=n_estimators):
        draws.seed(tree_seed)
        tree_state.seed(draws.randint(max_int))  # the estimator's seed: RandomState(tree_seed)'s first draw
        draws.seed(tree_seed)
        sample_without_replacement(n_features, n_features, random_state=draws)  # bagging's feature draw: all
        rows = sample_without_replacement(n, max_samples, random_state=draws)
        weight = np.bincount(rows, minlength=n).astype(np.float64)
        trees.append(_grow_tree(x, target, weight, tree_state, max_depth))
    return trees


def _grow_tree(x: np.ndarray, target: np.ndarray, weight: np.ndarray, random_state: np.random.RandomState,
               max_depth: int):
    """One extremely randomised regression tree (``ExtraTreeRegressor(max_features=1,
    splitter="random", max_depth=max_depth)``) on float32 ``x``, float64 ``target`` [n, 1] and
    float64 ``weight``: the criterion, splitter and depth-first builder its ``_fit`` makes from
    those parameters (squared error; 1 feature per split; min_samples_split 2, min_samples_leaf 1,
    no weight fraction, no impurity decrease, no pruning)."""
    from sklearn.tree._classes import CRITERIA_REG, DENSE_SPLITTERS
    from sklearn.tree._tree import DepthFirstTreeBuilder, Tree

    n, n_features = x.shape
    criterion = CRITERIA_REG["squared_error"](1, n)
    splitter = DENSE_SPLITTERS["random"](criterion, 1, 1, 0.0, random_state, None)
    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    DepthFirstTreeBuilder(splitter, 2, 1, 0.0, max_depth, 0.0).build(tree, x, target, weight, None)
    return tree


def compact_forest(trees: list, max_samples: int, features: tuple[str, ...], centre: np.ndarray,
                   scale: np.ndarray, fit_from: pd.Timestamp, fit_to: pd.Timestamp, rows: int) -> StationForest:
    """Fitted isolation trees as node arrays, with scikit-learn's path lengths (node depth +
    c(samples at the node) - 1 at the leaves, :func:`_average_path_length`), so the score is its score."""
    if len(features) > 127:
        raise ValueError(f"a kept forest holds at most 127 features, not {len(features)}")
    sizes = np.array([t.node_count for t in trees])
    if sizes.max() > np.iinfo(np.int16).max:
        raise ValueError(f"a tree of {sizes.max()} nodes does not fit the int16 layout")
    leaf = np.concatenate([t.children_left == -1 for t in trees])
    # c(n) is elementwise: one call over all trees' nodes gives each tree's values
    path = (np.concatenate([t.compute_node_depths() for t in trees])
            + _average_path_length(np.concatenate([t.n_node_samples for t in trees]))) - 1.0
    return StationForest(
        features=tuple(features), centre=np.asarray(centre, dtype=float).ravel(),
        scale=np.asarray(scale, dtype=float).ravel(),
        roots=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        feature=np.where(leaf, -1, np.concatenate([t.feature for t in trees])).astype(np.int8),
        value=np.where(leaf, path, np.concatenate([t.threshold for t in trees])),
        left=np.concatenate([t.children_left for t in trees]).astype(np.int16),
        right=np.concatenate([t.children_right for t in trees]).astype(np.int16),
        denominator=len(trees) * float(_average_path_length([max_samples])[0]),
        fit_from=pd.Timestamp(fit_from), fit_to=pd.Timestamp(fit_to), rows=int(rows))


def _average_path_length(n_samples) -> np.ndarray:
    """c(n) per entry: the average path length of an unsuccessful search in a binary tree of n
    samples (scikit-learn's own function, so the same float operations)."""
    from sklearn.ensemble._iforest import _average_path_length as sk_c

    return sk_c(n_samples)


def forest_anomaly(forest: StationForest, X: np.ndarray) -> np.ndarray:
    """``-IsolationForest.score_samples(X)`` of the kept forest: 2^(-mean path length / c(max_samples)).

    All trees walk at once (one numpy step per tree level, on global node ids with the leaves
    pointing at themselves: 37 -> 21 ms for 100 trees and 2,545 hours); comparisons in float32 against the
    float64 thresholds and the path lengths added tree by tree, as scikit-learn does, so the
    result is its result bit for bit."""
    x = np.ascontiguousarray(X, dtype=np.float32)
    n, n_features = x.shape
    roots = forest.roots
    # global node ids; a leaf's children are itself, so a finished walk stays put
    tree_of = np.repeat(np.arange(len(roots)), np.diff(np.append(roots, len(forest.feature))))
    leaf = forest.feature < 0
    own = np.arange(len(forest.feature))
    left = np.where(leaf, own, roots[tree_of] + forest.left)
    right = np.where(leaf, own, roots[tree_of] + forest.right)
    children = np.stack([right, left], axis=1).ravel()  # [2 * node + went left]
    feature = np.maximum(forest.feature, 0).astype(np.int64)
    flat = x.ravel()
    row = (np.arange(n) * n_features)[None, :]
    node = np.repeat(roots[:, None], n, axis=1)
    while not leaf[node].all():
        node = children[2 * node + (flat[row + feature[node]] <= forest.value[node])]
    depths = np.zeros(n)
    for per_tree in forest.value[node]:
        depths += per_tree
    den = forest.denominator
    return 2 ** (-np.divide(depths, den, out=np.ones_like(depths), where=den != 0))


def forest_to_bytes(forest: StationForest) -> bytes:
    """A zlib-compressed ``.npz`` of the forest's arrays (read back with ``allow_pickle=False``).

    Six members, not one per field: reading is per member (zip and array headers), and an
    incremental run reads one forest per station. zlib level 1 on the whole file: 2.2 ms to write
    instead of 5.7 ms with ``savez_compressed`` (a full run writes every station's), 11 % larger."""
    buf = io.BytesIO()
    window_ns = [pd.Timestamp(forest.fit_from).value, pd.Timestamp(forest.fit_to).value]
    np.savez(buf, features=np.array(forest.features, dtype=str),
             meta=np.array([FOREST_FORMAT, forest.rows, *window_ns], dtype=np.int64),
             standardisation=np.stack([forest.centre, forest.scale]),
             nodes=np.stack([forest.feature.astype(np.int16), forest.left, forest.right]),
             value=np.append(forest.value, forest.denominator), roots=forest.roots)
    return zlib.compress(buf.getvalue(), 1)


def forest_from_bytes(data: bytes) -> StationForest:
    """The forest :func:`forest_to_bytes` wrote; plain arrays only, so reading runs no code.
    Raises ValueError for anything else (another format, a damaged blob)."""
    try:
        with np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("meta", "features", "standardisation", "nodes", "value", "roots")}
    except (zlib.error, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a kept forest: {exc}") from None
    meta, standardisation, nodes, value = (arrays[k] for k in ("meta", "standardisation", "nodes", "value"))
    if int(meta[0]) != FOREST_FORMAT:
        raise ValueError(f"kept forest format {int(meta[0])}, this engine reads {FOREST_FORMAT}")
    return StationForest(features=tuple(str(f) for f in arrays["features"]), centre=standardisation[0],
                         scale=standardisation[1], roots=arrays["roots"], feature=nodes[0].astype(np.int8),
                         value=value[:-1], left=nodes[1], right=nodes[2], denominator=float(value[-1]),
                         fit_from=pd.Timestamp(int(meta[2])), fit_to=pd.Timestamp(int(meta[3])), rows=int(meta[1]))


@register("iforest", models={"iforest": None}, needs=("spatial",))
def iforest(panel: Panel, *, n_estimators: int = 100, max_samples: int = 256, seed: int = 0,
            min_rows: int = 48) -> dict[str, np.ndarray]:
    """Per-station IsolationForest anomaly score (-score_samples - 0.5, >= 0), per reading.

    A station with a kept forest of the same features (``panel.cache[KEPT_FORESTS]``) is scored
    with it, whatever its rows here; every other station with ``min_rows`` hours is fitted on
    its hours in the panel, and the fit is left in ``panel.cache[FITTED_FORESTS]``."""
    X, ctx, names = feature_cube(panel)
    centre, scale = feature_standardisation(X)
    kept = panel.cache.get(KEPT_FORESTS) or {}
    fitted = panel.cache.setdefault(FITTED_FORESTS, {})
    ids = panel.stations["station_id"].to_numpy()
    valid_any = np.isfinite(panel.values).any(axis=2)
    out = np.zeros(panel.shape)
    z_abs = np.nan_to_num(np.abs(spatial_fit_or_compute(panel)["z"]))

    def station(s: int) -> tuple[np.ndarray, np.ndarray, StationForest | None] | None:
        """(hours, anomaly per hour and parameter, the forest fitted here or None) of station s."""
        rows = np.nonzero(valid_any[s])[0]
        forest = kept.get(ids[s])
        if forest is not None and forest.features != names:
            forest = None  # the panel carries other parameters than the fit did
        if (forest is None and len(rows) < min_rows) or len(rows) == 0:
            return None
        c, sc = (centre[s, 0], scale[s, 0]) if forest is None else (forest.centre, forest.scale)
        Xs = np.concatenate([standardised(X[s, rows], c, sc), ctx[rows]], axis=1)
        new = None
        if forest is None:
            forest = new = fit_station_forest(Xs, names, c, sc, panel.times[rows], n_estimators=n_estimators,
                                              max_samples=max_samples, seed=seed)
        a = np.clip(forest_anomaly(forest, Xs) - 0.5, 0, None)
        share = z_abs[s, rows] / np.maximum(z_abs[s, rows].max(axis=1, keepdims=True), 1e-9)
        return rows, a[:, None] * (0.5 + 0.5 * share), new

    # stations are independent (each forest has its own seeded draws): ``panel.threads`` at once
    for s, res in enumerate(map_in_threads(station, range(panel.shape[0]), panel.threads)):
        if res is None:
            continue
        rows, anomaly, new = res
        out[s, rows] = anomaly
        if new is not None:
            fitted[ids[s]] = new
    return {"iforest": np.where(np.isfinite(panel.values), out, 0.0)}
