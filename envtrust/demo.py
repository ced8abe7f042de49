"""Build the demo database: real air data, national stations, water and polluter networks.

What goes in (``docs/demo-network.md``):

1. **Stations**: the 12 Beijing stations (real coordinates, CNEMC codes) and the ~2,000
   national stations of the CNEMC list; micro-sensor rings around six Beijing stations
   (:mod:`data.synthetic.micro`); water sections on real rivers (:mod:`geo.sections`); polluter
   outlets (:mod:`data.synthetic.polluters`). Admin codes from ``geo.admin.assign_admin``.
2. **Readings**, all through ``data.ingest`` (validated, quarantined with reasons, accounted):
   the Beijing set (the full 4 years when ``../shared/data`` is present, else the shipped
   sample), the real national day 2017-01-01, micro-sensor data for the Beijing period, water
   and polluter data for the last 12 months of that period (full) or the sample window.
3. ``store.sort_readings``, the demo users (passwords printed and written to
   ``demo-accounts.txt`` next to the database), the planted ground truth in ``demo_truth``,
   and plausibility scores (:func:`envtrust.scoring.score_store`).
4. Contractors and labs with dated assignments and a season of manual comparison samples
   (:mod:`data.synthetic.contractors`; one operator's analysers drift low).

One seed drives every generator; the same seed and data give the same database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from analytics.timeconv import CST_OFFSET
from data import SAMPLE_DIR
from data.adapters.beijing import read_beijing_stations
from data.adapters.cnemc import read_cnemc_station_list
from data.demo import (
    beijing_rain_mm,
    count_stations,
    parent_readings,
    reading_span,
    record_demo_build,
    store_columns,
    store_truth,
)
from data.ingest import ingest_files, ingest_readings, ingest_stations
from data.store import connect, sort_readings
from data.synthetic.micro import DEFAULT_PARENTS, generate_micro, micro_stations
from data.synthetic.polluters import generate_polluters, polluter_outlets
from data.synthetic.water import generate_water
from data.users import add_user
from data.views import build_map_cache
from envtrust.contractors import build_demo_contractors
from envtrust.demo_cases import open_demo_cases
from envtrust.release import release_demo
from envtrust.scoring import score_store
from envtrust.settings import load_settings
from geo.admin import assign_admin
from geo.layers import load_layer
from geo.sections import demo_sections

DEMO_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    # username, password, role, display name
    ("leader", "leader-demo-2017", "leader", "局领导 (demo)"),
    ("analyst", "analyst-demo-2017", "analyst", "分析员 (demo)"),
    ("admin", "admin-demo-2017", "admin", "管理员 (demo)"),
    ("enforcer", "enforcer-demo-2017", "enforcement", "执法人员 (demo)"),
)
#: Water and polluters cover the last 12 months of the full Beijing period (local time).
FULL_SYNTHETIC_WINDOW_CST: tuple[str, str] = ("2016-03-01 00:00", "2017-02-28 23:00")


@dataclass
class DemoSummary:
    """What a build did: counts per step, accounting, timings (seconds)."""

    db_path: str
    full: bool
    seed: int
    stations: dict[str, int] = field(default_factory=dict)
    station_rows_quarantined: int = 0
    rows_in: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    truth_events: int = 0
    contractors: dict[str, int] = field(default_factory=dict)
    scoring: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: bool = False

    def add(self, report) -> None:
        report.check()
        self.rows_in += report.rows_in
        self.rows_stored += report.rows_stored
        self.rows_duplicate += report.rows_duplicate
        self.rows_quarantined += report.rows_quarantined
        for k, v in report.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    def lines(self) -> list[str]:
        out = [f"demo store {self.db_path} ({'full' if self.full else 'sample'} data, seed {self.seed})"]
        out.append("stations: " + ", ".join(f"{k} {v:,}" for k, v in self.stations.items())
                   + f" ({self.station_rows_quarantined} station rows quarantined, e.g. no coordinates)")
        out.append(f"readings: {self.rows_in:,} in = {self.rows_stored:,} stored + {self.rows_duplicate:,} "
                   f"duplicates + {self.rows_quarantined:,} quarantined"
                   + (" (" + ", ".join(f"{k} {v:,}" for k, v in sorted(self.reasons.items())) + ")"
                      if self.reasons else ""))
        out.append(f"planted interference (demo_truth): {self.truth_events}")
        if self.contractors:
            out.append("contractors: " + ", ".join(f"{k} {v:,}" for k, v in self.contractors.items()))
        out.append(f"scoring: {self.scoring}")
        out.append("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()))
        return out


def data_sources(full: bool, shared: Path | None) -> dict[str, object]:
    """Where each real input comes from (full: ../shared/data; else the shipped sample)."""
    if full:
        if shared is None or not (shared / "beijing_multisite_aq").is_dir():
            raise FileNotFoundError("full demo data requested but ../shared/data/beijing_multisite_aq is missing")
        bj = shared / "beijing_multisite_aq"
        cn = shared / "cnemc_national_aq"
    else:
        bj = SAMPLE_DIR / "beijing"
        cn = SAMPLE_DIR / "cnemc"
    return {
        "beijing_files": sorted(bj.glob("PRSA_Data_*.csv.gz")),
        "beijing_stations": bj / "stations_beijing12.csv",
        "cnemc_day": cn / "china_sites_20170101.csv.gz",
        "cnemc_stations": cn / "station_list_cnemc_2024.csv",
    }


def accounts_file(db_path: str | Path) -> Path:
    return Path(db_path).resolve().parent / "demo-accounts.txt"


def accounts_text() -> str:
    lines = ["envtrust demo accounts (demo only; change them before any real use):"]
    lines += [f"  {role:<8} user {user:<8} password {pw}" for user, pw, role, _ in DEMO_ACCOUNTS]
    return "\n".join(lines)


def add_demo_users(con: duckdb.DuckDBPyConnection, db_path: str | Path) -> Path:
    """Create (or reset) the demo users and write their passwords next to the database."""
    for user, pw, role, display in DEMO_ACCOUNTS:
        add_user(con, user, pw, role, display_name=display, replace=True)
    path = accounts_file(db_path)
    path.write_text(accounts_text() + "\n", encoding="utf-8")
    return path


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="envtrust demo", unit="step")


# The demo scores the most recent quarter (the centre's working window); `envtrust score --db`
# without --last-days re-scores all four years (several minutes on two cores).
DEMO_SCORE_DAYS = 92.0


def build_demo(db_path: str | Path, *, full: bool | None = None, seed: int = 20170101,
               progress: bool = True, score: bool = True, score_days: float | None = DEMO_SCORE_DAYS,
               log: Callable[[str], None] | None = None) -> DemoSummary:
    """Build (or complete) the demo store at ``db_path``; return what was done.

    ``full``: None = use the full real data when ``../shared/data`` exists. ``score``: run
    :func:`envtrust.scoring.score_store` afterwards (``envtrust score`` can do it later).
    Re-running on the same store adds nothing new (ingest is idempotent) and rewrites the
    ground truth.
    """
    settings = load_settings()
    full = settings.has_full_data if full is None else full
    src = data_sources(full, settings.shared_data)
    summary = DemoSummary(str(db_path), full, seed)
    say = log or (lambda _m: None)
    steps = ["stations", "beijing", "national day", "micro", "water", "polluters", "sort", "contractors", "users",
             "scoring"]
    bar = _bar(len(steps), progress)
    t_all = time.perf_counter()

    def step(name: str, t0: float) -> None:
        summary.seconds[name] = time.perf_counter() - t0
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)
        say(f"{name}: {summary.seconds[name]:.1f}s")

    con = connect(db_path)
    con.execute("SET enable_progress_bar = false")  # our own bar (tqdm) tells the story
    try:
        # 1. stations
        t0 = time.perf_counter()
        national = read_cnemc_station_list(src["cnemc_stations"])
        beijing = read_beijing_stations(src["beijing_stations"])
        bj_ids = sorted(beijing["station_id"])
        national = national[~national["station_id"].isin(bj_ids)]
        beijing_shape = _beijing_polygon(load_layer("bth_cities"))
        sensors = micro_stations(beijing[beijing["station_id"].isin(DEFAULT_PARENTS)], seed=seed,
                                 land=beijing_shape)
        sections = demo_sections()
        outlets = polluter_outlets()
        station_sets = ((national, str(src["cnemc_stations"]), "cnemc_stations"),
                        (beijing, str(src["beijing_stations"]), "beijing_stations"),
                        (sensors, "synthetic:micro", "synthetic"), (sections, "geo.sections", "synthetic"),
                        (outlets, "synthetic:polluters", "synthetic"))
        for frame, source, fmt in station_sets:
            rep = ingest_stations(con, store_columns(con, assign_admin(frame)), source, fmt)
            rep.check()
            summary.station_rows_quarantined += rep.rows_quarantined
        step("stations", t0)

        # 2. real Beijing hours and 3. the national day, through the file adapters
        t0 = time.perf_counter()
        for rep in ingest_files(con, src["beijing_files"], fmt="beijing", progress=False):
            summary.add(rep)
        step("beijing", t0)
        t0 = time.perf_counter()
        for rep in ingest_files(con, [src["cnemc_day"]], fmt="cnemc_day", progress=False):
            summary.add(rep)
        step("national day", t0)

        # 4. micro-sensors derived from the stored real readings
        t0 = time.perf_counter()
        parents = parent_readings(con, sorted(set(sensors["parent_station"])))
        micro = generate_micro(parents, sensors, seed=seed)
        summary.add(ingest_readings(con, micro, "synthetic:micro", "synthetic"))
        del parents, micro
        step("micro", t0)

        # 5. water and 6. polluters over the synthetic window
        lo, hi = _synthetic_window(con, bj_ids, full)
        t0 = time.perf_counter()
        rain = beijing_rain_mm(con, bj_ids)
        water = generate_water(sections, lo, hi, seed=seed, rain_mm=rain)
        summary.add(ingest_readings(con, water, "synthetic:water", "synthetic"))
        del water
        step("water", t0)
        t0 = time.perf_counter()
        cems, truth = generate_polluters(outlets, lo, hi, seed=seed)
        summary.add(ingest_readings(con, cems, "synthetic:polluters", "synthetic"))
        summary.truth_events = store_truth(con, truth, "synthetic:polluters", seed)
        del cems
        step("polluters", t0)

        t0 = time.perf_counter()
        sort_readings(con)
        build_map_cache(con)
        step("sort", t0)
        t0 = time.perf_counter()
        summary.contractors = build_demo_contractors(con, lo, hi, seed=seed, beijing_air=bj_ids,
                                                     season_days=DEMO_SCORE_DAYS)
        summary.contractors["assessment_units"] = _assess(con, full)
        step("contractors", t0)
        t0 = time.perf_counter()
        add_demo_users(con, db_path)
        step("users", t0)

        t0 = time.perf_counter()
        summary.scoring = (_score(con, progress, score_days) if score else
                           "skipped (--no-score): `envtrust serve` scores it in the background, or run `envtrust score`")
        if score:
            summary.scoring += "; " + open_demo_cases(con)
        step("scoring", t0)
        release_demo(con)
        summary.stations = count_stations(con)
        summary.seconds["total"] = time.perf_counter() - t_all
        record_demo_build(con, seed, full, json.dumps(asdict(summary), ensure_ascii=False, default=str))
    finally:
        if bar is not None:
            bar.close()
        con.close()
    return summary


def finish_demo_after_scoring(con: duckdb.DuckDBPyConnection) -> str:
    """After a demo store's first scoring run (``envtrust serve`` scores a store built with
    ``--no-score``): open the cases of the planted outlets, as a scored build does."""
    from data.demo import demo_exists

    return open_demo_cases(con) if demo_exists(con) else ""


def _assess(con: duckdb.DuckDBPyConnection, full: bool) -> int:
    """Store a county assessment of the demo's Beijing year (full) or month (sample) for the leaders' page."""
    from envtrust.assessment import policy_from_settings, run_assessment

    _, result = run_assessment(con, "2016" if full else "2016-12", "county", policy_from_settings(load_settings()),
                               by="demo")
    return len(result.units)


def _synthetic_window(con, bj_ids: list[str], full: bool) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC hours covered by water and polluters: the last 12 months (full) or the sample span."""
    if full:
        lo, hi = (pd.Timestamp(t) - CST_OFFSET for t in FULL_SYNTHETIC_WINDOW_CST)
        return lo, hi
    return reading_span(con, bj_ids)


def _beijing_polygon(cities: dict):
    from shapely.geometry import shape

    for f in cities["features"]:
        if str(f["properties"].get("city_adcode")) == "110000":
            return shape(f["geometry"])
    return None


def _score(con: duckdb.DuckDBPyConnection, progress: bool, last_days: float | None) -> str:
    """Score the store's recent window with the plausibility engine."""
    settings = load_settings()
    return str(score_store(con, progress=progress, last_days=last_days,
                           capacity=settings.analyst_capacity["air"], threads=settings.score_threads))
