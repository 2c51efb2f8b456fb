"""Canary scorers: an agent's answer against the known correct one.

Every scorer returns ``Score(passed, value)`` with ``value`` in [0, 1] and never raises on
hostile answers (empty, huge, unicode, invalid JSON): the answer is cut to
``MAX_ANSWER_CHARS`` before it is looked at.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_ANSWER_CHARS = 64 * 1024
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


@dataclass(frozen=True, slots=True)
class Score:
    passed: bool
    value: float


def _clip(answer: Any) -> str:
    return answer[:MAX_ANSWER_CHARS] if isinstance(answer, str) else ""


def exact(answer: str, expected: str, case_sensitive: bool = False) -> Score:
    a, e = _clip(answer).strip(), expected.strip()
    ok = a == e if case_sensitive else a.casefold() == e.casefold()
    return Score(ok, 1.0 if ok else 0.0)


def regex(answer: str, pattern: str) -> Score:
    ok = re.search(pattern, _clip(answer), flags=re.MULTILINE) is not None
    return Score(ok, 1.0 if ok else 0.0)


def contains_all(answer: str, values: list[str], case_sensitive: bool = False) -> Score:
    if not values:
        return Score(True, 1.0)
    text = _clip(answer) if case_sensitive else _clip(answer).casefold()
    found = sum(1 for v in values if (v if case_sensitive else v.casefold()) in text)
    return Score(found == len(values), found / len(values))


def _first_json_object(text: str) -> Any:
    """The whole answer as JSON, or else the first ``{...}`` block that parses."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    # each "{" and the "}" that brings the depth back to its own, in one pass: scanning on from
    # every "{" in turn took quadratic time on a hostile answer ("{" * 64k: minutes)
    closing: dict[int, int] = {}
    opened: list[int] = []
    for i, ch in enumerate(text):
        if ch == "{":
            opened.append(i)
        elif ch == "}" and opened:
            closing[opened.pop()] = i
    for start in sorted(closing):
        try:
            return json.loads(text[start : closing[start] + 1])
        except ValueError:
            continue
    return None


def json_keys(answer: str, keys: Mapping[str, str] | list[str]) -> Score:
    """The answer holds a JSON object with these keys (a list), or these keys of these JSON types (a mapping)."""
    data = _first_json_object(_clip(answer))
    wanted = dict.fromkeys(keys, "") if isinstance(keys, list) else dict(keys)
    if not isinstance(data, dict):
        return Score(False, 0.0)
    if not wanted:
        return Score(True, 1.0)
    good = 0
    for key, typ in wanted.items():
        if key not in data:
            continue
        expected_type = _JSON_TYPES.get(typ)
        value = data[key]
        if expected_type is None or (isinstance(value, expected_type) and not (typ in ("number", "integer") and isinstance(value, bool))):
            good += 1
    return Score(good == len(wanted), good / len(wanted))


def numeric(answer: str, expected: float, tolerance: float = 0.0) -> Score:
    """The first number in the answer is within ``tolerance`` of ``expected``."""
    match = _NUMBER.search(_clip(answer).replace(",", ""))
    if not match:
        return Score(False, 0.0)
    try:
        value = float(match.group(0))
    except ValueError:
        return Score(False, 0.0)
    if not math.isfinite(value):
        return Score(False, 0.0)
    ok = abs(value - expected) <= tolerance
    return Score(ok, 1.0 if ok else 0.0)
