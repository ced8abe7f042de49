"""HJ 212-2017 CRC16 of a packet's data segment.

The algorithm (standards.md 1.2): register 0xFFFF; for each byte ``crc = (crc >> 8) ^ byte``,
then eight right shifts, XOR-ing 0xA001 whenever the bit shifted out is 1. This is NOT
CRC-16/MODBUS (which XORs the byte into the low byte): on the official Annex-A sample the
HJ 212 routine gives 1C80, Modbus gives 0759. The result is written as 4 hex digits without
byte swap. A 256-entry table makes the per-byte work one lookup, and the linearity of the step
(below) turns the per-byte loop into eight parities of the message as one integer (the receiver
checks every packet).

Because ``crc >> 8`` is XOR-ed with the byte and the register has 16 bits, the low byte of the
register never reaches the next step: after each byte the register is ``T[high ^ byte]``, so the
whole state carried from byte to byte is 8 bits. That makes a fixed tail cheap: for each of the 256
states the tail's CRC is computed once (:func:`tail_table`), and a packet that ends with the tail
costs only its head (the receiver's 9014 answers differ only in their QN).
"""

from __future__ import annotations

import functools

import numpy as np


def _shift_eight_times(value: int) -> int:
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_TABLE: tuple[int, ...] = tuple(_shift_eight_times(i) for i in range(256))


def _crc16_by_loop(data: bytes) -> int:
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ byte
        crc = (crc >> 8) ^ table[crc & 0xFF]
    return crc


def hj212_crc16(data: bytes) -> int:
    """CRC16 (HJ 212-2017 variant) of ``data``, the bytes of the data segment only."""
    if not data or len(data) > _GATHER_MAX_BYTES:
        return _crc16_by_loop(data)
    return _TABLE[state_after(data[:-1]) ^ data[-1]]


def crc_hex(data: bytes) -> str:
    """The CRC as the 4 upper-case hex digits written before the packet's CRLF."""
    return f"{hj212_crc16(data):04X}"


# state (high byte of the register) after one more byte: _NEXT[state << 8 | byte]
_NEXT: bytes = bytes(_TABLE[h ^ b] >> 8 for h in range(256) for b in range(256))
_START_STATE = 0xFF
_NEXT_ARRAY = np.frombuffer(_NEXT, dtype=np.uint8).reshape(256, 256).astype(np.intp)
_TABLE_ARRAY = np.array(_TABLE, dtype=np.int64)


# The step from state to state is linear over GF(2): next(s, b) = STEP(s ^ b) with STEP(x ^ y) =
# STEP(x) ^ STEP(y) (a CRC table is linear). So the state after bytes b_1..b_m is
#   STEP^m(start) ^ STEP^m(b_1) ^ STEP^(m-1)(b_2) ^ ... ^ STEP^1(b_m),
# a linear function of the message's bits: bit j of the state is the parity of the message (read as
# one big integer) AND a mask that depends only on the length m, XOR bit j of STEP^m(start). Eight
# C-level AND + bit_count operations on a Python int instead of a Python loop over the bytes
# (27 us for a 270-byte segment; 6.7 us with a numpy gather of each byte's moved value; 3.1 us).
# _STEP_POWERS[d, v] is STEP applied d times to v.
_GATHER_MAX_BYTES = 1024  # the longest data segment HJ 212-2017 allows
_STEP_POWERS = np.empty((_GATHER_MAX_BYTES + 1, 256), dtype=np.uint8)
_STEP_POWERS[0] = np.arange(256)
for _d in range(1, _GATHER_MAX_BYTES + 1):
    _STEP_POWERS[_d] = _NEXT_ARRAY[_STEP_POWERS[_d - 1], 0]


@functools.lru_cache(maxsize=_GATHER_MAX_BYTES + 1)
def _parity_masks(m: int) -> tuple[int, ...]:
    """For messages of ``m`` bytes read as ``int.from_bytes(data, "big")``: mask j has the bits
    whose moved value STEP^(distance to the end) sets bit j of the state (built once per length)."""
    moved = _STEP_POWERS[np.arange(m, 0, -1)[:, None], (1 << np.arange(8))[None, :]]  # [byte, bit] -> state
    masks = []
    for j in range(8):
        flips = ((moved >> j) & 1).astype(np.uint8)[:, ::-1]  # bit 7 first: packbits is big-endian
        masks.append(int.from_bytes(np.packbits(flips, axis=1).tobytes(), "big"))
    return tuple(masks)


def _state_by_loop(data: bytes, state: int) -> int:
    nxt = _NEXT
    for byte in data:
        state = nxt[(state << 8) | byte]
    return state


def state_after(data: bytes, state: int = _START_STATE) -> int:
    """The 8-bit state the CRC carries after ``data`` (see the module docstring)."""
    m = len(data)
    if m > _GATHER_MAX_BYTES or m < 64:  # a short head is cheaper in the loop
        return _state_by_loop(data, state)
    message = int.from_bytes(data, "big")
    out = int(_STEP_POWERS[m, state])
    for j, mask in enumerate(_parity_masks(m)):
        out ^= ((message & mask).bit_count() & 1) << j
    return out


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
