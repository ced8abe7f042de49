"""Quiet on honest networks: suspected-interference events per station-month where nothing is
planted - the demo's water sections, micro-stations and honest polluter outlets - next to the
data-completeness alarms (data_gap) the same stations raise.

Builds the demo store (sample data unless --full) with scoring, then counts from the store.
Usage: .venv/bin/python benchmarks/honest_quiet.py [--db var/honest.duckdb] [--full] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.store import connect  # noqa: E402
from envtrust.demo import build_demo  # noqa: E402

HOURS_PER_MONTH = 24 * 365.25 / 12
GROUPS = {"water sections": ("water_section",), "micro-stations": ("air_micro",),
          "honest outlets": ("polluter_outlet",), "national air stations": ("air_station",)}


def honest_rates(con) -> list[dict]:
    """Per group: stations without planted truth, their station-months (first to last reading),
    interference events and data gaps on them, per station-month."""
    out = []
    for name, kinds in GROUPS.items():
        marks = ",".join(f"'{k}'" for k in kinds)
        row = con.execute(f"""
            WITH honest AS (
              SELECT s.station_id FROM stations s WHERE s.kind IN ({marks})
                AND s.station_id NOT IN (SELECT station_id FROM demo_truth)),
            span AS (
              SELECT r.station_id, (epoch(max(ts)) - epoch(min(ts))) / 3600 + 1 AS hours
              FROM readings r JOIN honest USING (station_id) GROUP BY r.station_id)
            SELECT (SELECT count(*) FROM span), (SELECT coalesce(sum(hours), 0) FROM span),
                   (SELECT count(*) FROM events e JOIN span USING (station_id) WHERE e.kind <> 'data_gap'),
                   (SELECT count(*) FROM events e JOIN span USING (station_id) WHERE e.kind = 'data_gap')
        """).fetchone()
        n, hours, events, gaps = int(row[0]), float(row[1]), int(row[2]), int(row[3])
        months = hours / HOURS_PER_MONTH
        out.append({"group": name, "stations": n, "station_months": round(months, 1), "interference_events": events,
                    "per_station_month": round(events / months, 3) if months else None, "data_gaps": gaps,
                    "data_gaps_per_station_month": round(gaps / months, 3) if months else None})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="var/honest_quiet.duckdb")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    db = Path(args.db)
    if db.exists():
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build_demo(db, full=args.full, progress=False)
    con = connect(db, read_only=True)
    rows = honest_rates(con)
    con.close()
    print(f"demo ({'full' if args.full else 'sample'}) built and scored in {time.perf_counter() - t0:.0f} s")
    print("| group | stations | station-months | interference events | per station-month | data gaps | per station-month |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['group']} | {r['stations']} | {r['station_months']} | {r['interference_events']} | "
              f"{r['per_station_month']} | {r['data_gaps']} | {r['data_gaps_per_station_month']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
