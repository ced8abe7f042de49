"""Measure envtrust honestly: inject interference into real data and score it with envtrust and
naive baselines (range/flatline/jump rules, buddy check, STL residuals, IsolationForest).

Uses the full Beijing 2013-2017 set from the shared data folder when present, else the shipped
sample (the report says which). Two splits are reported separately: development (tuning
allowed) and held-out (never tuned on). Networks: Beijing air (real), CEMS outlets and surface-water
sections (the project's honest synthetic networks). Also scores the real CNEMC national day 2017-01-01.

Examples:
  envtrust evaluate --quick                      # the sample, well under a minute
  envtrust evaluate --out benchmarks/out/eval    # full data when present
  envtrust evaluate --quick --networks water     # one network alone (air, cems, water)
  envtrust evaluate --pipeline /path/to/copy/    # a pipeline copied elsewhere (TOML or folder with default.toml)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from envtrust.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder with beijing_multisite_aq/ (or PRSA_Data_*.csv files); "
                                           "default: the shared data folder when present, else the sample")
    parser.add_argument("--out", default="benchmarks/out/evaluation", help="output folder (JSON, Markdown, truth CSV)")
    parser.add_argument("--quick", action="store_true", help="use the shipped sample only (fast; used by tests)")
    parser.add_argument("--seed", type=int, default=0, help="injection seed (default 0)")
    parser.add_argument("--n-per-kind", type=int, default=None,
                        help="events per kind and network (default 30 on full data, 3 on the sample)")
    parser.add_argument("--methods", default=None,
                        help="comma list from envtrust,rules,buddy,stl,iforest (default: all available)")
    parser.add_argument("--networks", default=None,
                        help="comma list from air,cems,water: the networks evaluated (default: all three)")
    parser.add_argument("--pipeline", default="default",
                        help="the envtrust pipeline evaluated: a TOML file, a folder holding default.toml (as written "
                             "by --fit-combiner --pipeline-dir), or a name in analytics/pipelines/ (default: default)")
    parser.add_argument("--no-replay-verdicts", action="store_true",
                        help="skip the verdict replay (the development split's simulated analyst verdicts "
                             "installed for a second envtrust run on held-out)")
    parser.add_argument("--fit-combiner", action="store_true",
                        help="instead of evaluating: fit the learned combiner on the DEVELOPMENT split (injection "
                             "seeds the evaluation never uses), write analytics/pipelines/default.combiner.json and "
                             "re-calibrate default.calibration.json on the clean development split")
    parser.add_argument("--fit-clean-events", action="store_true",
                        help="instead of evaluating: fit only the water and CEMS event thresholds on their honest "
                             "synthetic networks over the development period (part of --fit-combiner) and write "
                             "them into default.calibration.json")
    parser.add_argument("--fit-event-ranker", action="store_true",
                        help="instead of evaluating: fit the air reference stations' learned event ranker on the "
                             "DEVELOPMENT split (the combiner's injection seeds, the list opened at capacity 1.0) "
                             "and write analytics/pipelines/default.event_ranker.json")
    parser.add_argument("--pipeline-dir", default=None,
                        help="with --fit-combiner, --fit-clean-events or --fit-event-ranker: write the combiner and calibration files here instead of "
                             "analytics/pipelines/ (the default pipeline's TOML is copied next to them)")


def code_provenance() -> dict:
    """Git commit of the code evaluated and which engine files differ from it (so figures are traceable)."""
    import subprocess

    from envtrust.settings import REPO_ROOT

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "analytics", "data/scoring.py").splitlines()
             if line[:2].strip() and not line[3:].startswith("analytics/evaluation")]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "engine_files_modified": dirty}


def run(args: argparse.Namespace) -> int:
    from envtrust.evaluation.harness import render_markdown, run_evaluation, write_report

    if args.n_per_kind is not None and args.n_per_kind < 1:
        raise UserError("--n-per-kind must be at least 1")
    if args.fit_event_ranker:
        try:
            return fit_event_ranker(args)
        except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
            raise UserError(str(exc)) from None
    if args.fit_combiner or args.fit_clean_events:
        try:
            return fit_combiner_on_development(args)
        except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
            raise UserError(str(exc)) from None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        report = run_evaluation(data_dir=args.data_dir, quick=args.quick, seed=args.seed,
                                n_per_kind=args.n_per_kind, methods=methods, networks=args.networks,
                                pipeline=args.pipeline, replay_verdicts=not args.no_replay_verdicts,
                                progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    report["provenance"] = code_provenance()
    command = "envtrust evaluate " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 \
        else "envtrust evaluate"
    paths = write_report(report, Path(args.out), command)
    print(render_markdown(report, command))
    print(f"wrote {', '.join(str(p) for p in paths[:2])} (+{len(paths) - 2} truth files)")
    return 0


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def development_split(args: argparse.Namespace):
    """(Beijing folder, the development split, its readings, the stations) for a fit."""
    from envtrust.evaluation.harness import (
        FULL_SPLITS,
        SAMPLE_SPLITS,
        _beijing_source,
        read_prsa_pollutants,
        select_period,
    )
    from envtrust.settings import load_settings

    beijing_dir, source = _beijing_source(args.data_dir, args.quick, load_settings())
    readings, stations = read_prsa_pollutants(beijing_dir)
    dev = (FULL_SPLITS if source == "full" else SAMPLE_SPLITS)[0]
    part = select_period(readings, dev)
    say(f"development split {dev.start_cst} .. {dev.end_cst} CST ({source}): {len(part):,} readings")
    return beijing_dir, dev, part, stations


def fit_event_ranker(args: argparse.Namespace) -> int:
    """Fit the event ranker on the development split (:mod:`envtrust.evaluation.event_ranker`) and
    write it next to the pipeline's other fitted files."""
    from analytics.pipeline import PIPELINE_DIR
    from envtrust.evaluation.event_ranker import fit_event_ranker_on_development, write_event_ranker

    _, _, part, stations = development_split(args)
    out_dir = Path(args.pipeline_dir) if args.pipeline_dir else PIPELINE_DIR
    ranker = fit_event_ranker_on_development(part, stations, pipeline=str(out_dir / "default.toml"), progress=say)
    path = write_event_ranker(ranker, out_dir / "default.event_ranker.json")
    print(f"wrote {path}")
    return 0


def fit_combiner_on_development(args: argparse.Namespace) -> int:
    """Fit the combiner, then re-calibrate the pipeline (alarm level, combined tail, the water and CEMS
    clean event thresholds) - development split only; ``--fit-clean-events``: the last alone."""
    import json
    import shutil

    from analytics.pipeline import PIPELINE_DIR, calibrate
    from envtrust.evaluation.combiner import (
        fit_cems_on_development,
        fit_clean_events_on_development,
        fit_on_development,
        fit_water_on_development,
        write_combiner,
    )
    from envtrust.evaluation.harness import load_beijing_rain

    beijing_dir, dev, part, stations = development_split(args)
    out_dir = Path(args.pipeline_dir) if args.pipeline_dir else PIPELINE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline = str(out_dir / "default.toml")
    if out_dir != PIPELINE_DIR:  # a separate pipeline folder: start from the shipped pipeline and calibration
        for name in ("default.toml", "default.calibration.json"):
            shutil.copyfile(PIPELINE_DIR / name, out_dir / name)
    rain = load_beijing_rain(beijing_dir)
    cal_path = out_dir / "default.calibration.json"
    if args.fit_clean_events:  # the water and CEMS event thresholds only; the rest of the calibration stays
        cal = json.loads(cal_path.read_text(encoding="utf-8"))
        cal["clean_events"] = fit_clean_events_on_development(dev.start_cst, dev.end_cst, pipeline,
                                                              rain_mm=rain, progress=say)
        cal_path.write_text(json.dumps(cal, indent=1) + "\n", encoding="utf-8")
        print(f"clean event thresholds: {cal['clean_events']['thresholds']}; wrote {cal_path}")
        return 0
    # the models' clean tails first: the combiner learns from surprises, and after a detector change
    # the shipped tails describe the old statistics (the alarm level is re-fitted again below)
    say("calibrating the models' clean tails on the development split")
    cal = calibrate(part, stations, pipeline)
    (out_dir / "default.calibration.json").write_text(json.dumps(cal, indent=1) + "\n", encoding="utf-8")
    combiner = fit_on_development(part, stations, pipeline=pipeline, progress=say)
    path = write_combiner(combiner, out_dir / "default.combiner.json")
    say(f"wrote {path}; CEMS outlets over the same period")
    cems = fit_cems_on_development(dev.start_cst, dev.end_cst, pipeline=pipeline, progress=say)
    write_combiner(cems, out_dir / "default.combiner.cems.json")
    say("water sections over the same period")
    water = fit_water_on_development(dev.start_cst, dev.end_cst, pipeline=pipeline, rain_mm=rain, progress=say)
    write_combiner(water, out_dir / "default.combiner.water.json")
    say(f"wrote {path}; re-calibrating on the clean development split")
    cal = calibrate(part, stations, pipeline)
    cal["clean_events"] = fit_clean_events_on_development(dev.start_cst, dev.end_cst, pipeline,
                                                          rain_mm=rain, progress=say)
    cal_path.write_text(json.dumps(cal, indent=1) + "\n", encoding="utf-8")
    print(f"combiner: {len(combiner.features)} features; alarm level {cal['alarm_level']:.2f}; "
          f"event threshold {cal['event_threshold']}; wrote {path} and {cal_path}")
    return 0
