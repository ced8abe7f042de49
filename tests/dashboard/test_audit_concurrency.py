"""Issue 11, defect 5: the audit trail lost records under concurrency (parallel logins answered
500 with no audit row; 16 reviews stored, 10 audited). Appends now take one lock and a review
commits with its audit entry. Real threads, a real waitress server over TCP, real DuckDB."""

from __future__ import annotations

import importlib.util
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import waitress

from dashboard.server import close_server, create_server
from data import views
from data.store import connect
from data.users import add_user
from envtrust.record.verify import leaf_problems
from envtrust.settings import load_settings

PASSWORD = "correct horse battery"
LOGINS = 16
REVIEWS = 16


def _fixture(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def live(tmp_path):
    """The real server (public fixture data, users) behind waitress with 8 threads."""
    settings = load_settings(db_path=tmp_path / "dash.duckdb", secret_key="k" * 64)
    server = create_server(settings, mount_internal=False)
    con = server.extensions["envtrust"].con
    _fixture("public_fixture").fill_public_store(con)
    for i in range(LOGINS):
        add_user(con, f"user{i}", PASSWORD, "analyst")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}", con
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def _login(base: str, username: str, barrier: threading.Barrier) -> int:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    barrier.wait(timeout=30)  # every login posts at the same moment
    response = session.post(f"{base}/login", data={"csrf_token": token, "username": username,
                                                   "password": PASSWORD, "next": "/app/"},
                            allow_redirects=False, timeout=60)
    return response.status_code


def test_parallel_logins_all_succeed_and_all_are_audited(live):
    base, con = live
    barrier = threading.Barrier(LOGINS)
    with ThreadPoolExecutor(LOGINS) as pool:
        codes = list(pool.map(lambda i: _login(base, f"user{i}", barrier), range(LOGINS)))
    assert codes == [302] * LOGINS
    cur = con.cursor()
    logged = cur.execute("SELECT actor FROM audit_log WHERE action = 'login'").fetchall()
    assert sorted(a for (a,) in logged) == sorted(f"user{i}" for i in range(LOGINS))
    assert leaf_problems(cur) == []


def test_parallel_reviews_are_each_stored_with_their_audit_entry(tmp_path):
    """Sixteen analysts review at once, each on their own cursor of the server's one connection."""
    fx = _fixture("internal_fixture")
    con = connect(fx.build_internal_store(tmp_path / "store.duckdb"))
    barrier = threading.Barrier(REVIEWS)

    def review(i: int) -> str:
        cur = con.cursor()
        barrier.wait(timeout=30)
        try:
            return views.record_review(cur, "ev-dongsi", ("confirmed", "false_alarm")[i % 2], f"r{i}", f"ana{i}")
        finally:
            cur.close()

    with ThreadPoolExecutor(REVIEWS) as pool:
        statuses = list(pool.map(review, range(REVIEWS)))
    assert len(statuses) == REVIEWS
    stored = con.execute("SELECT username FROM event_reviews WHERE event_id = 'ev-dongsi'").fetchall()
    audited = con.execute("SELECT actor FROM audit_log WHERE action = 'event_review'").fetchall()
    assert sorted(stored) == sorted(audited) == sorted((f"ana{i}",) for i in range(REVIEWS))
    assert leaf_problems(con) == []
    con.close()
