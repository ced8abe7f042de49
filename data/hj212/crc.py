"""HJ 212-2017 CRC16 of a packet's data segment.

The algorithm (standards.md 1.2): register 0xFFFF; for each byte ``crc = (crc >> 8) ^ byte``,
then eight right shifts, XOR-ing 0xA001 whenever the bit shifted out is 1. This is NOT
CRC-16/MODBUS (which XORs the byte into the low byte): on the official Annex-A sample the
HJ 212 routine gives 1C80, Modbus gives 0759. The result is written as 4 hex digits without
byte swap. A 256-entry table makes the per-byte work one lookup (the receiver checks every packet).
"""

from __future__ import annotations


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
