"""The recording page (/app/record) through the real server: who may record and see what, the
record written to the log with attachments by hash, receipts and checkpoints, and nothing of it on
the public side, even for crafted requests."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from dashboard.internal.ids import RecordIds, ShellIds
from dashboard.internal.pages.record import split_ids
from dashboard.server import close_server, create_server, dash_callback_body
from data.users import add_user
from envtrust.record import service
from envtrust.record.verify import leaf_problems
from envtrust.settings import load_settings

MARKER = "请关注3号站数据XYZ"  # the content: must never reach the public side
ADMIN = ("adm", "adm-password-1")


def _fixture():
    spec = importlib.util.spec_from_file_location("internal_fixture", Path(__file__).with_name("internal_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _fixture()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return FX.build_internal_store(tmp_path_factory.mktemp("record") / "store.duckdb")


@pytest.fixture()
def server(template, tmp_path):
    settings = load_settings(db_path=FX.copy_store(template, tmp_path / "served.duckdb"), secret_key="s" * 64)
    service.ensure_signing_key(settings)
    app = create_server(settings)
    add_user(app.extensions["envtrust"].con, *ADMIN, "admin")
    yield app
    close_server(app)


def login(client, username, password):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"csrf_token": token, "username": username, "password": password})
    return client


def save_body(content: str = MARKER, channel: str = "oral", name: str = "张三") -> str:
    upload = "data:text/plain;base64," + base64.b64encode("关于3号站的函".encode()).decode()
    out = f"..{RecordIds.STATUS}.children...{RecordIds.LIST}.children...{RecordIds.LAST_INDEX}.data.."
    values = {RecordIds.NAME: name, RecordIds.POST: "副区长", RecordIds.UNIT: "某区人民政府", RecordIds.CHANNEL: channel,
              RecordIds.OCCURRED_AT: "2026-03-01T09:30", RecordIds.CONTENT: content,
              RecordIds.STATIONS: "1003A，1012A", RecordIds.CASES: "C-7"}
    state = [{"id": k, "property": "value", "value": v} for k, v in values.items()]
    state += [{"id": RecordIds.UPLOAD, "property": "contents", "value": [upload]},
              {"id": RecordIds.UPLOAD, "property": "filename", "value": ["函.txt"]},
              {"id": ShellIds.LANG, "property": "data", "value": "zh"}]
    return dash_callback_body(out, [{"id": RecordIds.SAVE, "property": "n_clicks", "value": 1}], state)


def post(client, body: str):
    return client.post("/app/_dash-update-component", data=body, content_type="application/json")


def text_of(answer) -> str:
    """A callback answer as readable text (Dash escapes non-ASCII in its JSON)."""
    return json.dumps(answer.get_json(), ensure_ascii=False) if answer.is_json else answer.get_data(as_text=True)


def test_split_ids_reads_chinese_and_latin_separators():
    assert split_ids("1003A，1012A; C-7 ,") == ("1003A", "1012A", "C-7")


def test_analyst_records_an_interference_with_attachment_by_hash(server):
    assert post(server.test_client(), save_body()).status_code == 401
    analyst = login(server.test_client(), *FX.ANALYST[:2])
    answer = post(analyst, save_body())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    text = text_of(answer)
    assert "已记录，编号" in text and MARKER in text
    con = server.extensions["envtrust"].con.cursor()
    actor, kind, content = con.execute("SELECT l.actor, l.kind, c.content FROM record_log l JOIN record_content c "
                                       "USING (idx) WHERE l.kind = 'interference'").fetchone()
    record = json.loads(content)
    assert (actor, kind) == ("ana", "interference")
    assert record["interferer"] == {"name": "张三", "post": "副区长", "unit": "某区人民政府"}
    assert record["channel"] == "oral" and record["recorded_by"] == "ana"
    assert record["occurred_at"] == "2026-03-01T01:30:00.000000Z"  # 09:30 Beijing time
    assert record["stations"] == ["1003A", "1012A"] and record["cases"] == ["C-7"]
    digest = hashlib.sha256("关于3号站的函".encode()).hexdigest()
    assert record["attachments"] == [{"sha256": digest, "name": "函.txt", "size_bytes": len("关于3号站的函".encode())}]
    assert con.execute("SELECT data FROM record_attachments WHERE sha256 = ?", [digest]).fetchone()[0] == \
        "关于3号站的函".encode()
    assert leaf_problems(con) == []


def test_bad_input_is_refused_with_a_reason_and_nothing_is_written(server):
    analyst = login(server.test_client(), *FX.ANALYST[:2])
    text = text_of(post(analyst, save_body(channel="telepathy")))
    assert "未保存" in text and "unknown channel" in text
    text = text_of(post(analyst, save_body(name="  ")))
    assert "interferer name is required" in text
    con = server.extensions["envtrust"].con.cursor()
    assert con.execute("SELECT count(*) FROM record_log WHERE kind = 'interference'").fetchone()[0] == 0


def test_each_user_sees_own_records_and_the_admin_all(server):
    analyst = login(server.test_client(), *FX.ANALYST[:2])
    post(analyst, save_body())
    leader = login(server.test_client(), *FX.LEADER[:2])
    text = text_of(post(leader, save_body(content="另一条记录")))
    assert "另一条记录" in text and MARKER not in text  # the leader's list holds only the leader's record
    admin = login(server.test_client(), *ADMIN)
    page = dash_callback_body(f"{ShellIds.PAGE}.children",
                              [{"id": ShellIds.LOCATION, "property": "pathname", "value": "/app/record"},
                               {"id": ShellIds.LOCATION, "property": "search", "value": ""},
                               {"id": ShellIds.LANG, "property": "data", "value": "zh"}])
    text = text_of(post(admin, page))
    assert MARKER in text and "另一条记录" in text


def test_receipt_for_the_recorder_and_checkpoint_for_the_admin(server):
    analyst = login(server.test_client(), *FX.ANALYST[:2])
    index = post(analyst, save_body()).get_json()["response"][RecordIds.LAST_INDEX]["data"]
    receipt_body = dash_callback_body(f"{RecordIds.RECEIPT_DOWNLOAD}.data",
                                      [{"id": RecordIds.RECEIPT, "property": "n_clicks", "value": 1}],
                                      [{"id": RecordIds.LAST_INDEX, "property": "data", "value": index}])
    doc = json.loads(post(analyst, receipt_body).get_json()["response"][RecordIds.RECEIPT_DOWNLOAD]["data"]["content"])
    settings = server.extensions["envtrust"].settings
    assert service.check_receipt(doc, service.verifier_key_path(settings).read_text(encoding="utf-8")) == []
    leader = login(server.test_client(), *FX.LEADER[:2])
    assert post(leader, receipt_body).status_code == 204  # not theirs: nothing is sent
    cp_body = dash_callback_body(f"{RecordIds.CHECKPOINT_DOWNLOAD}.data",
                                 [{"id": RecordIds.CHECKPOINT, "property": "n_clicks", "value": 1}])
    assert post(analyst, cp_body).status_code == 403
    note = post(login(server.test_client(), *ADMIN), cp_body).get_json()["response"][RecordIds.CHECKPOINT_DOWNLOAD]
    assert note["data"]["content"].startswith("envtrust.local/record\n")


def test_nothing_of_the_record_reaches_the_public_side(server):
    analyst = login(server.test_client(), *FX.ANALYST[:2])
    post(analyst, save_body())
    public = server.test_client()
    urls = [str(r.rule) for r in server.url_map.iter_rules()
            if not str(r.rule).startswith(("/app", "/login", "/logout")) and "<" not in str(r.rule)
            and "GET" in (r.methods or ())]
    urls += ["/embed/map", "/embed/station/1003A", "/app/record"]
    forms = [w.encode() for w in (MARKER, "张三")] + [json.dumps(w).strip('"').encode() for w in (MARKER, "张三")]
    for url in urls:
        body = public.get(url).get_data()
        assert not any(f in body for f in forms), url
    crafted = save_body()
    for prefix in ("/embed/", "/"):
        answer = public.post(f"{prefix}_dash-update-component", data=crafted, content_type="application/json")
        assert answer.status_code != 200 or MARKER not in text_of(answer), prefix
    con = server.extensions["envtrust"].con.cursor()
    assert con.execute("SELECT count(*) FROM record_log WHERE kind = 'interference'").fetchone()[0] == 1


def test_a_missing_signing_key_never_loses_a_record(template, tmp_path):
    settings = load_settings(db_path=FX.copy_store(template, tmp_path / "nokey.duckdb"), secret_key="n" * 64)
    app = create_server(settings)
    try:
        text = text_of(post(login(app.test_client(), *FX.ANALYST[:2]), save_body()))
        assert "已记录，编号" in text and "envtrust init" in text
        con = app.extensions["envtrust"].con.cursor()
        assert con.execute("SELECT count(*) FROM record_log WHERE kind = 'interference'").fetchone()[0] == 1
    finally:
        close_server(app)
