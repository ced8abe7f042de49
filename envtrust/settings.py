"""One settings object, read from environment variables, with defaults that run the demo.

No I/O happens at import time; call :func:`load_settings` where settings are needed.

Environment variables (all optional):

- ``ENVTRUST_DB``: DuckDB file (default ``var/envtrust.duckdb`` under the repo root).
- ``ENVTRUST_SHARED_DATA``: folder with the full real data sets (default ``../shared/data``
  next to the repo root, used only when it exists; otherwise the shipped sample is used).
- ``ENVTRUST_SECRET_KEY``: Flask session key for the dashboard (default: random per process).
- ``ENVTRUST_DISPLAY_TZ``: time zone the UI shows (default ``Asia/Shanghai``).
- ``ENVTRUST_PENALTY_FACTOR``: factor for the "1.5 x city maximum" substitution rule (default 1.5).
- ``ENVTRUST_BASEMAP``: map background, ``offline`` (default: our own layers), ``osm`` or ``amap``.
- ``ENVTRUST_SUBSTITUTION_POLICY``: the assessment's substitution (penalty) policy: ``jinan-2018``
  (default: factor x city maximum of the hour), ``mee-2015-175-day``, ``mee-2015-175-month`` or
  ``none`` (analytics/standards/penalty.py; docs/assessment.md).
- ``ENVTRUST_AQI_TABLE``: IAQI breakpoint table (default ``hj633_2012``; see analytics/standards/aqi.py).
- ``ENVTRUST_SECURE_COOKIES``: ``1`` marks the dashboard's session cookie ``Secure`` (sent over
  HTTPS only). Default off, because ``make run`` serves plain HTTP on localhost; switch it on
  whenever the dashboard is reached through an HTTPS reverse proxy (docs/security.md).
- ``ENVTRUST_HJ212_ALLOW_NO_PW``: ``1`` lets the HJ 212 receiver accept packets from a data logger
  (MN) that has no access password configured, without checking PW (the pre-2026 behaviour).
  Default off: such packets are refused with QnRtn 3 (docs/hj212.md).
- ``ENVTRUST_EARLIEST_TS``: earliest plausible measurement time, ISO date/time in UTC (default
  ``1980-01-01``); earlier readings and packets are quarantined as ``implausible_time``.
- ``ENVTRUST_MAX_AHEAD_H``: how many hours after now a measurement time may lie (default 24).
- ``ENVTRUST_INGEST_MEMORY_MB``: DuckDB memory limit of ``envtrust ingest`` and ``envtrust hj212
  listen`` (default 512); larger work spills to disk, so a big file does not need more memory.
- ``ENVTRUST_WEBHOOK_URL`` / ``ENVTRUST_WEBHOOK_SECRET``: where new alarms are pushed (JSON, signed
  with HMAC-SHA256 under the secret; docs/cases.md). Without a URL alarms wait in the outbox.
- ``ENVTRUST_CASE_CLOCKS``: deadlines per case state over the legal defaults, e.g.
  ``investigating=60d,clue_transferred=5wd`` (d days, wd working days, h hours; docs/cases.md).
- ``ENVTRUST_RECORD_KEY``: Ed25519 key that signs the record's checkpoints, kept outside the
  database (default: ``<db name>-record-key.pem`` beside the store; its verifier key beside it
  as ``.pub``). Created by ``envtrust init`` (docs/record.md).
- ``ENVTRUST_RECORD_CHECKPOINT_EVERY``: sign a checkpoint every N entries of the record (default 1000).
- ``ENVTRUST_RECORD_ORIGIN``: the record log's name in its checkpoints (default ``envtrust.local/record``).
- ``ENVTRUST_ANALYST_CAPACITY``: the operating point - how many suspected-interference events per
  station-month the monitoring centre can check, per network, as ``air=0.3,water=0.3,polluter=0.3``
  (default 0.3 each; networks left out keep the default). The explorer shows how many events of
  the period fall above it (docs/engine.md, "Operating point").
- ``ENVTRUST_API_ANON_RATE``: calls a minute that the public data API answers one anonymous address
  (default 120; over it, 429 with ``Retry-After``). Department keys carry their own limits.
- ``ENVTRUST_SCORE_EVERY_S``: how often `envtrust serve` scores the readings that arrived since the
  last run, in seconds (default 300; ``0`` switches the schedule off). A never-scored store gets
  its first run at start (docs/distributed.md, "Incremental scoring").
- ``ENVTRUST_SCORE_THREADS``: how many scoring blocks (networks, time windows, station groups) a
  run in this process scores at once, in threads (default: the CPU cores this process may use;
  ``1`` one after another). Memory grows with it (docs/distributed.md, "Two blocks at once").
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics.standards.aqi import DEFAULT_TABLE as DEFAULT_AQI_TABLE
from analytics.standards.aqi import resolve_table_name
from analytics.standards.penalty import DEFAULT_POLICY_ID, PENALTY_FACTOR, resolve_policy
from analytics.timeconv import PlausibleWindow
from analytics.vocabulary import DISPLAY_TZ
from data import SAMPLE_DIR
from geo.layers import set_layer_dirs

REPO_ROOT = Path(__file__).resolve().parent.parent
#: map backgrounds: our own offline layers, or OpenStreetMap / AMap tiles where a network is allowed
BASEMAPS: tuple[str, ...] = ("offline", "osm", "amap")
#: events per station-month an analyst checks, per network (the targets' operating point)
DEFAULT_ANALYST_CAPACITY: dict[str, float] = {"air": 0.3, "water": 0.3, "polluter": 0.3}


def parse_capacity(value: str) -> dict[str, float]:
    """``air=0.3,water=0.5`` -> capacities per network over the defaults; a bad item is refused
    with the known networks named."""
    out = dict(DEFAULT_ANALYST_CAPACITY)
    for item in (v.strip() for v in value.split(",") if v.strip()):
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in DEFAULT_ANALYST_CAPACITY or not number.strip():
            raise ValueError(f"ENVTRUST_ANALYST_CAPACITY: {item!r}: expected NETWORK=NUMBER with NETWORK one of "
                             f"{', '.join(DEFAULT_ANALYST_CAPACITY)}")
        x = float(number)
        if not x > 0:
            raise ValueError(f"ENVTRUST_ANALYST_CAPACITY: {item!r}: the capacity must be positive")
        out[name] = x
    return out


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def positive_int_from_env(name: str, value: str) -> int:
    """A whole number >= 1 from an environment variable; anything else is refused with its name."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number >= 1")
    return n


#: the public data API's calls a minute per anonymous address (``ENVTRUST_API_ANON_RATE``)
DEFAULT_API_ANON_RATE_PER_MIN = 120

@dataclass(frozen=True)
class Settings:
    """Process-wide configuration; immutable so no request can change another's view."""

    db_path: Path = REPO_ROOT / "var" / "envtrust.duckdb"
    shared_data: Path | None = None
    sample_dir: Path = SAMPLE_DIR
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    display_tz: str = DISPLAY_TZ
    penalty_factor: float = PENALTY_FACTOR
    substitution_policy: str = DEFAULT_POLICY_ID
    aqi_table: str = DEFAULT_AQI_TABLE
    basemap: str = "offline"
    secure_cookies: bool = False
    hj212_allow_no_pw: bool = False
    plausible_window: PlausibleWindow = PlausibleWindow()
    ingest_memory_mb: int = 512
    webhook_url: str | None = None
    webhook_secret: str = ""
    case_clocks: str = ""
    record_key: Path | None = None
    record_checkpoint_every: int = 1000
    record_origin: str = "envtrust.local/record"
    analyst_capacity: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ANALYST_CAPACITY))
    api_anon_rate_per_min: int = DEFAULT_API_ANON_RATE_PER_MIN
    score_every_s: float = 300.0
    score_threads: int = field(default_factory=usable_cores)

    @property
    def record_key_path(self) -> Path:
        """The checkpoint signing key: ``record_key`` or ``<db stem>-record-key.pem`` beside the store."""
        return self.record_key or self.db_path.with_name(self.db_path.stem + "-record-key.pem")

    @property
    def serving_snapshot_path(self) -> Path:
        """The public API's serving snapshot (``data.snapshot``): ``<db stem>-public-v<format>.sqlite``
        beside the store (a file of an earlier ``data.snapshot.SNAPSHOT_FORMAT`` is left alone, never
        read: two checkouts of different formats can serve copies of one store side by side)."""
        from data.snapshot import SNAPSHOT_FORMAT  # not at import: settings import nothing heavy

        return self.db_path.with_name(f"{self.db_path.stem}-public-v{SNAPSHOT_FORMAT}.sqlite")

    @property
    def api_journal_path(self) -> Path:
        """The keyed API calls' audit journal (``data.journal``): the folder ``<db stem>-api-journal``
        beside the store, folded into the record by the serving process."""
        return self.db_path.with_name(f"{self.db_path.stem}-api-journal")

    @property
    def layer_dirs(self) -> tuple[Path, ...]:
        """Folders with map layers searched before the shipped sample (the full data's ``geo``)."""
        return (self.shared_data / "geo",) if self.shared_data is not None else ()

    @property
    def has_full_data(self) -> bool:
        """True when the full real data sets (../shared/data) are present."""
        return self.shared_data is not None and (self.shared_data / "beijing_multisite_aq").is_dir()


def seconds_from_env(name: str, text: str) -> float:
    """A non-negative number of seconds from an environment variable, or a clear error."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be 0 or more seconds, not {text!r}")
    return value


def _default_shared_data() -> Path | None:
    candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def env_flag(name: str, value: str) -> bool:
    """An on/off environment variable (1/true/yes/on or 0/false/no/off/empty); anything else is
    refused, so a typo never silently leaves a security switch in the state the operator did not mean."""
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{name}={value!r}: expected 1/true/yes/on or 0/false/no/off")


def plausible_window_from_env(earliest: str | None, ahead_h: str | None) -> PlausibleWindow:
    """The plausible-time window from its two variables (either may be unset); ValueError names a bad one."""
    default = PlausibleWindow()
    try:
        lo = datetime.fromisoformat(earliest) if earliest else default.earliest_utc
    except ValueError:
        raise ValueError(f"ENVTRUST_EARLIEST_TS={earliest!r}: expected an ISO date such as 1980-01-01") from None
    if lo.tzinfo is not None:
        lo = lo.astimezone(UTC).replace(tzinfo=None)
    try:
        hours = float(ahead_h) if ahead_h else default.ahead / timedelta(hours=1)
    except ValueError:
        raise ValueError(f"ENVTRUST_MAX_AHEAD_H={ahead_h!r}: expected a number of hours") from None
    if not 0 <= hours <= 24 * 366:
        raise ValueError(f"ENVTRUST_MAX_AHEAD_H={ahead_h!r}: expected 0 to 8784 hours")
    return PlausibleWindow(earliest_utc=lo, ahead=timedelta(hours=hours))


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    env = os.environ
    values: dict[str, object] = {}
    if "ENVTRUST_DB" in env:
        values["db_path"] = Path(env["ENVTRUST_DB"])
    shared = env.get("ENVTRUST_SHARED_DATA")
    if shared is not None:
        values["shared_data"] = Path(shared) if shared and Path(shared).is_dir() else None
    else:
        values["shared_data"] = _default_shared_data()
    if "ENVTRUST_SECRET_KEY" in env:
        values["secret_key"] = env["ENVTRUST_SECRET_KEY"]
    if "ENVTRUST_DISPLAY_TZ" in env:
        values["display_tz"] = env["ENVTRUST_DISPLAY_TZ"]
    if "ENVTRUST_PENALTY_FACTOR" in env:
        values["penalty_factor"] = float(env["ENVTRUST_PENALTY_FACTOR"])
    if "ENVTRUST_SUBSTITUTION_POLICY" in env:
        values["substitution_policy"] = env["ENVTRUST_SUBSTITUTION_POLICY"]
    if "ENVTRUST_AQI_TABLE" in env:
        values["aqi_table"] = env["ENVTRUST_AQI_TABLE"]
    if "ENVTRUST_BASEMAP" in env:
        values["basemap"] = env["ENVTRUST_BASEMAP"] or "offline"
    if "ENVTRUST_SECURE_COOKIES" in env:
        values["secure_cookies"] = env_flag("ENVTRUST_SECURE_COOKIES", env["ENVTRUST_SECURE_COOKIES"])
    if "ENVTRUST_HJ212_ALLOW_NO_PW" in env:
        values["hj212_allow_no_pw"] = env_flag("ENVTRUST_HJ212_ALLOW_NO_PW", env["ENVTRUST_HJ212_ALLOW_NO_PW"])
    if "ENVTRUST_EARLIEST_TS" in env or "ENVTRUST_MAX_AHEAD_H" in env:
        values["plausible_window"] = plausible_window_from_env(env.get("ENVTRUST_EARLIEST_TS"),
                                                               env.get("ENVTRUST_MAX_AHEAD_H"))
    if "ENVTRUST_INGEST_MEMORY_MB" in env:
        try:
            values["ingest_memory_mb"] = int(env["ENVTRUST_INGEST_MEMORY_MB"])
        except ValueError:
            raise ValueError(f"ENVTRUST_INGEST_MEMORY_MB={env['ENVTRUST_INGEST_MEMORY_MB']!r}: expected a number "
                             "of megabytes") from None
    for name, key in (("ENVTRUST_WEBHOOK_URL", "webhook_url"), ("ENVTRUST_WEBHOOK_SECRET", "webhook_secret"),
                      ("ENVTRUST_CASE_CLOCKS", "case_clocks")):
        if name in env:
            values[key] = env[name]
    if "ENVTRUST_RECORD_KEY" in env:
        values["record_key"] = Path(env["ENVTRUST_RECORD_KEY"])
    if "ENVTRUST_RECORD_CHECKPOINT_EVERY" in env:
        values["record_checkpoint_every"] = int(env["ENVTRUST_RECORD_CHECKPOINT_EVERY"])
    if "ENVTRUST_RECORD_ORIGIN" in env:
        values["record_origin"] = env["ENVTRUST_RECORD_ORIGIN"]
    if "ENVTRUST_API_ANON_RATE" in env:
        values["api_anon_rate_per_min"] = positive_int_from_env("ENVTRUST_API_ANON_RATE", env["ENVTRUST_API_ANON_RATE"])
    if "ENVTRUST_SCORE_EVERY_S" in env:
        values["score_every_s"] = seconds_from_env("ENVTRUST_SCORE_EVERY_S", env["ENVTRUST_SCORE_EVERY_S"])
    if "ENVTRUST_SCORE_THREADS" in env:
        values["score_threads"] = positive_int_from_env("ENVTRUST_SCORE_THREADS", env["ENVTRUST_SCORE_THREADS"])
    if "ENVTRUST_ANALYST_CAPACITY" in env:
        values["analyst_capacity"] = parse_capacity(env["ENVTRUST_ANALYST_CAPACITY"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("record_key") is not None:
        values["record_key"] = Path(values["record_key"])  # type: ignore[arg-type]
    if int(values.get("record_checkpoint_every", 1000)) < 1:  # type: ignore[call-overload]
        raise ValueError("ENVTRUST_RECORD_CHECKPOINT_EVERY must be a positive number of entries")
    if "db_path" in values:
        values["db_path"] = Path(values["db_path"])  # type: ignore[arg-type]
    settings = Settings(**values)  # type: ignore[arg-type]
    resolve_policy(settings.substitution_policy)  # an unknown policy fails at start-up too
    resolve_table_name(settings.aqi_table)  # an unknown table fails here, at start-up, naming the known ones
    if settings.basemap not in BASEMAPS:
        raise ValueError(f"unknown basemap {settings.basemap!r} (ENVTRUST_BASEMAP); choose one of {', '.join(BASEMAPS)}")
    set_layer_dirs(settings.layer_dirs)
    return settings
