"""The config-file side of ``agentwatch tune``: read the thresholds, edit them, diff, write.

The file is edited as text, not re-dumped: PyYAML would drop every comment and reorder keys.
``yaml.compose`` gives the position of every node, so a changed value is replaced where it
stands (its line, indentation and trailing comment kept) and a missing key is inserted after the
last entry of its mapping (a flow mapping such as ``qa: {runs_failing_consecutive: 5}`` grows
inside its braces). Nothing outside ``thresholds:`` is touched; the result is parsed back and
checked to hold exactly the intended values before anything is shown or written.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agentwatch import check, config
from agentwatch.files import write_atomic

# (scope, threshold) -> value; scope None is `thresholds.defaults`, else the role name
Changes = dict[tuple[str | None, str], float]


def read(path: str | None) -> tuple[str, config.ThresholdsConfig]:
    """The file's text and its ``thresholds`` (validated). ``ConfigError`` names the key and value."""
    if path is None:
        return "", config.ThresholdsConfig()
    data = config.read_yaml_mapping(path, "config.file")
    thresholds = data.get("thresholds") or {}
    if not isinstance(thresholds, dict):
        raise config.ConfigError(f"thresholds={thresholds!r}: expected a mapping")
    try:
        return Path(path).read_text(), config.ThresholdsConfig(**thresholds)
    except ValidationError as exc:
        raise config.ConfigError("thresholds." + config.describe_error(exc.errors(include_url=False)[0])) from None


def key_path(scope: str | None, threshold: str) -> tuple[str, ...]:
    return ("thresholds", "defaults", threshold) if scope is None else ("thresholds", "roles", scope, threshold)


def scalar(value: Any) -> str:
    """A number or a key as YAML text (keys quoted when plain YAML would read them otherwise)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ .-]*", text) and not text.endswith(" ") and yaml.safe_load(text) == text:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return scalar(value)


def _block(key: str, value: Any, indent: int) -> list[str]:
    """A new entry in a block mapping: a mapping of mappings as nested lines, any other mapping in flow style."""
    pad = " " * indent
    if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
        lines = [f"{pad}{scalar(key)}:"]
        for k, v in value.items():
            lines += _block(k, v, indent + 2)
        return lines
    return [f"{pad}{scalar(key)}: {_flow(value)}"]


def _nested(path: tuple[str, ...], value: float) -> Any:
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    return nested


def _last_leaf(node: yaml.Node) -> yaml.Node:
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    return node


def _line_end(text: str, node: yaml.Node) -> int:
    """Where to insert a line after ``node``: the end of its last line."""
    pos = node.end_mark.index
    if pos > 0 and text[pos - 1] == "\n":
        return pos - 1
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _set(text: str, path: tuple[str, ...], value: float) -> str:
    root = yaml.compose(text)
    if root is None:  # an empty document (or only comments)
        body = "\n".join(_block(path[0], _nested(path[1:], value), 0)) + "\n"
        return (text if not text or text.endswith("\n") else text + "\n") + body
    node, depth = root, 0
    while depth < len(path):
        if not isinstance(node, yaml.MappingNode):
            raise config.ConfigError(f"config.file: {'.'.join(path[:depth])} is not a mapping")
        child = next((v for k, v in node.value if k.value == path[depth]), None)
        if child is None:
            break
        if depth == len(path) - 1:
            new = scalar(value)
            start, end = child.start_mark.index, child.end_mark.index
            return text[:start] + new + _realign(text, end, len(new) - (end - start))
        if isinstance(child, yaml.ScalarNode) and child.tag.endswith(":null"):
            # an empty `roles:` (or `roles: ~`) standing where a mapping should be
            key = next(k for k, v in node.value if v is child)
            start, end = child.start_mark.index, child.end_mark.index
            if start == end:
                start = end = text.index(":", key.end_mark.index) + 1
            rest = _nested(path[depth + 1 :], value)
            if node.flow_style:
                return text[:start] + " " + _flow(rest).strip() + text[end:]
            head = text[:start].rstrip(" ")
            text = head + text[end:]
            at = text.find("\n", len(head))
            at = len(text) if at < 0 else at
            k, v = next(iter(rest.items()))
            return text[:at] + "\n" + "\n".join(_block(k, v, key.start_mark.column + 2)) + text[at:]
        node, depth = child, depth + 1
    assert isinstance(node, yaml.MappingNode)  # the walk stops only inside a mapping that lacks the key
    key, rest = path[depth], _nested(path[depth + 1 :], value)
    if node.flow_style:
        if node.value:
            at = node.value[-1][1].end_mark.index
            return text[:at] + f", {scalar(key)}: {_flow(rest)}" + text[at:]
        at = text.index("{", node.start_mark.index) + 1
        return text[:at] + f"{scalar(key)}: {_flow(rest)}" + text[at:]
    indent = node.value[0][0].start_mark.column
    at = _line_end(text, _last_leaf(node.value[-1][1]))
    return text[:at] + "\n" + "\n".join(_block(key, rest, indent)) + text[at:]


def _realign(text: str, at: int, grown: int) -> str:
    """``text[at:]`` with the spaces before a trailing comment adjusted by ``grown``, so comments
    stay in their column (at least one space is kept)."""
    spaces = len(text[at:]) - len(text[at:].lstrip(" "))
    if not text[at + spaces :].startswith("#") or spaces == 0:
        return text[at:]
    return " " * max(1, spaces - grown) + text[at + spaces :]


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def edit(text: str, changes: Changes) -> str:
    """``text`` with every change applied; raises ``ConfigError`` when the result does not read back
    with exactly those values and every key outside ``thresholds`` as it was."""
    before = yaml.safe_load(text) or {}
    for (scope, threshold), value in sorted(changes.items(), key=lambda kv: (kv[0][0] is not None, kv[0][0] or "", kv[0][1])):
        text = _set(text, key_path(scope, threshold), value)
    data = yaml.safe_load(text) or {}
    if {k: v for k, v in data.items() if k != "thresholds"} != {k: v for k, v in before.items() if k != "thresholds"}:
        raise config.ConfigError("config.file: editing thresholds would change other keys; edit it by hand")
    for (scope, threshold), value in changes.items():
        got = lookup(data, key_path(scope, threshold))
        if not isinstance(got, (int, float)) or abs(float(got) - value) > 1e-9:
            raise config.ConfigError(f"thresholds: editing {'.'.join(key_path(scope, threshold))} did not read back as {scalar(value)}")
    return text


def diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), fromfile=path, tofile=f"{path} (proposed)"))


def write(path: str, new_text: str) -> None:
    """Check the new text with ``check.load_checked`` (what ``check-config`` and ``serve`` run), then replace the file
    atomically with its mode kept. On ``ConfigError`` the file is left untouched."""
    target = Path(path)
    mode = target.stat().st_mode & 0o7777
    with tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=f".{target.name}.", suffix=".check") as probe:
        probe.write(new_text)
        probe.flush()
        check.load_checked(probe.name, {})
    write_atomic(target, new_text, mode=mode)
