"""The public data API over real HTTP (waitress on 127.0.0.1, the real dashboard server, a real
DuckDB store): the OpenAPI contract, bad parameters, rate limits, key scopes, the audit of keyed
calls, and public isolation tested with crafted requests."""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import waitress
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from dashboard.server import close_server, create_server
from envtrust import release
from envtrust.api import keys
from envtrust.record.verify import leaf_problems
from envtrust.settings import load_settings

spec = importlib.util.spec_from_file_location("release_fixture", Path(__file__).with_name("release_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)
INTERNAL_WORDS = ("suspect", "suppression", "fabrication", "嫌疑", "干扰", "ev-1", "ev-2", "run-1", "0.97", "0.99")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, keys by name, server) with values published, one period audited."""
    settings = load_settings(db_path=tmp_path_factory.mktemp("api") / "a.duckdb", secret_key="a" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    fixture.fill_release_store(con)
    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    release.audit_period(con, "2017-01-09", "2017-01-10 06:00", "ana")
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 12.5, "ana", "analyser drift corrected")
    server.extensions["envtrust_api"].anon_rate_per_min = 10_000
    tokens = {
        "reader": keys.create_key(con, "卫健委", frozenset({"read"}), "admin"),
        "historian": keys.create_key(con, "水利局", frozenset({"read", "history"}), "admin"),
        "slow": keys.create_key(con, "test", frozenset({"read"}), "admin", rate_per_min=3),
    }
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}", tokens, server
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def fold_audit_journal(server) -> None:
    """Move the journaled keyed-call audit into the record now (the server's folder does it each second)."""
    server.extensions["envtrust_api"].audit_log.fold(server.extensions["envtrust"].con.cursor())


def get(url: str, key: str | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode("utf-8")


def get_json(url: str, key: str | None = None, expect: int = 200) -> dict:
    status, _headers, body = get(url, key)
    assert status == expect, body
    return json.loads(body)


# ---------------------------------------------------------------- the contract

EXAMPLES = {
    "/api/v1/locations": ["?kind=air_station", "?city=%E5%8C%97%E4%BA%AC%E5%B8%82&limit=1&page=2"],
    "/api/v1/locations/{location_id}": ["1001A"],
    "/api/v1/parameters": [""],
    "/api/v1/measurements": ["?location=1001A,W0001&limit=1000", "?city=%E5%8C%97%E4%BA%AC%E5%B8%82&period=day",
                             "?location=1002A&parameter=NO2&status=withheld"],
    "/api/v1/measurements/history": ["?location=1001A&parameter=PM2.5&date_from=2017-01-10T03:00Z&date_to=2017-01-10T03:00Z"],
    "/api/v1/latest": ["", "?kind=water_section"],
    "/api/v1/rankings/cities": ["?date=2017-01-10", "?date=2017-01-10&order_by=composite_index"],
}


def test_openapi_document_is_valid_and_every_answer_matches_it(live):
    base, tokens, _ = live
    doc = get_json(base + "/api/v1/openapi.json")
    validate(doc)
    assert set(doc["paths"]) == set(EXAMPLES), "every documented route has an example here"
    assert doc["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, examples in EXAMPLES.items():
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = OAS30Validator({**schema, "components": doc["components"]})
        for example in examples:
            url = base + (path.replace("{location_id}", example) if "{" in path else path + example)
            answer = get_json(url, tokens["historian"])
            validator.validate(answer)
            assert answer["meta"]["license"] == release.DATA_LICENCE
            if path != "/api/v1/rankings/cities" or "composite" not in example:
                assert answer["results"], url


def test_measurements_carry_status_version_and_coverage(live):
    base, _, _ = live
    hours = get_json(base + "/api/v1/measurements?location=1001A&parameter=PM2.5&date_from=2017-01-10T02:00Z"
                            "&date_to=2017-01-10T03:00Z")["results"]
    assert [(h["status"], h["version"], h["value"]) for h in hours] == [("audited", 2, 56.0), ("audited", 3, 12.5)]
    day = get_json(base + "/api/v1/measurements?location=1002A&parameter=NO2&period=day&date_from=2017-01-10"
                          "&date_to=2017-01-10")["results"][0]
    assert day["local_date"] == "2017-01-10" and day["status"] == "preliminary"  # later hours not audited
    assert day["coverage"]["withheld_count"] == 2 and day["coverage"]["expected_count"] == 24
    assert day["coverage"]["observed_count"] == 24 - 2  # the CST day: 16:00Z (Jan 9)..15:00Z, 2 withheld
    status, headers, body = get(base + "/api/v1/measurements?location=1001A&parameter=PM2.5&format=csv&limit=2")
    assert status == 200 and headers["Content-Type"].startswith("text/csv") and headers["X-Total-Count"] == "30"
    assert body.splitlines()[0].startswith("location_id,parameter,unit,period,datetime_from")


def test_paging_reports_found_over_all_pages(live):
    base, _, _ = live
    first = get_json(base + "/api/v1/measurements?location=1001A&limit=7&page=1")
    last = get_json(base + f"/api/v1/measurements?location=1001A&limit=7&page={(first['meta']['found'] + 6) // 7}")
    assert first["meta"]["found"] == 180 and len(first["results"]) == 7 and 0 < len(last["results"]) <= 7


# ---------------------------------------------------------------- bad parameters

@pytest.mark.parametrize("query, says", [
    ("location=NOPE", "unknown location(s): NOPE"),
    ("location=1001A&date_from=2017-02-01&date_to=2017-01-01", "is after date_to"),
    ("location=1001A&limit=1001", "limit: Must be greater than or equal to 1 and less than or equal to 1000"),
    ("location=1001A&limit=0", "limit:"),
    ("location=1001A'%20OR%20'1'='1", "location: location ids"),
    ("location=1001A;DROP%20TABLE%20readings", "location: location ids"),
    ("city=x%27)%20UNION%20SELECT%20*%20FROM%20scores--", "city: a city name"),
    ("location=1001A&parameter=score", "unknown parameter(s): score"),
    ("location=1001A&date_from=2017-13-45", "not a valid date"),
    ("location=1001A&date_from=yesterday", "date_from: an ISO 8601 date"),
    ("location=1001A&period=week", "period: Must be one of: hour, day"),
    ("location=1001A&include=events", "include: Unknown field"),
    ("", "give location=ID"),
])
def test_bad_parameters_answer_400_with_a_clear_message(live, query, says):
    base, _, _ = live
    answer = get_json(base + "/api/v1/measurements?" + query, expect=400)
    assert answer["code"] == 400 and says in answer["message"], answer


@pytest.mark.parametrize("path, says", [
    ("/api/v1/latest?location=NOPE", "unknown location(s): NOPE"),
    ("/api/v1/latest?location=M0001", "unknown location(s): M0001"),  # a micro-station is not public
    ("/api/v1/latest?limit=5000", "limit: Must be greater than or equal to 1 and less than or equal to 1000"),
    ("/api/v1/latest?kind=polluter_outlet", "kind:"),
    ("/api/v1/latest?parameter=PM2.5'--", "parameter:"),
    ("/api/v1/locations?limit=1001", "limit:"),
    ("/api/v1/locations?page=0", "page:"),
    ("/api/v1/locations?city=%E5%8C%97%E4%BA%AC%E5%B8%82%27%3B%20DROP%20TABLE%20stations--", "city:"),
    ("/api/v1/measurements?location=1001A&limit=abc", "limit: Not a valid integer"),
    ("/api/v1/measurements?location=1001A&status=unaudited", "status:"),
    ("/api/v1/measurements?location=1001A&status=preliminary'%20OR%201=1", "status:"),
    ("/api/v1/measurements?location=1001A&format=xlsx", "format:"),
    ("/api/v1/measurements?location=1001A&date_from=2017-01-10T12:00Z&date_to=2017-01-10T11:00Z", "is after date_to"),
    ("/api/v1/measurements?location=1001A&period=day&date_from=2017-01-10&date_to=2017-01-09", "is after date_to"),
    ("/api/v1/measurements?location=1001A&date_from=2017-01-01%27%20OR%20%271%27=%271", "date_from:"),
    ("/api/v1/measurements?location=" + ",".join(["1001A"] * 501), "at most 500 locations"),
    ("/api/v1/measurements?location=1001A,NOPE,ALSO", "unknown location(s): ALSO, NOPE"),
    ("/api/v1/rankings/cities?date=2017-02-30", "date:"),
    ("/api/v1/rankings/cities?date=2017-01-10&order_by=score", "order_by:"),
    ("/api/v1/rankings/cities", "date: Missing data for required field"),
    ("/api/v1/rankings/cities?date=2017-01-10%3BSELECT", "date:"),
])
def test_bad_parameters_on_every_route_answer_400(live, path, says):
    base, _, _ = live
    answer = get_json(base + path, expect=400)
    assert answer["code"] == 400 and answer["status"] == "Bad Request" and says in answer["message"], answer
    assert not any(word in json.dumps(answer, ensure_ascii=False) for word in INTERNAL_WORDS)


def test_bad_parameters_on_the_history_route_answer_400_after_the_key_check(live):
    base, tokens, _ = live
    key = tokens["historian"]
    inverted = get_json(base + "/api/v1/measurements/history?location=1001A&date_from=2017-01-10&"
                               "date_to=2017-01-09", key, expect=400)
    assert "is after date_to" in inverted["message"]
    assert "unknown location(s): NOPE" in get_json(base + "/api/v1/measurements/history?location=NOPE", key,
                                                    expect=400)["message"]
    assert get_json(base + "/api/v1/measurements/history?location=1001A&limit=1001", key, expect=400)["code"] == 400


def test_the_docs_page_and_its_assets_are_served_locally(live):
    base, _, _ = live
    status, _, page = get(base + "/api/v1/docs")
    assert status == 200 and "/api/v1/docs-assets/swagger-ui-bundle.js" in page and "//" not in page.split("<script>")[0].replace("<!DOCTYPE", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert get(base + "/api/v1/docs-assets/" + asset)[0] == 200


# ---------------------------------------------------------------- keys, scopes, limits, audit

def test_history_needs_a_key_with_the_history_scope(live):
    base, tokens, _ = live
    url = base + "/api/v1/measurements/history?location=1001A&parameter=PM2.5&date_from=2017-01-10T03:00Z&date_to=2017-01-10T03:00Z"
    assert "needs an API key" in get_json(url, expect=401)["message"]
    assert "lacks the 'history' scope" in get_json(url, tokens["reader"], expect=403)["message"]
    versions = get_json(url, tokens["historian"])["results"]
    assert [(v["version"], v["value"], v["status"]) for v in versions] == [
        (1, 57.0, "preliminary"), (2, 57.0, "audited"), (3, 12.5, "audited")]
    assert versions[2]["note"] == "analyser drift corrected" and versions[2]["released_by"] == "ana"
    assert versions[0]["superseded_at"] is not None and versions[2]["superseded_at"] is None


def test_bad_or_revoked_keys_are_refused_and_logged(live):
    base, _, server = live
    con = server.extensions["envtrust"].con
    token = keys.create_key(con, "temp", frozenset({"read"}), "admin")
    assert get(base + "/api/v1/parameters", token)[0] == 200
    keys.revoke_key(con, keys.key_id_of(token), "admin")
    assert get_json(base + "/api/v1/parameters", token, expect=401)["message"].startswith("invalid or revoked")
    forged = token[:-4] + "AAAA"
    assert get(base + "/api/v1/parameters", forged)[0] == 401
    assert get(base + "/api/v1/parameters", "not-a-key")[0] == 401
    fold_audit_journal(server)
    cur = con.cursor()
    actors = {a for (a,) in cur.execute("SELECT actor FROM audit_log WHERE action = 'api_call'").fetchall()}
    assert {f"apikey:{keys.key_id_of(token)}", "apikey:malformed"} <= actors


def test_every_keyed_call_is_in_the_audit_trail_and_the_chain_holds(live):
    base, tokens, server = live
    cur = server.extensions["envtrust"].con.cursor()
    key_id = keys.key_id_of(tokens["reader"])

    def logged() -> int:
        fold_audit_journal(server)
        return cur.execute("SELECT count(*) FROM audit_log WHERE actor = ? AND action = 'api_call'",
                           [f"apikey:{key_id}"]).fetchone()[0]

    before = logged()
    threads = [threading.Thread(target=get, args=(base + "/api/v1/latest?kind=air_station", tokens["reader"]))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    get(base + "/api/v1/measurements?location=NOPE", tokens["reader"])  # refused calls are logged too
    assert logged() == before + 9
    last = json.loads(cur.execute("SELECT detail_json FROM audit_log WHERE actor = ? ORDER BY seq DESC LIMIT 1",
                                  [f"apikey:{key_id}"]).fetchone()[0])
    assert last["status"] == 400 and last["dept"] == "卫健委" and "location=NOPE" in last["query"]
    assert leaf_problems(cur) == []  # the audit trail is the record's Merkle log
    assert tokens["reader"] not in "".join(str(r) for r in cur.execute("SELECT * FROM api_keys").fetchall())


def test_over_the_limit_a_client_gets_429_with_retry_after(live):
    base, tokens, server = live
    for _ in range(3):
        assert get(base + "/api/v1/parameters", tokens["slow"])[0] == 200
    status, headers, body = get(base + "/api/v1/parameters", tokens["slow"])
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
    assert "rate limit of 3 calls per minute" in json.loads(body)["message"]
    state = server.extensions["envtrust_api"]
    state.anon_rate_per_min, saved = 0, state.anon_rate_per_min  # anonymous limit hit at once
    try:
        status, headers, _ = get(base + "/api/v1/parameters")
        assert status == 429 and "Retry-After" in headers
        assert get(base + "/api/v1/parameters", tokens["reader"])[0] == 200  # a key has its own limit
    finally:
        state.anon_rate_per_min = saved


def test_429_on_a_data_route_counts_down_and_clears_after_the_window(live):
    """A fixed window: over the limit every call answers 429 with the seconds left in the window,
    the data route is not queried, and the call after the window passes again (the limiter's
    clock is moved forward instead of waiting a minute)."""
    from envtrust.api.limits import RateLimiter

    base, tokens, server = live
    state = server.extensions["envtrust_api"]
    now = [1000.0]
    saved_limiter, saved_rate = state.limiter, state.anon_rate_per_min
    state.limiter, state.anon_rate_per_min = RateLimiter(clock=lambda: now[0]), 2
    try:
        url = base + "/api/v1/measurements?location=1001A&limit=1"
        assert [get(url)[0] for _ in range(2)] == [200, 200]
        now[0] += 15.2
        status, headers, body = get(url)
        assert status == 429 and headers["Retry-After"] == "45"
        answer = json.loads(body)
        assert answer["code"] == 429 and "retry in 45 s" in answer["message"] and "results" not in answer
        now[0] += 40.0
        status, headers, _ = get(url)
        assert status == 429 and headers["Retry-After"] == "5"
        now[0] += 5.0
        assert get(url)[0] == 200  # a new window
        assert get(url, tokens["reader"])[0] == 200  # a key never shares the anonymous window
    finally:
        state.limiter, state.anon_rate_per_min = saved_limiter, saved_rate


def test_a_refused_keyed_call_over_the_limit_is_still_audited(live):
    base, tokens, server = live
    cur = server.extensions["envtrust"].con.cursor()
    key_id = keys.key_id_of(tokens["slow"])

    def logged_429() -> int:
        fold_audit_journal(server)
        rows = cur.execute("SELECT detail_json FROM audit_log WHERE actor = ?", [f"apikey:{key_id}"]).fetchall()
        return sum(json.loads(r[0])["status"] == 429 for r in rows)

    before = logged_429()
    for _ in range(4):
        get(base + "/api/v1/parameters", tokens["slow"])
    assert logged_429() >= before + 1


# ---------------------------------------------------------------- public isolation

CRAFTED = [
    "/api/v1/events", "/api/v1/scores", "/api/v1/cases", "/api/v1/reviews", "/api/v1/audit_log",
    "/api/v1/locations/M0001", "/api/v1/locations/P0001", "/api/v1/locations/..%2F..%2Fapp%2F",
    "/api/v1/measurements?location=M0001", "/api/v1/measurements?location=P0001&parameter=flue_SO2",
    "/api/v1/measurements?location=1001A&parameter=TEMP", "/api/v1/latest?location=M0001",
    "/api/v1/measurements?location=1001A&parameter=score", "/api/v1/latest?kind=polluter_outlet",
    "/api/v1/locations?kind=air_micro", "/api/v1/api/v1/../../app/_dash-layout",
]


@pytest.mark.parametrize("path", CRAFTED)
@pytest.mark.parametrize("who", ["anonymous", "historian"])
def test_internal_data_is_never_reachable_even_with_a_key(live, path, who):
    base, tokens, _ = live
    status, _headers, body = get(base + path, tokens.get(who))
    assert status in (400, 401, 404), (path, status, body[:200])
    assert not any(word in body for word in INTERNAL_WORDS)
    assert "480" not in body and "900" not in body  # the micro-station's and the outlet's values


def test_unreleased_values_appear_on_no_api_answer(live):
    base, tokens, _ = live
    everything = get(base + "/api/v1/measurements?location=1001A,1002A,W0001&limit=1000&format=csv")[2]
    everything += get(base + "/api/v1/latest?limit=1000&format=csv")[2]
    everything += get(base + "/api/v1/measurements/history?location=1001A,1002A&limit=1000", tokens["historian"])[2]
    assert "999.0" not in everything  # the calibration hour (flag M)
    assert ",2017-01-10T16:00:00Z,2017-01-10T17" not in everything  # the later hour with only invalid data
    history = get_json(base + "/api/v1/measurements/history?location=1001A,1002A&limit=1000", tokens["historian"])
    assert history["results"] and "2017-01-10T16:00:00Z" not in {r["datetime_from"] for r in history["results"]}
    assert not any(word in everything for word in INTERNAL_WORDS)
    latest = get_json(base + "/api/v1/latest?location=1002A&parameter=PM2.5")["results"][0]
    assert latest["datetime"] == "2017-01-10T14:00:00Z"  # the maintenance hour after it is not released
