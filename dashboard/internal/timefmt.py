"""Clock conversion at the UI edge: the store is naive UTC, people read local time (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd


def to_local(ts: pd.Series | pd.DatetimeIndex, tz: str) -> pd.Series:
    """Naive-UTC timestamps as naive local wall-clock times in ``tz``."""
    s = pd.Series(pd.to_datetime(ts))
    return s.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def one_to_local(ts: datetime | pd.Timestamp | None, tz: str) -> pd.Timestamp | None:
    """One naive-UTC timestamp as naive local time (None stays None)."""
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).tz_localize(None)


def one_to_utc(ts: datetime | pd.Timestamp, tz: str) -> pd.Timestamp:
    """One naive local wall-clock time in ``tz`` as naive UTC."""
    return pd.Timestamp(ts).tz_localize(tz).tz_convert("UTC").tz_localize(None)


def local_day_bounds_utc(ts_utc: datetime | pd.Timestamp, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The local calendar day containing ``ts_utc``, as a UTC ``[start, end)``."""
    local = one_to_local(ts_utc, tz).normalize()
    start = one_to_utc(local, tz)
    return start, start + pd.Timedelta(hours=24)


def fmt_local(ts: datetime | pd.Timestamp | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a (local) timestamp; '-' for missing."""
    return "-" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime(fmt)
