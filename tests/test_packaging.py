"""What `pip install agentwatch` brings, and the one version it reports.

The plain install is the exporter: no plotting stack, even through a dependency's dependencies.
matplotlib comes with the `audit` extra alone, only `agentwatch.audit.charts` imports it, and
`agentwatch audit` without it says which install adds it. The version lives in
``agentwatch.__version__``; the package metadata and ``agentwatch --version`` read it from there.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import agentwatch
from agentwatch.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "exporter" / "agentwatch"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PLOTTING = {"matplotlib", "contourpy", "kiwisolver", "fonttools", "pillow", "cycler", "seaborn", "plotly"}
CHARTS = "agentwatch.audit.charts"  # the one module that draws


def installed_closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` pull in, their own dependencies included (extras left
    out), as installed here."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in importlib.metadata.requires(req.name) or []]
        except importlib.metadata.PackageNotFoundError:
            pass  # not installed here: its own dependencies cannot be read, but its name is counted
    return seen


def test_the_plain_install_pulls_no_plotting_stack():
    direct = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert direct & PLOTTING == set(), "the plain install must not depend on a plotting package"
    assert installed_closure(PROJECT["dependencies"]) & PLOTTING == set()


def test_matplotlib_comes_with_the_audit_extra():
    extras = PROJECT["optional-dependencies"]
    assert "matplotlib" in {canonicalize_name(Requirement(r).name) for r in extras["audit"]}
    assert any(r.startswith("agentwatch[") and "audit" in r for r in extras["test"]), "the tests draw the audit's charts"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_the_audit_charts_import_matplotlib():
    importers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] in PLOTTING for m in imported_modules(p)) and p != PACKAGE / "audit" / "charts.py"
    )
    assert importers == []


def test_every_module_but_the_charts_imports_without_matplotlib():
    """In a fresh interpreter where importing matplotlib fails, as after a plain install."""
    modules = sorted(
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py"  # it starts the exporter
    )
    script = (
        "import importlib, sys\n"
        "sys.modules['matplotlib'] = None\n"
        f"for name in {[m for m in modules if m != CHARTS]!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' and sys.modules[m] is not None))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_audit_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    import agentwatch.audit as audit_package

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it raises ImportError
    monkeypatch.delitem(sys.modules, CHARTS, raising=False)  # as if the charts were never imported
    monkeypatch.delattr(audit_package, "charts", raising=False)
    code = main(["audit", "--prometheus.url=http://127.0.0.1:9", f"--out.dir={tmp_path}", "--month=2025-01"])
    assert code == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install 'agentwatch[audit]'" in err
    assert list(tmp_path.iterdir()) == []


def test_the_version_is_single_sourced():
    assert importlib.metadata.version("agentwatch") == agentwatch.__version__
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "agentwatch.__version__"}


def test_agentwatch_version_prints_it(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"agentwatch {agentwatch.__version__}"
    script = Path(sys.executable).parent / "agentwatch"  # the console script pip installed
    if script.exists():
        result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
        assert result.stdout.strip() == f"agentwatch {agentwatch.__version__}"
