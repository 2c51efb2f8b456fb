"""The layers point one way, read from the imports themselves (docs/architecture.md).

model ← config ← source ← analysis ← canary ← exposition ← poller/server ← cli and the tools.
A module may import its own layer and those below it, never one above; no two modules import
each other, directly or round a longer cycle; and only the source (and the tools beside the
exporter) speak HTTP.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exporter" / "agentwatch"

# the first dotted prefix that matches names the layer; lower ranks sit below higher ones
LAYERS: dict[str, int] = {
    "agentwatch": 0,  # the version alone
    "agentwatch.files": 0,
    "agentwatch.logs": 0,
    "agentwatch.memory": 0,
    "agentwatch.model": 0,
    "agentwatch.shipped": 0,
    "agentwatch.config": 1,
    "agentwatch.webconfig": 1,
    "agentwatch.webserver": 1,
    "agentwatch.webpage": 1,
    "agentwatch.source": 2,
    "agentwatch.analysis": 3,
    "agentwatch.canary": 4,
    "agentwatch.exposition": 5,
    "agentwatch.poller": 6,
    "agentwatch.server": 6,
    "agentwatch.landing": 6,
    "agentwatch.check": 6,
    "agentwatch.runbooks": 6,
    "agentwatch.cli": 7,
    "agentwatch.__main__": 7,
    "agentwatch.stack": 7,
    "agentwatch.demo": 7,
    "agentwatch.audit": 7,
    "agentwatch.tune": 7,
    "agentwatch.incidents": 7,
    "agentwatch.history": 7,
}
# what speaks HTTP or opens sockets: the source, and the tools around the exporter
NETWORK = ("requests", "urllib3", "http.client", "socket", "urllib.request")
NETWORK_ALLOWED = (
    "agentwatch.source",
    "agentwatch.server",
    "agentwatch.landing",  # the landing page reads the firing alerts from Prometheus
    "agentwatch.webconfig",
    "agentwatch.webserver",
    "agentwatch.cli",
    *(m for m, r in LAYERS.items() if r == 7),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, typing_only: bool = True) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports count too).
    ``typing_only`` False leaves out those under ``if TYPE_CHECKING:``, which never run."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> tuple[str, int]:
    best = max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)
    return best, LAYERS[best]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def graph(typing_only: bool = True) -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        for target in imports_of(path, name, typing_only):
            if target in MODULES and target != name:
                g.add_edge(name, target)
    return g


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if m != "agentwatch" and layer_of(m)[0] == "agentwatch"]
    assert unplaced == [], f"modules with no layer in LAYERS: {unplaced}"


def test_no_module_imports_a_higher_layer():
    upward = []
    for source, target in graph().edges:
        (s_layer, s_rank), (t_layer, t_rank) = layer_of(source), layer_of(target)
        if t_rank > s_rank:
            upward.append(f"{source} ({s_layer}, {s_rank}) imports {target} ({t_layer}, {t_rank})")
    assert upward == []


def test_no_import_cycles():
    """At run time: an import for annotations alone (``TYPE_CHECKING``) never runs."""
    cycles = list(nx.simple_cycles(graph(typing_only=False)))
    assert cycles == []


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not layer_of(m)[0].startswith(NETWORK_ALLOWED)))
def test_only_the_source_speaks_http(name):
    used = {m for m in imports_of(MODULES[name], name) if m.startswith(NETWORK)}
    assert used == set(), f"{name} imports {sorted(used)}: HTTP belongs in agentwatch.source"


def test_the_checks_see_a_violation(tmp_path):
    """The walk finds lazy and relative imports, and ranks a known upward import as one."""
    sample = tmp_path / "agentwatch" / "analysis" / "x.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("def f():\n    from ..exposition import fleet\n    import requests\n")
    found = imports_of(sample, "agentwatch.analysis.x")
    assert {"agentwatch.exposition", "agentwatch.exposition.fleet", "requests"} <= found
    assert layer_of("agentwatch.exposition.fleet")[1] > layer_of("agentwatch.analysis.x")[1]


MAX_FUNCTION_LINES = 60


def long_functions(path: Path, name: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function (or method) of ``path`` longer than ``limit`` lines, from its ``def`` line
    (decorators left out) to its last line, as ``module:line name (N lines)``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append(f"{name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_60_lines():
    """A reader can hold a function in their head (issue 22): none over 60 lines, ``def`` to end."""
    offenders = [f for name, path in MODULES.items() for f in long_functions(path, name)]
    assert offenders == [], "functions over 60 lines:\n" + "\n".join(offenders)


def test_the_size_check_counts_from_def_to_the_last_line(tmp_path):
    """60 lines from ``def`` (the decorator not counted) pass; a method of 61 lines is named."""
    sample = tmp_path / "x.py"
    body = "".join(f"    x{i} = {i}\n" for i in range(59))
    method = "".join(f"        x{i} = {i}\n" for i in range(60))
    sample.write_text(f"@decorator\ndef fits():\n{body}\n\nclass C:\n    def too_long(self):\n{method}")
    assert long_functions(sample, "x") == ["x:65 too_long (61 lines)"]
