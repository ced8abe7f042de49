"""The enforcement inbox on a scored store: what the officer's header counts, what waits for the
analyst's determination, what goes to the monitoring centre's list, which rows show the other language, and the CPU of one render.

Works on a copy of the store (the original is never opened: a running server may hold it).
Usage: .venv/bin/python benchmarks/inbox.py --db var/envtrust.duckdb [--renders 10] [--fresh]
``--fresh`` deletes the copy's open alarms and raises them again over the last scoring run's window
(what a fresh ``make run`` would hold), timing the rules.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.vocabulary import in_language  # noqa: E402
from dashboard.internal.pages import cases_inbox  # noqa: E402
from data import alarms as alarm_sql  # noqa: E402
from data.store import connect  # noqa: E402
from envtrust import cases  # noqa: E402
from envtrust.alarms import (  # noqa: E402
    ENFORCEMENT,
    REVIEW,
    alarm_audiences,
    raise_alarms,
    readable_summaries,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def raise_afresh(con) -> str:
    """Delete the open alarms and their unsent pushes; raise again over the last scoring window."""
    since = con.execute("SELECT scored_from FROM scoring_state ORDER BY finished_at DESC LIMIT 1").fetchone()
    con.execute("DELETE FROM webhook_outbox WHERE delivered_at IS NULL")
    con.execute("DELETE FROM alarms WHERE status = 'open'")
    c0, t0 = cpu_s(), time.perf_counter()
    summary = raise_alarms(con, since=since[0] if since else None)
    return f"{summary}; {cpu_s() - c0:.1f} s CPU, {time.perf_counter() - t0:.1f} s wall"


def counts(con) -> list[str]:
    """The officer's header, the monitoring list, and how many shown summaries are in the wrong
    language (Chinese UI: no Chinese; English UI: the Chinese half, not counting station names)."""
    alarms = alarm_sql.alarms_table(con, ("open",))
    audience = alarm_audiences(alarms)
    out = [f"open alarms {len(alarms)}: enforcement (officer's header) {int((audience == ENFORCEMENT).sum())}, "
           f"analyst's determination list {int((audience == REVIEW).sum())}, "
           f"monitoring list {int(((audience != ENFORCEMENT) & (audience != REVIEW)).sum())}",
           f"webhook outbox: {alarm_sql.outbox_counts(con)}"]
    by = alarms.assign(audience=audience).groupby(["audience", "rule", "station_kind"]).size()
    out += [f"  {a:<12} {r:<24} {k:<16} {n}" for (a, r, k), n in by.items()]
    texts = readable_summaries(alarms)
    out.append(f"Chinese UI rows without Chinese: {sum(not CJK.search(in_language(x, 'zh')) for x in texts)}; "
               f"English UI rows that are the Chinese half: {sum(in_language(x, 'en') == in_language(x, 'zh') and bool(CJK.search(x)) for x in texts)}")
    return out


def render_cpu_ms(con, renders: int) -> float:
    """CPU per render of the analyst's inbox in Chinese (after one warm-up render)."""
    cases_inbox.layout(con, "analyst", "zh", "Asia/Shanghai", cases.DEFAULT_CLOCKS)
    c0 = cpu_s()
    for _ in range(renders):
        cases_inbox.layout(con, "analyst", "zh", "Asia/Shanghai", cases.DEFAULT_CLOCKS)
    return (cpu_s() - c0) / renders * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="var/envtrust.duckdb")
    ap.add_argument("--renders", type=int, default=10)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "inbox.duckdb"
        shutil.copy(args.db, copy)
        wal = Path(f"{args.db}.wal")
        if wal.exists():
            shutil.copy(wal, Path(f"{copy}.wal"))
        con = connect(copy)  # applies pending migrations to the copy
        if args.fresh:
            print(raise_afresh(con))
        print("\n".join(counts(con)))
        print(f"inbox render (analyst, zh): {render_cpu_ms(con, args.renders):.0f} ms CPU per render")
        con.close()


if __name__ == "__main__":
    main()
