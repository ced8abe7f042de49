"""A data-logger simulator: sends a polluter's hourly readings as HJ 212 CN 2061 packets.

It behaves like a well-made logger: every packet asks for an answer (Flag 5), up to
``window`` packets are in flight on one TCP link, a packet counts as delivered only when its
9014 data response (same QN) arrives, and unanswered packets are re-sent on a new link (same
QN and content, so the receiver recognises a re-send) until ``max_attempts`` is used up.
A 9011 answer with QnRtn other than 1 means "refused": the packet is not re-sent.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from data.hj212.codes import st_for_parameters
from data.hj212.packet import CST_OFFSET, PacketError, make_qn, parse_packet, readings_to_packets


@dataclass
class SendReport:
    """What happened to each packet: acked (QN list), refused ({QN: QnRtn}), unacked (QN list)."""

    packets: int = 0
    sent: int = 0  # sends including re-sends
    acked: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    unacked: list[str] = field(default_factory=list)
    attempts: int = 0
    elapsed_s: float = 0.0
    last_error: str = ""  # why the last link failed (refused, reset, timed out), '' if none did

    @property
    def resent(self) -> int:
        return self.sent - self.packets if self.sent > self.packets else 0

    def line(self) -> str:
        rate = self.packets / self.elapsed_s if self.elapsed_s > 0 else float("nan")
        text = (f"{self.packets} packets: {len(self.acked)} acknowledged, {len(self.refused)} refused, "
                f"{len(self.unacked)} unacknowledged; {self.sent} sends over {self.attempts} link(s) "
                f"in {self.elapsed_s:.2f} s ({rate:.0f} packets/s)")
        if self.unacked and self.last_error:
            text += f"; last link error: {self.last_error}"
        return text


def unique_qns(n: int, start: datetime | None = None) -> list[str]:
    """``n`` distinct QNs (request times 1 ms apart from ``start`` CST, default now)."""
    start = start or (datetime.now(UTC).replace(tzinfo=None) + CST_OFFSET)  # CST wall clock
    return [make_qn(start + timedelta(milliseconds=i)) for i in range(n)]


def _answers(buffer: bytes) -> tuple[list[tuple[str, str, int | None]], bytes]:
    """Complete answers in ``buffer`` as (QN, CN, QnRtn) and the unconsumed tail."""
    out = []
    while b"\r\n" in buffer:
        line, buffer = buffer.split(b"\r\n", 1)
        start = line.find(b"##")
        if start < 0:
            continue
        try:
            packet = parse_packet(line[start:] + b"\r\n")
        except PacketError:
            continue
        rtn = packet.cp.get("QnRtn")
        out.append((packet.qn or "", packet.cn, int(rtn) if rtn and rtn.isdigit() else None))
    return out, buffer


def send_packets(packets: dict[str, bytes], host: str, port: int, *, window: int = 32, timeout_s: float = 5.0,
                 max_attempts: int = 3, retry_delay_s: float = 0.5,
                 on_ack: Callable[[str], None] | None = None) -> SendReport:
    """Send ``{QN: packet}`` and wait for answers; re-send unanswered ones on a new link."""
    report = SendReport(packets=len(packets))
    t0 = time.perf_counter()
    pending = dict(packets)
    while pending and report.attempts < max_attempts:
        if report.attempts:
            time.sleep(retry_delay_s)
        report.attempts += 1
        try:
            _one_link(pending, host, port, window, timeout_s, report, on_ack)
        except OSError as exc:  # refused, reset, timed out: what is still pending goes again
            report.last_error = f"{type(exc).__name__}: {exc}"
            continue
    report.unacked = list(pending)
    report.elapsed_s = time.perf_counter() - t0
    return report


def _one_link(pending: dict[str, bytes], host: str, port: int, window: int, timeout_s: float,
              report: SendReport, on_ack: Callable[[str], None] | None) -> None:
    queue = list(pending)
    inflight: set[str] = set()
    buffer = b""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        i = 0
        while i < len(queue) or inflight:
            burst = []
            while i < len(queue) and len(inflight) < window:
                qn = queue[i]
                burst.append(pending[qn])
                inflight.add(qn)
                i += 1
            if burst:
                sock.sendall(b"".join(burst))
                report.sent += len(burst)
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("receiver closed the link")
            answers, buffer = _answers(buffer + data)
            for qn, cn, rtn in answers:
                if qn not in pending:
                    continue
                if cn == "9014" or (cn == "9011" and rtn == 1):
                    report.acked.append(qn)
                    if on_ack is not None:
                        on_ack(qn)
                elif cn == "9011":
                    report.refused[qn] = rtn if rtn is not None else 100
                else:
                    continue
                del pending[qn]
                inflight.discard(qn)


def station_packets(readings: pd.DataFrame, mn: str, st: str | None = None, *, cn: str = "2061",
                    pw: str = "123456", old_codes: bool = False, qns: list[str] | None = None) -> dict[str, bytes]:
    """``{QN: packet}`` for one station's long readings (ts naive UTC), one packet per hour."""
    if readings.empty:
        return {}
    st = st or st_for_parameters(tuple(readings["parameter"].unique()))
    n_hours = readings["ts"].nunique()
    qns = unique_qns(n_hours) if qns is None else qns[:n_hours]
    built = readings_to_packets(readings, mn, st, cn=cn, pw=pw, old_codes=old_codes, qns=qns)
    return dict(zip(qns, (packet for _, packet in built), strict=True))


def send_readings(readings: pd.DataFrame, host: str, port: int, *, mn: str | None = None,
                  st: str | None = None, old_codes: bool = False, pw: str = "123456", **options) -> SendReport:
    """Replay long readings (ts naive UTC) as CN 2061 packets, one device per station.

    The device id is ``mn`` (only for a one-station frame), else an ``mn`` column, else the
    station_id. ``st`` defaults to the system code of the parameters (flue_* -> 31, ww_* -> 32).
    ``pw``: the access password every packet carries (the receiver checks it per MN).
    """
    packets: dict[str, bytes] = {}
    stations = readings["station_id"].unique()
    if mn is not None and len(stations) > 1:
        raise ValueError(f"--mn names one device but the readings hold {len(stations)} stations; "
                         "add an 'mn' column instead")
    qns = unique_qns(int(readings.groupby("station_id")["ts"].nunique().sum()))
    for sid, group in readings.groupby("station_id", sort=True):
        device = mn or (str(group["mn"].iloc[0]) if "mn" in group.columns else str(sid))
        n_hours = group["ts"].nunique()
        packets.update(station_packets(group, device, st, pw=pw, old_codes=old_codes, qns=qns[:n_hours]))
        qns = qns[n_hours:]
    return send_packets(packets, host, port, **options)
