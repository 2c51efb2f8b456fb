"""Context-window pressure: prompt (input) tokens against the model's window."""

from __future__ import annotations

from importlib import resources
from typing import Mapping

import yaml

RATIO_BUCKETS = (0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
UNKNOWN = "unknown"


def builtin_windows() -> dict[str, int]:
    text = resources.files("agentwatch").joinpath("data/context_windows.yml").read_text()
    return {str(k): int(v) for k, v in (yaml.safe_load(text) or {}).items()}


class ContextWindows:
    """Model name -> window, from the shipped table plus user overrides."""

    def __init__(self, overrides: Mapping[str, int] | None = None) -> None:
        self.table = {**builtin_windows(), **dict(overrides or {})}
        self._prefixes = sorted(self.table, key=len, reverse=True)
        self._by_prefix: dict[str, int | None] = {}  # a model not in the table -> the window its prefix gives

    def window(self, model: str) -> int | None:
        if not model:
            return None
        if model in self.table:
            return self.table[model]
        if model in self._by_prefix:
            return self._by_prefix[model]
        found = next((self.table[prefix] for prefix in self._prefixes if model.startswith(prefix)), None)  # e.g. claude-sonnet-4-5-20250929
        if len(self._by_prefix) < 10000:  # models seen are few; a hostile stream of names is not kept
            self._by_prefix[model] = found
        return found

    def ratio(self, model: str, input_tokens: int | None) -> float | None:
        window = self.window(model)
        if window is None or input_tokens is None or window <= 0:
            return None
        return max(0.0, input_tokens / window)


def growth(first_tokens: int | None, last_tokens: int | None) -> float | None:
    """Latest over first prompt size on one task (1 = no growth)."""
    if not first_tokens or last_tokens is None or first_tokens <= 0:
        return None
    return last_tokens / first_tokens
