"""China Standard Time <-> naive UTC.

The store keeps every timestamp as naive UTC (``data/schema.py``); Chinese monitoring sources
report Beijing time. China Standard Time is a fixed UTC+8 with no daylight saving since 1991,
so a fixed offset is exact for every data set we handle (the Beijing set starts in 2013) and
avoids the tz database on hot paths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from analytics.vocabulary import CST_UTC_OFFSET_H

CST_OFFSET = pd.Timedelta(hours=CST_UTC_OFFSET_H)
CST_TZ = dt.timezone(dt.timedelta(hours=CST_UTC_OFFSET_H), "CST")


def _as_datetimes(values):
    """Series/Index/scalar/array -> pandas datetimes, keeping the container kind."""
    if isinstance(values, (pd.Series, pd.DatetimeIndex)):
        return values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)
    if isinstance(values, (str, dt.datetime, pd.Timestamp)):
        return pd.Timestamp(values)
    return pd.to_datetime(values)


def _tz(values):
    if isinstance(values, pd.Series):
        return values.dt.tz
    return values.tz


def cst_to_utc(values):
    """Beijing time -> naive UTC.

    Naive input is read as China Standard Time (UTC+8) and shifted back 8 h; tz-aware input
    (any zone) is converted to UTC. The result is naive, as stored. Works on a Series, a
    DatetimeIndex or a scalar: ``2017-01-01 00:00`` CST -> ``2016-12-31 16:00`` UTC.
    """
    values = _as_datetimes(values)
    tz = _tz(values)
    if tz is None:
        return values - CST_OFFSET
    if isinstance(values, pd.Series):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.tz_convert("UTC").tz_localize(None)


def utc_to_cst(values):
    """Naive UTC (as stored) -> naive China Standard Time, for display and the CST file contract.

    tz-aware input is converted to UTC+8 and made naive.
    """
    values = _as_datetimes(values)
    tz = _tz(values)
    if tz is None:
        return values + CST_OFFSET
    if isinstance(values, pd.Series):
        return values.dt.tz_convert(CST_TZ).dt.tz_localize(None)
    return values.tz_convert(CST_TZ).tz_localize(None)


def to_naive_utc(values):
    """Any datetimes -> naive UTC: tz-aware converted, naive taken as already UTC."""
    values = _as_datetimes(values)
    if _tz(values) is None:
        return values
    if isinstance(values, pd.Series):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.tz_convert("UTC").tz_localize(None)


EARLIEST_PLAUSIBLE_UTC = dt.datetime(1980, 1, 1)  # before any automatic monitoring network in China
MAX_AHEAD = dt.timedelta(days=1)  # a logger clock a day fast is wrong; more is not a measurement


@dataclass(frozen=True)
class PlausibleWindow:
    """The times a measurement can carry: from ``earliest_utc`` to ``ahead`` after now (naive UTC).

    Why: a time outside it (year 0001, 2099, ``infinity``) is a broken clock or a forged record;
    stored, it breaks every page that shows "latest" or "released" and the key checks at the
    end of the time range. Configured by the settings object (``envtrust/settings.py``).
    """

    earliest_utc: dt.datetime = EARLIEST_PLAUSIBLE_UTC
    ahead: dt.timedelta = MAX_AHEAD

    def bounds(self, now_utc: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(earliest, latest) plausible naive-UTC time at ``now_utc`` (naive UTC)."""
        return self.earliest_utc, now_utc + self.ahead

    def describe(self, now_utc: dt.datetime) -> str:
        """The window as people read it, for quarantine details."""
        lo, hi = self.bounds(now_utc)
        return f"{lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M} UTC"


def utc_now_naive() -> dt.datetime:
    """Now as naive UTC (the store's convention)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
