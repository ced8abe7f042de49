"""HJ 212-2017 packets: parse, check, build, and turn data packets into readings.

Layout (standards.md 1.1): ``##`` + 4-digit data length + data segment + 4 hex CRC + CRLF.
The data segment is ``QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&...&&``.
Real devices omit QN or reorder the header fields, so fields are read by key, never by
position. Every rejection is a :class:`PacketError` with a machine ``reason`` (the quarantine
reason) and a human ``detail``; nothing here raises anything else on bad input.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from analytics.vocabulary import CST_UTC_OFFSET_H
from data.adapters.base import NUMBER_TEXT_RE
from data.hj212.codes import ST_NETWORKS, cached_code_table
from data.hj212.crc import crc_hex, state_after, tail_table

MAX_SEGMENT_CHARS = 1024  # HJ 212-2017 table: data segment 0..1024 ASCII characters
FRAME_OVERHEAD = 2 + 4 + 4 + 2  # '##', length, CRC, CRLF
CST_OFFSET = timedelta(hours=CST_UTC_OFFSET_H)  # packets carry China Standard Time (DataTime, QN)

# CN codes (standards.md 1.6). Data uploads, their stop commands, control and responses.
DATA_CNS: dict[str, str] = {"2011": "Rtd", "2051": "Avg", "2061": "Avg", "2031": "Avg"}
KNOWN_CNS: frozenset[str] = frozenset(
    {"1000", "1011", "1012", "1013", "1061", "1062", "1063", "1064", "1072",
     "2011", "2012", "2021", "2022", "2031", "2041", "2051", "2061", "2081"}
    | {str(c) for c in range(3011, 3022)}
    | {"9011", "9012", "9013", "9014"}
)
KNOWN_STS: frozenset[str] = frozenset(
    {"21", "22", "23", "24", "25", "26", "27", "31", "32", "33", "34", "35", "36", "37", "38", "39",
     "41", "51", "52", "91"}
)
HEADER_KEYS: frozenset[str] = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})
REQUIRED_KEYS: tuple[str, ...] = ("ST", "CN", "PW", "MN")

# QnRtn answer for each rejection reason (standards.md 1.6, 9011 table); 100 = unknown error.
QNRTN_FOR_REASON: dict[str, int] = {
    "bad_crc": 9, "unknown_mn": 4, "unknown_command": 8, "bad_st": 5, "unknown_system": 5,
    "st_mismatch": 5, "bad_header_flag": 6, "bad_qn": 7, "bad_pw": 3, "pw_not_configured": 3,
}
MN_PATTERN = re.compile(r"[0-9A-Za-z_\-]{1,24}")
_NUMBER = re.compile(NUMBER_TEXT_RE)


class PacketError(ValueError):
    """A packet we refuse; ``reason`` is a short machine code, ``detail`` says what was wrong."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self):
        """Pickled with both arguments: it crosses to the receiver's writer process."""
        return (PacketError, (self.reason, self.detail))


@dataclass(frozen=True)
class Packet:
    """One checked HJ 212 packet. ``cp`` keeps every CP field (``key -> text``) in order."""

    st: str
    cn: str
    pw: str
    mn: str
    flag: int
    cp: dict[str, str]
    qn: str | None = None
    pnum: int | None = None
    pno: int | None = None
    crc: str = ""
    segment: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def needs_ack(self) -> bool:
        """Flag bit A (bit 0): the sender asks for a response (standards.md 1.4)."""
        return bool(self.flag & 1)

    @property
    def is_split(self) -> bool:
        """Flag bit D (bit 1): one part of a split packet, PNUM/PNO present."""
        return bool(self.flag & 2)

    @property
    def version(self) -> str:
        """'2017' when the version bits say 000001, '2005' when they are 000000."""
        return {0: "2005", 1: "2017"}.get(self.flag >> 2, f"v{self.flag >> 2}")

    @functools.cached_property
    def data_time_cst(self) -> datetime | None:
        """``DataTime`` as a naive China Standard Time datetime (None when absent; parsed once:
        the receiver asks for it twice per packet)."""
        text = self.cp.get("DataTime")
        return None if text is None else parse_data_time(text)

    def items(self) -> dict[str, dict[str, str]]:
        """CP fields grouped by pollutant code: ``{'a21026': {'Avg': '12.1', 'Flag': 'N'}}``."""
        return group_items(self.cp)

    def frame(self) -> bytes:
        """The packet as sent on the wire (rebuilt from the checked segment)."""
        if "\n" in self.segment:
            raise ValueError("a packet merged from split parts has no single frame; frame its parts")
        return frame_segment(self.segment)


def parse_data_time(text: str) -> datetime:
    """``YYYYMMDDhhmmss`` -> datetime; PacketError(bad_field) otherwise."""
    if not re.fullmatch(r"\d{14}", text):
        raise PacketError("bad_field", f"DataTime {text!r} is not YYYYMMDDhhmmss")
    try:  # int slicing: 10x faster than strptime on the receiver's hot path
        return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                        int(text[12:14]))
    except ValueError:
        raise PacketError("bad_field", f"DataTime {text!r} is not a real date/time") from None


def group_items(cp: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Split ``code-Suffix`` keys into ``{code: {suffix: value}}``; keys without '-' are skipped."""
    out: dict[str, dict[str, str]] = {}
    for key, value in cp.items():
        code, sep, suffix = key.partition("-")
        if sep and code and suffix:
            out.setdefault(code, {})[suffix] = value
    return out


def frame_segment(segment: str) -> bytes:
    """Wrap a data segment: ``##`` + length + segment + CRC + CRLF (standards.md 1.1)."""
    body = segment.encode("ascii")
    if len(body) > 9999:
        raise PacketError("too_long", f"data segment of {len(body)} bytes does not fit 4 length digits")
    return b"##%04d" % len(body) + body + crc_hex(body).encode("ascii") + b"\r\n"


# ----------------------------------------------------------------------------- parsing

def _split_frame(raw: bytes, max_segment: int) -> tuple[bytes, str]:
    """Check header, terminator, length and CRC; return (segment bytes, crc text)."""
    if not raw.startswith(b"##"):
        raise PacketError("bad_header", f"packet starts with {raw[:8]!r}, not '##'")
    if not raw.endswith(b"\r\n"):
        raise PacketError("bad_terminator", f"packet ends with {raw[-6:]!r}, not CR LF")
    if len(raw) < FRAME_OVERHEAD:
        raise PacketError("bad_length", f"packet of {len(raw)} bytes is shorter than the frame overhead")
    declared_text = raw[2:6]
    if not declared_text.isdigit():
        raise PacketError("bad_length", f"length field {declared_text!r} is not 4 decimal digits")
    declared = int(declared_text)
    segment = raw[6:-6]
    if len(segment) > max_segment:
        raise PacketError("too_long", f"data segment of {len(segment)} bytes exceeds {max_segment}")
    if declared != len(segment):
        raise PacketError("bad_length", f"declared length {declared} but the data segment has {len(segment)} bytes")
    crc_text = raw[-6:-2].decode("ascii", errors="replace")
    expected = crc_hex(segment)
    if crc_text.upper() != expected:
        raise PacketError("bad_crc", f"packet CRC {crc_text} but the data segment gives {expected}")
    return segment, crc_text


def _parse_header(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in header.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise PacketError("bad_field", f"header field {part!r} has no '='")
        if key in fields:
            raise PacketError("bad_field", f"header field {key} appears twice")
        fields[key] = value
    return fields


def parse_cp(body: str) -> dict[str, str]:
    """CP body (between ``&&`` and ``&&``) -> ordered ``{key: value}``; ';' and ',' both separate."""
    cp: dict[str, str] = {}
    for group in body.split(";"):
        for part in group.split(","):
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep or not key:
                raise PacketError("bad_field", f"CP field {part!r} is not key=value")
            if key in cp:
                raise PacketError("bad_field", f"CP field {key} appears twice")
            cp[key] = value
    return cp


def _check_fields(fields: dict[str, str]) -> None:
    for key in REQUIRED_KEYS:
        if key not in fields:
            if key == "PW":  # answered as a PW error (QnRtn 3), like a wrong one
                raise PacketError("bad_pw", "header has no PW (access password)")
            raise PacketError("missing_field", f"header has no {key}")
    qn = fields.get("QN")
    if qn is not None and not re.fullmatch(r"\d{17}", qn):
        raise PacketError("bad_qn", f"QN {qn!r} is not 17 digits YYYYMMDDhhmmsszzz")
    if not re.fullmatch(r"\d{2}", fields["ST"]):
        raise PacketError("bad_st", f"ST {fields['ST']!r} is not 2 digits")
    if fields["ST"] not in KNOWN_STS:
        raise PacketError("unknown_system", f"ST {fields['ST']} is not an HJ 212-2017 system code")
    if not re.fullmatch(r"\d{4}", fields["CN"]):
        raise PacketError("bad_field", f"CN {fields['CN']!r} is not 4 digits")
    if fields["CN"] not in KNOWN_CNS:
        raise PacketError("unknown_command", f"CN {fields['CN']} is not an HJ 212-2017 command")
    if len(fields["PW"]) > 6:
        raise PacketError("bad_pw", f"PW of {len(fields['PW'])} characters (max 6)")
    if not MN_PATTERN.fullmatch(fields["MN"]):
        raise PacketError("bad_field", f"MN {fields['MN']!r} is not 1..24 letters/digits")
    if "Flag" in fields and not re.fullmatch(r"\d{1,3}", fields["Flag"]):
        raise PacketError("bad_header_flag", f"Flag {fields['Flag']!r} is not an integer")
    if "Flag" in fields and int(fields["Flag"]) > 255:
        raise PacketError("bad_header_flag", f"Flag {fields['Flag']} does not fit one byte")


def _split_numbers(fields: dict[str, str], flag: int) -> tuple[int | None, int | None]:
    if not flag & 2:
        return None, None
    for key in ("PNUM", "PNO"):
        if key not in fields:
            raise PacketError("missing_field", f"Flag {flag} says split packet but {key} is missing")
        if not re.fullmatch(r"\d{1,4}", fields[key]):
            raise PacketError("bad_field", f"{key} {fields[key]!r} is not 1..4 digits")
    pnum, pno = int(fields["PNUM"]), int(fields["PNO"])
    if not 1 <= pno <= pnum:
        raise PacketError("bad_field", f"PNO {pno} outside 1..PNUM {pnum}")
    return pnum, pno


def parse_segment(segment: str, crc: str = "") -> Packet:
    """Parse an already CRC-checked data segment (text) into a :class:`Packet`."""
    start = segment.find("CP=&&")
    if start < 0:
        raise PacketError("missing_field", "no CP=&&...&& in the data segment")
    if start > 0 and segment[start - 1] != ";":
        raise PacketError("bad_field", "CP is not separated from the header by ';'")
    if not segment.endswith("&&") or len(segment) < start + 7:
        raise PacketError("bad_field", "CP is not closed by '&&' at the end of the data segment")
    fields = _parse_header(segment[:start])
    cp = parse_cp(segment[start + 5:-2])
    _check_fields(fields)
    flag = int(fields.get("Flag", "0"))
    pnum, pno = _split_numbers(fields, flag)
    extra = {k: v for k, v in fields.items() if k not in HEADER_KEYS}
    return Packet(st=fields["ST"], cn=fields["CN"], pw=fields["PW"], mn=fields["MN"], flag=flag, cp=cp,
                  qn=fields.get("QN"), pnum=pnum, pno=pno, crc=crc, segment=segment, extra=extra)


def parse_packet(raw: bytes, max_segment: int = MAX_SEGMENT_CHARS) -> Packet:
    """Check and parse one framed packet (``##`` ... CRLF).

    Order of checks: header, terminator, length (declared vs real), size, CRC (compared
    case-insensitively, samples use both cases), encoding, then fields by key. Raises
    PacketError(reason, detail) with reason in bad_header, bad_terminator, bad_length,
    too_long, bad_crc, bad_encoding, missing_field, bad_field, bad_qn, bad_st, bad_header_flag, bad_pw,
    unknown_system, unknown_command.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    segment_bytes, crc_text = _split_frame(raw, max_segment)
    try:
        segment = segment_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise PacketError("bad_encoding", "data segment is not ASCII (HJ 212-2017 packets are ASCII)") from None
    return parse_segment(segment, crc_text)


def salvage_header(raw: bytes) -> dict[str, str]:
    """Best-effort QN/ST/MN/PW/CN from a rejected packet, so the error response can name it.

    Only printable ASCII is salvaged: the answer is an ASCII packet, whatever bytes came in."""
    text = raw.decode("ascii", errors="replace")
    out = {}
    for key, pattern in (("QN", r"\d{17}"), ("MN", r"[0-9A-Za-z_\-]{1,24}"), ("PW", r"[!-:<-~]{0,6}"),
                         ("ST", r"\d{2}"), ("CN", r"\d{4}")):
        found = re.search(rf"(?:^|[#;\d])(?<![A-Za-z]){key}=({pattern});", text)
        if found:
            out[key] = found.group(1)
    return out


# ----------------------------------------------------------------------------- split packets

@dataclass
class SplitAssembler:
    """Collects the parts of split packets (Flag bit D) until every PNO 1..PNUM has arrived.

    Parts belong together when MN, CN and QN agree (the standard gives all parts the QN of the
    request). ``add`` returns the merged packet when the set is complete, otherwise None, and
    raises PacketError(split_inconsistent) when a part contradicts the others, or
    PacketError(split_overflow) when the link would hold more than ``max_open_sets`` sets or
    ``max_bytes`` bytes of parts (memory bound per link; the receiver also bounds the total).
    """

    parts: dict[tuple[str, str, str | None], dict[int, Packet]] = field(default_factory=dict)
    max_open_sets: int = 16
    max_bytes: int = 256 * 1024
    held_bytes: int = 0
    opened_at: dict[tuple[str, str, str | None], float] = field(default_factory=dict)

    def add(self, part: Packet, now: float = 0.0) -> Packet | None:
        if not part.is_split:
            return part
        key = (part.mn, part.cn, part.qn)
        if key not in self.parts and len(self.parts) >= self.max_open_sets:
            raise PacketError("split_overflow", f"{len(self.parts)} split packets already unfinished on this link")
        if self.held_bytes + len(part.segment) > self.max_bytes:
            raise PacketError("split_overflow", f"unfinished split packets on this link hold {self.held_bytes} bytes; "
                              f"limit {self.max_bytes}")
        have = self.parts.setdefault(key, {})
        self.opened_at.setdefault(key, now)
        first = next(iter(have.values()), None)
        if first is not None and first.pnum != part.pnum:
            self._drop(key)
            raise PacketError("split_inconsistent", f"PNUM {part.pnum} but earlier parts said {first.pnum}")
        if part.pno in have and have[part.pno].segment != part.segment:
            self._drop(key)
            raise PacketError("split_inconsistent", f"part {part.pno} arrived twice with different content")
        if part.pno not in have:
            self.held_bytes += len(part.segment)
        have[part.pno] = part
        if len(have) < (part.pnum or 0):
            return None
        self._drop(key)
        return merge_split_parts([have[i] for i in sorted(have)])

    def is_open(self, part: Packet) -> bool:
        """True when ``part`` belongs to a set already collecting on this link."""
        return (part.mn, part.cn, part.qn) in self.parts

    def expire(self, now: float, timeout_s: float) -> list[tuple[str, str, str | None, int, int]]:
        """Drop sets whose first part came more than ``timeout_s`` ago; return them as :meth:`pending` rows."""
        old = [k for k, t in self.opened_at.items() if now - t > timeout_s]
        rows = [self._row(k) for k in old]
        for key in old:
            self._drop(key)
        return rows

    def next_expiry(self, timeout_s: float) -> float | None:
        """When the oldest open set times out (same clock as ``add``), None when nothing is open."""
        return min(self.opened_at.values()) + timeout_s if self.opened_at else None

    def pending(self) -> list[tuple[str, str, str | None, int, int]]:
        """(MN, CN, QN, parts received, PNUM) of incomplete sets, to report when a link closes."""
        return [self._row(k) for k in self.parts]

    def _row(self, key: tuple[str, str, str | None]) -> tuple[str, str, str | None, int, int]:
        have = self.parts[key]
        return (key[0], key[1], key[2], len(have), next(iter(have.values())).pnum or 0)

    def _drop(self, key: tuple[str, str, str | None]) -> None:
        self.held_bytes -= sum(len(p.segment) for p in self.parts.pop(key, {}).values())
        self.opened_at.pop(key, None)


def merge_split_parts(parts: list[Packet]) -> Packet:
    """One packet from all parts: CP fields concatenated; DataTime must agree."""
    cp: dict[str, str] = {}
    for part in parts:
        for key, value in part.cp.items():
            if key in cp and cp[key] != value:
                raise PacketError("split_inconsistent", f"parts disagree on {key}: {cp[key]!r} vs {value!r}")
            cp[key] = value
    first = parts[0]
    segment = "\n".join(p.segment for p in parts)
    return Packet(st=first.st, cn=first.cn, pw=first.pw, mn=first.mn, flag=first.flag & ~2, cp=cp,
                  qn=first.qn, crc=first.crc, segment=segment, extra=dict(first.extra))


# ----------------------------------------------------------------------------- building

def format_value(value: float) -> str:
    """A number as HJ 212 devices write it: plain decimal, no exponent, trailing zeros trimmed."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def build_cp(data_time_cst: datetime | None, items: Mapping[str, Mapping[str, object]]) -> str:
    """CP body: ``DataTime=...;code-Suffix=v,code-Flag=N;...`` (standards.md 1.7)."""
    groups = []
    if data_time_cst is not None:
        groups.append(f"DataTime={data_time_cst:%Y%m%d%H%M%S}")
    for code, fields in items.items():
        parts = []
        for suffix, value in fields.items():
            text = format_value(float(value)) if isinstance(value, int | float) else str(value)
            parts.append(f"{code}-{suffix}={text}")
        groups.append(",".join(parts))
    return ";".join(groups)


def make_qn(when: datetime) -> str:
    """QN for a request sent at ``when`` (CST): YYYYMMDDhhmmsszzz."""
    return when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond // 1000:03d}"


def build_packet(st: str, cn: str, mn: str, cp: str | Mapping[str, object], *, qn: str | None = None,
                 pw: str = "123456", flag: int = 5, pnum: int | None = None, pno: int | None = None) -> bytes:
    """A framed packet. ``cp`` is the CP body text or a flat ``{key: value}`` mapping.

    ``flag`` 5 = HJ 212-2017 with an ack requested; add 2 (bit D) with ``pnum``/``pno`` for a part.
    """
    if not isinstance(cp, str):
        cp = ";".join(f"{k}={format_value(float(v)) if isinstance(v, int | float) else v}" for k, v in cp.items())
    head = [] if qn is None else [f"QN={qn}"]
    head += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}", f"Flag={flag}"]
    if pnum is not None or pno is not None:
        head += [f"PNUM={pnum}", f"PNO={pno}"]
    return frame_segment(";".join(head) + f";CP=&&{cp}&&")


def build_data_response(request: Packet | Mapping[str, str]) -> bytes:
    """CN 9014 data response acknowledging an upload (ST 91, Flag 4 = 2017, no ack wanted).

    Same bytes as ``build_packet("91", "9014", mn, "", qn=qn, pw=pw, flag=4)``; the part after the
    QN is the same for every answer to one logger, so its CRC comes from a cached table and only
    the QN is hashed (the receiver sends one of these per stored packet)."""
    qn, mn, pw = _ids(request)
    if qn is None or not (qn + mn + pw).isascii():
        return build_packet("91", "9014", mn, "", qn=qn, pw=pw, flag=4)
    head = f"QN={qn}"
    tail, crc_of_state = _ack_tail(mn, pw)
    body = head + tail
    if len(body) > 9999:
        return build_packet("91", "9014", mn, "", qn=qn, pw=pw, flag=4)
    crc = crc_of_state[state_after(head.encode("ascii"))]
    return f"##{len(body):04d}{body}{crc:04X}\r\n".encode("ascii")


@functools.lru_cache(maxsize=16384)
def _ack_tail(mn: str, pw: str) -> tuple[str, tuple[int, ...]]:
    """The 9014 answer's text after the QN for one logger, and its CRC by state (crc.tail_table)."""
    tail = f";ST=91;CN=9014;PW={pw};MN={mn};Flag=4;CP=&&&&"
    return tail, tail_table(tail.encode("ascii"))


def build_request_response(request: Packet | Mapping[str, str], qn_rtn: int) -> bytes:
    """CN 9011 request response with ``QnRtn`` (1 ready .. 9 CRC error, 100 unknown; standards.md 1.6)."""
    qn, mn, pw = _ids(request)
    return build_packet("91", "9011", mn, f"QnRtn={qn_rtn}", qn=qn, pw=pw, flag=4)


def _ids(request: Packet | Mapping[str, str]) -> tuple[str | None, str, str]:
    if isinstance(request, Packet):
        return request.qn, request.mn, request.pw
    mn = request.get("MN") or "0"
    return request.get("QN"), mn, request.get("PW", "")


# ----------------------------------------------------------------------------- readings

READING_COLUMNS = ["station_id", "ts", "parameter", "value", "flag"]
READING_ARROW_TYPES = [pa.string(), pa.timestamp("us"), pa.string(), pa.float64(), pa.string()]
SKIP_COLUMNS = ["code", "reason", "detail"]


@dataclass(frozen=True)
class PacketReadings:
    """Readings from one data packet plus the items we could not use (code, reason, detail)."""

    readings: pd.DataFrame
    skipped: pd.DataFrame


def _value_of(text: str) -> float:
    """An item's value text as a float (empty: NaN); PacketError(bad_field) when not a number."""
    if text == "":
        return math.nan
    if not _NUMBER.fullmatch(text):  # float() would also take '1_000', 'inf', 'nan', ' 5 '
        raise PacketError("bad_field", f"value {text!r} is not a number")
    return float(text)


def packet_reading_rows(packet: Packet, station_id: str) -> tuple[list[tuple], list[tuple[str, str, str]]]:
    """The rows of :func:`data_packet_to_readings` as plain tuples (no pandas)."""
    if packet.cn not in DATA_CNS:
        raise PacketError("not_data", f"CN {packet.cn} carries no pollutant data")
    if packet.st not in ST_NETWORKS:
        raise PacketError("unknown_system", f"ST {packet.st} carries no readings we store")
    data_time = packet.data_time_cst
    if data_time is None:
        raise PacketError("missing_field", "data packet has no DataTime")
    ts_utc = data_time - CST_OFFSET
    cp = packet.cp
    layout = reading_layout(packet.st, packet.cn, tuple(cp))
    rows = [(station_id, ts_utc, parameter, _value_of(cp[key]) * factor, (cp.get(flag) if flag else None) or "N")
            for key, flag, parameter, factor in zip(layout.value_keys, layout.flag_keys, layout.parameters,
                                                    layout.factors, strict=True)]
    return rows, list(layout.skipped)


@dataclass(frozen=True)
class ReadingLayout:
    """What :func:`packet_reading_rows` makes of a data packet's CP keys, without their values:
    per reading the CP key of its value and of its flag (None: no flag, read 'N'), the parameter
    and the unit factor, and the items skipped (code, reason, detail). A logger sends the same
    keys hour after hour, so the receiver works this out once per layout, not once per packet."""

    value_keys: tuple[str, ...]
    flag_keys: tuple[str | None, ...]
    parameters: tuple[str, ...]
    factors: tuple[float, ...]
    skipped: tuple[tuple[str, str, str], ...]


@functools.lru_cache(maxsize=4096)  # bounded: a sender can vary its keys
def reading_layout(st: str, cn: str, keys: tuple[str, ...]) -> ReadingLayout:
    """The :class:`ReadingLayout` of CP ``keys`` (in packet order) on system ``st``, command
    ``cn`` (a data CN, ``st`` one of ST_NETWORKS); the item rules of :func:`packet_reading_rows`."""
    suffix = DATA_CNS[cn]
    table = cached_code_table(st)
    value_keys, flag_keys, parameters, factors, skipped = [], [], [], [], []
    for code, fields in group_items(dict.fromkeys(keys, "")).items():
        mapping = table.get(code)
        if mapping is None:
            skipped.append((code, "unmapped_code", f"no parameter for code {code} on ST {st}"))
            continue
        if suffix not in fields:
            zs = [s for s in fields if s.startswith("Zs")]
            why = "only converted (Zs) values" if zs else f"no {suffix} value"
            skipped.append((code, f"no_{suffix.lower()}", f"{code}: {why}"))
            continue
        value_keys.append(f"{code}-{suffix}")
        flag_keys.append(f"{code}-Flag" if "Flag" in fields else None)
        parameters.append(mapping.parameter)
        factors.append(mapping.factor)
    return ReadingLayout(tuple(value_keys), tuple(flag_keys), tuple(parameters), tuple(factors), tuple(skipped))


# a packet's value texts joined by ';' (which parse_cp splits on, so no value holds one): each a
# number or empty, checked with one regex call per packet instead of one per value
_NUMBERS_OR_EMPTY = re.compile(rf"(?:{NUMBER_TEXT_RE})?(?:;(?:{NUMBER_TEXT_RE})?)*")


class BatchReadings:
    """The readings of a batch of data packets, gathered as columns for one Arrow table.

    Why: the receiver's writer turned every reading into a tuple and the batch's tuples into
    columns again (~10 us per packet at 2,000 packets per commit); here a packet adds its values
    and flags to the batch's lists through its cached :func:`reading_layout`, and its station and
    time once, repeated per reading when the table is built. Same rows, order and errors as
    :func:`packet_reading_rows` (a packet with a value that is not a number takes that path for
    its exact error)."""

    def __init__(self) -> None:
        self._stations: list[str] = []
        self._times: list[datetime] = []
        self._counts: list[int] = []
        self._parameters: list[str] = []
        self._values: list[float] = []
        self._flags: list[str] = []

    def add(self, packet: Packet, station_id: str, ts_utc: datetime | None) -> list[tuple[str, str, str]]:
        """Add ``packet``'s readings (``ts_utc``: its DataTime as naive UTC, None when it has
        none); return the skipped items, or raise PacketError as :func:`packet_reading_rows`."""
        if ts_utc is None or packet.cn not in DATA_CNS or packet.st not in ST_NETWORKS:
            return self._add_rows(*packet_reading_rows(packet, station_id))
        cp = packet.cp
        layout = reading_layout(packet.st, packet.cn, tuple(cp))
        texts = [cp[k] for k in layout.value_keys]
        if not _NUMBERS_OR_EMPTY.fullmatch(";".join(texts)):
            return self._add_rows(*packet_reading_rows(packet, station_id))  # raises its bad_field
        values = [(float(t) if t else math.nan) * f for t, f in zip(texts, layout.factors, strict=True)]
        flags = [(cp.get(k) if k else None) or "N" for k in layout.flag_keys]
        # all computed before anything is appended: a packet adds all its readings or none
        self._stations.append(station_id)
        self._times.append(ts_utc)
        self._counts.append(len(values))
        self._parameters.extend(layout.parameters)
        self._values.extend(values)
        self._flags.extend(flags)
        return list(layout.skipped)

    def _add_rows(self, rows: list[tuple], skipped: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        for station_id, ts_utc, parameter, value, flag in rows:
            self._stations.append(station_id)
            self._times.append(ts_utc)
            self._counts.append(1)
            self._parameters.append(parameter)
            self._values.append(value)
            self._flags.append(flag)
        return skipped

    def __len__(self) -> int:
        return len(self._values)

    def table(self) -> pa.Table:
        """The readings as the columns of :func:`readings_table`."""
        per_packet = pa.array(np.repeat(np.arange(len(self._counts)), np.asarray(self._counts, np.int64)))
        station = pa.array(self._stations, pa.string()).take(per_packet)
        ts = pa.array(self._times, pa.timestamp("us")).take(per_packet)
        columns = [station, ts, pa.array(self._parameters, pa.string()), pa.array(self._values, pa.float64()),
                   pa.array(self._flags, pa.string())]
        return pa.table(columns, names=READING_COLUMNS)


def readings_frame(rows: list[tuple]) -> pd.DataFrame:
    """Reading tuples -> the long readings frame (ts naive UTC datetime64[us], value float)."""
    readings = pd.DataFrame(rows, columns=READING_COLUMNS)
    readings["ts"] = pd.to_datetime(readings["ts"]).astype("datetime64[us]")
    readings["value"] = readings["value"].astype(float)
    return readings


def readings_table(rows: list[tuple]) -> pa.Table:
    """Reading tuples -> the same columns as :func:`readings_frame` as one Arrow table, built
    column by column (no per-row objects: the receiver's writer builds one per committed batch)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(READING_COLUMNS)
    return pa.table([pa.array(col, type=t) for col, t in zip(columns, READING_ARROW_TYPES, strict=True)],
                    names=READING_COLUMNS)


def data_packet_to_readings(packet: Packet, station: Mapping[str, object]) -> PacketReadings:
    """Readings (long format, ts naive UTC) from a data packet sent by ``station``.

    ``station`` needs ``station_id``. The value suffix follows the command: ``Rtd`` for CN
    2011 real-time, ``Avg`` for 2051 minute / 2061 hourly / 2031 daily data. DataTime is CST
    and becomes UTC (minus 8 h). Each item keeps its own ``-Flag`` (N/M/D/C/F/S/T/B; N when
    absent, as in 2005-era packets; other letters are left for the ingest to quarantine as
    ``bad_flag``). ``Zs*`` values, ``Cou`` totals and codes we have no parameter for are not
    readings: they are listed in ``skipped`` with a reason.
    """
    rows, skipped = packet_reading_rows(packet, str(station["station_id"]))
    return PacketReadings(readings_frame(rows), pd.DataFrame(skipped, columns=SKIP_COLUMNS))


def readings_to_packets(readings: pd.DataFrame, mn: str, st: str, *, cn: str = "2061", pw: str = "123456",
                        flag: int = 5, old_codes: bool = False,
                        qns: Iterable[str] | None = None) -> list[tuple[pd.Timestamp, bytes]]:
    """One packet per hour of a single station's readings (ts naive UTC): [(ts_utc, packet)].

    The inverse of :func:`data_packet_to_readings` for our simulator: values are divided by
    the unit factor back to HJ 212 units, each item carries ``Avg`` (or ``Rtd`` for 2011) and
    its ``Flag``. NaN values are sent as flag-only items.
    """
    from data.hj212.codes import UNIT_FACTORS, hj212_code_for

    suffix = DATA_CNS[cn]
    qn_iter = iter(qns) if qns is not None else None
    out = []
    for ts, hour in readings.sort_values(["ts", "parameter"]).groupby("ts", sort=True):
        items: dict[str, dict[str, object]] = {}
        for row in hour.itertuples(index=False):
            code = hj212_code_for(row.parameter, old_codes)
            fields: dict[str, object] = {}
            if not pd.isna(row.value):
                fields[suffix] = float(row.value) / UNIT_FACTORS.get(row.parameter, 1.0)
            fields["Flag"] = getattr(row, "flag", "N") or "N"
            items[code] = fields
        when = pd.Timestamp(ts).to_pydatetime() + CST_OFFSET
        qn = next(qn_iter) if qn_iter is not None else make_qn(when)
        out.append((pd.Timestamp(ts), build_packet(st, cn, mn, build_cp(when, items), qn=qn, pw=pw, flag=flag)))
    return out
