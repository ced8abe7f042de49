"""Throughput and ack latency of the HJ 212 receiver over loopback, with a plain asyncio echo
server as the ceiling in the same run.

    .venv/bin/python benchmarks/hj212.py [--loggers 500] [--packets 40] [--window 8]
        [--paced-rate 5000] [--paced-seconds 20] [--batch-max 2048] [--out benchmarks/results/hj212.md]

What runs:

1. A temp store with ``--loggers`` flue-gas outlets, each with its access password set.
2. ``envtrust hj212 listen`` as a subprocess (its own process, as in production).
3. An asyncio client in this process opens one TCP link per logger (500 by default) and sends
   hourly CN 2061 packets (6 parameters, Flag 5 = ack wanted), at most ``--window`` unanswered per
   link. A packet counts only when its 9014 arrives, i.e. after the receiver committed it.
   - *flood*: every logger sends ``--packets`` packets as fast as its window allows
     (acknowledged packets/s);
   - *paced*: the loggers together send ``--paced-rate`` packets/s for ``--paced-seconds``
     (p50/p99/max ack latency at that rate).
4. Zero loss: afterwards the store must hold exactly 6 readings per acknowledged packet and one
   stored packet-log row per acknowledged packet; nothing may stay unanswered.
5. Memory: the receiver's RSS (``/proc/PID/status``) sampled every 0.5 s: start, peak, end.
6. Ceiling: the same client against a plain asyncio server that echoes each line back (no parse,
   no store), in a subprocess too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.hj212.auth import set_logger_password  # noqa: E402
from data.hj212.packet import build_cp, build_packet, parse_packet  # noqa: E402
from data.hj212.trace import LatencyTrace  # noqa: E402
from data.store import connect  # noqa: E402

PW = "123456"
ITEMS = {"a21026": 30.0, "a21002": 80.0, "a34013": 5.0, "a19001": 8.0, "a00000": 100.0, "a01012": 60.0}
READINGS_PER_PACKET = len(ITEMS)

ECHO_SERVER = """
import asyncio, sys
async def echo(reader, writer):
    try:
        while True:
            line = await reader.readuntil(b"\\r\\n")
            writer.write(line)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    print("echo listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
if sys.argv[1:] == ["uvloop"]:  # the receiver's loop, so that the ceiling stays comparable
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def make_store(path: Path, n_loggers: int) -> list[str]:
    con = connect(path)
    mns = [f"BENCH{i:08d}" for i in range(n_loggers)]
    con.executemany(
        "INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) "
        "VALUES (?, ?, 'polluter_outlet', 116.0, 40.0, 'flue_gas', ?)",
        [(f"S{i:04d}", f"outlet {i}", mn) for i, mn in enumerate(mns)],
    )
    for mn in mns:
        set_logger_password(con, mn, PW, actor="benchmark")
    con.close()
    return mns


def logger_packets(mn: str, k: int, first_hour: int, n: int) -> list[tuple[bytes, bytes]]:
    """(QN bytes, frame) for ``n`` hourly packets of logger ``k`` from hour ``first_hour`` on."""
    start = datetime(2024, 1, 1)
    out = []
    for h in range(first_hour, first_hour + n):
        when = start + timedelta(hours=h)
        cp = build_cp(when, {code: {"Avg": base * (1 + 0.01 * (h % 24)), "Flag": "N"} for code, base in ITEMS.items()})
        qn = f"{(when + timedelta(days=1)).strftime('%Y%m%d%H%M%S')}{k % 1000:03d}"
        out.append((qn.encode("ascii"), build_packet("31", "2061", mn, cp, qn=qn, pw=PW)))
    return out


@dataclass
class ClientResult:
    sent: int = 0
    acked: int = 0
    refused: int = 0
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        values = sorted(self.latencies_s)
        return values[min(len(values) - 1, int(q * len(values)))]


async def open_link(port: int, gate: asyncio.Semaphore, attempts: int = 30):
    """A logger's TCP link, re-trying a refused or timed-out connect (as loggers do)."""
    for attempt in range(attempts):
        try:
            async with gate:
                return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=1 << 16), 10)
        except (OSError, TimeoutError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise RuntimeError("unreachable")


async def run_logger(link, packets: list[tuple[bytes, bytes]], window: int, interval_s: float | None,
                     t_start: float, result: ClientResult, timeout_s: float) -> None:
    """One data logger: one link, at most ``window`` unanswered packets, optionally one packet every
    ``interval_s`` seconds (random phase); records each packet's ack latency."""
    reader, writer = link
    inflight: dict[bytes, float] = {}
    slots = asyncio.Semaphore(window)
    done = asyncio.Event()
    expected = len(packets)
    answered = 0

    async def read_answers() -> None:
        nonlocal answered
        while answered < expected:
            line = await reader.readuntil(b"\r\n")
            at = line.find(b"QN=")
            qn = line[at + 3:at + 20]
            sent_at = inflight.pop(qn, None)
            if sent_at is None:
                continue
            answered += 1
            if b"CN=9011" not in line:  # 9014 from the receiver, the packet itself from the echo server
                result.acked += 1
                result.latencies_s.append(time.perf_counter() - sent_at)
            else:
                result.refused += 1
            slots.release()
        done.set()

    reading = asyncio.create_task(read_answers())
    try:
        next_at = t_start + (random.random() * interval_s if interval_s else 0.0)
        for qn, frame in packets:
            await slots.acquire()
            if interval_s:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval_s
            inflight[qn] = time.perf_counter()
            writer.write(frame)
            result.sent += 1
            if writer.transport.get_write_buffer_size() > 1 << 16:
                await writer.drain()
        await asyncio.wait_for(done.wait(), timeout_s)
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        reading.cancel()
        writer.close()


async def warm_up(port: int, packet: tuple[bytes, bytes], attempts: int = 120, wait_s: float = 2.0) -> bool:
    """Send one packet, re-sending it on the same link until it is acknowledged: the receiver
    checks each logger's password once (scrypt, ~40 ms, at most 20 fresh checks a second) and
    leaves a throttled packet unanswered, as a logger re-sends. Afterwards the flood measures
    steady state."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(attempts):
            writer.write(packet[1])
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\r\n"), wait_s)
            except TimeoutError:
                continue
            return b"CN=9014" in line
        return False
    finally:
        writer.close()


async def warm_all(port: int, first: list[tuple[bytes, bytes]]) -> int:
    return sum(await asyncio.gather(*(warm_up(port, packet) for packet in first)))


async def drive(port: int, work: list[list[tuple[bytes, bytes]]], window: int, rate_per_s: float | None,
                timeout_s: float) -> ClientResult:
    result = ClientResult()
    interval = len(work) / rate_per_s if rate_per_s else None
    gate = asyncio.Semaphore(64)  # connects at a pace the listen backlog takes
    links = await asyncio.gather(*(open_link(port, gate) for _ in work))
    t0 = time.perf_counter()
    await asyncio.gather(*(run_logger(link, packets, window, interval, t0 + 0.5 if interval else t0, result,
                                      timeout_s) for link, packets in zip(links, work, strict=True)))
    result.elapsed_s = time.perf_counter() - t0 - (0.5 if interval else 0.0)
    return result


def process_family(pid: int) -> list[int]:
    """A process and its live children (the receiver's writer process), from /proc."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return [pid, *sorted({int(c) for t in tasks for c in (t / "children").read_text().split()})]
    except OSError:
        return []


def own_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one process, without its children; 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children; 0 for a process that is gone."""
    return sum(own_cpu_s(p) for p in process_family(pid))


class RssSampler:
    """Samples a process's resident memory (with its children's) every ``period_s`` in a thread,
    and its CPU seconds (with its children's; ``own_cpu_s``: the process alone, so a writer
    process's share is ``cpu_s - own_cpu_s``) over the sampled span."""

    def __init__(self, pid: int, period_s: float = 0.5):
        self.pid, self.period_s, self.samples_mb = pid, period_s, []
        self.cpu_s = self.own_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_mb(self) -> float | None:
        """Resident MB of the process and its children (the writer process holds the DuckDB cache)."""
        total = None
        for pid in process_family(self.pid):
            try:
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmRSS:"):
                            total = (total or 0.0) + int(line.split()[1]) / 1024
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._rss_mb()
            if value is not None:
                self.samples_mb.append(value)
            self._stop.wait(self.period_s)

    def __enter__(self) -> RssSampler:
        self._cpu_start, self._own_start = process_cpu_s(self.pid), own_cpu_s(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_s = process_cpu_s(self.pid) - self._cpu_start
        self.own_cpu_s = own_cpu_s(self.pid) - self._own_start


class ClientCpu:
    """CPU seconds this (client) process used over a ``with`` block."""

    def __enter__(self) -> ClientCpu:
        self._start = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu_s = time.process_time() - self._start


def start_process(args: list[str], marker: str) -> tuple[subprocess.Popen, int]:
    """Start a server; its log goes to a file (a pipe nobody reads would block it when full)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log_file = tempfile.NamedTemporaryFile(prefix="hj212bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True)
    proc.log_path = log_file.name
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {Path(log_file.name).read_text()[:2000]}")
    return proc, int(line.split(" on ")[1].split(",")[0].rsplit(":", 1)[1])


def stop_process(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return "did not stop within 120 s of SIGTERM: killed"
    return (out.strip().splitlines() or [""])[-1]


def phase_row(name: str, result: ClientResult, rss: list[float], cpu_s: float = float("nan"),
              client_cpu_s: float = float("nan"), own_cpu_s: float = float("nan")) -> dict:
    """One phase's figures; ``own_cpu_s``: the receiver's process without its children (the
    writer process, when there is one, is ``cpu_s - own_cpu_s``)."""
    per_packet = (lambda s: 1e6 * s / result.acked) if result.acked else (lambda s: float("nan"))
    return {
        "server_cpu_s": cpu_s, "client_cpu_s": client_cpu_s,
        "server_us_per_packet": per_packet(cpu_s),
        "receiver_process_us_per_packet": per_packet(own_cpu_s),
        "children_us_per_packet": per_packet(cpu_s - own_cpu_s),
        "phase": name, "sent": result.sent, "acked": result.acked, "refused": result.refused,
        "seconds": result.elapsed_s, "acked_per_s": result.acked / result.elapsed_s if result.elapsed_s else 0.0,
        "p50_ms": 1000 * result.percentile(0.50), "p99_ms": 1000 * result.percentile(0.99),
        "max_ms": 1000 * max(result.latencies_s, default=float("nan")),
        "rss_start_mb": rss[0] if rss else float("nan"), "rss_peak_mb": max(rss, default=float("nan")),
        "rss_end_mb": rss[-1] if rss else float("nan"), "errors": len(result.errors),
        "first_error": result.errors[0] if result.errors else "",
        "rss_per_minute_mb": [round(v) for v in rss[::120]],  # one sample a minute (0.5 s period)
    }


def run_receiver(args: argparse.Namespace) -> tuple[list[dict], dict]:
    tmp = Path(tempfile.mkdtemp(prefix="hj212bench"))
    db = tmp / "bench.duckdb"
    mns = make_store(db, args.loggers)
    paced_n = max(1, int(args.paced_rate * args.paced_seconds / args.loggers)) if args.paced_rate else 0
    first = [logger_packets(mn, k, 0, 1)[0] for k, mn in enumerate(mns)]
    flood = [logger_packets(mn, k, 1, args.packets) for k, mn in enumerate(mns)]
    paced = [logger_packets(mn, k, 1 + args.packets, paced_n) for k, mn in enumerate(mns)] if paced_n else []
    trace_path = tmp / "latency_trace.json"
    proc, port = start_process([sys.executable, "-m", "envtrust.cli", "hj212", "listen", "--db", str(db), "--host",
                                "127.0.0.1", "--port", "0", "--batch-max", str(args.batch_max), "--writer", args.writer,
                                "--commit-interval-ms", f"{args.commit_interval_ms:g}", "--event-loop", args.event_loop,
                                "--checkpoint", args.checkpoint,
                                *(["--latency-trace", str(trace_path)] if args.latency_trace else [])],
                               "listening on")
    rows, spans = [], []
    try:
        t0 = time.perf_counter()
        warmed = asyncio.run(warm_all(port, first))
        warm_s = time.perf_counter() - t0
        with RssSampler(proc.pid) as rss, ClientCpu() as client:
            spans.append(time.monotonic())
            res = asyncio.run(drive(port, flood, args.window, None, args.timeout))
        rows.append(phase_row("flood", res, rss.samples_mb, rss.cpu_s, client.cpu_s, rss.own_cpu_s))
        if paced:
            with RssSampler(proc.pid) as rss, ClientCpu() as client:
                spans.append(time.monotonic())
                res = asyncio.run(drive(port, paced, args.window, args.paced_rate, args.timeout))
            rows.append(phase_row(f"paced {args.paced_rate:,.0f}/s", res, rss.samples_mb, rss.cpu_s, client.cpu_s,
                                  rss.own_cpu_s))
        spans.append(time.monotonic())
    finally:
        said = stop_process(proc)
    if args.latency_trace and trace_path.exists():
        # the receiver's clock is time.monotonic of this machine: phases are cut by this process's readings
        trace = LatencyTrace.read(trace_path)
        for row, start, end in zip(rows, spans, spans[1:], strict=False):
            row["trace"] = trace.between(start, end).summary()
    con = connect(db, read_only=True)
    readings = con.execute("SELECT count(*) FROM readings").fetchone()[0]
    logged = con.execute("SELECT count(*) FROM hj212_packets WHERE status = 'stored'").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    commits = con.execute("SELECT count(*) FROM ingest_batches").fetchone()[0]
    con.close()
    acked = sum(r["acked"] for r in rows) + warmed
    sent = sum(r["sent"] for r in rows) + len(first)  # distinct packets; warm-up re-sends not counted
    check = {"acked": acked, "warmed": warmed, "warm_s": warm_s, "readings": readings,
             "expected_readings": acked * READINGS_PER_PACKET, "stored_packets": logged, "quarantined": quarantined,
             "commits": commits, "receiver_said": said, "sent": sent,
             "zero_loss": readings == acked * READINGS_PER_PACKET and logged == acked == sent}
    return rows, check


def run_echo(args: argparse.Namespace) -> dict:
    mns = [f"BENCH{i:08d}" for i in range(args.loggers)]
    flood = [logger_packets(mn, k, 0, args.packets) for k, mn in enumerate(mns)]
    proc, port = start_process([sys.executable, "-c", ECHO_SERVER, args.event_loop], "echo listening on")
    try:
        with RssSampler(proc.pid) as rss, ClientCpu() as client:
            res = asyncio.run(drive(port, flood, args.window, None, args.timeout))
    finally:
        stop_process(proc)
    return phase_row("echo ceiling (flood)", res, rss.samples_mb, rss.cpu_s, client.cpu_s, rss.own_cpu_s)


def parse_rate(n: int = 20000) -> float:
    sample = logger_packets("BENCH00000000", 0, 0, 1)[0][1]
    t0 = time.perf_counter()
    for _ in range(n):
        parse_packet(sample)
    return n / (time.perf_counter() - t0)


def trace_lines(phase: str, summary: dict) -> list[str]:
    """A phase's latency trace (``LatencyTrace.summary``) as a Markdown table and two lines."""
    stages = list(summary["stage_ms_p50"])
    cpu = summary["cpu_us_per_packet"]
    out = [f"Receiver latency trace, {phase}: {summary['packets']:,} packets in {summary['batches']} commits, "
           f"CPU per packet: event-loop thread {cpu['event_loop']:.0f} us, writer thread {cpu['writer']:.0f} us, "
           f"batch size p50 / p99 / max {' / '.join(map(str, summary['batch_size_p50_p99_max']))}, "
           f"commit cycle p50 / p99 {' / '.join(map(str, summary['batch_cycle_ms_p50_p99']))} ms. Stages (ms): "
           "queue = read -> batch closed; dispatch = -> commit starts on the writer; commit; handback = -> "
           "event loop resumes; write = -> answers written.", "",
           f"| ms | {' | '.join(stages)} | total |", "|---|" + "---|" * (len(stages) + 1)]
    for label, key, total in (("p50", "stage_ms_p50", "p50"), ("p99", "stage_ms_p99", "p99"),
                              ("mean of the slowest 1 %", "slowest_1pct_mean_stage_ms", None)):
        cells = " | ".join(f"{summary[key][s]:.1f}" for s in stages)
        out.append(f"| {label} | {cells} | {summary['total_ms'][total] if total else '-'} |")
    slow = ", ".join(f"{c['ms']:.0f} ms ({c['packets']} packets, at {c['at_s']:.1f} s, WAL {c['wal_kb_after']:,} KiB "
                     "after)" for c in summary["slowest_commits"][:5])
    return [*out, "", f"Slowest commits: {slow}."]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=500, help="concurrent data loggers, one link each")
    parser.add_argument("--packets", type=int, default=40, help="packets per logger in the flood phase")
    parser.add_argument("--window", type=int, default=8, help="unanswered packets per link at most")
    parser.add_argument("--paced-rate", type=float, default=5000.0, help="packets/s of all loggers (0 = skip)")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--batch-max", type=int, default=2048, help="the receiver's --batch-max")
    parser.add_argument("--writer", choices=["thread", "process"], default="thread",
                        help="the receiver's --writer: its store in a process of its own or on a thread")
    parser.add_argument("--commit-interval-ms", type=float, default=50.0,
                        help="the receiver's --commit-interval-ms: least time between two commits' starts")
    parser.add_argument("--checkpoint", choices=["writer", "duckdb"], default="writer",
                        help="the receiver's --checkpoint: who checkpoints the WAL (data.hj212.wal)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a logger waits for its last ack")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="the receiver's --event-loop, and the echo server's loop")
    parser.add_argument("--latency-trace", action="store_true",
                        help="run the receiver with --latency-trace and report where each phase's packets' time went")
    parser.add_argument("--label", default="", help="what this run measures (written to the table)")
    parser.add_argument("--out", type=Path, help="append a Markdown section here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows, check = run_receiver(args)
    rows.append(run_echo(args))
    parse = parse_rate()
    for r in rows:
        print(r)
    print(check)
    print(f"parse_packet + CRC alone: {parse:,.0f} packets/s; load average at start {load:.1f}")
    if args.out:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        lines = [
            f"## {args.label or 'run'} (commit {commit}, {datetime.now():%Y-%m-%d %H:%M} UTC)", "",
            f"Command: `.venv/bin/python benchmarks/hj212.py --loggers {args.loggers} --packets {args.packets} "
            f"--window {args.window} --paced-rate {args.paced_rate:g} --paced-seconds {args.paced_seconds:g} "
            f"--batch-max {args.batch_max} --writer {args.writer} --commit-interval-ms {args.commit_interval_ms:g} "
            f"--event-loop {args.event_loop} --checkpoint {args.checkpoint}"
            f"{' --latency-trace' if args.latency_trace else ''}`",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work (load average "
            f"{load:.1f} at start); receiver (with its writer process when --writer process) and echo server each in "
            "their own process, the client in the benchmark process, 127.0.0.1. Server CPU: the receiver's "
            "process and its children over the phase.", "",
            "| phase | sent | acknowledged | s | acked packets/s | p50 ms | p99 ms | max ms | receiver RSS MB "
            "start / peak / end | link errors | server CPU s (us/packet) | client CPU s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r['phase']} | {r['sent']:,} | {r['acked']:,} | {r['seconds']:.1f} | "
                         f"{r['acked_per_s']:,.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | "
                         f"{r['rss_start_mb']:.0f} / {r['rss_peak_mb']:.0f} / {r['rss_end_mb']:.0f} | "
                         f"{r['errors']} | {r['server_cpu_s']:.1f} ({r['server_us_per_packet']:.0f}) | "
                         f"{r['client_cpu_s']:.1f} |")
        lines += ["", "Server CPU per packet by process: " + "; ".join(
            f"{r['phase']}: receiver process {r['receiver_process_us_per_packet']:.0f} us, its children (the writer "
            f"process with --writer process) {r['children_us_per_packet']:.0f} us" for r in rows), ""]
        long = [r for r in rows if r["seconds"] >= 120]
        lines += [f"Receiver RSS once a minute, {r['phase']}: {', '.join(map(str, r['rss_per_minute_mb']))} MB"
                  for r in long]
        for r in rows:
            if r.get("trace", {}).get("packets"):
                lines += ["", *trace_lines(r["phase"], r["trace"])]
        lines += ["", f"Store afterwards: {check['readings']:,} readings for {check['acked']:,} acknowledged packets "
                  f"(expected {check['expected_readings']:,}), {check['stored_packets']:,} stored packet-log rows, "
                  f"{check['quarantined']:,} quarantined, {check['commits']:,} commits; warm-up (one packet per "
                  f"logger, first password checks): {check['warmed']:,} loggers in {check['warm_s']:.1f} s; zero loss: "
                  f"**{'yes' if check['zero_loss'] else 'NO'}**. parse_packet + CRC alone: {parse:,.0f} packets/s.",
                  ""]
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0 if check["zero_loss"] else 1


if __name__ == "__main__":
    sys.exit(main())
