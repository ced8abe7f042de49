"""`envtrust serve --hj212-port`: the dashboard and the HJ 212 receiver in ONE process share the
store (DuckDB allows one writing process per file), so data loggers' hours reach the dashboard's
connection as soon as they are acknowledged. Real TCP, real DuckDB, real Flask server."""

import pandas as pd

from dashboard.server import create_server
from data.hj212.auth import set_logger_password
from data.hj212.client import send_readings
from data.hj212.receiver import ReceiverThread
from data.store import connect
from envtrust.settings import load_settings

MN = "MNSERVE00001"


def test_receiver_and_dashboard_share_one_store_in_one_process(tmp_path):
    db = tmp_path / "live.duckdb"
    con = connect(db)
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) "
                "VALUES ('P1', 'Plant 1 stack', 'polluter_outlet', 116.4, 39.9, 'flue_gas', ?)", [MN])
    set_logger_password(con, MN, "123456", actor="test")  # the PW send_readings sends by default
    con.close()

    server = create_server(load_settings(db_path=db))  # opens the store read-write, as `serve` does
    hours = pd.date_range("2024-06-01", periods=24, freq="h")
    readings = pd.concat([pd.DataFrame({"station_id": "P1", "ts": hours, "parameter": p, "value": v, "flag": "N"})
                          for p, v in (("flue_SO2", 25.0), ("flue_O2", 8.0))], ignore_index=True)
    with ReceiverThread(db, "127.0.0.1", 0) as rx:
        report = send_readings(readings, "127.0.0.1", rx.port, mn=MN, window=8)
        assert len(report.acked) == 24 and not report.unacked
        cur = server.extensions["envtrust"].con.cursor()
        seen = cur.execute("SELECT count(*) FROM readings WHERE station_id = 'P1'").fetchall()[0][0]
    assert seen == len(readings)  # every acknowledged reading is visible to the dashboard at once
    with server.test_client() as client:
        assert client.get("/embed/map").status_code == 200
