"""While `envtrust serve` runs the first scoring of a new store, every internal page says so above
itself; once a run is recorded the line is gone."""

import pandas as pd

from dashboard.internal.layout import render_page
from data.ingest import ingest_readings
from data.scoring import record_scoring_state


def _text(component) -> str:
    """All text of a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if not isinstance(children, list | tuple):
        children = [children]
    return " ".join(_text(c) for c in children)


def test_the_first_scoring_run_is_announced_until_it_is_recorded(store):
    store.execute("INSERT INTO stations (station_id, name, kind, lon, lat) VALUES ('S1', 'S1', 'air_station', 116.4, 39.9)")
    ts = pd.date_range("2024-01-01", periods=3, freq="h")
    ingest_readings(store, pd.DataFrame({"station_id": "S1", "ts": ts, "parameter": "PM2.5", "value": [10.0, 12, 11]}),
                    "test", "synthetic")

    page = render_page(store, "/app/record", None, "zh", "Asia/Shanghai")
    assert "首次评分进行中" in _text(page)
    assert "First scoring run in progress" in _text(render_page(store, "/app/nowhere", None, "en", "Asia/Shanghai"))

    record_scoring_state(store, [1], None, None, "run-1", "full")
    assert "首次评分进行中" not in _text(render_page(store, "/app/nowhere", None, "zh", "Asia/Shanghai"))
