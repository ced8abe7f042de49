"""HJ 212-2017 CRC16 of a packet's data segment.

The algorithm (standards.md 1.2): register 0xFFFF; for each byte ``crc = (crc >> 8) ^ byte``,
then eight right shifts, XOR-ing 0xA001 whenever the bit shifted out is 1. This is NOT
CRC-16/MODBUS (which XORs the byte into the low byte): on the official Annex-A sample the
HJ 212 routine gives 1C80, Modbus gives 0759. The result is written as 4 hex digits without
byte swap. A 256-entry table makes the per-byte work one lookup (the receiver checks every packet).

Because ``crc >> 8`` is XOR-ed with the byte and the register has 16 bits, the low byte of the
register never reaches the next step: after each byte the register is ``T[high ^ byte]``, so the
whole state carried from byte to byte is 8 bits. That makes a fixed tail cheap: for each of the 256
states the tail's CRC is computed once (:func:`tail_table`), and a packet that ends with the tail
costs only its head (the receiver's 9014 answers differ only in their QN).
"""

from __future__ import annotations

import numpy as np


def _shift_eight_times(value: int) -> int:
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_TABLE: tuple[int, ...] = tuple(_shift_eight_times(i) for i in range(256))


def hj212_crc16(data: bytes) -> int:
    """CRC16 (HJ 212-2017 variant) of ``data``, the bytes of the data segment only."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ byte
        crc = (crc >> 8) ^ table[crc & 0xFF]
    return crc


def crc_hex(data: bytes) -> str:
    """The CRC as the 4 upper-case hex digits written before the packet's CRLF."""
    return f"{hj212_crc16(data):04X}"


# state (high byte of the register) after one more byte: _NEXT[state << 8 | byte]
_NEXT: bytes = bytes(_TABLE[h ^ b] >> 8 for h in range(256) for b in range(256))
_START_STATE = 0xFF
_NEXT_ARRAY = np.frombuffer(_NEXT, dtype=np.uint8).reshape(256, 256).astype(np.intp)
_TABLE_ARRAY = np.array(_TABLE, dtype=np.int64)


def state_after(data: bytes, state: int = _START_STATE) -> int:
    """The 8-bit state the CRC carries after ``data`` (see the module docstring)."""
    nxt = _NEXT
    for byte in data:
        state = nxt[(state << 8) | byte]
    return state


def tail_table(tail: bytes) -> tuple[int, ...]:
    """For each state before ``tail`` (non-empty), the CRC of the whole data ending with it:
    ``crc(head + tail) == tail_table(tail)[state_after(head)]``."""
    if not tail:
        raise ValueError("the tail must not be empty")
    states = np.arange(256, dtype=np.intp)  # all 256 starting states at once, one step per byte
    step = _NEXT_ARRAY
    for byte in tail[:-1]:
        states = step[states, byte]
    return tuple(int(v) for v in _TABLE_ARRAY[states ^ tail[-1]])
