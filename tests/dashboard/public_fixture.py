"""A small store for the dashboard server/embed tests: every station kind, one invalid-flag hour,
and internal rows (an event, a score) that must never reach the public side.

Loaded by the test files with ``load_public_fixture()`` (tests are not a package here).
"""

from __future__ import annotations

import pandas as pd

LATEST = pd.Timestamp("2017-01-10 15:00")  # naive UTC


def _stations() -> pd.DataFrame:
    return pd.DataFrame([
        ("1001A", "万寿西宫", "Wanshouxigong", "air_station", 116.366, 39.878),
        ("1002A", "定陵", "Dingling", "air_station", 116.220, 40.292),
        ("M0001", "微站一号", None, "air_micro", 116.370, 39.880),
        ("P0001", "某电厂1号排口", None, "polluter_outlet", 116.500, 39.900),
        ("W0001", "古北口", "Gubeikou", "water_section", 117.150, 40.690),
    ], columns=["station_id", "name", "name_en", "kind", "lon", "lat"])


def _readings() -> pd.DataFrame:
    rows = []
    hours = pd.date_range(LATEST - pd.Timedelta(hours=29), LATEST, freq="h")
    for i, ts in enumerate(hours):
        for sid, base in (("1001A", 40.0), ("1002A", 20.0)):
            for k, param in enumerate(("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")):
                value = 0.8 if param == "CO" else base + i + k
                rows.append((sid, ts, param, value, "N"))
            rows.append((sid, ts, "TEMP", -3.0, "N"))  # met, not a released pollutant
        rows.append(("M0001", ts, "PM2.5", 480.0, "N"))
        rows.append(("P0001", ts, "flue_SO2", 900.0, "N"))
        for param, value in (("DO", 9.0), ("NH3-N", 0.3), ("CODMn", 3.0), ("TP", 0.05), ("pH", 7.6)):
            rows.append(("W0001", ts, param, value, "N"))
    readings = pd.DataFrame(rows, columns=["station_id", "ts", "parameter", "value", "flag"])
    maintenance = (readings.station_id == "1002A") & (readings.ts == LATEST) & (readings.parameter == "PM2.5")
    readings.loc[maintenance, ["value", "flag"]] = [999.0, "M"]  # calibration hour: never published
    # a later hour that only has invalid data must not move the "latest released hour"
    late = pd.DataFrame([("1001A", LATEST + pd.Timedelta(hours=1), "PM2.5", 5.0, "D")], columns=readings.columns)
    return pd.concat([readings, late], ignore_index=True)


def fill_public_store(con) -> None:
    """Stations of every kind, readings with one invalid flag, and internal rows that must not leak."""
    stations = _stations()
    readings = _readings()
    con.register("st_in", stations)
    con.execute("INSERT INTO stations (station_id, name, name_en, kind, lon, lat) SELECT * FROM st_in")
    con.register("rd_in", readings)
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) SELECT * FROM rd_in")
    con.execute("INSERT INTO events (event_id, station_id, start, \"end\", kind, score, parameters, summary, evidence_json, status, run_id, created_at) VALUES ('ev-1', '1001A', ?, ?, 'suppression', 0.97, 'PM2.5', "
                "'嫌疑干扰 suspected interference', '{}', 'open', 'run-1', now())", [LATEST, LATEST])
    con.execute("INSERT INTO scores VALUES ('1001A', ?, 'PM2.5', 0.97, '{}', 'run-1')", [LATEST])
    con.unregister("st_in")
    con.unregister("rd_in")


def release_public_store(con, withhold: bool = True) -> None:
    """The release channel on the fixture: everything valid published, the day before the last
    audited, and the latest hour's NO2 of 1001A withheld (as after a confirmed interference case)."""
    from envtrust import release

    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    release.audit_period(con, "2017-01-09", LATEST - pd.Timedelta(hours=12), "ana")
    if withhold:
        release.correct_value(con, "1001A", LATEST, "NO2", None, "ana", "confirmed interference", status="withheld")
