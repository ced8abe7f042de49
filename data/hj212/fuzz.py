"""Mutations of HJ 212 packets for fuzzing the parser and the receiver (tests and benchmarks).

Why here and not in the tests: the fuzz test (a small count in ``make test``) and the benchmark
run (>= 1 M inputs, ``benchmarks/hj212_fuzz.py``) must draw from the same mutations.
"""

from __future__ import annotations

import random

from data.hj212.packet import build_packet, frame_segment

# byte strings that broke or nearly broke the receiver before issue 11, spliced in by mutations
NASTY: tuple[bytes, ...] = (
    b"\xe9", b"\xff\xfe", b"\x00", b"\r\n", b"##", b"&&", b";", b"=", b",", b"PW=", b"CP=&&", b"PNUM=9999;PNO=1;",
    b"Flag=7;", b"DataTime=00010101000000", b"DataTime=20991231235959", b"DataTime=99999999999999",
    b"-Avg=1e309", b"-Avg=nan", b"-Avg=1_000", b"-Flag=\xe9", b"QN=", b"MN=", b"\xef\xbb\xbf",
)


def mutate(seed_packet: bytes, rng: random.Random) -> bytes:
    """One mutated frame: byte flips, splices of ``NASTY``, cuts, repeats; sometimes re-framed with
    a valid length and CRC so the mutation reaches the field checks behind the CRC."""
    data = bytearray(seed_packet)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(NASTY)
        elif op == 2 and len(data) > 2:
            end = min(len(data), pos + rng.randint(1, 16))
            del data[pos:end]
        elif op == 3:
            data[pos:pos] = data[pos:pos + rng.randint(1, 32)]
        else:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    if rng.random() < 0.6:  # valid frame around a mutated segment: reaches the field checks
        body = bytes(data[6:-6]) if len(data) > 12 else bytes(data)
        try:
            return frame_segment(body.decode("latin-1")) if body.isascii() else _frame_bytes(body)
        except Exception:  # noqa: BLE001 - an unframeable body stays a raw mutation
            return bytes(data)
    return bytes(data)


def _frame_bytes(body: bytes) -> bytes:
    from data.hj212.crc import crc_hex

    return b"##%04d" % (len(body) % 10000) + body + crc_hex(body).encode("ascii") + b"\r\n"


def seed_packets(mn: str, pw: str) -> list[bytes]:
    """Valid packets to mutate: hourly data, a split part, a command, a response."""
    from datetime import datetime

    from data.hj212.packet import build_cp

    cp = build_cp(datetime(2024, 5, 1, 10), {"a21026": {"Avg": 12.5, "Flag": "N"}, "a19001": {"Avg": 9.0, "Flag": "N"}})
    return [
        build_packet("31", "2061", mn, cp, qn="20240501100000000", pw=pw),
        build_packet("31", "2061", mn, cp, qn="20240501100000001", pw=pw, flag=7, pnum=2, pno=1),
        build_packet("31", "2011", mn, cp.replace("Avg", "Rtd"), qn="20240501100000002", pw=pw),
        build_packet("91", "9014", mn, "", qn="20240501100000003", pw=pw, flag=4),
    ]
