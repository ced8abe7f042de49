"""Outbound webhook to the enforcement system: JSON, HMAC-SHA256 signed, persisted outbox, retries.

Every push is first written to ``webhook_outbox`` (in the transaction that creates the alarm), then
:func:`deliver_due` sends what is due. A receiver that is down only delays delivery: the attempt is
logged in ``webhook_attempts`` with its error, and the row is retried with exponential back-off
(``base_s * 2**(attempt-1)``, at most ``max_backoff_s``) until the receiver answers 2xx.

Signature (what a receiver checks): header ``X-Envtrust-Signature: sha256=<hex>`` where
``hex = HMAC-SHA256(secret, "<X-Envtrust-Timestamp>.<raw body>")``; ``X-Envtrust-Delivery`` carries
the delivery id so a receiver can drop a repeat (a delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from analytics.vocabulary import in_language
from data import alarms as sql

log = logging.getLogger(__name__)
#: seconds between delivery rounds inside ``envtrust serve``
DELIVERY_INTERVAL_S = 15.0
#: longest pause of the loop after rounds that failed as a whole (store busy, a bug): it backs off too
MAX_LOOP_PAUSE_S = 600.0

SIGNATURE_HEADER = "X-Envtrust-Signature"
TIMESTAMP_HEADER = "X-Envtrust-Timestamp"
DELIVERY_HEADER = "X-Envtrust-Delivery"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_s: float = 5.0
    base_backoff_s: float = 30.0
    max_backoff_s: float = 3600.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def alarm_payload(alarm: dict) -> dict:
    """The JSON an enforcement system receives for a new alarm: the summary in Chinese, and in
    English beside it (``summary_en``)."""
    def iso(v):
        return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat()
    return {"type": "alarm.raised", "alarm_id": alarm["alarm_id"], "rule": alarm["rule"],
            "station_id": alarm["station_id"], "parameter": alarm.get("parameter"),
            "episode_start_utc": iso(alarm["episode_start"]), "episode_end_utc": iso(alarm["episode_end"]),
            "severity": float(alarm["severity"]) if alarm.get("severity") is not None else None,
            "standard": alarm["standard"], "summary": in_language(alarm["summary"], "zh"),
            "summary_en": in_language(alarm["summary"], "en"), "evidence": alarm.get("evidence")}


def enqueue_alarm(con, alarm: dict, now: datetime) -> str:
    """Put one alarm into the outbox (call inside the alarm's transaction)."""
    delivery_id = "D" + uuid.uuid4().hex[:16]
    body = json.dumps(alarm_payload(alarm), ensure_ascii=False, sort_keys=True, default=str)
    sql.enqueue(con, delivery_id, "alarm.raised", alarm["alarm_id"], body, now)
    return delivery_id


def backoff_s(attempt: int, target: WebhookTarget) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
    return min(target.base_backoff_s * 2 ** max(attempt - 1, 0), target.max_backoff_s)


def post_once(target: WebhookTarget, delivery_id: str, body: bytes, now: datetime) -> tuple[int | None, str | None]:
    """POST one signed body; (HTTP status or None, error text or None)."""
    stamp = now.replace(microsecond=0).isoformat() + "Z"
    request = urllib.request.Request(target.url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(target.secret, stamp, body), DELIVERY_HEADER: delivery_id,
        "User-Agent": "envtrust-webhook/1"})
    try:
        with urllib.request.urlopen(request, timeout=target.timeout_s) as response:  # noqa: S310 (configured URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


@dataclass(frozen=True)
class DeliveryRun:
    attempted: int
    delivered: int
    failed: int

    def __str__(self) -> str:
        return f"webhook: {self.delivered} delivered, {self.failed} failed (will retry) of {self.attempted} due"


def deliver_due(con, target: WebhookTarget, now: datetime | None = None, limit: int = 100) -> DeliveryRun:
    """Send every outbox row that is due; log each attempt; schedule failures with back-off."""
    now = now or _utcnow()
    due = sql.due_deliveries(con, now, limit)
    delivered = 0
    for row in due.itertuples(index=False):
        attempt = int(row.attempts) + 1
        status, error = post_once(target, row.delivery_id, row.payload_json.encode("utf-8"), now)
        ok = error is None
        delivered += ok
        retry_at = now + timedelta(seconds=backoff_s(attempt, target))
        sql.record_attempt(con, row.delivery_id, attempt, now, target.url, status, error, ok, retry_at)
    return DeliveryRun(attempted=len(due), delivered=delivered, failed=len(due) - delivered)


class DeliveryLoop:
    """Delivers due pushes in a background thread: a round at start, then every ``interval_s``.

    A failing receiver is handled per row (the outbox's back-off); a round that fails as a whole
    (the store busy with another writer, an unexpected error) is logged and the loop pauses twice
    as long after each such round, up to :data:`MAX_LOOP_PAUSE_S`, so it never dies and never spins.
    """

    def __init__(self, con, target: WebhookTarget, interval_s: float = DELIVERY_INTERVAL_S) -> None:
        self.con, self.target, self.interval_s = con, target, float(interval_s)
        self.rounds = self.failed_rounds = 0
        self.last: DeliveryRun | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="envtrust-webhook", daemon=True)

    def pause_s(self, consecutive_failures: int) -> float:
        """Seconds to wait before the next round after ``consecutive_failures`` failed rounds."""
        return min(self.interval_s * 2 ** consecutive_failures, max(MAX_LOOP_PAUSE_S, self.interval_s))

    def _run(self) -> None:
        cursor = self.con.cursor()  # this thread's own connection to the store
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    self.last = deliver_due(cursor, self.target)
                    failures = 0
                    if self.last.attempted:
                        log.info("%s", self.last)
                except Exception:  # noqa: BLE001 (logged; the next round retries)
                    failures += 1
                    self.failed_rounds += 1
                    log.exception("webhook delivery round failed (%d in a row)", failures)
                self.rounds += 1
                self._stop.wait(self.pause_s(failures))
        finally:
            cursor.close()

    def start(self) -> DeliveryLoop:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)


def start_webhook_delivery(settings, con, interval_s: float = DELIVERY_INTERVAL_S) -> DeliveryLoop | None:
    """The delivery loop ``envtrust serve`` runs beside the dashboard; None (alarms wait in the
    persisted outbox) when no ``ENVTRUST_WEBHOOK_URL`` is set."""
    if not settings.webhook_url:
        return None
    target = WebhookTarget(settings.webhook_url, settings.webhook_secret)
    return DeliveryLoop(con, target, interval_s).start()
