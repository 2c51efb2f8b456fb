"""The Grafana bundle, validated offline (Grafana cannot run here): the dashboards type-check
against Grafana's own schema (npm ``@grafana/schema``, with ``tsc``), their queries parse and name
only metrics agentwatch exposes, their thresholds are the alert thresholds, and the provisioning
matches. ``tests/test_demo_stack.py`` runs every query against a real Prometheus."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentwatch.config import Thresholds
from harness.dashboards import annotation_queries, dashboards, panel_queries

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "grafana"))
import build_dashboards  # noqa: E402

SCHEMA_DIR = Path(os.environ.get("AGENTWATCH_GRAFANA_SCHEMA_DIR", "/var/tmp/agentwatch-grafana-schema"))
PACKAGES = ["typescript@7.0.2", "@grafana/schema@13.2.3"]
PANEL_TYPES = {  # panel type -> (module, has a FieldConfig type)
    "timeseries": ("TimeSeriesPanelCfg_types.gen", True),
    "stat": ("StatPanelCfg_types.gen", False),
    "gauge": ("GaugePanelCfg_types.gen", False),
    "bargauge": ("BarGaugePanelCfg_types.gen", False),
    "table": ("TablePanelCfg_types.gen", True),
}
# TS enums take their members, not the strings JSON holds; accept exactly the enum's values
PRELUDE = """import type { AnnotationQuery, Dashboard } from "@grafana/schema";
type Loose<T> = T extends string ? `${T}` | T : T extends number ? T | number : T extends Array<infer U> ? Array<Loose<U>>
  : T extends object ? { [K in keyof T]: Loose<T[K]> } : T;
// Prometheus annotations keep their query at the top level (the schema only types built-in ones)
type PrometheusAnnotation = Omit<Loose<AnnotationQuery>, "target"> & { expr: string; step?: string; titleFormat?: string;
  textFormat?: string; useValueForTime?: boolean; tagKeys?: string };
type LoosePartial<T> = T extends string ? `${T}` | T : T extends number ? T | number : T extends Array<infer U> ? Array<LoosePartial<U>>
  : T extends object ? { [K in keyof T]?: LoosePartial<T[K]> } : T;
"""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="module")
def tsc() -> Path:
    binary = SCHEMA_DIR / "node_modules" / ".bin" / "tsc"
    marker = SCHEMA_DIR / "installed.txt"
    if not binary.exists() or not marker.exists() or marker.read_text() != " ".join(PACKAGES):
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        (SCHEMA_DIR / "package.json").write_text('{"name": "agentwatch-grafana-schema", "private": true}')
        subprocess.run([tool("npm"), "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES],
                       cwd=SCHEMA_DIR, check=True, capture_output=True)
        marker.write_text(" ".join(PACKAGES))
    return binary


def typecheck(tsc: Path, source: str) -> subprocess.CompletedProcess:
    check = SCHEMA_DIR / f"check_{os.getpid()}.ts"
    check.write_text(source)
    try:
        return subprocess.run(
            [str(tsc), "--strict", "--noEmit", "--skipLibCheck", "--moduleResolution", "bundler", "--module", "esnext",
             "--target", "es2022", str(check)], cwd=SCHEMA_DIR, capture_output=True, text=True)
    finally:
        check.unlink()


def dashboard_source(boards: dict[str, dict]) -> str:
    lines = [PRELUDE]
    modules = {m for m, _ in PANEL_TYPES.values()}
    for kind, (module, _) in PANEL_TYPES.items():
        lines.append(f'import type * as {kind}Cfg from "@grafana/schema/dist/esm/raw/composable/{kind}/panelcfg/x/{module}";')
    assert modules
    for n, (uid, board) in enumerate(boards.items()):
        board = json.loads(json.dumps(board))
        queries = [a for a in board["annotations"]["list"] if "expr" in a]
        board["annotations"]["list"] = [a for a in board["annotations"]["list"] if "expr" not in a]
        lines.append(f"// {uid}\nexport const d{n}: Loose<Dashboard> = {json.dumps(board)};")
        lines.append(f"export const a{n}: PrometheusAnnotation[] = {json.dumps(queries)};")
        for i, panel in enumerate(board["panels"]):
            kind = panel["type"]
            assert kind in PANEL_TYPES, f"{uid}: panel type {kind} has no options check"
            _, has_field_config = PANEL_TYPES[kind]
            lines.append(f"export const o{n}_{i}: LoosePartial<{kind}Cfg.Options> = {json.dumps(panel['options'])};")
            custom = panel["fieldConfig"]["defaults"].get("custom")
            if custom is not None and has_field_config:
                lines.append(f"export const c{n}_{i}: LoosePartial<{kind}Cfg.FieldConfig> = {json.dumps(custom)};")
    return "\n".join(lines) + "\n"


def test_the_dashboards_type_check_against_grafana_schema(tsc):
    result = typecheck(tsc, dashboard_source(dashboards()))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("breakage", [
    lambda b: b["panels"][0].update(datsource={"uid": "x"}),
    lambda b: b["panels"][0].update(gridPos="oops"),
    lambda b: b["panels"][0]["fieldConfig"]["defaults"]["thresholds"].update(mode="relative"),
    lambda b: b.update(refresh=30),
    lambda b: b["panels"][0]["options"]["legend"].update(bogus=True),
    lambda b: b["panels"][0]["options"]["legend"].update(displayMode="fancy"),
])
def test_the_type_check_catches_broken_dashboards(tsc, breakage):
    board = json.loads(json.dumps(dashboards()["agentwatch-agent"]))
    board["panels"][0]["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": []}
    breakage(board)
    assert typecheck(tsc, dashboard_source({"broken": board})).returncode != 0


def test_the_unbroken_copy_used_above_passes(tsc):
    board = json.loads(json.dumps(dashboards()["agentwatch-agent"]))
    board["panels"][0]["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": []}
    result = typecheck(tsc, dashboard_source({"control": board}))
    assert result.returncode == 0, result.stdout


def test_every_query_parses(tmp_path):
    rules = [{"record": f"dashboard:query{i}", "expr": expr} for i, (_, _, expr) in enumerate(list(panel_queries()) + list(annotation_queries()))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def known_metrics() -> set[str]:
    names = set(re.findall(r"^\| `(agentwatch_\w+)`", (ROOT / "docs" / "metrics.md").read_text(), re.M))
    kinds = dict(re.findall(r"^\| `(agentwatch_\w+)` \| (\w+)", (ROOT / "docs" / "metrics.md").read_text(), re.M))
    for name, kind in kinds.items():
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    recording = yaml.safe_load((ROOT / "prometheus" / "rules" / "recording.yml").read_text())
    names |= {r["record"] for g in recording["groups"] for r in g["rules"]}
    return names | {"ALERTS", "up", "scrape_duration_seconds", "scrape_samples_scraped"}


def test_queries_name_only_exposed_metrics():
    known = known_metrics()
    functions = {"max", "min", "sum", "count", "avg", "rate", "increase", "time", "vector", "histogram_quantile", "changes",
                 "by", "on", "or", "and", "unless", "group_left", "le", "bool"}
    for uid, title, expr in list(panel_queries()) + list(annotation_queries()):
        stripped = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', "", expr)
        stripped = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
        for word in re.findall(r"[a-zA-Z_:][\w:]*", stripped):
            if word not in functions:
                assert word in known, f"{uid} / {title}: {word} is not an exposed metric or recording rule"


def test_panel_thresholds_are_the_alert_thresholds():
    build_dashboards.render()
    defaults = Thresholds()
    boards = dashboards()
    assert build_dashboards.THRESHOLD_PANELS
    for (uid, title), key in build_dashboards.THRESHOLD_PANELS.items():
        panel = next(p for p in boards[uid]["panels"] if p["title"] == title)
        values = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
        assert getattr(defaults, key) in values, (uid, title, key, values)


def test_the_committed_dashboards_are_the_generator_output():
    assert build_dashboards.main(["--check"]) == 0


def test_provisioning_and_links():
    prov = ROOT / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())
    assert ds["apiVersion"] == 1
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy" and source["uid"] == "agentwatch-prometheus"
    assert source["name"] and source["url"].startswith("http://")
    providers = yaml.safe_load((prov / "dashboards" / "agentwatch.yml").read_text())
    assert providers["apiVersion"] == 1
    assert [p["options"]["path"] for p in providers["providers"]] == ["/var/lib/grafana/dashboards"]
    assert all(p["type"] == "file" for p in providers["providers"])
    boards = dashboards()
    assert len(boards) == len(list((ROOT / "grafana" / "dashboards").glob("*.json"))), "duplicate uids"
    for uid, board in boards.items():
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (uid, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"], (uid, panel["title"])
    alerts = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())
    for rule in (r for g in alerts["groups"] for r in g["rules"] if "alert" in r):
        url = rule["annotations"].get("dashboard_url")
        if url:
            assert url.removeprefix("/d/") in boards, (rule["alert"], url)


def test_every_dashboard_has_variables_and_units():
    for uid, board in dashboards().items():
        assert board["templating"]["list"], uid
        for panel in board["panels"]:
            assert panel["fieldConfig"]["defaults"].get("unit"), (uid, panel["title"])
