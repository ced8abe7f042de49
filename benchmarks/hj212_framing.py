"""CPU per packet of the HJ 212 receiver's framing: one ``readuntil`` per frame against one pass per read.

    .venv/bin/python benchmarks/hj212_framing.py [--packets 200000] [--per-read 1 8 64]

Why in process and in CPU seconds: the event loop's share of a packet is a few microseconds, far
below what the end-to-end benchmark (``benchmarks/hj212.py``) can resolve on a shared machine.
Both ways take frames from an ``asyncio.StreamReader`` fed ``--per-read`` packets per chunk (a
logger's window of unanswered packets arrives in one read): the way the receiver framed before
session 8 (``readuntil(b"\\r\\n")`` per frame) and ``FrameSplitter`` (``reader.read`` then one pass).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hj212 import logger_packets  # noqa: E402

from data.hj212.receiver import FrameSplitter  # noqa: E402

READ_CHUNK_BYTES = 64 * 1024  # what the receiver's stream read took per read (session 8)

MAX_FRAME = 1100


async def frames_by_readuntil(reader: asyncio.StreamReader) -> int:
    """Frames taken one ``readuntil`` at a time (the receiver before session 8)."""
    n = 0
    while True:
        try:
            await reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError:
            return n
        n += 1


async def frames_by_splitter(reader: asyncio.StreamReader) -> int:
    """Frames cut from each read at once (``FrameSplitter``, the receiver now)."""
    splitter, n = FrameSplitter(MAX_FRAME), 0
    while data := await reader.read(READ_CHUNK_BYTES):
        n += len(splitter.feed(data))
    return n + len(splitter.close())


async def cpu_us_per_frame(take, chunks: list[bytes], n_frames: int) -> float:
    """Process CPU (us) per frame to feed ``chunks`` to a reader, one per event-loop round (as a
    socket's reads arrive), while ``take`` takes every frame."""
    reader = asyncio.StreamReader(limit=MAX_FRAME)
    start = time.process_time()
    consumer = asyncio.create_task(take(reader))
    for chunk in chunks:
        reader.feed_data(chunk)
        await asyncio.sleep(0)
    reader.feed_eof()
    assert await consumer == n_frames
    return 1e6 * (time.process_time() - start) / n_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--per-read", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args()
    frames = [frame for _, frame in logger_packets("MN0000000000000000000001", 1, 0, 1000)]
    frames = (frames * (args.packets // len(frames) + 1))[:args.packets]
    print(f"{len(frames):,} packets of ~{sum(map(len, frames)) // len(frames)} bytes")
    for per_read in args.per_read:
        chunks = [b"".join(frames[i:i + per_read]) for i in range(0, len(frames), per_read)]
        old = asyncio.run(cpu_us_per_frame(frames_by_readuntil, chunks, len(frames)))
        new = asyncio.run(cpu_us_per_frame(frames_by_splitter, chunks, len(frames)))
        print(f"{per_read:>3} packets per read: readuntil {old:.2f} us/packet, FrameSplitter {new:.2f} us/packet")


if __name__ == "__main__":
    main()
