"""HJ 212-2017 access passwords (PW) per data logger (MN): storage, checking, and redaction.

HJ 212-2017 6.3.1: every packet carries ``PW`` (access password, at most 6 characters) next to
``MN`` (the data logger's id); the platform answers a wrong password with 9011 ``QnRtn=3``
("PW error", standards.md 1.6). Without the check, anyone who knows (or reads on the wire) a
logger's MN can upload hours in its name.

Decisions (docs/hj212.md):

* Stored hashed (table ``hj212_logger_auth``, migration 006): salted scrypt, N=2^14 (~40 ms
  a check on the project machine). The PW travels in clear text in every packet, so hashing does not
  protect it on the wire; it keeps a copy of the store (backup, an analyst's export) from handing
  out every logger's password. A slow hash because a 6-character password is cheap to brute-force
  against a fast one.
* Each logger costs one scrypt check per receiver process: :class:`PasswordChecker` remembers the
  SHA-256 of the PW that passed (in memory only) and refuses a remembered wrong PW without hashing.
* Guessing is throttled by source address, never by MN: the MN travels in clear in every packet,
  so a per-MN limit let anyone lock a logger out (issue 11, defect 3). After
  ``max_fresh_failures`` different wrong passwords from one address in ``window_s`` seconds, new
  guesses from that address are not hashed; a global budget (``max_checks_per_s``) bounds the
  scrypt work of many addresses together. A packet that is not checked for either reason is
  ``pw_throttled``: quarantined WITHOUT an answer (no QnRtn 3), so a right password is never
  refused - its logger re-sends later, and a right password verified once keeps working.
* A logger with no password configured is refused (``pw_not_configured``, QnRtn 3) unless the
  setting ``ENVTRUST_HJ212_ALLOW_NO_PW=1`` allows it (then its PW is not checked, as before 2026).
* The PW is never written to the store: :func:`redact_pw` masks it in the raw text kept in the
  packet log and the quarantine.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pandas as pd
from werkzeug.security import check_password_hash, generate_password_hash

HASH_METHOD = "scrypt:16384:8:1"
# 1..6 printable ASCII characters that cannot break the header (';' ',' '=' '&' separate fields)
PW_PATTERN = re.compile(r"[!-~]{1,6}")
PW_FORBIDDEN = set(";,=&")
PW_MASK = "***"
# every 'PW=' whatever precedes it (a malformed header may glue it to the field before, 'MN=ABCPW=')
_PW_FIELD = re.compile(r"PW=[^;\r\n]*", re.IGNORECASE)
# a header field as a malformed packet may write it: key, an optional '=' or ':' and the value
_FIELD = re.compile(r"(?P<key>[^=:;,\r\n]*)(?P<sep>[=:]?)(?P<value>[^;,\r\n]*)")
# 'PW' glued to its value without '=' at the start of a word ('PW123456', "field 'PWabc' has")
_PW_GLUED = re.compile(r"(?<![A-Za-z])PW(?![=:\s])[^\s'\";,&]+", re.IGNORECASE)
# what a key is made of besides its letters in the kept text: escapes of odd bytes, blanks, digits
_KEY_NOISE = re.compile(r"\\x[0-9a-fA-F]{2}|[^A-Za-z]")


def check_pw_text(password: str) -> str:
    """The password if it can be an HJ 212 PW (1-6 printable ASCII, no ';' ',' '=' '&'); else ValueError."""
    if not isinstance(password, str) or not PW_PATTERN.fullmatch(password) or PW_FORBIDDEN & set(password):
        raise ValueError("an HJ 212 PW is 1 to 6 printable ASCII characters without spaces or ; , = & "
                         "(HJ 212-2017 6.3.1)")
    return password


def _mask_field(match: re.Match) -> str:
    key, sep = match["key"], match["sep"]
    letters = _KEY_NOISE.sub("", key).upper()
    if sep and letters.endswith("PW"):  # 'PW =1', 'P W=1', 'PW\\x00=1', 'PW:1', "field 'PW:1"
        return f"{key}{sep}{PW_MASK}"
    if not sep and letters.startswith("PW"):  # 'PW123456': the '=' is missing
        return key[:key.upper().index("W") + 1] + PW_MASK
    return match.group(0)


def redact_pw(raw: str) -> str:
    """``raw`` with every access password replaced by ``***`` (same mask whatever the length).

    Also for malformed headers: a key spelled with blanks, odd bytes or another case (``PW =``,
    ``P W=``, ``pw:``), a missing ``=``, a PW glued to the field before (``MN=ABCPW=``). Only the
    header is searched field by field; the CP data after ``CP=&&`` keeps its text except ``PW=``.
    Error details that quote a field go through here too, so they never carry the password.
    """
    masked = _PW_FIELD.sub("PW=" + PW_MASK, raw)
    head, cp_mark, rest = masked.partition("CP=&&")
    return _PW_GLUED.sub("PW" + PW_MASK, _FIELD.sub(_mask_field, head)) + cp_mark + rest


def redact_known_pw(raw: str, pw: str) -> str:
    """:func:`redact_pw` for the raw text of a packet that parsed, whose PW is ``pw``: when the
    header's one ``;PW=pw;`` is the only 'PW' in the text, a plain replace does it (the receiver
    masks every packet it logs); anything else takes the full :func:`redact_pw`."""
    field_text = f";PW={pw};"
    if raw.upper().count("PW") == 1 and field_text in raw:
        return raw.replace(field_text, f";PW={PW_MASK};", 1)
    return redact_pw(raw)


def set_logger_password(con: duckdb.DuckDBPyConnection, mn: str, password: str, actor: str = "cli") -> None:
    """Store (or replace) the hashed password of logger ``mn``; audited as ``hj212_password_set``."""
    from data import audit
    from data.hj212.packet import MN_PATTERN

    if not isinstance(mn, str) or not MN_PATTERN.fullmatch(mn):
        raise ValueError(f"MN {mn!r} is not 1..24 letters/digits/'-'/'_' (HJ 212-2017)")
    pw_hash = generate_password_hash(check_pw_text(password), method=HASH_METHOD)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM hj212_logger_auth WHERE mn = ?", [mn])
        con.execute("INSERT INTO hj212_logger_auth VALUES (?, ?, ?, ?)", [mn, pw_hash, now, actor])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    audit.append(con, actor, "hj212_password_set", subject=mn)


def remove_logger_password(con: duckdb.DuckDBPyConnection, mn: str, actor: str = "cli") -> bool:
    """Forget logger ``mn``'s password (its packets are then refused unless ENVTRUST_HJ212_ALLOW_NO_PW)."""
    from data import audit

    found = con.execute("SELECT count(*) FROM hj212_logger_auth WHERE mn = ?", [mn]).fetchone()[0]
    if not found:
        return False
    con.execute("DELETE FROM hj212_logger_auth WHERE mn = ?", [mn])
    audit.append(con, actor, "hj212_password_removed", subject=mn)
    return True


def password_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``{mn: pw_hash}`` of every logger with a password (the receiver reloads it every commit)."""
    return dict(con.execute("SELECT mn, pw_hash FROM hj212_logger_auth").fetchall())


def logger_credentials(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every logger MN known to the store (stations.hj212_mn or a password row): station_id,
    whether a password is set, when and by whom. Never the hash."""
    return con.execute(
        "SELECT coalesce(s.hj212_mn, a.mn) AS mn, s.station_id, a.mn IS NOT NULL AS has_password, "
        "a.set_at, a.set_by FROM (SELECT station_id, hj212_mn FROM stations WHERE hj212_mn IS NOT NULL "
        "AND hj212_mn <> '') s FULL OUTER JOIN hj212_logger_auth a ON a.mn = s.hj212_mn ORDER BY mn"
    ).df()


def _digest(mn: str, password: str) -> bytes:
    return hashlib.sha256(f"{mn}\0{password}".encode()).digest()


@dataclass
class PasswordChecker:
    """Decides whether a packet's PW is accepted for its MN (see the module docstring).

    ``check`` returns None when accepted, else ``(reason, detail)`` with reason ``bad_pw`` or
    ``pw_not_configured`` (both answered QnRtn 3) or ``pw_throttled`` (not checked, not answered).
    Kept by the receiver's single writer thread.
    """

    allow_no_pw: bool = False
    max_fresh_failures: int = 10
    window_s: float = 600.0
    max_checks_per_s: float = 20.0  # ~40 ms each: at most ~0.8 s of every second of the writer thread
    clock: Callable[[], float] = time.monotonic
    max_remembered: int = 10_000
    hashes: dict[str, str] = field(default_factory=dict)
    _good: dict[str, bytes] = field(default_factory=dict)
    _bad: dict[bytes, None] = field(default_factory=dict)
    _fresh_failures: dict[str, deque[float]] = field(default_factory=dict)  # by source address
    _budget: float = 0.0
    _budget_at: float | None = None
    checks: int = 0  # scrypt verifications done (tests and the benchmark read it)

    def load(self, hashes: dict[str, str]) -> None:
        """Take the current ``{mn: pw_hash}``; what was remembered for a changed hash is forgotten."""
        for mn in [m for m in self._good if self.hashes.get(m) != hashes.get(m)]:
            del self._good[mn]
        if any(self.hashes.get(m) != h for m, h in hashes.items()) or len(hashes) < len(self.hashes):
            self._bad.clear()
        self.hashes = dict(hashes)

    def check(self, mn: str, password: str, source: str = "") -> tuple[str, str] | None:
        """Whether ``password`` is ``mn``'s; ``source`` is the sender's address (throttling key)."""
        pw_hash = self.hashes.get(mn)
        if pw_hash is None:
            if self.allow_no_pw:
                return None
            return ("pw_not_configured", f"MN {mn} has no access password configured "
                    "(envtrust hj212 password; or ENVTRUST_HJ212_ALLOW_NO_PW=1)")
        digest = _digest(mn, password)
        if self._good.get(mn) == digest:
            return None
        if digest in self._bad:
            return ("bad_pw", f"wrong PW for MN {mn} (same wrong PW as before)")
        now = self.clock()
        recent = self._recent_failures(source, now)
        if len(recent) >= self.max_fresh_failures:
            return ("pw_throttled", f"PW for MN {mn} not checked: {len(recent)} wrong passwords from {source or '?'} "
                    f"in the last {self.window_s / 60:.0f} min; not answered, the logger re-sends")
        if not self._take_check(now):
            return ("pw_throttled", f"PW for MN {mn} not checked: more than {self.max_checks_per_s:g} password "
                    "checks a second; not answered, the logger re-sends")
        self.checks += 1
        if check_password_hash(pw_hash, password):
            self._good[mn] = digest
            return None
        recent.append(now)
        if len(self._bad) >= self.max_remembered:
            self._bad.pop(next(iter(self._bad)))
        self._bad[digest] = None
        return ("bad_pw", f"wrong PW for MN {mn}")

    def is_verified(self, mn: str, password: str) -> bool:
        """True when this PW already passed for ``mn`` (no hashing; safe to call from the event loop)."""
        return self._good.get(mn) == _digest(mn, password)

    def _recent_failures(self, source: str, now: float) -> deque[float]:
        if source not in self._fresh_failures and len(self._fresh_failures) >= self.max_remembered:
            self._fresh_failures.pop(next(iter(self._fresh_failures)))  # bounded: oldest address forgotten
        recent = self._fresh_failures.setdefault(source, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        return recent

    def _take_check(self, now: float) -> bool:
        """A token of the global scrypt budget (a bucket of one second's worth)."""
        if self._budget_at is None:
            self._budget_at, self._budget = now, self.max_checks_per_s
        self._budget = min(self.max_checks_per_s, self._budget + (now - self._budget_at) * self.max_checks_per_s)
        self._budget_at = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True
