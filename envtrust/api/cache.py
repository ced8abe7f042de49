"""Answers of the public API kept between release steps, and the official locations in memory.

Why: every public answer is a function of the release records and the station list, which change
only at a release step (publish, audit, withhold, finalize, correct) or a station-list change, and
each of those raises ``release_generation`` in its own transaction (``data.release``). So an answer
built at generation *g* stays right until the generation moves: a repeated request (the same path
and query string) is answered from memory without parsing, querying or encoding again. The key
check, the rate limit and the keyed-call audit still run for every call (``envtrust.api``).

Why the result cannot be stale: a request reads the generation before its query, and a step
changes the data and the generation in one transaction, so an answer is never older than the
generation it is stored under; the first request that reads a newer generation empties the cache.
The generation itself is read from the store only when this process has raised it since the last
read (:class:`StoreGeneration`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

DEFAULT_MAX_BYTES = 64 * 2**20

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """A cached 200 answer: its body, media type and the headers that describe it."""

    body: bytes
    mimetype: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class AnswerCache:
    """Answers by (path, query string) for one release generation; least recently used answers
    go first once ``max_bytes`` of bodies are held. Thread-safe (waitress threads)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    hits: int = 0
    misses: int = 0
    _generation: int | None = None
    _entries: OrderedDict[tuple, Answer] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _turn_to(self, generation: int) -> None:
        if generation != self._generation:
            self._entries.clear()
            self._bytes, self._generation = 0, generation

    def get(self, generation: int, key: tuple) -> Answer | None:
        """The answer stored for ``key`` at ``generation`` (a newer generation empties the cache)."""
        with self._lock:
            if self._generation is not None and generation < self._generation:
                self.misses += 1  # a request that began before the last step: never serve it newer data
                return None
            self._turn_to(generation)
            answer = self._entries.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, generation: int, key: tuple, answer: Answer) -> None:
        """Keep ``answer`` unless the generation has moved on since the request read it, or the
        answer alone would take more than an eighth of the cache."""
        size = len(answer.body)
        with self._lock:
            if (self._generation is not None and generation < self._generation) or size > self.max_bytes // 8:
                return
            self._turn_to(generation)
            old = self._entries.pop(key, None)
            self._bytes += size - (len(old.body) if old else 0)
            self._entries[key] = answer
            while self._bytes > self.max_bytes:
                _key, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class PerGeneration(Generic[T]):
    """One value computed once per release generation (the official locations, say)."""

    _held: tuple[int, T] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, generation: int, build: Callable[[], T]) -> T:
        """The value of ``generation``, built by ``build()`` on the first call after a change."""
        held = self._held
        if held is not None and held[0] == generation:
            return held[1]
        with self._lock:
            if self._held is None or self._held[0] != generation:
                self._held = (generation, build())
            return self._held[1]


@dataclass
class StoreGeneration:
    """The store's release generation as last read, read again only when this process's count of
    ended raises (``data.release.generation_raises_ended``) has moved or ``max_age_s`` has passed.

    Why: the store read cost ~0.7 ms of CPU per request (session 8: a cached answer 1.0 -> 0.27 ms,
    a one-station day 5.8 -> ~5 ms in process). The count moves only after a raise is committed, so
    every release step, key revocation or station-list change made through ``data.release`` or
    ``data.stations`` shows from the next request on; ``max_age_s`` bounds how long a raise made
    inside some caller's own wider transaction could go unseen."""

    max_age_s: float = 1.0
    reads: int = 0  # how many times the store was read (for tests and the benchmark)
    _held: tuple[int, float, int] | None = None  # (raises seen, monotonic time of the read, generation)

    def current(self, raises: int, now_s: float, read: Callable[[], int]) -> int:
        """The generation: the held one while ``raises`` (read *before* this call) is unchanged and
        the read is younger than ``max_age_s``; else ``read()`` now, held for the next requests."""
        held = self._held
        if held is not None and held[0] == raises and now_s - held[1] < self.max_age_s:
            return held[2]
        generation = read()
        self.reads += 1
        self._held = (raises, now_s, generation)
        return generation
