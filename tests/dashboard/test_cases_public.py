"""Case data stays internal: the public decisions page shows published decisions only, crafted
requests cannot reach case callbacks or evidence, and the tip form's abuse limits hold.

Real server (Flask test client over the real ``create_server`` with the real internal app), real
DuckDB store with one disclosed and one open case.
"""

from __future__ import annotations

import io
import re
import time

import pytest

from dashboard.public.disclosure import form_token
from dashboard.server import close_server, create_server, dash_callback_body
from data.users import add_user
from envtrust import cases
from envtrust.alarms import raise_alarms
from envtrust.settings import load_settings
from envtrust.tips import PER_CLIENT_PER_HOUR
from tests.envtrust.cases_fixture import OUTLET, build_store

SECRET = "s" * 64
PASSWORD = "correct horse battery"
OPEN_TITLE = "SECRET-OPEN-CASE-TITLE"
DECISION = {"finding": "PUBLIC-FINDING 篡改", "penalty": "罚款 20 万元", "legal_basis": "大气污染防治法第一百条"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("cases_public") / "store.duckdb"
    con = build_store(db)
    raise_alarms(con)
    done = cases.open_case(con, "ana", "analyst", "INTERNAL-TITLE", event_ids=["E1"])
    version = 1
    for action, actor, role, fields in [("transfer_clue", "ana", "analyst", {}), ("accept", "enf", "enforcement", {}),
                                        ("decide_penalty", "enf", "enforcement", DECISION),
                                        ("disclose", "enf", "enforcement", {})]:
        version = cases.transition(con, done, action, actor=actor, role=role, expected_version=version,
                                   fields=fields, reason="INTERNAL-REASON").version
    cases.open_case(con, "ana", "analyst", OPEN_TITLE, station_id=OUTLET)
    add_user(con, "adm", PASSWORD, "admin")
    con.close()
    app = create_server(load_settings(db_path=db, secret_key=SECRET))
    app.config["TESTING"] = True
    app.case_id = done
    yield app
    close_server(app)


def _login(client, username, password):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password,
                                       "next": "/app/"})


def test_decisions_page_shows_the_decision_and_nothing_else(server):
    client = server.test_client()
    for url in ("/embed/decisions", f"/embed/decisions?case_id={server.case_id}&state=found&lang=zh",
                "/embed/decisions?lang=en"):
        body = client.get(url).get_data(as_text=True)
        assert "PUBLIC-FINDING" in body and "示例电厂" in body and "罚款 20 万元" in body
        for secret in (OPEN_TITLE, "INTERNAL-TITLE", "INTERNAL-REASON", server.case_id, "enf", "E1",
                       "flue_SO2 held just below", "贴近排放限值"):
            assert secret not in body, (url, secret)


@pytest.mark.parametrize("output", ["case-body.children", "..case-body.children...case-message.children..",
                                    "inbox-message.children", "case-fields.children"])
def test_public_callback_endpoint_refuses_case_outputs(server, output):
    client = server.test_client()
    body = dash_callback_body(output, [{"id": "case-submit", "property": "n_clicks", "value": 1}])
    response = client.post("/embed/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 403
    assert "PUBLIC-FINDING" not in response.get_data(as_text=True)


def test_internal_case_routes_need_a_login_and_a_case_role(server):
    anon = server.test_client()
    assert anon.get(f"/app/case-evidence/{server.case_id}.html").status_code in (302, 401)
    body = dash_callback_body("..case-body.children...case-message.children..",
                              [{"id": "case-submit", "property": "n_clicks", "value": 1}])
    assert anon.post("/app/_dash-update-component", data=body, content_type="application/json").status_code == 401
    admin = server.test_client()
    _login(admin, "adm", PASSWORD)
    assert admin.get(f"/app/case-evidence/{server.case_id}.html").status_code == 403
    enforcer = server.test_client()
    _login(enforcer, "enf", "enf-password-1")
    pack = enforcer.get(f"/app/case-evidence/{server.case_id}.html")
    assert pack.status_code == 200 and "证据包" in pack.get_data(as_text=True)


def _tip(client, token, address="10.0.0.1", **extra):
    data = {"token": token, "what": "夜间冒黑烟", "where": "某热电厂", "when": "昨晚 23 点", **extra}
    return client.post("/tip", data=data, content_type="multipart/form-data", environ_base={"REMOTE_ADDR": address})


def test_tip_form_limits(server):
    client = server.test_client()
    assert 'name="website"' in client.get("/tip").get_data(as_text=True)
    old = form_token(SECRET, int(time.time()) - 10)
    assert _tip(client, form_token(SECRET, int(time.time()))).status_code == 429       # filled in < 3 s
    assert _tip(client, old, website="http://spam").status_code == 429                 # honeypot
    assert _tip(client, "123.forged").status_code == 400
    big = (io.BytesIO(b"\xff\xd8\xff" + b"0" * 1_000_001), "p.jpg")
    assert _tip(client, old, address="10.0.0.2", file=big).status_code == 413
    assert _tip(client, old, address="10.0.0.2", file=(io.BytesIO(b"MZ\x90\x00"), "x.exe")).status_code == 415
    ok = _tip(client, old, file=(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"1" * 100), "photo.png"))
    assert ok.status_code == 200 and "tip-receipt" in ok.get_data(as_text=True)
    for _ in range(PER_CLIENT_PER_HOUR - 1):
        assert _tip(client, old).status_code == 200
    assert _tip(client, old).status_code == 429                                        # per-sender limit
    assert _tip(client, old, address="10.0.0.3").status_code == 200                     # others still can
    con = server.extensions["envtrust"].con.cursor()
    assert con.execute("SELECT count(*) FROM public_tips").fetchone()[0] == PER_CLIENT_PER_HOUR + 1
    assert con.execute("SELECT count(*) FROM public_tips WHERE file_type = 'image/png'").fetchone()[0] == 1
