"""Component ids of the public embeds, namespaced ``embed-`` so they never collide with internal ids."""

from __future__ import annotations

from enum import StrEnum


class EmbedIds(StrEnum):
    URL = "embed-url"
    PAGE = "embed-page"
