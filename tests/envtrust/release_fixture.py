"""A small released store for the release, API and export tests: the dashboard's public fixture
(every station kind, an invalid-flag hour, an open event and a score that must never leak) with
cities set, plus a confirmed event whose hours must be withheld.

Loaded with ``importlib`` (tests are not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

PUBLIC_FIXTURE = Path(__file__).resolve().parent.parent / "dashboard" / "public_fixture.py"
CONFIRMED_HOUR = pd.Timestamp("2017-01-10 02:00")  # 1002A NO2, inside a confirmed event


def public_fixture():
    spec = importlib.util.spec_from_file_location("public_fixture", PUBLIC_FIXTURE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill_release_store(con) -> None:
    """The public fixture, cities, a confirmed interference event on 1002A NO2."""
    public_fixture().fill_public_store(con)
    con.execute("UPDATE stations SET city = '北京市', province = '北京市' WHERE station_id IN ('1001A', 'W0001')")
    con.execute("UPDATE stations SET city = '承德市', province = '河北省' WHERE station_id = '1002A'")
    con.execute("INSERT INTO events (event_id, station_id, start, \"end\", kind, score, parameters, summary, evidence_json, status, run_id, created_at) VALUES ('ev-2', '1002A', ?, ?, 'fabrication', 0.99, 'NO2', "
                "'确认干扰 confirmed', '{}', 'confirmed', 'run-1', now())",
                [CONFIRMED_HOUR, CONFIRMED_HOUR + pd.Timedelta(hours=1)])
