"""HJ 212-2017 TCP receiver: frames, checks and stores packets, and acknowledges only what is committed.

Design (docs/hj212.md):

* Framing: a frame runs from ``##`` to CR LF and may be at most ``max_segment`` + 12 bytes;
  longer runs are discarded up to the next CR LF and quarantined as ``too_long``.
* One DuckDB writer: the receiver owns the only write connection and runs every statement on
  one worker thread, so the event loop never blocks on disk and DuckDB sees one writer.
* Group commit: packets from all connections queue for the writer; it takes whatever is
  waiting (up to ``batch_max``), stores the readings through ``data.ingest.ingest_readings``
  (one atomic batch), appends the packet log, and only then are the 9014 data responses
  written back. A crash before the commit loses only unacknowledged packets, which a device
  re-sends; a crash between the commit and the ack makes the device re-send a stored packet,
  which the packet log (or the ingest's duplicate check) recognises, so it is stored once.
* Bad packets go to the quarantine table with a reason and are answered with 9011 + QnRtn
  (9 = CRC error, 4 = MN unknown, 8 = CN unknown, ...) when the header names the sender.
* The access password (PW) of a known MN is checked against its hash before anything else is
  done with the packet (``data.hj212.auth``): wrong, missing or not configured -> quarantined,
  QnRtn 3, never stored. The PW itself is masked in every raw text the store keeps.
* Only hourly data (CN 2061) of systems we have parameters for (ST 21, 22, 31, 32) become
  readings; real-time/minute/daily uploads, other systems (VOC 27, working condition 51/52 ...)
  and other commands are kept raw in the packet log and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from analytics.timeconv import PlausibleWindow
from data.hj212.auth import PasswordChecker, password_hashes, redact_known_pw, redact_pw
from data.hj212.codes import ST_NETWORKS, station_matches_st
from data.hj212.packet import (
    CST_OFFSET,
    FRAME_OVERHEAD,
    MAX_SEGMENT_CHARS,
    QNRTN_FOR_REASON,
    BatchReadings,
    Packet,
    PacketError,
    SplitAssembler,
    build_data_response,
    build_request_response,
    parse_packet,
    salvage_header,
)
from data.hj212.store import known_packet_keys, log_packets, packet_log_table, stations_by_mn
from data.hj212.trace import BatchTimes, LatencyTrace
from data.hj212.wal import DEFAULT_POLICY, CheckpointDone, CheckpointPolicy, WalKeeper
from data.hj212.writer import StoreOptions, WriterLost, make_writer
from data.judge import KnownStations

log = logging.getLogger("envtrust.hj212")

STORED_CNS = frozenset({"2061"})  # the store is hourly; other data CNs are logged raw
RESPONSE_CNS = frozenset({"9011", "9012", "9013", "9014"})  # answers from a device: log, never answer
QUARANTINE_COLUMNS = ["raw", "reason", "detail"]
# not answered: the packet was not judged (its logger re-sends), so no QnRtn may say it was wrong
UNANSWERED_REASONS = frozenset({"pw_throttled"})
# answers waiting in one link's send buffer before its reading pauses (the logger does not read)
ANSWER_BUFFER_BYTES = 256 * 1024


@dataclass
class Incoming:
    """One unit of work for the writer: a checked packet (maybe merged from parts) or a rejection."""

    raw: str
    peer: str
    packet: Packet | None = None
    parts: list[Packet] = field(default_factory=list)  # split packet: every part gets an answer
    error: PacketError | None = None
    header: dict[str, str] = field(default_factory=dict)  # salvaged from a rejected packet
    link: Link | None = field(default=None, repr=False)  # where the answer goes
    queued_at: float = 0.0  # time.monotonic (s) when its bytes were read (the writer's queue follows)

    def __getstate__(self) -> dict:
        """Pickled for a writer process without its link: the link is the event loop's."""
        return {**self.__dict__, "link": None}


@dataclass
class Link:
    """One logger's connection as the writer sees it: where answers go, and how many of its
    packets are still waiting for a commit (the link closes only after they are answered)."""

    transport: asyncio.Transport
    pending: int = 0
    closing: bool = False  # no more frames: close once the pending packets are answered

    def add(self) -> None:
        self.pending += 1

    def done(self) -> None:
        self.pending -= 1
        if self.pending <= 0 and self.closing:
            self.transport.close()

    def close_when_answered(self) -> None:
        self.closing = True
        if self.pending <= 0:
            self.transport.close()


@dataclass(frozen=True)
class Outcome:
    """What the writer did with one Incoming: its status, and either the bytes to send back
    (a 9011 refusal) or ``ack``: answer with the packet's own 9014 (``answer`` builds it).
    Frozen: the outcomes without a refusal are shared constants (:data:`STORED` ...), one object
    for a batch's thousands of stored packets (and one pickled object to a writer process's
    parent, which pickle's memo sends once)."""

    status: str  # stored | duplicate | logged | quarantined
    response: bytes = b""
    reason: str = ""
    ack: bool = False

    def answer(self, item: Incoming) -> bytes:
        """The bytes to send back for ``item`` (may be empty). The 9014 is built here, by whoever
        writes the answers (the event loop), not by the writer: with a writer process that moves
        ~5 us per packet off the busier process."""
        if self.response or not self.ack or item.packet is None:
            return self.response
        try:
            return _ack(item.packet, item.parts)
        except Exception as exc:  # noqa: BLE001 - a stored packet's answer must not stop the answers of others
            log.warning("no 9014 for a %s packet: %s: %s", self.status, type(exc).__name__, exc)
            return b""


STORED = Outcome("stored", ack=True)
DUPLICATE = Outcome("duplicate", ack=True)
LOGGED_ACK = Outcome("logged", ack=True)  # kept raw, answered
LOGGED = Outcome("logged")  # a device's answer: logged, never answered
NOT_JUDGED = Outcome("quarantined")


@dataclass
class ReceiverStats:
    frames: int = 0
    stored: int = 0
    duplicate: int = 0
    logged: int = 0
    quarantined: int = 0
    readings: int = 0
    batches: int = 0
    links_refused: int = 0
    # where an acknowledged packet's time goes, summed over batches (seconds): the oldest item's
    # wait in the queue before its batch was taken, and the commit itself
    queue_wait_s: float = 0.0
    commit_s: float = 0.0
    largest_batch: int = 0
    trace: LatencyTrace | None = None  # where each packet's time went (Receiver(latency_trace=True))

    def timing(self) -> str:
        """Mean batch size, queue wait of a batch's oldest item and commit time, in ms."""
        n = max(self.batches, 1)
        packets = self.stored + self.duplicate + self.logged + self.quarantined
        return (f"{packets / n:.0f} packets per commit (largest {self.largest_batch}), oldest item waited "
                f"{1000 * self.queue_wait_s / n:.0f} ms, commit {1000 * self.commit_s / n:.0f} ms (means)")

    def count(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            setattr(self, o.status, getattr(self, o.status) + 1)


def _cp_sha256(packet: Packet) -> str:
    text = ";".join(map("=".join, packet.cp.items()))  # "k=v;k=v": the key's definition, built in C
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_time_utc(packet: Packet, window: PlausibleWindow, now_utc: datetime,
                   bounds_cst: tuple[datetime, datetime] | None = None) -> datetime | None:
    """DataTime as naive UTC (None when the packet has none); PacketError when it is not a real
    time or lies outside the plausible window (year 0001, 2099: a broken clock or a forgery).
    ``bounds_cst``: the window at ``now_utc`` in CST, when the caller computed it once per batch."""
    when = packet.data_time_cst
    if when is None:
        return None
    lo, hi = bounds_cst or _window_cst(window, now_utc)
    if not lo <= when <= hi:  # compared in CST: no overflow at year 1 or 9999
        raise PacketError("implausible_time", f"DataTime {packet.cp.get('DataTime')} (CST) is outside the "
                          f"plausible window {window.describe(now_utc)}")
    return when - CST_OFFSET


def _window_cst(window: PlausibleWindow, now_utc: datetime) -> tuple[datetime, datetime]:
    """The plausible window at ``now_utc`` as naive China Standard Time (DataTime's clock)."""
    lo, hi = window.bounds(now_utc)
    return lo + CST_OFFSET, hi + CST_OFFSET


def _error_response(header: dict[str, str] | Packet, reason: str) -> bytes:
    """9011 with the QnRtn for ``reason``, if we know whom to answer (MN and QN); b"" when the
    salvaged header cannot make a valid answer (an answer must never fail the batch)."""
    try:
        if isinstance(header, Packet):
            if not header.qn:
                return b""
            return build_request_response(header, QNRTN_FOR_REASON.get(reason, 100))
        if not header.get("MN") or not header.get("QN"):
            return b""
        return build_request_response(header, QNRTN_FOR_REASON.get(reason, 100))
    except (PacketError, UnicodeError, ValueError):
        return b""


def _ack(packet: Packet, parts: list[Packet]) -> bytes:
    """9014 for the packet (or for each part of a split packet) when Flag bit A asks for it."""
    return b"".join(build_data_response(p) for p in (parts or [packet]) if p.needs_ack)


class PacketStore:
    """The synchronous half of the receiver: commits a batch of Incoming and says what to answer.

    Holds the single write connection. Not thread-safe by design: the receiver calls it from
    one worker thread only.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, ingest: Callable | None = None, *,
                 allow_no_pw: bool = False, window: PlausibleWindow | None = None):
        """``allow_no_pw``: accept loggers without a configured password unchecked (the application
        passes its setting ``ENVTRUST_HJ212_ALLOW_NO_PW``; off by default)."""
        if ingest is None:
            from data.ingest import ingest_typed_rows as ingest
        self.con = con
        self._ingest = ingest
        self._stations = stations_by_mn(con)
        self._refreshed = False
        self._station_ids = KnownStations()  # the ingest's station check, cached per connection
        self.passwords = PasswordChecker(allow_no_pw=allow_no_pw)
        self.window = window or PlausibleWindow()
        self.wal: WalKeeper | None = None  # checkpoints between commits (open_packet_store sets it)

    def after_commit(self, batch_size: int) -> CheckpointDone | None:
        """Checkpoint the WAL if due (``data.hj212.wal``); the writer calls it after a commit has
        returned, so no packet waits for it in its own commit."""
        return None if self.wal is None else self.wal.after_commit(batch_size)

    def _password_refusal(self, item: Incoming, accepted: set[tuple]) -> tuple[str, str] | None:
        """(reason, detail) when the packet's PW (every part's, for a split packet) is not accepted.
        ``accepted``: the batch's (MN, PWs) already accepted, checked once per batch: within a
        batch the hashes do not change, so an accepted PW stays accepted (a refusal is asked
        again: its detail and the throttle count each packet)."""
        p = item.packet
        pws = (p.pw,) if not item.parts else tuple(dict.fromkeys([p.pw, *(part.pw for part in item.parts)]))
        if (p.mn, pws) in accepted:
            return None
        source = item.peer.rsplit(":", 1)[0]
        for pw in pws:
            refusal = self.passwords.check(p.mn, pw, source)
            if refusal is not None:
                return refusal
        accepted.add((p.mn, pws))
        return None

    def sender_refusal(self, mn: str, pw: str, peer: str) -> tuple[str, str] | None:
        """(reason, detail) when a packet from ``mn`` with ``pw`` would be refused for who sent it
        (unknown MN, PW not accepted); the receiver asks before buffering a split set."""
        self._refreshed = False
        if self._station(mn) is None:
            return ("unknown_mn", f"MN {mn} is not the hj212_mn of any station")
        self.passwords.load(password_hashes(self.con))
        return self.passwords.check(mn, pw, peer.rsplit(":", 1)[0])

    def _station(self, mn: str) -> dict[str, object] | None:
        if mn not in self._stations and not self._refreshed:
            # a station registered while we run; at most one lookup per batch, so a flood of
            # packets with unknown MNs costs one query per commit, not one per packet
            self._stations = stations_by_mn(self.con)
            self._refreshed = True
        return self._stations.get(mn)

    def commit_batch(self, batch: list[Incoming]) -> list[Outcome]:
        """Store one batch (readings + quarantine via the ingest, then the packet log) and say
        what to answer for each item.

        Every item is judged on its own: an item whose judgement raises anything is quarantined
        (``unprocessable``) instead of failing the batch, and when the batch's commit itself
        fails, the batch is committed again one item at a time, so one poison packet costs its
        own answer only (defect 1 of issue 11)."""
        try:
            return self._commit_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [self._quarantine_alone(batch[0], exc)]
            log.warning("batch of %d packets failed (%s: %s); committing them one by one",
                        len(batch), type(exc).__name__, exc)
            return [self.commit_batch([item])[0] for item in batch]

    def _quarantine_alone(self, item: Incoming, exc: Exception) -> Outcome:
        """The last resort for one item whose commit failed: quarantine it with the error; if
        even that fails, raise (no answer, the device re-sends)."""
        reason, detail = "unprocessable", f"could not be stored: {type(exc).__name__}: {str(exc)[:300]}"
        self._ingest_all([item], BatchReadings(), [(redact_pw(item.raw), reason, redact_pw(detail))])
        who = item.packet if item.packet is not None else item.header
        return Outcome("quarantined", _error_response(who, reason), reason)

    def _commit_together(self, batch: list[Incoming]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(batch)
        self._refreshed = False
        self.passwords.load(password_hashes(self.con))  # a small table; a change applies at the next commit
        readings, quarantined, log_rows, seen = BatchReadings(), [], [], set()
        now = datetime.now(UTC).replace(tzinfo=None)
        times: dict[str, datetime | PacketError] = {}  # the batch's DataTimes (a few hours), judged once each
        accepted: set[tuple] = set()

        def quarantine(n: int, item: Incoming, reason: str, detail: str) -> None:
            quarantined.append((redact_pw(item.raw), reason, redact_pw(detail)))
            who = item.packet if item.packet is not None else item.header
            answer = b"" if reason in UNANSWERED_REASONS else _error_response(who, reason)
            outcomes[n] = Outcome("quarantined", answer, reason)

        item_keys: list[tuple | None] = [None] * len(batch)
        bounds_cst = _window_cst(self.window, now)
        for n, item in enumerate(batch):
            try:
                item_keys[n] = self._item_key(item, now, bounds_cst, times)
            except PacketError as err:
                quarantine(n, item, err.reason, err.detail)
            except Exception as exc:  # noqa: BLE001 - whatever a hostile packet triggers stays its own problem
                quarantine(n, item, "unprocessable", f"{type(exc).__name__}: {str(exc)[:300]}")
        already = known_packet_keys(self.con, [k for k in item_keys if k is not None])

        for n, item in enumerate(batch):
            if outcomes[n] is not None:
                continue
            try:
                self._judge(n, item, item_keys[n], already, seen, accepted, quarantine, outcomes, readings,
                            quarantined, log_rows)
            except Exception as exc:  # noqa: BLE001 - see above
                quarantine(n, item, "unprocessable", f"{type(exc).__name__}: {str(exc)[:300]}")

        def log_table(batch_id: int | None) -> pa.Table:
            return packet_log_table(log_rows, now, batch_id)

        def log_within(con: duckdb.DuckDBPyConnection, batch_id: int) -> None:
            """The packet log joins the readings' transaction: one commit per batch."""
            if log_rows:
                log_packets(con, log_table(batch_id), own_transaction=False)

        logged = self._ingest_all(batch, readings, quarantined, log_within)
        if log_rows and not logged:  # nothing to ingest: the log commits on its own
            log_packets(self.con, log_table(None))
        return [o or NOT_JUDGED for o in outcomes]

    def _item_key(self, item: Incoming, now: datetime, bounds_cst: tuple[datetime, datetime],
                  times: dict[str, datetime | PacketError]) -> tuple | None:
        """(mn, cn, data_time UTC, cp hash) of a parsed packet, None for a rejection; PacketError
        when its DataTime is not plausible. ``times``: the batch's DataTime texts already judged."""
        if item.error is not None or item.packet is None:
            raise item.error or PacketError("bad_field", "nothing to parse")
        p = item.packet
        text = p.cp.get("DataTime")
        when = None if text is None else times.get(text)
        if when is None and text is not None:
            try:
                when = _data_time_utc(p, self.window, now, bounds_cst)
            except PacketError as err:
                when = err
            times[text] = when
        if isinstance(when, PacketError):
            raise PacketError(when.reason, when.detail)
        return (p.mn, p.cn, when, _cp_sha256(p))

    def _judge(self, n, item, key, already, seen, accepted, quarantine, outcomes, readings, quarantined,
               log_rows) -> None:
        """Decide one parsed packet: log, refuse, duplicate or store (appends to the batch lists)."""
        p = item.packet
        if p.cn in RESPONSE_CNS:
            outcomes[n] = LOGGED
            log_rows.append(self._log_row(item, key, None, "logged", 0))
            return
        station = self._station(p.mn)
        if station is None:
            quarantine(n, item, "unknown_mn", f"MN {p.mn} is not the hj212_mn of any station")
            return
        refusal = self._password_refusal(item, accepted)
        if refusal is not None:  # before the duplicate check: a replay with a wrong PW gets no ack
            quarantine(n, item, *refusal)
            return
        if p.st in ST_NETWORKS and not station_matches_st(p.st, station["kind"], station["outlet_type"]):
            quarantine(n, item, "st_mismatch",
                       f"ST {p.st} packet from station {station['station_id']} of kind {station['kind']}"
                       f"/{station['outlet_type']}")
            return
        if key in already or key in seen:
            outcomes[n] = DUPLICATE
            return
        if p.cn not in STORED_CNS or p.st not in ST_NETWORKS:  # e.g. VOC (27), working condition (51/52)
            seen.add(key)
            outcomes[n] = LOGGED_ACK
            log_rows.append(self._log_row(item, key, station, "logged", 0))
            return
        before = len(readings)
        try:
            skipped = readings.add(p, str(station["station_id"]), key[2])
        except PacketError as err:
            quarantine(n, item, err.reason, err.detail)
            return
        seen.add(key)
        if skipped:
            quarantined.append((redact_pw(item.raw), skipped[0][1], "; ".join(s[2] for s in skipped)))
        outcomes[n] = STORED
        log_rows.append(self._log_row(item, key, station, "stored", len(readings) - before))

    def _ingest_all(self, batch: list[Incoming], readings: BatchReadings, quarantined: list[tuple[str, str, str]],
                    before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None) -> bool:
        """Ingest the batch's readings and quarantine rows as one ingest batch, running
        ``before_commit`` inside its transaction; False when there was nothing to ingest."""
        if not len(readings) and not quarantined:
            return False
        frame = readings.table()
        peers = sorted({i.peer for i in batch})
        source = "hj212:" + ",".join(peers)[:200]
        rejected = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS) if quarantined else None
        self._ingest(self.con, frame, source, "hj212", quarantined=rejected,
                     window=self.window, before_commit=before_commit, stations=self._station_ids)
        return True

    @staticmethod
    def _log_row(item: Incoming, key: tuple, station: dict | None, status: str, n_readings: int) -> tuple:
        """A packet-log row in ``data.hj212.store.LOGGED_COLUMNS`` order (the time and batch are the batch's)."""
        p = item.packet
        mn, cn, data_time, sha = key
        return (item.peer, mn, p.st, cn, p.qn, data_time,
                None if station is None else station["station_id"], sha, status, n_readings,
                redact_known_pw(item.raw, p.pw) if not item.parts else redact_pw(item.raw))


def open_packet_store(options: StoreOptions) -> PacketStore:
    """The store's write connection (memory-capped, DuckDB threads set, if asked) in a
    PacketStore; the receiver's writer (thread or process) calls it where the store will live."""
    from data.store import connect

    con = connect(options.db_path)
    if options.memory_mb is not None:
        from data.ingest import limit_memory

        limit_memory(con, options.memory_mb)
    if options.duckdb_threads is not None:
        con.execute(f"SET threads = {int(options.duckdb_threads)}")
    store = PacketStore(con, allow_no_pw=options.allow_no_pw, window=options.window)
    if options.checkpoint is not None:
        store.wal = WalKeeper(con, options.db_path, options.checkpoint)
    return store


# ----------------------------------------------------------------------------- framing

class FrameTooLong(Exception):
    """A run of bytes without CR LF longer than the frame limit; ``head`` keeps its first bytes."""

    def __init__(self, message: str, head: bytes):
        super().__init__(message)
        self.head = head


class FrameSplitter:
    """Cuts a link's byte stream into CR LF-terminated frames, all complete frames of a read at once.

    Why: one ``readuntil`` per frame cost an event-loop round per packet; a logger's burst arrives
    in one read. A run longer than ``max_frame`` without CR LF is
    discarded up to its CR LF and reported as a :class:`FrameTooLong` (first 256 bytes kept); the
    unterminated tail at end of stream is returned as is by :meth:`close`.
    """

    def __init__(self, max_frame: int):
        self.max_frame = max_frame
        self._buf = b""
        self._head: bytes | None = None  # first 256 bytes of a too-long run being discarded

    def feed(self, data: bytes) -> list[bytes | FrameTooLong]:
        """The frames (CR LF included) and too-long reports completed by ``data``, in stream order."""
        buf = self._buf + data if self._buf else data
        out: list[bytes | FrameTooLong] = []
        start = 0
        while (end := buf.find(b"\r\n", start)) >= 0:
            end += 2
            if self._head is not None:
                out.append(FrameTooLong(f"frame longer than {self.max_frame} bytes (first 256 kept)", self._head))
                self._head = None
            elif end - start > self.max_frame:
                out.append(FrameTooLong(f"frame longer than {self.max_frame} bytes (first 256 kept)",
                                        buf[start:start + 256]))
            else:
                out.append(buf[start:end])
            start = end
        rest = buf[start:]
        if len(rest) > self.max_frame:  # no CR LF within the limit: keep the head, drop the rest
            if self._head is None:
                self._head = rest[:256]
            keep = 1 if rest.endswith(b"\r") else 0  # a CR LF may straddle two reads
            rest = rest[len(rest) - keep:]
        self._buf = rest
        return out

    def close(self) -> list[bytes | FrameTooLong]:
        """What the end of the stream completes: a too-long report or the unterminated tail."""
        tail, self._buf = self._buf, b""
        if self._head is not None:
            head, self._head = self._head, None
            return [FrameTooLong(f"frame longer than {self.max_frame} bytes, stream ended", head)]
        return [tail] if tail else []


def split_junk(frame: bytes) -> tuple[bytes, bytes]:
    """(bytes before the first '##', the frame from '##') - line noise before a header is dropped."""
    start = frame.find(b"##")
    if start <= 0:
        return (b"", frame) if start == 0 else (frame, b"")
    return frame[:start], frame[start:]


def _text(raw: bytes) -> str:
    return raw.decode("ascii", errors="backslashreplace")


# ----------------------------------------------------------------------------- server

class Receiver:
    """asyncio TCP server in front of one :class:`PacketStore`."""

    def __init__(self, db_path: str | Path, host: str = "0.0.0.0", port: int = 8212, *,
                 batch_max: int = 256, max_segment: int = MAX_SEGMENT_CHARS, idle_timeout_s: float = 600.0,
                 allow_no_pw: bool = False, window: PlausibleWindow | None = None,
                 max_links: int = 5000, split_link_bytes: int = 256 * 1024,
                 split_total_bytes: int = 64 * 1024 * 1024, split_timeout_s: float = 60.0,
                 memory_mb: int | None = None, writer: str = "thread", duckdb_threads: int | None = None,
                 commit_interval_s: float = 0.05, latency_trace: bool = False,
                 checkpoint: CheckpointPolicy | None = DEFAULT_POLICY):
        """Memory bounds before authentication (issue 11, defect 2): at most ``max_links``
        connections (more are closed on accept), ``split_link_bytes`` of unfinished split parts per
        link and ``split_total_bytes`` over all links; a split set unfinished after
        ``split_timeout_s`` is dropped (quarantined ``split_incomplete``); the first part of a set
        is only kept once its MN is known and its PW accepted. ``memory_mb``: DuckDB memory limit
        of the store's instance (``data.ingest.limit_memory``; None = DuckDB's default). ``writer``:
        where the store's work runs, "thread" (shares the process, as ``envtrust serve`` needs) or
        "process" (its own interpreter and GIL; ``data.hj212.writer``). ``duckdb_threads``: of
        the store's DuckDB instance (``StoreOptions``; None = DuckDB's default; leave it None
        when the instance is shared, as in ``envtrust serve``). ``commit_interval_s``: least time
        between the starts of two commits; a packet arriving sooner waits for more to join its
        batch (each commit costs ~15-20 ms of CPU whatever its size: committing whenever the last
        commit returned spent most of a core on that at 5,000 packets/s). ``latency_trace``: record
        where each acknowledged packet's time goes (``data.hj212.trace``; a debug and benchmark
        mode, in ``self.stats.trace``). ``checkpoint``: when the writer checkpoints DuckDB's WAL,
        between commits (``data.hj212.wal``; None: DuckDB's own, inside a commit)."""
        self.db_path = Path(db_path)
        self.memory_mb = memory_mb
        self.max_links = max_links
        self.split_link_bytes = split_link_bytes
        self.split_total_bytes = split_total_bytes
        self.split_timeout_s = split_timeout_s
        self._split_held = 0  # bytes of unfinished split parts over all links (event-loop thread only)
        self.allow_no_pw = allow_no_pw
        self.window = window or PlausibleWindow()
        self.host, self.port = host, port
        self.batch_max = batch_max
        self.commit_interval_s = commit_interval_s
        self.max_segment = max_segment
        self.max_frame = max_segment + FRAME_OVERHEAD + 64
        self.idle_timeout_s = idle_timeout_s
        self.stats = ReceiverStats(trace=LatencyTrace(self.db_path.with_name(self.db_path.name + ".wal"))
                                   if latency_trace else None)
        self._writer = make_writer(writer, open_packet_store, StoreOptions(self.db_path, memory_mb, allow_no_pw,
                                                                            self.window, duckdb_threads, checkpoint))
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future]] | None = None
        self._server: asyncio.Server | None = None
        self._writer_task: asyncio.Task | None = None
        self._links: set[LinkProtocol] = set()

    @property
    def writer_task(self) -> asyncio.Task:
        """The task that commits batches; it ends only by cancellation or ``WriterLost``."""
        assert self._writer_task is not None
        return self._writer_task

    async def start(self) -> tuple[str, int]:
        """Open the store, start the writer and listen; return the bound (host, port)."""
        await self._writer.start()
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._writer_loop())
        # a backlog for a province's loggers reconnecting at once after a restart (asyncio's default
        # is 100; the kernel caps it at net.core.somaxconn)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: LinkProtocol(self), self.host, self.port, backlog=min(self.max_links, 4096))
        sock = self._server.sockets[0].getsockname()
        return sock[0], sock[1]

    async def stop(self) -> None:
        """Stop listening, let the writer commit what is queued and answer it, close the links and
        the store."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.end()
        if self._queue is not None and self._writer_task is not None and not self._writer_task.done():
            await self._queue.join()
        for link in list(self._links):
            link.transport.close()
        if self._writer_task is not None:
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WriterLost):
                await self._writer_task
        await self._writer.close()

    async def _writer_loop(self) -> None:
        """Commit whatever is queued as one batch, then write each link's answers, in arrival order.

        Answers are written here, after the commit returned, straight to each link (one write per
        link per batch): no future or answer queue per packet. Packets of one link enter the queue
        in the order they arrived and batches are taken in queue order, so a link's answers keep
        that order. A batch that could not be committed gets no answer: its loggers re-send.
        A commit starts at least ``commit_interval_s`` after the one before, unless ``batch_max``
        packets are already waiting."""
        assert self._queue is not None
        last_start = -self.commit_interval_s
        while True:
            batch = [await self._queue.get()]
            early_s = self.commit_interval_s - (time.monotonic() - last_start)
            if early_s > 0 and self._queue.qsize() + 1 < self.batch_max:
                await asyncio.sleep(early_s)  # gather more: a commit's fixed cost is paid per commit
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            last_start = taken_at = time.monotonic()
            try:
                outcomes = await self._writer.commit(batch)
            except WriterLost:
                raise  # nothing can be committed any more: serve() stops the receiver
            except Exception as exc:  # nothing was acknowledged: devices re-send
                log.error("batch of %d packets not committed: %s", len(batch), exc)
            else:
                self.stats.batches += 1
                self.stats.queue_wait_s += taken_at - batch[0].queued_at
                self.stats.commit_s += time.monotonic() - taken_at
                self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
                self.stats.count(outcomes)
                resumed_at = time.monotonic()
                _write_answers(batch, outcomes)
                if self.stats.trace is not None:
                    start, end, writer_cpu_s = self._writer.last_commit_span
                    self.stats.trace.add(BatchTimes([i.queued_at for i in batch], taken_at, start, end, resumed_at,
                                                    time.monotonic(), writer_cpu_s=writer_cpu_s,
                                                    loop_cpu_s=time.thread_time()))
            finally:
                for item in batch:
                    if item.link is not None:
                        item.link.done()
                    self._queue.task_done()

    def _submit(self, item: Incoming, link: Link | None = None, now: float | None = None) -> None:
        """Queue ``item`` for the writer; ``now``: ``time.monotonic`` when its bytes were read.
        (The receiver's clock is ``time.monotonic``, not the loop's: uvloop's ``loop.time()`` is
        cached per loop iteration in milliseconds.)"""
        assert self._queue is not None
        if link is not None:
            item.link = link
            link.add()
        item.queued_at = time.monotonic() if now is None else now
        self._queue.put_nowait(item)

    def take_frame(self, frame: bytes | FrameTooLong, link: LinkProtocol) -> Coroutine | None:
        """Judge one frame of a link (or a too-long report) and queue it for the writer; when it is
        the first part of a split set that must be admitted first, nothing is queued and the
        coroutine that admits and queues it is returned (the link reads on once it is done)."""
        peer, now = link.peer, link.last_frame_at
        if isinstance(frame, FrameTooLong):
            self._submit(Incoming(_text(frame.head), peer, error=PacketError("too_long", str(frame))), link.link, now)
            return None
        self.stats.frames += 1
        junk, frame = split_junk(frame)
        if junk.strip():
            self._submit(Incoming(_text(junk), peer, error=PacketError(
                "bad_header", "bytes outside a ##...CRLF frame")), link.link, now)
        if not frame:
            return None
        raw = _text(frame)
        try:
            packet = parse_packet(frame, self.max_segment)
        except PacketError as err:
            self._submit(Incoming(raw, peer, error=err, header=salvage_header(frame)), link.link, now)
            return None
        if not packet.is_split:
            self._submit(Incoming(raw, peer, packet=packet), link.link, now)
            return None
        if not link.assembler.is_open(packet) and not self._writer.is_verified(packet.mn, packet.pw):
            return self._admit_split(packet, frame, raw, link)
        self._add_split(packet, frame, raw, link)
        return None

    async def _admit_split(self, first: Packet, frame: bytes, raw: str, link: LinkProtocol) -> None:
        """Queue the first part of a new split set once its MN is known and its PW accepted, else
        its refusal: nothing is buffered for an unauthenticated sender."""
        try:
            refusal = await self._writer.sender_refusal(first.mn, first.pw, link.peer)
            if refusal is not None:
                raise PacketError(*refusal)
        except PacketError as err:
            self._submit(Incoming(raw, link.peer, error=err, header=salvage_header(frame)), link.link)
            return
        self._add_split(first, frame, raw, link)

    def _add_split(self, packet: Packet, frame: bytes, raw: str, link: LinkProtocol) -> None:
        """Hold one part of a split set (within the link's and the total byte caps); queue the
        merged packet when the set is complete, or the part's refusal."""
        assembler = link.assembler
        try:
            if self._split_held + len(packet.segment) > self.split_total_bytes:
                raise PacketError("split_overflow", f"unfinished split packets of all links hold {self._split_held} "
                                  f"bytes; limit {self.split_total_bytes}")
            held = assembler.held_bytes
            whole = assembler.add(packet, time.monotonic())
            self._split_held += assembler.held_bytes - held
        except PacketError as err:
            self._submit(Incoming(raw, link.peer, error=err, header=salvage_header(frame)), link.link)
            return
        if whole is not None:
            parts = sorted(assembler_parts(whole), key=lambda p: p.pno or 0)
            self._submit(Incoming(whole.segment, link.peer, packet=whole, parts=parts), link.link)

    async def watch_link(self, link: LinkProtocol) -> None:
        """Close an idle link and drop split sets that timed out, checking a few times per timeout.

        Why a watchdog and not a timer per frame: a timer per frame (``wait_for``) was a tenth of
        the receiver's time at thousands of packets a second; this wakes a few times per
        ``split_timeout_s`` per link instead.
        """
        period_s = max(0.05, min(self.split_timeout_s, self.idle_timeout_s) / 4)
        while True:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            if now - link.last_frame_at >= self.idle_timeout_s:
                link.transport.abort()  # connection_lost drops what the link held
                return
            held = link.assembler.held_bytes
            expired = link.assembler.expire(now, self.split_timeout_s)
            if expired:
                self.drop_sets(expired, held - link.assembler.held_bytes, link.peer,
                               f"not complete {self.split_timeout_s:g} s after its first part")

    def drop_sets(self, rows: list[tuple], freed_bytes: int, peer: str, why: str) -> None:
        """Quarantine unfinished split sets a link gave up, and release the bytes they held."""
        for mn, cn, qn, got, pnum in rows:
            self._submit(Incoming(f"MN={mn};CN={cn};QN={qn}", peer, error=PacketError(
                "split_incomplete", f"{why}: {got} of {pnum} parts arrived")))
        self._split_held -= freed_bytes


class LinkProtocol(asyncio.Protocol):
    """One logger's TCP link: cuts each read into frames and hands them to the receiver.

    Why a protocol and not asyncio streams: with streams every read woke the link's task through a
    future and a ``StreamReader`` buffer; at a paced 5,000 packets/s from 500 loggers nearly every
    read is one packet, so that machinery was paid per packet. Here a read is framed and judged in
    ``data_received`` itself. Reading pauses while the link's unsent answers exceed
    ``ANSWER_BUFFER_BYTES`` (a logger that sends without reading is slowed down, not buffered) and
    while the first part of a split set waits for its password check (frames after it keep their
    order). At the end of the stream the link stays open until its last answers are written.
    """

    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.refused = False
        self.ended = False  # the logger ended its stream (or the receiver stops): no more frames
        self._paused: set[str] = set()
        self._admitting: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        rx = self.receiver
        self.transport = transport
        if len(rx._links) >= rx.max_links:  # refused before reading a byte: bounded memory
            rx.stats.links_refused += 1
            self.refused = True
            transport.close()
            return
        peername = transport.get_extra_info("peername")
        self.peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        transport.set_write_buffer_limits(high=ANSWER_BUFFER_BYTES)
        self.link = Link(transport)
        self.assembler = SplitAssembler(max_bytes=rx.split_link_bytes)
        self.splitter = FrameSplitter(rx.max_frame)
        self.loop = asyncio.get_running_loop()
        self.last_frame_at = time.monotonic()
        rx._links.add(self)
        self._watchdog = self.loop.create_task(rx.watch_link(self))

    def data_received(self, data: bytes) -> None:
        if self.refused or self.ended:
            return
        frames = self.splitter.feed(data)
        if frames:
            self.last_frame_at = time.monotonic()
            self._take(frames)

    def eof_received(self) -> bool:
        if not self.refused and not self.ended:
            self._take(self.splitter.close())
            self.end()
        return True  # keep the transport open: the last answers are still to be written

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        self.end()
        self._watchdog.cancel()
        if self._admitting is not None:
            self._admitting.cancel()
        self.receiver._links.discard(self)

    def pause_writing(self) -> None:
        self._pause("answers")

    def resume_writing(self) -> None:
        self._resume("answers")

    def end(self) -> None:
        """No more frames from this link: drop its unfinished split sets and close it once its last
        answers are written (at once when none are waiting)."""
        if self.ended:
            return
        self.ended = True
        if self._admitting is None:
            self._close_when_answered()

    def _close_when_answered(self) -> None:
        self.receiver.drop_sets(self.assembler.pending(), self.assembler.held_bytes, self.peer, "link closed")
        self.link.close_when_answered()

    def _take(self, frames: list[bytes | FrameTooLong]) -> None:
        for n, frame in enumerate(frames):
            admit = self.receiver.take_frame(frame, self)
            if admit is not None:  # the rest waits for the admission, and so does the link
                self._pause("admission")
                self._admitting = self.loop.create_task(self._take_after(admit, frames[n + 1:]))
                return

    async def _take_after(self, admit: Coroutine, rest: list[bytes | FrameTooLong]) -> None:
        try:
            await admit
            for frame in rest:
                if (admit := self.receiver.take_frame(frame, self)) is not None:
                    await admit
        finally:
            self._admitting = None
            self._resume("admission")
            if self.ended:
                self._close_when_answered()

    def _pause(self, why: str) -> None:
        if not self._paused and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused.add(why)

    def _resume(self, why: str) -> None:
        self._paused.discard(why)
        if not self._paused and not self.transport.is_closing():
            self.transport.resume_reading()


def _write_answers(batch: list[Incoming], outcomes: list[Outcome]) -> None:
    """Write the answers of a committed batch: one write per link, in the batch's order."""
    by_link: dict[asyncio.Transport, list[bytes]] = {}
    for item, outcome in zip(batch, outcomes, strict=True):
        if item.link is not None and (answer := outcome.answer(item)):
            by_link.setdefault(item.link.transport, []).append(answer)
    for transport, answers in by_link.items():
        if not transport.is_closing():
            transport.write(b"".join(answers))


def assembler_parts(whole: Packet) -> list[Packet]:
    """The part packets a merged split packet came from (their segments are joined by newlines)."""
    from data.hj212.packet import parse_segment

    out = []
    for seg in whole.segment.split("\n"):
        with contextlib.suppress(PacketError):
            out.append(parse_segment(seg))
    return out


EVENT_LOOPS = ("uvloop", "asyncio")


def new_event_loop(kind: str = "uvloop") -> asyncio.AbstractEventLoop:
    """The receiver's event loop: uvloop's (``kind`` "uvloop", where it is installed: a Linux
    dependency of envtrust) or asyncio's own ("asyncio", and wherever uvloop is missing). Why: the
    loop's work per packet (a read, its callbacks, a write per link and commit) shares one GIL with
    the writer thread, and uvloop does it in C."""
    if kind not in EVENT_LOOPS:
        raise ValueError(f"event loop {kind!r}: expected one of {', '.join(EVENT_LOOPS)}")
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed: the receiver runs on asyncio's own event loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def serve(db_path: str | Path, host: str, port: int, *, ready: Callable[[str, int], None] | None = None,
                stop_event: asyncio.Event | None = None, **options) -> ReceiverStats:
    """Run a receiver until ``stop_event`` is set (or the task is cancelled); return its counters."""
    receiver = Receiver(db_path, host, port, **options)
    bound = await receiver.start()
    if ready is not None:
        ready(*bound)
    stopping = asyncio.ensure_future((stop_event or asyncio.Event()).wait())
    try:
        await asyncio.wait([stopping, receiver.writer_task], return_when=asyncio.FIRST_COMPLETED)
        if receiver.writer_task.done() and not receiver.writer_task.cancelled():
            receiver.writer_task.result()  # raises WriterLost: nothing could be committed any more
    finally:
        stopping.cancel()
        await receiver.stop()
    return receiver.stats


class ReceiverThread:
    """The asyncio receiver on its own event loop in a background thread.

    Why: DuckDB allows one writing process per file, so the dashboard server (which writes reviews)
    and the receiver cannot run as two processes on one store. ``envtrust serve --hj212-port``
    runs both in one process; DuckDB's per-process instance cache lets their connections share
    the database. Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, db_path: str | Path, host: str = "127.0.0.1", port: int = 0, *, event_loop: str = "uvloop",
                 **options):
        """``event_loop``: ``new_event_loop``'s kind; ``options``: the Receiver's."""
        import threading

        self.db_path, self.host, self.requested_port, self.options = db_path, host, port, options
        self.event_loop = event_loop
        self.port = 0
        self.stats: ReceiverStats | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hj212-receiver", daemon=True)

    def _run(self) -> None:
        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(host, port):
                self.port = port
                self._ready.set()

            self.stats = await serve(self.db_path, self.host, self.requested_port, ready=ready,
                                     stop_event=self._stop, **self.options)

        try:
            with asyncio.Runner(loop_factory=lambda: new_event_loop(self.event_loop)) as runner:
                runner.run(main())
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc
            self._ready.set()

    def start(self, timeout_s: float = 20.0) -> ReceiverThread:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("HJ 212 receiver did not start")
        if self._error:
            raise self._error
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError("HJ 212 receiver did not stop")
        if self._error:
            raise self._error

    def __enter__(self) -> ReceiverThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
