"""The outbound webhook against a real HTTP receiver on 127.0.0.1 that is down first, then up:
delivery is delayed, logged and retried with back-off, and every alarm arrives signed."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from data.alarms import attempts_of, outbox_counts, outbox_table
from envtrust.alarms import raise_alarms
from envtrust.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookTarget,
    deliver_due,
    verify,
)
from tests.envtrust.cases_fixture import build_store

SECRET = "test-secret-13"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER])
        self.received.append({"ok": ok, "delivery": self.headers[DELIVERY_HEADER], "body": json.loads(body)})
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def con(tmp_path):
    c = build_store(tmp_path / "hook.duckdb")
    yield c
    c.close()


def test_down_receiver_delays_but_loses_nothing(con):
    raise_alarms(con)
    n_alarms = con.execute("SELECT count(*) FROM alarms").fetchone()[0]
    port = _free_port()
    target = WebhookTarget(f"http://127.0.0.1:{port}/hook", SECRET, timeout_s=2, base_backoff_s=30)
    t0 = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)

    down = deliver_due(con, target, now=t0)                       # nobody listens on the port
    assert (down.attempted, down.delivered) == (n_alarms, 0)
    assert outbox_counts(con) == {"delivered": 0, "pending": 0, "failing": n_alarms}
    first = outbox_table(con).iloc[0]
    assert "Connection" in first["last_error"] or "refused" in first["last_error"]
    assert deliver_due(con, target, now=t0 + timedelta(seconds=10)).attempted == 0   # backing off
    assert deliver_due(con, target, now=t0 + timedelta(seconds=31)).delivered == 0    # 2nd failure: 60 s next

    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert deliver_due(con, target, now=t0 + timedelta(seconds=60)).attempted == 0
        up = deliver_due(con, target, now=t0 + timedelta(seconds=92))
    finally:
        server.shutdown()
        server.server_close()
    assert (up.attempted, up.delivered) == (n_alarms, n_alarms)
    assert all(r["ok"] for r in Receiver.received)
    got = sorted(r["body"]["alarm_id"] for r in Receiver.received)
    assert got == sorted(a for (a,) in con.execute("SELECT alarm_id FROM alarms").fetchall())
    assert outbox_counts(con)["delivered"] == n_alarms
    log = attempts_of(con, Receiver.received[0]["delivery"])
    assert list(log["http_status"].fillna(0).astype(int)) == [0, 0, 204]
    assert deliver_due(con, target, now=t0 + timedelta(days=1)).attempted == 0   # nothing sent twice


def test_a_wrong_secret_is_rejected_by_the_receiver(con):
    raise_alarms(con)
    port = _free_port()
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = deliver_due(con, WebhookTarget(f"http://127.0.0.1:{port}/", "wrong"), now=datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1))
    finally:
        server.shutdown()
        server.server_close()
    assert run.delivered == 0 and not any(r["ok"] for r in Receiver.received)
    assert set(outbox_table(con)["last_error"]) == {"HTTP 401"}
