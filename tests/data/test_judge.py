"""The Python judge of typed batches (``data.judge``, ``ingest_typed_rows``) against the SQL judge
of frames and files (``ingest_readings``): the same rows stored, counted and quarantined, with the
same reasons, raw text and details, over randomised mixed batches and over HJ 212 packets.
Real DuckDB stores, no mocks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from analytics.timeconv import PlausibleWindow
from data.hj212.auth import set_logger_password
from data.hj212.packet import build_cp, build_packet, parse_packet
from data.hj212.receiver import Incoming, PacketStore
from data.ingest import REASONS, IngestReport, ingest_readings, ingest_typed_rows
from data.judge import TYPED_REASONS, KnownStations, normalised_flags, space_separators
from data.store import connect

STATIONS = ("P1", "P2", "A1")
READINGS_SQL = "SELECT station_id, ts, parameter, value, flag, source FROM readings ORDER BY ALL"
QUARANTINE_SQL = "SELECT raw, reason, detail, source FROM quarantine ORDER BY ALL"


def test_typed_reasons_are_the_sql_reasons_in_the_same_order():
    assert [r for r in REASONS if r in TYPED_REASONS] == list(TYPED_REASONS)


def test_flags_are_trimmed_of_exactly_what_duckdb_trims():
    duck = duckdb.connect()
    trimmed = duck.execute("SELECT list(i) FROM range(1, 1114112) t(i) WHERE (i < 55296 OR i > 57343) "
                           "AND length(trim(chr(i::INTEGER) || 'N')) = 1").fetchall()[0][0]
    assert "".join(map(chr, trimmed)) == space_separators()
    cases = [None, "", " ", "N", " M ", "\tN", "N\n", "\u00a0D\u3000", "x", "  ", "n"]
    sql = [duck.execute("SELECT coalesce(nullif(trim(?), ''), 'N')", [c]).fetchall()[0][0] for c in cases]
    assert normalised_flags(pa.array(cases, pa.string())).to_pylist() == sql


def mixed_rows(rng: random.Random, n: int, day: datetime) -> list[tuple]:
    """Typed rows of every kind: good, repeated keys (same or other value), unknown station or
    parameter, NaN / inf / negative / out-of-range values, odd flags, times outside the window."""
    rows = []
    for _ in range(n):
        station = rng.choice([*STATIONS, *STATIONS, "NOPE", None])
        ts = day + timedelta(hours=rng.randrange(6))
        ts = rng.choice([ts, ts, ts, ts, None, datetime(1, 1, 1), datetime(1979, 12, 31, 23), datetime(2099, 1, 1)])
        parameter = rng.choice(["flue_SO2", "flue_O2", "flue_temp", "PM2.5", "TEMP", "PM1", None])
        value = rng.choice([1.0, 2.0, 20.0, 20.0, -1.0, 0.0, 1e9, float("inf"), float("-inf"), float("nan"), None])
        flag = rng.choice(["N", "N", "N", "M", "D", "X", "", " N", "\tN", "\u00a0C", "n", None])
        rows.append((station, ts, parameter, value, flag))
    return rows


def typed_table(rows: list[tuple]) -> pa.Table:
    """The receiver's batch: station_id, ts (timestamp[us] naive UTC), parameter, value, flag."""
    cols = list(zip(*rows, strict=True))
    types = [pa.string(), pa.timestamp("us"), pa.string(), pa.float64(), pa.string()]
    return pa.table([pa.array(c, t) for c, t in zip(cols, types, strict=True)],
                    names=["station_id", "ts", "parameter", "value", "flag"])


def sql_judge(con, table: pa.Table, source: str, fmt: str, **kwargs) -> IngestReport:
    """The same batch through the SQL judge (a pandas frame into ``ingest_readings``)."""
    kwargs.pop("stations", None)
    frame = table.to_pandas(timestamp_as_object=True)
    frame["ts"] = pd.Series(pd.array(table.column("ts").to_numpy(), dtype="datetime64[us]"))
    frame["value"] = frame["value"].astype("float64")
    return ingest_readings(con, frame, source, fmt, **kwargs)


def rows_of(con, sql: str) -> pd.DataFrame:
    """``sql``'s rows, with the plausible window's upper end (now + 24 h, named in the detail of an
    ``implausible_time``) masked: the two stores' batches may straddle a minute."""
    frame = con.execute(sql).df()
    if "detail" in frame.columns:
        frame["detail"] = frame["detail"].str.replace(r"\.\. \d{4}-\d\d-\d\d \d\d:\d\d UTC", ".. (now + ahead) UTC",
                                                      regex=True)
    return frame


def report_counts(report: IngestReport) -> tuple:
    return report.rows_in, report.rows_stored, report.rows_duplicate, report.rows_quarantined, report.reasons


def two_stores(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
    cons = []
    for name in ("sql", "python"):
        con = connect(tmp_path / f"{name}.duckdb")
        con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type) VALUES "
                    "('P1', 'a', 'polluter_outlet', 116, 39, 'flue_gas'), "
                    "('P2', 'b', 'polluter_outlet', 116, 39, 'flue_gas'), ('A1', 'c', 'air_station', 116, 39, NULL)")
        cons.append(con)
    return cons[0], cons[1]


@pytest.mark.parametrize("seed", range(6))
def test_python_judge_stores_and_quarantines_what_the_sql_judge_does(tmp_path, seed):
    """Four batches in a row (so later ones meet stored keys), each with every kind of row,
    and adapter rows in one: the same reports, readings and quarantine rows, row for row."""
    rng = random.Random(seed)
    sql_con, py_con = two_stores(tmp_path)
    stations = KnownStations()
    adapter_q = pd.DataFrame({"raw": ["item a"], "reason": ["unmapped_code"], "detail": ["no parameter for a"]})
    window = PlausibleWindow()
    try:
        for k in range(4):
            table = typed_table(mixed_rows(rng, 120, datetime(2024, 5, 1 + k % 2)))
            q = adapter_q if k == 2 else None
            old = sql_judge(sql_con, table, "t", "hj212", quarantined=q, window=window)
            new = ingest_typed_rows(py_con, table, "t", "hj212", quarantined=q, window=window, stations=stations)
            assert report_counts(new) == report_counts(old)
        assert old.reasons.keys() >= {"duplicate_conflict", "bad_flag", "unknown_station", "implausible_time"}
        for sql in (READINGS_SQL, QUARANTINE_SQL):
            pd.testing.assert_frame_equal(rows_of(py_con, sql), rows_of(sql_con, sql))
        batches = "SELECT rows_in, rows_stored, rows_duplicate, rows_quarantined, status FROM ingest_batches ORDER BY ALL"
        assert py_con.execute(batches).fetchall() == sql_con.execute(batches).fetchall()
    finally:
        sql_con.close()
        py_con.close()


def test_a_station_added_after_the_first_batch_is_known(tmp_path):
    """The connection's cached station ids are read again when a batch names one not among them."""
    _, con = two_stores(tmp_path)
    stations = KnownStations()
    rows = [("P9", datetime(2024, 5, 1), "flue_SO2", 1.0, "N")]
    try:
        first = ingest_typed_rows(con, typed_table(rows), "t", "hj212", stations=stations)
        con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type) VALUES "
                    "('P9', 'new', 'polluter_outlet', 116, 39, 'flue_gas')")
        second = ingest_typed_rows(con, typed_table(rows), "t", "hj212", stations=stations)
    finally:
        con.close()
    assert first.reasons == {"unknown_station": 1} and second.rows_stored == 1


def test_a_failed_batch_leaves_nothing_registered(tmp_path):
    """A batch whose transaction fails is rolled back; the next one works on the same connection."""
    _, con = two_stores(tmp_path)
    rows = typed_table([("P1", datetime(2024, 5, 1), "flue_SO2", 1.0, "N")])

    def boom(con, batch_id):
        raise RuntimeError("before commit")

    try:
        with pytest.raises(RuntimeError):
            ingest_typed_rows(con, rows, "t", "hj212", before_commit=boom)
        assert ingest_typed_rows(con, rows, "t", "hj212").rows_stored == 1
        names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
        assert not names & {"_et_new", "_et_judged", "_et_cls", "_et_params"}
    finally:
        con.close()


# ----------------------------------------------------------------------------- HJ 212 packets
MN1, MN2, PW = "MNJUDGE00001", "MNJUDGE00002", "pw1234"


def packet_store(path: Path) -> Path:
    con = connect(path)
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) VALUES "
                "('P1', 'a', 'polluter_outlet', 116, 39, 'flue_gas', ?), "
                "('P2', 'b', 'polluter_outlet', 116, 39, 'flue_gas', ?)", [MN1, MN2])
    for mn in (MN1, MN2):
        set_logger_password(con, mn, PW, actor="test")
    con.close()
    return path


def flue(mn: str, hour: int, so2=20.0, flag="N", o2=9.0, temp=120.0, qn_tail=0, day=1, pw=PW) -> bytes:
    when = datetime(2024, 5, day, hour)
    items = {"a21026": {"Avg": so2, "Flag": flag}, "a19001": {"Avg": o2, "Flag": "N"},
             "a01012": {"Avg": temp, "Flag": "N"}, "l01001": {"Avg": 1.0}}
    return build_packet("31", "2061", mn, build_cp(when, items), qn=f"202405{day:02d}{hour:02d}00{qn_tail:05d}", pw=pw)


def packet_mix(rng: random.Random) -> list[bytes]:
    """Good packets, replays, another value for a sent hour, a bad range, a bad flag, a negative
    concentration, a DataTime outside the window, an unknown MN, a wrong password."""
    out = []
    kinds = ["good", "good", "good", "replay", "other", "range", "flag", "negative", "time", "mn", "pw"]
    for n in range(40):
        mn = rng.choice([MN1, MN2])
        hour = rng.randrange(8)
        kind = kinds[n] if n < len(kinds) else rng.choice(kinds)  # every kind at least once
        if kind == "replay" and out:
            out.append(rng.choice(out))
        elif kind == "other":
            out.append(flue(mn, hour, so2=rng.choice([20.0, 55.5]), flag=rng.choice(["N", "M"]), qn_tail=n))
        elif kind == "range":
            out.append(flue(mn, hour, temp=1e7, qn_tail=n))
        elif kind == "flag":
            out.append(flue(mn, hour, flag=rng.choice(["X", "Q"]), qn_tail=n))
        elif kind == "negative":
            out.append(flue(mn, hour, so2=-3.0, qn_tail=n))
        elif kind == "time":
            out.append(build_packet("31", "2061", mn, build_cp(datetime(2099, 1, 1), {"a21026": {"Avg": 1.0}}),
                                    qn=f"20990101000000{n:03d}", pw=PW))
        elif kind == "mn":
            out.append(flue("MNUNKNOWN999", hour, qn_tail=n))
        elif kind == "pw":
            out.append(flue(mn, hour, qn_tail=n, pw="wrong1"))
        else:
            out.append(flue(mn, hour, so2=10.0 + hour, qn_tail=n))
    return out


def commit_all(path: Path, batches: list[list[bytes]], ingest) -> list[tuple[str, str]]:
    con = connect(path)
    try:
        store = PacketStore(con) if ingest is None else PacketStore(con, ingest=ingest)
        outcomes = []
        for batch in batches:
            items = [Incoming(raw.decode("ascii"), "127.0.0.1:1", packet=parse_packet(raw)) for raw in batch]
            outcomes += [(o.status, o.reason) for o in store.commit_batch(items)]
        return outcomes
    finally:
        con.close()


@pytest.mark.parametrize("seed", range(3))
def test_receiver_stores_and_quarantines_the_same_with_either_judge(tmp_path, seed):
    """The receiver's PacketStore with the Python judge (its default) and with the SQL judge: the
    same outcome per packet, readings, quarantine rows and packet log."""
    rng = random.Random(seed)
    packets = packet_mix(rng)
    cuts = sorted(rng.sample(range(1, len(packets)), 5))
    batches = [packets[a:b] for a, b in zip([0, *cuts], [*cuts, len(packets)], strict=True)]
    batches.append(packets[:12])  # a whole batch of replays
    sql_db, py_db = (packet_store(tmp_path / f"{n}.duckdb") for n in ("sql", "python"))
    old = commit_all(sql_db, batches, sql_judge)
    new = commit_all(py_db, batches, None)
    assert new == old
    assert {reason for _, reason in old} >= {"implausible_time", "unknown_mn", "bad_pw"}
    log_sql = "SELECT peer, mn, st, cn, qn, data_time, station_id, cp_sha256, status, readings_in, raw " \
              "FROM hj212_packets ORDER BY ALL"
    cons = [duckdb.connect(str(p), read_only=True) for p in (sql_db, py_db)]
    try:
        for sql in (READINGS_SQL, QUARANTINE_SQL, log_sql):
            pd.testing.assert_frame_equal(rows_of(cons[1], sql), rows_of(cons[0], sql))
        reasons = {r[0] for r in cons[0].execute("SELECT DISTINCT reason FROM quarantine").fetchall()}
        assert reasons >= {"duplicate_conflict", "bad_flag", "negative_concentration", "out_of_physical_range",
                           "unmapped_code"}
    finally:
        for con in cons:
            con.close()


def test_a_large_batch_inserts_each_new_key_once_and_finds_each_stored_one(tmp_path):
    """The insert's anti-join against stored keys never meets the rows it is inserting: 30,000 rows,
    a third of them already stored (same values), all in one batch."""
    _, con = two_stores(tmp_path)
    start = datetime(2024, 1, 1)
    rows = [(s, start + timedelta(hours=h), p, float(h % 20), "N")
            for s in STATIONS[:2] for h in range(2500) for p in ("flue_SO2", "flue_O2", "flue_temp", "flue_NOx",
                                                                 "flue_dust", "flue_flow")]
    try:
        first = ingest_typed_rows(con, typed_table(rows[::3]), "t", "hj212")
        second = ingest_typed_rows(con, typed_table(rows), "t", "hj212")
        stored = con.execute("SELECT count(*), count(DISTINCT (station_id, ts, parameter)) FROM readings").fetchone()
    finally:
        con.close()
    assert first.rows_stored == 10_000
    assert (second.rows_in, second.rows_stored, second.rows_duplicate, second.rows_quarantined) == \
           (30_000, 20_000, 10_000, 0)
    assert stored == (30_000, 30_000)
