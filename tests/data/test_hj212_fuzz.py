"""Fuzzing the HJ 212 parser and the receiver's store (issue 11): a small count here, >= 1 M
inputs in ``benchmarks/hj212_fuzz.py``. Real DuckDB, the real PacketStore and ingest."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.hj212.auth import set_logger_password
from data.hj212.fuzz import mutate, seed_packets
from data.hj212.packet import Packet, PacketError, build_cp, build_packet, parse_packet, salvage_header
from data.hj212.receiver import Incoming, PacketStore
from data.store import connect

MN, PW = "MNFUZZ000001", "pw1234"
SEEDS = seed_packets(MN, PW)


@given(st.binary(max_size=1200))
@settings(max_examples=200, deadline=None)
def test_parser_on_arbitrary_bytes_raises_only_packet_error(raw):
    try:
        assert isinstance(parse_packet(raw), Packet)
    except PacketError as err:
        assert err.reason and err.detail
    salvage_header(raw)  # never raises


@given(st.integers(0, 2**32), st.sampled_from(SEEDS))
@settings(max_examples=200, deadline=None)
def test_parser_on_mutated_packets_raises_only_packet_error(seed, packet):
    raw = mutate(packet, random.Random(seed))
    try:
        assert isinstance(parse_packet(raw), Packet)
    except PacketError as err:
        assert err.reason and err.detail


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"
    con = connect(path)
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) VALUES "
                "('P1', 'stack', 'polluter_outlet', 116.4, 39.9, 'flue_gas', ?)", [MN])
    set_logger_password(con, MN, PW, actor="test")
    con.close()
    return path


@given(st.lists(st.tuples(st.integers(0, 2**32), st.sampled_from(SEEDS)), min_size=1, max_size=20),
       st.integers(0, 23))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_fuzzed_item_gets_an_outcome_and_good_packets_still_commit(fuzz_store, mutations, hour):
    """The store's judgement of a batch of fuzzed frames never raises, gives each item an outcome
    (with a reason when quarantined), and still stores the good packet of the same batch."""
    items = [incoming(mutate(packet, random.Random(seed))) for seed, packet in mutations]
    when = datetime(2024, 6, 1, hour)
    good = build_packet("31", "2061", MN, build_cp(when, {"a21026": {"Avg": 3.0, "Flag": "N"}}),
                        qn=f"20240601{hour:02d}0000000", pw=PW)
    items.append(incoming(good))
    con = connect(fuzz_store)
    try:
        outcomes = PacketStore(con).commit_batch(items)
        stored = con.execute("SELECT count(*) FROM readings WHERE ts = ? AND parameter = 'flue_SO2'",
                             [when - timedelta(hours=8)]).fetchone()[0]
    finally:
        con.close()
    assert len(outcomes) == len(items)
    assert all(o.status in ("stored", "duplicate", "logged", "quarantined") for o in outcomes)
    assert all(o.reason for o in outcomes if o.status == "quarantined")
    answers = [o.answer(item) for o, item in zip(outcomes, items, strict=True)]  # built on the event loop
    assert parse_packet(answers[-1]).cn == "9014"
    assert outcomes[-1].status in ("stored", "duplicate") and stored == 1


def incoming(raw: bytes) -> Incoming:
    """One frame as the link handler hands it to the writer (split parts stay single packets here)."""
    text = raw.decode("ascii", errors="backslashreplace")
    try:
        return Incoming(text, "127.0.0.1:1", packet=parse_packet(raw))
    except PacketError as err:
        return Incoming(text, "127.0.0.1:1", error=err, header=salvage_header(raw))
