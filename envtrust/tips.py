"""Public tips (12369-style): what, where, when, an optional contact and one photo or PDF.

Limits without a CAPTCHA, each refusal a :class:`TipRefused` with a message for the sender:
field lengths and one file of at most :data:`MAX_FILE_BYTES` whose first bytes say JPEG, PNG or
PDF; at most :data:`PER_CLIENT_PER_HOUR` tips per sender and :data:`ALL_PER_HOUR` in total per
hour (counted in the store, so a restart does not reset them); the sender is known only by a
salted hash of the address. The form-token and honeypot checks are the web form's
(:mod:`dashboard.public.disclosure`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from data import cases as sql

MAX_FILE_BYTES = 1_000_000
PER_CLIENT_PER_HOUR = 3
ALL_PER_HOUR = 60
FIELD_LIMITS: dict[str, int] = {"what": 2000, "where_text": 200, "when_text": 100, "contact": 100}
FILE_MAGIC: dict[bytes, str] = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png",
                                b"%PDF-": "application/pdf"}


class TipRefused(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TipFile:
    name: str
    data: bytes


def client_hash(secret: str, address: str) -> str:
    """Who sent it, for rate limits only: a salted hash, never the address itself."""
    return hashlib.sha256(f"{secret}|{address}".encode()).hexdigest()[:32]


def file_type(data: bytes) -> str | None:
    return next((kind for magic, kind in FILE_MAGIC.items() if data.startswith(magic)), None)


def submit_tip(con, *, what: str, where_text: str, when_text: str, contact: str | None, file: TipFile | None,
               sender: str, now: datetime | None = None) -> str:
    """Check and store one tip; return its reference number."""
    now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    values = {"what": (what or "").strip(), "where_text": (where_text or "").strip(),
              "when_text": (when_text or "").strip(), "contact": (contact or "").strip()}
    for name in ("what", "where_text", "when_text"):
        if not values[name]:
            raise TipRefused(f"missing: {name}")
    for name, limit in FIELD_LIMITS.items():
        if len(values[name]) > limit:
            raise TipRefused(f"{name} is longer than {limit} characters")
    kind = digest = None
    if file is not None and file.data:
        if len(file.data) > MAX_FILE_BYTES:
            raise TipRefused(f"the file is larger than {MAX_FILE_BYTES // 1000} kB", status=413)
        kind = file_type(file.data)
        if kind is None:
            raise TipRefused("the file must be a JPEG or PNG photo or a PDF", status=415)
        digest = hashlib.sha256(file.data).hexdigest()
    hour_ago = now - timedelta(hours=1)
    if sql.recent_tip_count(con, sender, hour_ago) >= PER_CLIENT_PER_HOUR:
        raise TipRefused(f"at most {PER_CLIENT_PER_HOUR} tips per hour from one sender; please call 12369", 429)
    if sql.recent_tip_count(con, None, hour_ago) >= ALL_PER_HOUR:
        raise TipRefused("too many tips this hour; please try again later or call 12369", 429)
    tip_id = "T" + uuid.uuid4().hex[:12]
    has_file = file is not None and bool(file.data)
    sql.insert_tip(con, tip_id, now, values["what"], values["where_text"], values["when_text"],
                   values["contact"] or None, (file.name[:120] if has_file else None), kind,
                   (file.data if has_file else None), digest, sender)
    return tip_id
