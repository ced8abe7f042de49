"""The embeds' only callback: render the page the URL names, from released values.

Registered with ``app.callback`` on the public app (never ``dash.callback``), so it exists only there.
Rendered pages are kept for :data:`PAGE_TTL_S` seconds per (path, language) in a small cache owned by
the app (not module state): released data changes hourly, and one embed is read by many people.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output

from dashboard.public.ids import EmbedIds
from dashboard.public.pages import page_query, render_path
from dashboard.public.text import language_from_query
from dashboard.request_state import db_cursor
from envtrust.settings import Settings

PAGE_TTL_S = 60.0
PAGE_CACHE_ENTRIES = 512


class PageCache:
    """A thread-safe LRU of rendered pages with a time-to-live (seconds)."""

    def __init__(self, ttl_s: float = PAGE_TTL_S, max_entries: int = PAGE_CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_entries, self.clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: tuple, render: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._entries.move_to_end(key)
                return hit[1]
        value = render()  # outside the lock: a slow page never blocks other readers
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value


def register_callbacks(app: dash.Dash, settings: Settings) -> None:
    """Attach the page renderer to ``app``; the answer depends only on the URL and released data."""
    cache = PageCache()

    @app.callback(
        Output(EmbedIds.PAGE, "children"),
        Input(EmbedIds.URL, "pathname"),
        Input(EmbedIds.URL, "search"),
    )
    def render_embed_page(pathname: str | None, search: str | None):
        lang = language_from_query(search)
        path = pathname or ""
        query = page_query(search)
        return cache.get_or_render((path, lang, tuple(sorted(query.items()))),
                                   lambda: render_path(db_cursor(), path, lang, settings.display_tz,
                                                       settings.aqi_table, query))
