"""HJ 212-2017 packets: golden samples (standards.md 1.10), negative examples, round trips."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import pytest

from data.hj212.codes import hj212_code_for, map_code, st_for_parameters, station_matches_st
from data.hj212.crc import crc_hex, hj212_crc16
from data.hj212.packet import (
    BatchReadings,
    PacketError,
    SplitAssembler,
    build_cp,
    build_data_response,
    build_packet,
    build_request_response,
    data_packet_to_readings,
    packet_reading_rows,
    parse_packet,
    readings_table,
    readings_to_packets,
    salvage_header,
)

OFFICIAL = ("##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
            "CP=&&RtdInterval=30&&1C80")
AIR_RTD = ("##0344QN=20220928142812336;ST=22;CN=2011;PW=123456;MN=JSRCTD000YD107;Flag=5;CP=&&DataTime=20220928142812;"
           "l01001-Flag=N,l01001-Rtd=119.90287;l01002-Flag=N,l01002-Rtd=32.48505;a34002-Rtd=5,a34002-Flag=N;"
           "a34004-Rtd=4,a34004-Flag=N;a21026-Rtd=22.25,a21026-Flag=N;a21004-Rtd=22.7,a21004-Flag=N;"
           "a21005-Rtd=0.36,a21005-Flag=N;a05024-Rtd=8.82,a05024-Flag=N&&9241")
COD_HOURLY = ("##0197ST=32;CN=2061;QN=20190424002722671;PW=123456;MN=23040281003022;Flag=5;"
              "CP=&&DataTime=20190416010000;w01018-Max=27.299999,w01018-Avg=27.299999,w01018-Min=27.299999,"
              "w01018-Cou=0.000000,w01018-Flag=N&&84C1")
WATER_RTD = ("##0435QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;CP=&&DataTime=20210301111100;"
             "w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,w01009-Flag=N;w01010-Rtd=9.7,w01010-Flag=N;"
             "w01014-Rtd=1425,w01014-Flag=N;w01003-Rtd=13.10,w01003-Flag=N;w21011-Rtd=0,w21011-Flag=N;"
             "w21001-Rtd=3.563168,w21001-Flag=N;w21003-Rtd=0.09055002,w21003-Flag=N;w01019-Rtd=4.102818,"
             "w01019-Flag=N;w01008-Rtd=0,w01008-Flag=N;w23002-Rtd=0,w23002-Flag=N&&7d00")
WRONG_CRC = ("##0190ST=31;CN=2061;PW=123456;MN=7568770259402;Flag=0;CP=&&DataTime=20221008100000;"
             "B02-Min=1.6960,B02-Avg=3.0586,B02-Max=3.7704,B02-Cou=11010.8437;"
             "S01-Min=17.7469,S01-Avg=19.4636,S01-Max=19.6944&&7BC0")
WRONG_LENGTH = ("##0462ST=32;CN=2061;PW=123456;MN=1111;CP=&&DataTime=20180416000000;001-Cou=0.00,001-Min=7.16,"
                "001-Avg=7.17,001-Max=7.17;B01-Cou=748.84,B01-Min=204.50,B01-Avg=208.01,B01-Max=214.20;011-Cou=17.37,"
                "011-Min=23.20,011-Avg=23.20,011-Max=23.20;B11-Min=21941081.00,B11-Avg=21941455.50,"
                "B11-Max=21941830.00;060-Cou=2.40,060-Min=3.11,060-Avg=3.20,060-Max=3.31;101-Cou=0.05,"
                "101-Min=0.0620,101-Avg=0.0620,101-Max=0.0620;065-Cou=3.00,065-Min=4.01,065-Avg=4.01,"
                "065-Max=4.01&&90C1")


def wire(text: str) -> bytes:
    return text.encode("ascii") + b"\r\n"


def segment_of(text: str) -> bytes:
    return text[6:-4].encode("ascii")


@pytest.mark.parametrize(("packet", "crc"), [(OFFICIAL, "1C80"), (AIR_RTD, "9241"), (COD_HOURLY, "84C1"),
                                             (WATER_RTD, "7D00")])
def test_crc_of_golden_samples(packet, crc):
    assert crc_hex(segment_of(packet)) == crc
    assert parse_packet(wire(packet)).crc.upper() == crc


def test_crc_is_not_modbus():
    """The official sample: HJ 212 routine 1C80, CRC-16/MODBUS would give 0759 (standards.md 1.2)."""
    seg = segment_of(OFFICIAL)
    modbus = 0xFFFF
    for byte in seg:
        modbus ^= byte
        for _ in range(8):
            modbus = (modbus >> 1) ^ 0xA001 if modbus & 1 else modbus >> 1
    assert f"{modbus:04X}" == "0759"
    assert hj212_crc16(seg) == 0x1C80


def test_lower_case_crc_is_accepted():
    packet = parse_packet(wire(WATER_RTD))
    assert packet.crc == "7d00"
    assert packet.st == "21" and packet.cn == "2011" and packet.mn == "ZLDSZ20210127"


def test_official_sample_fields():
    p = parse_packet(wire(OFFICIAL))
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag) == ("20160801085857223", "32", "1062", "100000",
                                                        "010000A8900016F000169DC0", 5)
    assert p.cp == {"RtdInterval": "30"}
    assert p.needs_ack and not p.is_split and p.version == "2017"


def test_fields_parsed_by_key_not_position():
    """Sample 3 has QN after CN."""
    p = parse_packet(wire(COD_HOURLY))
    assert p.qn == "20190424002722671" and p.cn == "2061"
    assert p.items()["w01018"] == {"Max": "27.299999", "Avg": "27.299999", "Min": "27.299999",
                                   "Cou": "0.000000", "Flag": "N"}


def test_wrong_crc_rejected_with_both_values():
    with pytest.raises(PacketError) as err:
        parse_packet(wire(WRONG_CRC))
    assert err.value.reason == "bad_crc"
    assert "7BC0" in err.value.detail and "7D00" in err.value.detail


def test_declared_length_differs_from_real_length():
    real = len(segment_of(WRONG_LENGTH))
    assert real != 462
    with pytest.raises(PacketError) as err:
        parse_packet(wire(WRONG_LENGTH))
    assert err.value.reason == "bad_length"
    assert "462" in err.value.detail and str(real) in err.value.detail


@pytest.mark.parametrize(("raw", "reason"), [
    (b"#0101" + segment_of(OFFICIAL) + b"1C80\r\n", "bad_header"),
    (wire(OFFICIAL)[:-2], "bad_terminator"),
    (wire(OFFICIAL)[:-2] + b"\n", "bad_terminator"),
    (b"##01x1" + segment_of(OFFICIAL) + b"1C80\r\n", "bad_length"),
    (b"##", "bad_terminator"),
    (b"##\r\n", "bad_length"),
])
def test_frame_errors(raw, reason):
    with pytest.raises(PacketError) as err:
        parse_packet(raw)
    assert err.value.reason == reason


def _rebuilt(segment: str) -> bytes:
    body = segment.encode("ascii")
    return b"##%04d" % len(body) + body + crc_hex(body).encode() + b"\r\n"


@pytest.mark.parametrize(("segment", "reason"), [
    ("QN=20160801085857223;ST=32;PW=1;MN=A1;Flag=5;CP=&&&&", "missing_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;Flag=5;CP=&&&&", "missing_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=5", "missing_field"),
    ("QN=2016080108585722;ST=32;CN=2061;PW=1;MN=A1;Flag=5;CP=&&&&", "bad_qn"),
    ("QN=20160801085857223;ST=3x;CN=2061;PW=1;MN=A1;Flag=5;CP=&&&&", "bad_st"),
    ("QN=20160801085857223;ST=99;CN=2061;PW=1;MN=A1;Flag=5;CP=&&&&", "unknown_system"),
    ("QN=20160801085857223;ST=32;CN=2999;PW=1;MN=A1;Flag=5;CP=&&&&", "unknown_command"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=x;CP=&&&&", "bad_header_flag"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1234567;MN=A1;Flag=5;CP=&&&&", "bad_pw"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=7;CP=&&&&", "missing_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=7;PNUM=2;PNO=3;CP=&&&&", "bad_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;MN=A2;Flag=5;CP=&&&&", "bad_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=5;CP=&&DataTime=1;a=1;a=2&&", "bad_field"),
    ("QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=5;CP=&&oops&&", "bad_field"),
])
def test_field_errors(segment, reason):
    with pytest.raises(PacketError) as err:
        parse_packet(_rebuilt(segment))
    assert err.value.reason == reason


def test_too_long_segment():
    cp = ";".join(f"x{i:05d}-Avg={i}" for i in range(200))
    raw = build_packet("31", "2061", "MN1", cp, qn="20240101000000000")
    assert len(raw) > 1024
    with pytest.raises(PacketError) as err:
        parse_packet(raw)
    assert err.value.reason == "too_long"
    assert parse_packet(raw, max_segment=4096).cn == "2061"


def test_non_ascii_segment():
    body = "QN=20160801085857223;ST=32;CN=2061;PW=1;MN=A1;Flag=5;CP=&&Info=测试&&".encode()
    raw = b"##%04d" % len(body) + body + crc_hex(body).encode() + b"\r\n"
    with pytest.raises(PacketError) as err:
        parse_packet(raw)
    assert err.value.reason == "bad_encoding"


def test_round_trip_build_parse():
    cp = build_cp(datetime(2024, 3, 1, 10), {"a21026": {"Avg": 35.25, "Flag": "N"},
                                             "a19001": {"Avg": 8.0, "ZsAvg": 1.0, "Flag": "M"}})
    raw = build_packet("31", "2061", "MN0001", cp, qn="20240301100512345", pw="654321", flag=5)
    p = parse_packet(raw)
    assert (p.st, p.cn, p.mn, p.pw, p.qn, p.flag) == ("31", "2061", "MN0001", "654321", "20240301100512345", 5)
    assert p.cp["DataTime"] == "20240301100000"
    assert p.items()["a21026"] == {"Avg": "35.25", "Flag": "N"}
    assert p.frame() == raw


def test_hourly_flue_packet_to_readings_utc_flags_units():
    cp = build_cp(datetime(2024, 3, 1, 10), {
        "a21026": {"Avg": 35.25, "ZsAvg": 50.0, "Flag": "N"},
        "a21002": {"Avg": 80.0, "Flag": "M"},
        "a19001": {"Avg": 9.5, "Flag": "C"},
        "a00000": {"Avg": 3.0586, "Cou": 11010.84, "Flag": "N"},
        "a99999": {"Avg": 1.0},
    })
    p = parse_packet(build_packet("31", "2061", "MN0001", cp, qn="20240301100512345"))
    got = data_packet_to_readings(p, {"station_id": "P1"})
    r = got.readings.set_index("parameter")
    assert set(r.index) == {"flue_SO2", "flue_NOx", "flue_O2", "flue_flow"}
    assert (r["ts"] == pd.Timestamp("2024-03-01 02:00")).all()  # 10:00 CST = 02:00 UTC
    assert r.loc["flue_SO2", "value"] == 35.25  # measured, not the Zs value
    assert r.loc["flue_NOx", "flag"] == "M" and r.loc["flue_O2", "flag"] == "C"
    assert r.loc["flue_flow", "value"] == pytest.approx(3.0586 * 3600)  # m3/s -> m3/h
    assert got.skipped["code"].tolist() == ["a99999"]


def test_same_code_means_different_parameters_per_st():
    assert map_code("22", "a21026").parameter == "SO2"
    assert map_code("31", "a21026").parameter == "flue_SO2"
    assert map_code("21", "w21003").parameter == "NH3-N"
    assert map_code("32", "w21003").parameter == "ww_NH3-N"
    assert map_code("31", "w01018") is None
    assert map_code("99", "a21026") is None


@pytest.mark.parametrize(("st", "old", "parameter"), [
    ("32", "011", "ww_COD"), ("32", "060", "ww_NH3-N"), ("32", "B01", "ww_flow"),
    ("31", "02", "flue_SO2"), ("31", "03", "flue_NOx"), ("31", "01", "flue_dust"),
    ("31", "S01", "flue_O2"), ("31", "S03", "flue_temp"), ("31", "B02", "flue_flow"),
])
def test_2005_era_codes(st, old, parameter):
    assert map_code(st, old).parameter == parameter


def test_2005_era_wastewater_packet():
    """The ##0462 sample's content with a correct length/CRC: old codes, no Flag, no QN."""
    seg = WRONG_LENGTH[6:-4]
    p = parse_packet(_rebuilt(seg))
    assert p.flag == 0 and p.version == "2005" and p.qn is None and not p.needs_ack
    got = data_packet_to_readings(p, {"station_id": "W1"})
    r = got.readings.set_index("parameter")["value"]
    assert r["ww_COD"] == 23.20 and r["ww_NH3-N"] == 3.20
    assert r["ww_flow"] == pytest.approx(208.01 * 3.6)  # L/s -> m3/h; Cou 748.84 m3 in the hour agrees
    assert r["ww_flow"] == pytest.approx(748.84, rel=1e-3)
    assert set(got.skipped["code"]) == {"001", "101", "065", "B11"}  # pH/TP/TN are not ww_ parameters


def test_old_codes_round_trip_through_simulator():
    readings = pd.DataFrame({"station_id": "P1", "ts": pd.to_datetime(["2024-01-01 00:00"] * 3),
                             "parameter": ["flue_SO2", "flue_O2", "flue_flow"], "value": [12.0, 7.5, 36000.0],
                             "flag": ["N", "N", "D"]})
    [(ts, raw)] = readings_to_packets(readings, "MN1", "31", old_codes=True, qns=["20240101080000000"])
    p = parse_packet(raw)
    assert {"02", "S01", "B02"} == set(p.items())
    back = data_packet_to_readings(p, {"station_id": "P1"}).readings.sort_values("parameter")
    expected = readings.sort_values("parameter")
    assert back["parameter"].tolist() == expected["parameter"].tolist()
    assert back["value"].tolist() == pytest.approx(expected["value"].tolist())
    assert back["flag"].tolist() == expected["flag"].tolist()
    assert (back["ts"] == ts).all()


def test_missing_value_is_nan_and_non_numeric_is_rejected():
    p = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101000000;a21026-Avg=,a21026-Flag=D"))
    r = data_packet_to_readings(p, {"station_id": "P"}).readings
    assert math.isnan(r["value"].iloc[0]) and r["flag"].iloc[0] == "D"
    p = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101000000;a21026-Avg=abc"))
    with pytest.raises(PacketError) as err:
        data_packet_to_readings(p, {"station_id": "P"})
    assert err.value.reason == "bad_field"


BATCH_CPS = [  # (CP, whether a value is not a number)
    ("DataTime=20240101000000;a21026-Avg=1.5,a21026-Flag=N;a19001-Avg=8,a19001-Flag=;a00000-Avg=2", False),
    ("DataTime=20240101010000;a21026-Avg=,a21026-Flag=D;a21002-ZsAvg=3;a99999-Avg=1;a34013-Avg=+.5e1", False),
    ("DataTime=20240101010000;a21026-Avg=1.,a21026-Flag=X;a00000-Cou=5", False),
    ("DataTime=20240101020000;a21026-Avg=1;a19001-Avg=1_000", True),
    ("DataTime=20240101020000;a21026-Avg= 5", True),
    ("DataTime=20240101030000;a21002-Avg=7,a21002-Flag=M", False),
    ("DataTime=20240101030000", False),
]


def test_batch_readings_are_the_per_packet_rows_as_columns():
    """A batch gathered as columns: the same table as the per-packet tuples, the same skipped
    items, and the same error for a value that is not a number (the packet adds nothing)."""
    batch, rows = BatchReadings(), []
    for n, (cp, bad) in enumerate(BATCH_CPS):
        p = parse_packet(build_packet("31", "2061", f"M{n}", cp))
        ts_utc = p.data_time_cst - timedelta(hours=8)
        if bad:
            with pytest.raises(PacketError) as expected:
                packet_reading_rows(p, f"P{n}")
            with pytest.raises(PacketError) as got:
                batch.add(p, f"P{n}", ts_utc)
            assert (got.value.reason, got.value.detail) == (expected.value.reason, expected.value.detail)
            continue
        packet_rows, skipped = packet_reading_rows(p, f"P{n}")
        rows.extend(packet_rows)
        assert batch.add(p, f"P{n}", ts_utc) == skipped
    assert len(batch) == len(rows) == 7
    got, want = batch.table(), readings_table(rows)
    assert got.schema == want.schema
    pd.testing.assert_frame_equal(got.to_pandas(), want.to_pandas())  # NaN equals NaN here
    assert BatchReadings().table().equals(readings_table([]))


@pytest.mark.parametrize(("cp", "reason"), [
    ("a21026-Avg=1", "missing_field"),
    ("DataTime=20241301000000;a21026-Avg=1", "bad_field"),
    ("DataTime=2024;a21026-Avg=1", "bad_field"),
])
def test_bad_data_time(cp, reason):
    p = parse_packet(build_packet("31", "2061", "M", cp))
    with pytest.raises(PacketError) as err:
        data_packet_to_readings(p, {"station_id": "P"})
    assert err.value.reason == reason


def test_real_time_uses_rtd_and_non_data_commands_refused():
    p = parse_packet(wire(AIR_RTD))
    r = data_packet_to_readings(p, {"station_id": "A"}).readings.set_index("parameter")
    assert r.loc["SO2", "value"] == 22.25 and r.loc["CO", "value"] == 0.36
    with pytest.raises(PacketError) as err:
        data_packet_to_readings(parse_packet(wire(OFFICIAL)), {"station_id": "A"})
    assert err.value.reason == "not_data"


def test_split_packets_reassembled_and_inconsistent_rejected():
    common = dict(qn="20240101000000000", flag=7, pnum=2)
    a = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101000000;a21026-Avg=1", pno=1, **common))
    b = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101000000;a19001-Avg=8", pno=2, **common))
    assert a.is_split and a.pnum == 2 and a.pno == 1
    asm = SplitAssembler()
    assert asm.add(b) is None
    assert asm.pending() == [("M", "2061", "20240101000000000", 1, 2)]
    whole = asm.add(a)
    assert whole is not None and not whole.is_split
    assert whole.items() == {"a21026": {"Avg": "1"}, "a19001": {"Avg": "8"}}
    assert asm.pending() == []
    c = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101010000;a19001-Avg=8", pno=2, **common))
    asm.add(a)
    with pytest.raises(PacketError) as err:
        asm.add(c)
    assert err.value.reason == "split_inconsistent"
    d = parse_packet(build_packet("31", "2061", "M", "DataTime=20240101000000", qn="20240101000000000",
                                  flag=7, pnum=3, pno=2))
    asm.add(a)
    with pytest.raises(PacketError) as err:
        asm.add(d)
    assert err.value.reason == "split_inconsistent"


def test_split_sets_per_link_are_bounded():
    asm = SplitAssembler(max_open_sets=2)
    for i in range(2):
        part = build_packet("31", "2061", "M", "DataTime=20240101000000", qn=f"2024010100000000{i}", flag=7,
                            pnum=2, pno=1)
        assert asm.add(parse_packet(part)) is None
    third = build_packet("31", "2061", "M", "DataTime=20240101000000", qn="20240101000000009", flag=7, pnum=2, pno=1)
    with pytest.raises(PacketError) as err:
        asm.add(parse_packet(third))
    assert err.value.reason == "split_overflow"


def test_responses():
    req = parse_packet(wire(COD_HOURLY))
    ack = parse_packet(build_data_response(req))
    assert (ack.st, ack.cn, ack.qn, ack.mn, ack.flag, ack.cp) == ("91", "9014", req.qn, req.mn, 4, {})
    nak = parse_packet(build_request_response(salvage_header(wire(WRONG_CRC)[:-2] + b";QN=20221008100000123;"), 9))
    assert nak.cn == "9011" and nak.cp == {"QnRtn": "9"}


def test_salvage_header_from_rejected_packet():
    h = salvage_header(wire(COD_HOURLY).replace(b"84C1", b"0000"))
    assert h["QN"] == "20190424002722671" and h["MN"] == "23040281003022" and h["CN"] == "2061"


def test_st_helpers():
    assert st_for_parameters(["flue_SO2", "flue_O2"]) == "31"
    assert st_for_parameters(["ww_COD"]) == "32"
    assert st_for_parameters(["PM2.5", "TEMP"]) == "22"
    assert st_for_parameters(["pH", "DO"]) == "21"
    with pytest.raises(ValueError):
        st_for_parameters(["flue_SO2", "ww_COD"])
    assert hj212_code_for("ww_COD") == "w01018" and hj212_code_for("ww_COD", old_codes=True) == "011"
    assert station_matches_st("31", "polluter_outlet", "flue_gas")
    assert not station_matches_st("31", "polluter_outlet", "wastewater")
    assert not station_matches_st("22", "polluter_outlet", None)
    assert station_matches_st("22", "air_micro", None)


def test_crc_state_and_tail_tables_agree_with_the_crc():
    """The 8-bit state the HJ 212 CRC carries, and the per-tail tables built on it (issue 11)."""
    import os
    import random

    from data.hj212.crc import _TABLE, hj212_crc16, state_after, tail_table

    rng = random.Random(7)
    for _ in range(500):
        data = os.urandom(rng.randint(1, 300))
        assert _TABLE[state_after(data[:-1]) ^ data[-1]] == hj212_crc16(data)
        cut = rng.randrange(len(data))
        assert tail_table(data[cut:])[state_after(data[:cut])] == hj212_crc16(data)


def test_gathered_crc_equals_the_byte_by_byte_register_at_every_length():
    """The parity form of the CRC (the state as parities of the message under per-length masks)
    gives the register's result at every length around its switch-over points (64 and 1,024
    bytes), and from every start state."""
    import random

    from data.hj212.crc import _crc16_by_loop, hj212_crc16

    rng = random.Random(11)
    for length in [*range(0, 80), 255, 1023, 1024, 1025, 1026, 2000]:
        data = bytes(rng.randrange(256) for _ in range(length))
        assert hj212_crc16(data) == _crc16_by_loop(data), length
    assert hj212_crc16(b"\xff" * 1024) == _crc16_by_loop(b"\xff" * 1024)
    from data.hj212.crc import _state_by_loop, state_after

    for length in (64, 65, 270, 1024):
        data = bytes(rng.randrange(256) for _ in range(length))
        assert all(state_after(data, start) == _state_by_loop(data, start) for start in range(256)), length


def test_fast_data_response_is_the_built_packet():
    import random
    import string

    from data.hj212.packet import build_data_response

    rng = random.Random(11)
    for _ in range(300):
        qn = "".join(rng.choice(string.digits) for _ in range(17))
        mn = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, 24)))
        pw = "".join(rng.choice(string.ascii_letters + "!-_") for _ in range(rng.randint(0, 6)))
        expected = build_packet("91", "9014", mn, "", qn=qn, pw=pw, flag=4)
        assert build_data_response({"QN": qn, "MN": mn, "PW": pw}) == expected
        assert parse_packet(expected).cn == "9014"


def _frames(splitter, chunks: list[bytes]) -> list:
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out + splitter.close()


def test_frame_splitter_cuts_every_read_into_whole_frames_whatever_the_chunking():
    from data.hj212.receiver import FrameSplitter, FrameTooLong

    stream = b"##a\r\n##bb\r\n" + b"x" * 600 + b"\r\n##c\r\n##tail"
    expected = [b"##a\r\n", b"##bb\r\n", "too_long", b"##c\r\n", b"##tail"]
    for size in (1, 2, 3, 7, 64, len(stream)):
        chunks = [stream[i:i + size] for i in range(0, len(stream), size)]
        got = _frames(FrameSplitter(max_frame=300), chunks)
        shown = ["too_long" if isinstance(f, FrameTooLong) else f for f in got]
        assert shown == expected, size
        assert [f.head for f in got if isinstance(f, FrameTooLong)] == [b"x" * 256]


def test_frame_splitter_holds_at_most_the_limit_of_an_endless_run():
    from data.hj212.receiver import FrameSplitter, FrameTooLong

    splitter = FrameSplitter(max_frame=100)
    for _ in range(50):
        assert splitter.feed(b"y" * 1000) == []
        assert len(splitter._buf) <= 100
    [report] = splitter.close()
    assert isinstance(report, FrameTooLong) and "stream ended" in str(report)
