"""How far today's detectors can reach at the analyst's workload: per network and kind, the share of
injected events whose station-hours ever rise above what the same split's un-injected data reach
0.3 times per station-month.

    .venv/bin/python benchmarks/event_ceiling.py --networks air,water,cems --seed 0 [--split held_out] [--candidates]

For each network (built and injected exactly as ``envtrust evaluate`` builds that split and seed)
the engine's event statistics are computed twice - on the un-injected data ("clean": the real
Beijing readings, the honest synthetic sections and outlets of the same generator seed) and on
the injected data - and, per statistic, the threshold at which the clean data alone open
``--rate`` events per station-month (``analytics.pipeline.thresholds.event_threshold``: the same
hysteresis and merging as events). A truth event is *visible* to a statistic when some hour of it
reaches that threshold. An event list built on that statistic, read to the rate, catches little
beyond the visible events whatever it ranks first (an oracle ranking; matching also accepts an
event within 6 h of the truth): the ceiling of own-event recall for that statistic. Statistics:

- ``combined``: the combined surprise as the engine opens events with it (the 12 h rolling mean at
  water sections and outlets, the hour itself at air stations);
- ``openers``: the combined opener or one of the models that open events alone at that station
  (outage at air stations; outage, flatline, the spike models ... at water sections; over their
  rolling windows), each at its own clean threshold at the rate - so up to (1 + models) x the rate
  in all: an upper bound of what today's openers can reach;
- ``any model``: some model's station-hour surprise above its own clean threshold at the rate -
  each of ~20 models spending the whole rate, so a loose upper bound, not an operating point.

``--candidates`` also measures candidate openers for evidence the combined surprise does not carry
(:func:`candidate_statistics`: models graded over days, every analyser copied at once, a Page CUSUM
of the neighbour residual), each at its own clean threshold at the rate and - what a shared budget
allows - with today's openers at a third of it.

Nothing is tuned here; read on the development split during tuning.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.ensemble import combine  # noqa: E402
from analytics.evaluation.inject import AIR_KINDS, CEMS_KINDS, WATER_KINDS, inject_interference  # noqa: E402
from analytics.evaluation.metrics import station_hour_grid, station_months  # noqa: E402
from analytics.events import persistent_surprise, station_hour_surprise  # noqa: E402
from analytics.pipeline import at_capacity, load_pipeline  # noqa: E402
from analytics.pipeline.run import event_surprise, run_models, scoring_surprise  # noqa: E402
from analytics.pipeline.thresholds import event_threshold, in_run_thresholds, station_spans  # noqa: E402
from data.adapters.beijing import read_prsa_pollutants  # noqa: E402
from envtrust.evaluation import harness as H  # noqa: E402
from envtrust.settings import load_settings  # noqa: E402


def network_split(net: str, k: int, seed: int, beijing_dir: Path):
    """Readings (un-injected), stations, kinds and injection seed of one network on split ``k``,
    as ``envtrust evaluate`` builds them."""
    split = H.FULL_SPLITS[k]
    if net == "air":
        r, s = read_prsa_pollutants(beijing_dir)
        return H.select_period(r, split), s, AIR_KINDS, seed * 1000 + 2 * k
    if net == "water":
        iseed = seed * 1000 + H.WATER_SEED_OFFSET + 2 * k
        r, s, _ = H.water_network(split.start_cst, split.end_cst, iseed, rain_mm=H.load_beijing_rain(beijing_dir))
        return r, s, WATER_KINDS, iseed
    iseed = seed * 1000 + 2 * k + 1
    r, s, _ = H.cems_network(split.start_cst, split.end_cst, iseed)
    return r, s, CEMS_KINDS, iseed


def event_statistics(readings: pd.DataFrame, stations: pd.DataFrame, pipe, candidates: bool = False,
                     tails: dict | None = None) -> dict:
    """Station-hour statistics [S, T] the engine's events read (see the module docstring), with the
    panel's station ids, hours and each station's months in its span; with ``candidates`` also the
    candidate openers of :func:`candidate_statistics` (raw ones scaled by ``tails``, fitted here
    when None - on the clean data)."""
    panel, _, _, raw = run_models(readings, stations, pipe)
    surprise, _, uncal = scoring_surprise(panel, raw, pipe)
    ev_surprise = event_surprise(raw, surprise, pipe, panel.parameters)
    plain = combine(ev_surprise, pipe.ensemble)
    per_station = in_run_thresholds(panel, plain, ev_surprise, pipe, uncal)
    peak = station_hour_surprise(plain)
    persistent = per_station.persistent[:, None]
    stats = {"combined": np.where(persistent, persistent_surprise(peak, per_station.window_h), peak)}
    for m, thr in per_station.model_thresholds.items():  # the models that open events alone, where they do
        if m in ev_surprise and np.isfinite(thr).any():
            x = np.max(ev_surprise[m], axis=2)
            w = int(per_station.model_window_h.get(m, 1))
            x = np.where(persistent, persistent_surprise(x, w), x) if w > 1 else x
            stats[f"own:{m}"] = np.where(np.isfinite(np.broadcast_to(thr, (x.shape[0],)))[:, None], x, 0.0)
    stats.update({f"model:{m}": np.max(x, axis=2) for m, x in ev_surprise.items()})
    first, last = station_spans(panel)
    t = np.arange(peak.shape[1])[None, :]
    in_span = (t >= first[:, None]) & (t <= last[:, None])
    if candidates:
        cand, tails = candidate_statistics(panel, ev_surprise, in_span, tails)
        stats.update(cand)
    return {"stats": stats, "tails": tails, "in_span": in_span,
            "stations": [str(s) for s in panel.stations["station_id"]], "times": pd.DatetimeIndex(panel.times)}


#: rolling windows (h) over which a model's station-hour surprise is graded as a candidate opener
GRADED_WINDOWS_H = (24, 72)
#: Page CUSUM allowance, in units of the daily residual's slow wander (drift.residual_scale)
CUSUM_ALLOWANCE = 0.5


def page_cusum_days(z: np.ndarray, allowance: float = CUSUM_ALLOWANCE) -> np.ndarray:
    """[S, D, P] two-sided Page CUSUM of daily residuals ``z`` (NaN days carry the sum over):
    max(S+, S-) with S+ = max(0, S+ + z - k), S- = max(0, S- - z - k) - a bias that keeps
    growing day after day piles up; one that wanders back and forth does not."""
    up = np.zeros(z.shape[::2])
    down = np.zeros_like(up)
    out = np.zeros(z.shape)
    for d in range(z.shape[1]):
        zd = z[:, d]
        ok = np.isfinite(zd)
        up = np.where(ok, np.maximum(0.0, up + np.where(ok, zd, 0.0) - allowance), up)
        down = np.where(ok, np.maximum(0.0, down - np.where(ok, zd, 0.0) - allowance), down)
        out[:, d] = np.maximum(up, down)
    return out


def candidate_statistics(panel, ev_surprise: dict[str, np.ndarray], in_span: np.ndarray,
                         tails: dict | None) -> tuple[dict[str, np.ndarray], dict]:
    """Candidate openers [S, T] for evidence the combined surprise does not carry (session 10):

    - ``graded:M:W``: model M's station-hour surprise (max over parameters) as a centred W-hour
      rolling mean - a copy or a ramp lasts days, one rare hour does not;
    - ``allparams:donor_copy:W``: the *smallest* donor_copy surprise over the station's parameters,
      rolled over W hours - a copied station has every analyser collapse onto a donor at once;
    - ``cusum``: Page CUSUM of the neighbour residual's daily means (drift's units: the slow
      wander), max over parameters, spread to the day's hours and scaled by its clean tail.
    """
    from analytics.detectors.drift import daily_means, residual_scale
    from analytics.detectors.spatial import spatial_fit_or_compute
    from analytics.ensemble import fit_tail

    out = {}
    for m in ("drift", "drift_ramp", "donor_copy", "donor_smooth", "spatial_low", "suppression"):
        if m in ev_surprise:
            x = np.max(ev_surprise[m], axis=2)
            for w in GRADED_WINDOWS_H:
                out[f"graded:{m}:{w}"] = persistent_surprise(x, w)
    if "donor_copy" in ev_surprise:
        has = np.isfinite(panel.values)
        low = np.min(np.where(has, ev_surprise["donor_copy"], np.inf), axis=2)
        low = np.where(np.isfinite(low), low, 0.0)
        for w in GRADED_WINDOWS_H:
            out[f"allparams:donor_copy:{w}"] = persistent_surprise(low, w)
    days = daily_means(spatial_fit_or_compute(panel)["resid"])
    z = days / np.maximum(residual_scale(days), 0.02)
    cusum = np.max(np.nan_to_num(page_cusum_days(z)), axis=2)
    raw = {"cusum": np.repeat(cusum, 24, axis=1)[:, : in_span.shape[1]]}
    tails = tails or {n: fit_tail(x[in_span]) for n, x in raw.items()}
    out.update({n: tails[n].surprise(x) for n, x in raw.items()})
    return out, tails


def clean_thresholds(clean: dict, settings, months: float, rate: float) -> dict[str, float]:
    """Per statistic, the threshold at which the clean data open ``rate`` events per station-month
    (12.0 - beyond every surprise - where even the strictest opens more)."""
    return {name: event_threshold(np.where(clean["in_span"], x, 0.0), settings, months, rate)
            for name, x in clean["stats"].items()}


def truth_maxima(injected: dict, truth: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per statistic, its largest value over each truth event's hours at its station."""
    pos = {s: i for i, s in enumerate(injected["stations"])}
    times = injected["times"]
    out = {name: np.full(len(truth), -np.inf) for name in injected["stats"]}
    for j, ev in enumerate(truth.itertuples(index=False)):
        s = pos[str(ev.station_id)]
        a, b = times.searchsorted(pd.Timestamp(ev.start)), times.searchsorted(pd.Timestamp(ev.end), side="right")
        for name, x in injected["stats"].items():
            out[name][j] = float(np.max(x[s, a:b])) if b > a else -np.inf
    return out


def candidate_shares(truth: pd.DataFrame, maxima: dict[str, np.ndarray], thresholds: dict[str, float],
                     shared: dict[str, float], kinds: tuple[str, ...]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per candidate opener and kind: (share visible at its own threshold at the rate, share visible
    to today's openers or the candidate at the ``shared`` threshold - a third of the rate)."""
    tk = truth["kind"].to_numpy()
    today = np.any([maxima[n] >= thresholds[n] for n in maxima if n.startswith(("combined", "own:"))], axis=0)
    rows = {}
    for name in [n for n in maxima if n.startswith(("graded:", "allparams:", "cusum", "model:drift", "model:donor"))]:
        own, both = maxima[name] >= thresholds[name], today | (maxima[name] >= shared[name])
        rows[name] = {kd: (float(own[tk == kd].mean()), float(both[tk == kd].mean())) for kd in kinds if (tk == kd).any()}
        rows[name]["all"] = (float(own.mean()), float(both.mean()))
    return rows


def visible_shares(truth: pd.DataFrame, maxima: dict[str, np.ndarray], thresholds: dict[str, float]) -> dict:
    """Per kind (and overall): the share of truth events visible to the combined opener, to any of
    the engine's openers, and to any model, each at its own threshold."""
    kinds = truth["kind"].to_numpy()

    def any_of(prefixes: tuple[str, ...]) -> np.ndarray:
        names = [n for n in maxima if n.startswith(prefixes)]
        return np.any([maxima[n] >= thresholds[n] for n in names], axis=0)

    seen = {"combined": maxima["combined"] >= thresholds["combined"], "openers": any_of(("combined", "own:")),
            "any model": any_of(("model:",))}
    rows = {"all": {k: float(v.mean()) for k, v in seen.items()}}
    for kd in sorted(set(kinds)):
        rows[kd] = {k: float(v[kinds == kd].mean()) for k, v in seen.items()}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="air,water,cems")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="development", choices=[s.name for s in H.FULL_SPLITS])
    ap.add_argument("--rate", type=float, default=0.3, help="events per station-month the clean data may open")
    ap.add_argument("--json", default="", help="also write the figures here")
    ap.add_argument("--candidates", action="store_true",
                    help="also measure the candidate openers of candidate_statistics (per kind: at their own "
                         "rate, and with today's openers at a third of it)")
    args = ap.parse_args(argv)
    beijing_dir = Path(load_settings().shared_data or "") / "beijing_multisite_aq"
    if not beijing_dir.is_dir():
        raise SystemExit("needs the full Beijing data (ENVTRUST_SHARED_DATA)")
    k = [s.name for s in H.FULL_SPLITS].index(args.split)
    capacity = load_settings().analyst_capacity["air"]
    out = {}
    for net in args.networks.split(","):
        c0, t0 = time.process_time(), time.perf_counter()
        readings, stations, kinds, iseed = network_split(net, k, args.seed, beijing_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            injected, truth = inject_interference(readings, stations, kinds=list(kinds),
                                                  n_per_kind=H.FULL_N_PER_KIND, seed=iseed)
        pipe = at_capacity(load_pipeline("default"), capacity)
        months = station_months(station_hour_grid(readings))
        clean = event_statistics(readings, stations, pipe, args.candidates)
        thr = clean_thresholds(clean, pipe.events, months, args.rate)
        maxima = truth_maxima(event_statistics(injected, stations, pipe, args.candidates, clean["tails"]), truth)
        shares = visible_shares(truth, maxima, thr)
        out[net] = {"thresholds": {n: v for n, v in thr.items() if n.startswith(("combined", "own:"))},
                    "visible": shares, "cpu_s": round(time.process_time() - c0, 1),
                    "wall_s": round(time.perf_counter() - t0, 1)}
        print(f"\n{net}, {args.split}, seed {args.seed} (injection {iseed}), clean data at {args.rate:g} "
              f"events/stn-month: {', '.join(f'{n} {v:.1f}' for n, v in out[net]['thresholds'].items())}; "
              f"{out[net]['cpu_s']} s CPU, {out[net]['wall_s']} s wall")
        print("| kind | combined | openers | any model |\n|---|---|---|---|")
        for kd, row in shares.items():
            print(f"| {kd} | {row['combined']:.2f} | {row['openers']:.2f} | {row['any model']:.2f} |", flush=True)
        if args.candidates:
            shared = {n: event_threshold(np.where(clean["in_span"], clean["stats"][n], 0.0), pipe.events, months,
                                         args.rate / 3) for n in clean["stats"] if n in maxima}
            cand = candidate_shares(truth, maxima, thr, shared, tuple(kinds))
            out[net]["candidates"] = cand
            print(f"\ncandidates: visible at their own {args.rate:g} / today's openers + candidate at {args.rate / 3:.2g}")
            print("| candidate | " + " | ".join(list(next(iter(cand.values())))) + " |")
            for name, row in cand.items():
                print(f"| {name} (thr {thr[name]:.1f} / {shared[name]:.1f}) | "
                      + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in row.values()) + " |", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
