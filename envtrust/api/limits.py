"""Per-client rate limits of the public API: fixed one-minute windows, in process memory.

Why fixed windows: one counter per client, O(1) per request, and ``Retry-After`` is simply the
time left in the window. Kept per process (the dashboard is one process with one DuckDB writer).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """Counts calls per client key in the current window; thread-safe (waitress threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window_s: float = WINDOW_S) -> None:
        self.clock, self.window_s = clock, window_s
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str, limit: int) -> int | None:
        """Count one call; None when allowed, else the seconds to wait (for ``Retry-After``)."""
        now = self.clock()
        with self._lock:
            start, count = self._windows.get(client, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            if count >= limit:
                return max(1, math.ceil(start + self.window_s - now))
            self._windows[client] = (start, count + 1)
            if len(self._windows) > 100_000:  # bound memory under many addresses
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window_s}
            return None
