"""A callback request the page could never send answers 400 with one log line (issue 11, defect 8).

Real HTTP against the server in waitress: the public embed callback and a guarded internal one get
bodies with wrong value types, unknown inputs and missing keys. A callback that fails for its own
reasons still answers 500 (a server bug is not blamed on the client).
"""

from __future__ import annotations

import json
import logging
import re
import threading

import dash
import pytest
import requests
import waitress
from dash import Input, Output, dcc, html

from dashboard.auth import guarded_callback
from dashboard.server import close_server, create_server, dash_callback_body
from data.users import add_user
from envtrust.settings import load_settings

PASSWORD = "correct horse battery"
JSON = {"Content-Type": "application/json"}


def internal_app(server, settings) -> dash.Dash:
    app = dash.Dash("envtrust_input_test", server=server, url_base_pathname="/app/",
                    suppress_callback_exceptions=True)
    app.layout = html.Div([dcc.Input(id="q-in", value="q"), html.Div(id="q-out"), html.Div(id="boom-out")])

    @guarded_callback(app, Output("q-out", "children"), Input("q-in", "value"))
    def echo(value):
        return value.strip().upper()

    @guarded_callback(app, Output("boom-out", "children"), Input("q-in", "value"))
    def boom(value):
        raise RuntimeError("a bug of the server, not of the request")

    return app


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    settings = load_settings(db_path=tmp_path_factory.mktemp("input") / "dash.duckdb", secret_key="i" * 64)
    server = create_server(settings, internal_app_factory=internal_app)
    add_user(server.extensions["envtrust"].con, "ana", PASSWORD, "analyst")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{wsgi.effective_port}"
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login", timeout=30).text).group(1)
    session.post(f"{base}/login", data={"csrf_token": token, "username": "ana", "password": PASSWORD},
                 allow_redirects=False, timeout=30)
    yield base, session
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def _embed(pathname, search) -> str:
    return dash_callback_body("embed-page.children", [{"id": "embed-url", "property": "pathname", "value": pathname},
                                                      {"id": "embed-url", "property": "search", "value": search}])


MALFORMED_EMBED = [
    _embed(12, None),
    _embed({"a": 1}, [1]),
    _embed("/embed/map", 3.5),
    dash_callback_body("embed-page.children", [{"id": "embed-url", "property": "pathname", "value": "/embed/map"}]),
    json.dumps({"output": "embed-page.children", "outputs": {"id": "embed-page", "property": "children"},
                "inputs": "x", "changedPropIds": [], "state": []}),
    json.dumps({"output": "embed-page.children"}),
]


@pytest.mark.parametrize("body", MALFORMED_EMBED)
def test_malformed_public_callback_is_400_without_traceback(live, caplog, body):
    base, _ = live
    with caplog.at_level(logging.WARNING):
        response = requests.post(f"{base}/embed/_dash-update-component", data=body, headers=JSON, timeout=30)
    assert response.status_code == 400 and response.json()["error"] == "malformed callback input"
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert any("malformed callback request" in r.getMessage() for r in caplog.records)


def test_well_formed_public_callback_still_answers(live):
    base, _ = live
    response = requests.post(f"{base}/embed/_dash-update-component", data=_embed("/embed/map", ""),
                             headers=JSON, timeout=30)
    assert response.status_code == 200


def test_malformed_internal_callback_is_400_and_good_one_works(live, caplog):
    base, session = live
    good = dash_callback_body("q-out.children", [{"id": "q-in", "property": "value", "value": " x "}])
    assert session.post(f"{base}/app/_dash-update-component", data=good, headers=JSON,
                        timeout=30).json()["response"]["q-out"]["children"] == "X"
    with caplog.at_level(logging.WARNING):
        for value in (5, [1, 2], {"k": "v"}):
            bad = dash_callback_body("q-out.children", [{"id": "q-in", "property": "value", "value": value}])
            assert session.post(f"{base}/app/_dash-update-component", data=bad, headers=JSON,
                                timeout=30).status_code == 400
    assert "Traceback" not in caplog.text


def test_a_callback_bug_is_still_a_server_error(live, caplog):
    base, session = live
    body = dash_callback_body("boom-out.children", [{"id": "q-in", "property": "value", "value": "x"}])
    with caplog.at_level(logging.ERROR):
        assert session.post(f"{base}/app/_dash-update-component", data=body, headers=JSON,
                            timeout=30).status_code == 500
    assert "RuntimeError" in caplog.text
