"""The Grafana bundle, validated offline (no Grafana can run here or in CI).

* Every dashboard type-checks with ``tsc`` against Grafana's own generated types (npm
  ``@grafana/schema``), and each panel's options against its panel type's types.
* Every query parses (``promtool check rules``) and names only metrics and labels agentwatch
  exposes (``docs/metrics.md``) or records (``prometheus/rules/recording.yml``).
* Panel thresholds are the alert threshold defaults of ``agentwatch.config.Thresholds``.
* The provisioning files, the datasource uid of every panel, and the alerts' ``dashboard_url``s agree.
* The committed JSON is what ``grafana/build_dashboards.py`` writes.

``tests/test_demo_stack.py`` runs every panel query against a real Prometheus.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentwatch.config import Thresholds
from agentwatch.stack.bundle import DEFAULT_DASHBOARD_BASE
from harness.dashboards import annotation_queries, dashboards, panel_queries, substitute, variable_queries
from harness.tools import tool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "grafana"))
import build_dashboards  # noqa: E402

DS_UID = "agentwatch-prometheus"
SCHEMA_DIR = Path(os.environ.get("AGENTWATCH_GRAFANA_SCHEMA_DIR", "/var/tmp/agentwatch-grafana-schema"))
PACKAGES = ["typescript@7.0.2", "@grafana/schema@13.2.3"]
PANEL_CFG = {  # panel type -> module of its composable types (Options; FieldConfig where the type has one)
    "timeseries": ("TimeSeriesPanelCfg_types.gen", True),
    "stat": ("StatPanelCfg_types.gen", False),
    "gauge": ("GaugePanelCfg_types.gen", False),
    "bargauge": ("BarGaugePanelCfg_types.gen", False),
    "table": ("TablePanelCfg_types.gen", True),
    "heatmap": ("HeatmapPanelCfg_types.gen", True),
}
# The generated types declare enum-typed fields as TS enums, which string literals from JSON do not
# satisfy; Loose<T> accepts exactly the enum's values instead and is otherwise T (excess-property
# checks included). LoosePartial<T> also makes every key optional: Grafana fills panel option defaults.
PRELUDE = """import type { AnnotationQuery, Dashboard } from "@grafana/schema";
type Loose<T> = T extends string ? `${T}` | T : T extends number ? T | number : T extends Array<infer U> ? Array<Loose<U>>
  : T extends object ? { [K in keyof T]: Loose<T[K]> } : T;
type LoosePartial<T> = T extends string ? `${T}` | T : T extends number ? T | number : T extends Array<infer U> ? Array<LoosePartial<U>>
  : T extends object ? { [K in keyof T]?: LoosePartial<T[K]> } : T;
// Prometheus annotations keep their query at the top level (the schema only types the built-in kind's `target`)
type PrometheusAnnotation = Omit<Loose<AnnotationQuery>, "target"> & { expr: string; step?: string; titleFormat?: string;
  textFormat?: string; useValueForTime?: boolean; tagKeys?: string };
"""

# (dashboard uid, panel title) -> {colour of a threshold step: the Thresholds key it must equal, or a number}.
# Written out here, not taken from the generator, so that a panel losing its threshold fails.
THRESHOLD_PANELS = {
    ("agentwatch-fleet", "Stuck: oldest in-progress task / usual duration"): {"red": "stuck_factor"},
    ("agentwatch-fleet", "Heartbeat: time since last run / interval"): {"red": "heartbeat_missed_factor"},
    ("agentwatch-fleet", "Budget burn: spend rate / expected"): {"red": "burn_spike_factor"},
    ("agentwatch-fleet", "Budget used this month"): {"yellow": "budget_soft_ratio", "red": 1.0},
    ("agentwatch-agent", "Heartbeat: time since last run / interval"): {"red": "heartbeat_missed_factor"},
    ("agentwatch-agent", "Failed runs in a row"): {"red": "runs_failing_consecutive"},
    ("agentwatch-agent", "Runs failing (1 h)"): {"red": "runs_failure_ratio"},
    ("agentwatch-agent", "Monthly budget used"): {"yellow": "budget_soft_ratio", "red": 1.0},
    ("agentwatch-agent", "Runs without progress (most on one task)"): {"red": "loop_min_calls"},
    ("agentwatch-agent", "Context: latest prompt / model window"): {"red": "context_ratio"},
    ("agentwatch-agent", "Context growth on the current task"): {"red": "context_growth"},
    ("agentwatch-tasks", "Stuck: oldest in-progress task / usual duration"): {"red": "stuck_factor"},
    ("agentwatch-tasks", "Oldest stalled chain"): {"red": "deadlock_min_age"},
    ("agentwatch-cost", "Burn: spend rate / expected"): {"red": "burn_spike_factor"},
    ("agentwatch-cost", "Budget used this month"): {"yellow": "budget_soft_ratio", "red": 1.0},
    ("agentwatch-cost", "Budget policies: used"): {"yellow": "budget_soft_ratio", "red": 1.0},
    ("agentwatch-quality", "Pass-ratio drop since the model change"): {"red": "model_quality_drop"},
    ("agentwatch-quality", "Failures in a row"): {"red": "canary_consecutive_failures"},
    ("agentwatch-self", "Data age"): {"red": "stale_data_age"},
}
UNITS = {"s", "currencyUSD", "percentunit", "short", "x", "none", "bool_yes_no"}
BUILTIN_METRICS = {"ALERTS", "up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {  # functions, aggregations and keywords the dashboards use
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "rate",
    "increase",
    "changes",
    "time",
    "vector",
    "histogram_quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
}


# -- tools -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tsc() -> Path:
    """typescript and @grafana/schema, pinned, installed once into a cache outside the repository."""
    tool("node")
    binary = SCHEMA_DIR / "node_modules" / ".bin" / "tsc"
    marker = SCHEMA_DIR / "installed.txt"
    if not binary.exists() or not marker.exists() or marker.read_text() != " ".join(PACKAGES):
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [tool("npm"), "install", "--prefix", str(SCHEMA_DIR), "--no-audit", "--no-fund", "--loglevel=error", "--save-exact", *PACKAGES],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"npm install {' '.join(PACKAGES)} failed:\n{result.stdout}{result.stderr}"
        marker.write_text(" ".join(PACKAGES))
    return binary


def typecheck(tsc: Path, source: str) -> subprocess.CompletedProcess:
    check = SCHEMA_DIR / f"check_{os.getpid()}.ts"
    check.write_text(source)
    try:
        return subprocess.run(
            [
                str(tsc),
                "--strict",
                "--noEmit",
                "--skipLibCheck",
                "--moduleResolution",
                "bundler",
                "--module",
                "esnext",
                "--target",
                "es2022",
                str(check),
            ],
            cwd=SCHEMA_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        check.unlink()


def typescript_source(boards: dict[str, dict]) -> str:
    """``export const d: Dashboard = <json>`` per dashboard, and each panel's options and custom field config
    against its panel type's types; object literals, so unknown keys are errors."""
    lines = [PRELUDE]
    for kind, (module, _) in PANEL_CFG.items():
        lines.append(f'import type * as {kind}Cfg from "@grafana/schema/dist/esm/raw/composable/{kind}/panelcfg/x/{module}";')
    for n, (uid, board) in enumerate(boards.items()):
        board = json.loads(json.dumps(board))
        annotations = board["annotations"]["list"]
        board["annotations"]["list"] = [a for a in annotations if "expr" not in a]
        lines.append(f"// {uid}\nexport const d{n}: Loose<Dashboard> = {json.dumps(board)};")
        lines.append(f"export const a{n}: PrometheusAnnotation[] = {json.dumps([a for a in annotations if 'expr' in a])};")
        for i, panel in enumerate(board["panels"]):
            kind = panel["type"]
            if kind not in PANEL_CFG:  # test_dashboard_conventions requires every type to be listed
                continue
            module, has_field_config = PANEL_CFG[kind]
            lines.append(f"export const o{n}_{i}: LoosePartial<{kind}Cfg.Options> = {json.dumps(panel['options'])};")
            custom = panel["fieldConfig"]["defaults"].get("custom")
            if custom is not None:
                assert has_field_config, f"{uid} / {panel['title']}: {kind} panels have no custom field config"
                lines.append(f"export const c{n}_{i}: LoosePartial<{kind}Cfg.FieldConfig> = {json.dumps(custom)};")
    return "\n".join(lines) + "\n"


# -- schema ----------------------------------------------------------------------------------------


def test_the_dashboards_type_check_against_grafana_schema(tsc):
    result = typecheck(tsc, typescript_source(dashboards()))
    assert result.returncode == 0, result.stdout + result.stderr


def _first(kind: str):
    def pick(board: dict) -> dict:
        return next(p for p in board["panels"] if p["type"] == kind)

    return pick


BREAKAGES = {  # a broken copy of the Agent dashboard -> the key tsc must point at, and what it must say
    "unknown panel key": (lambda b: b["panels"][0].update(datsource={"uid": "x"}), "datsource", "does not exist"),
    "gridPos not an object": (lambda b: b["panels"][0].update(gridPos="oops"), "gridPos", "Type 'string' is not assignable"),
    "panel type a number": (lambda b: b["panels"][0].update(type=5), "type", "Type 'number' is not assignable"),
    "refresh a number": (lambda b: b.update(refresh=30), "refresh", "Type 'number' is not assignable"),
    "unknown dashboard key": (lambda b: b.update(titel="x"), "titel", "does not exist"),
    "threshold mode": (lambda b: _first("stat")(b)["fieldConfig"]["defaults"]["thresholds"].update(mode="relative"), "mode", '"relative"'),
    "variable type": (lambda b: b["templating"]["list"][0].update(type="dropdown"), "type", '"dropdown"'),
    "timeseries legend key": (lambda b: _first("timeseries")(b)["options"]["legend"].update(bogus=True), "bogus", "does not exist"),
    "timeseries legend mode": (
        lambda b: _first("timeseries")(b)["options"]["legend"].update(displayMode="fancy"),
        "displayMode",
        '"fancy"',
    ),
    "timeseries line width": (
        lambda b: _first("timeseries")(b)["fieldConfig"]["defaults"]["custom"].update(lineWidth="thick"),
        "lineWidth",
        "Type 'string' is not assignable",
    ),
    "stat colour mode": (lambda b: _first("stat")(b)["options"].update(colorMode="rainbow"), "colorMode", '"rainbow"'),
    "bargauge option": (lambda b: _first("bargauge")(b)["options"].update(displayModee="lcd"), "displayModee", "does not exist"),
}


@pytest.mark.parametrize("name", BREAKAGES)
def test_the_type_check_catches_broken_dashboards(tsc, name):
    breakage, key, message = BREAKAGES[name]
    board = json.loads(json.dumps(dashboards()["agentwatch-agent"]))
    breakage(board)
    source = typescript_source({"broken": board})
    result = typecheck(tsc, source)
    assert result.returncode != 0, name
    errors = re.findall(r"\.ts\((\d+),(\d+)\): error TS\d+: (.*)", result.stdout)
    assert len(errors) == 1, result.stdout
    line, column, text = errors[0]
    assert source.splitlines()[int(line) - 1][int(column) - 1 :].startswith(f'"{key}"'), f"error not at {key}: {result.stdout}"
    assert message in text, result.stdout


# -- queries ---------------------------------------------------------------------------------------


def all_queries() -> list[tuple[str, str, str]]:
    selectors = [(uid, f"variable {name}", selector) for uid, name, selector, _ in variable_queries()]
    return list(panel_queries()) + list(annotation_queries()) + selectors


@pytest.mark.prometheus
def test_every_query_parses(tmp_path):
    queries = all_queries()
    assert len(queries) > 60
    rules = [{"record": f"dashboard:query{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_the_syntax_check_bites(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(rate(x[5m])"}]}]}))
    assert subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True).returncode != 0


def exposed() -> dict[str, set[str]]:
    """Metric name -> its labels: docs/metrics.md, histogram series, recording rules, Prometheus' own."""
    metrics: dict[str, set[str]] = {}
    for name, kind, labels in re.findall(
        r"^\| `(agentwatch_\w+)` \| (\w+) \| ([^|]*) \|", (ROOT / "docs" / "metrics.md").read_text(), re.M
    ):
        labels = {label.strip() for label in labels.split(",") if label.strip()}
        metrics[name] = labels
        if kind == "histogram":
            metrics.update({f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels, f"{name}_count": labels})
    recording = yaml.safe_load((ROOT / "prometheus" / "rules" / "recording.yml").read_text())
    for rule in (r for g in recording["groups"] for r in g["rules"]):
        grouping = re.search(r"\bby\s*\(([^)]*)\)", rule["expr"])
        if grouping:
            metrics[rule["record"]] = {label.strip() for label in grouping.group(1).split(",")}
        else:  # avg_over_time(other_rule[7d]) keeps the other rule's labels
            metrics[rule["record"]] = metrics[re.search(r"\(([\w:]+)\[", rule["expr"]).group(1)]
    metrics.update(
        {
            "up": {"job", "instance"},
            "scrape_duration_seconds": {"job", "instance"},
            "scrape_samples_scraped": {"job", "instance"},
            "ALERTS": set(),
        }
    )
    return metrics


def metrics_and_labels(expr: str) -> tuple[set[str], set[str], set[str]]:
    """(metric names, labels in selectors, labels in by/on/ignoring clauses) of a PromQL expression."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    selector_labels = {label for body in re.findall(r"\{([^}]*)\}", bare) for label in re.findall(r"(\w+)\s*[!=]~?", body)}
    clause_labels = {
        label.strip()
        for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", bare)
        for label in body.split(",")
        if label.strip()
    }
    words = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = {w for w in re.findall(r"(?<![\w.])[a-zA-Z_:][\w:]*", words) if w not in PROMQL_WORDS}
    return names, selector_labels, clause_labels


def test_queries_name_only_exposed_metrics_and_labels():
    known = exposed()
    assert {"agentwatch_up", "agentwatch_agent_task_duration_seconds_bucket", "agent:agentwatch_task_duration_seconds:baseline"} <= set(
        known
    )
    legends = {
        (uid, p["title"], substitute(t["expr"])): set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
        for uid, board in dashboards().items()
        for p in board["panels"]
        for t in p["targets"]
    }
    for uid, title, expr in all_queries():
        names, selector_labels, clause_labels = metrics_and_labels(expr)
        assert names, f"{uid} / {title}: no metric in {expr}"
        unknown = names - set(known)
        assert not unknown, f"{uid} / {title}: {sorted(unknown)} not in docs/metrics.md, the recording rules or Prometheus' own"
        if "ALERTS" in names:
            continue  # carries the alerts' labels
        available = set().union(*(known[n] for n in names))
        for label in selector_labels | clause_labels | legends.get((uid, title, expr), set()):
            assert label in available, f"{uid} / {title}: label {label!r} is on none of {sorted(names)}"


def test_the_metric_check_bites():
    names, selector_labels, clause_labels = metrics_and_labels(
        'sum by (agnet) (rate(agentwatch_agent_runs_totl{source=~"$source",stauts="x"}[5m])) / on(source) agentwatch_up'
    )
    assert names == {"agentwatch_agent_runs_totl", "agentwatch_up"}
    assert selector_labels == {"source", "stauts"} and clause_labels == {"agnet", "source"}
    assert "agentwatch_agent_runs_totl" not in exposed()


def test_substitution():
    assert (
        substitute('rate(x{a=~"$agent",m=~"${model:regex}",s=~"${source}"}[$__rate_interval])', "1m")
        == 'rate(x{a=~".*",m=~".*",s=~".*"}[1m])'
    )
    assert substitute("increase(x[$__interval]) + increase(x[${__range}])") == "increase(x[5m]) + increase(x[5m])"


def test_variables_and_ranges():
    for uid, board in dashboards().items():
        defined = {v["name"] for v in board["templating"]["list"]}
        assert {"source"} <= defined, uid
        for var in board["templating"]["list"]:
            assert var["type"] == "query" and var["datasource"]["uid"] == DS_UID, (uid, var["name"])
            assert var["multi"] and var["includeAll"] and var["allValue"] == ".*", (uid, var["name"])
            assert var["query"]["query"].startswith("label_values("), (uid, var["name"])
        exprs = [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
        exprs += [(a["name"], a["expr"]) for a in board["annotations"]["list"] if "expr" in a]
        exprs += [(v["name"], v["query"]["query"]) for v in board["templating"]["list"]]
        for title, expr in exprs:
            for name in re.findall(r"\$\{?(\w+)", expr):
                assert name.startswith("__") or name in defined, f"{uid} / {title}: ${name} is not a variable of the dashboard"
            for match in re.finditer(r'(\w+)\s*(!?[=~]+)\s*"\$\{?(\w+)', expr):
                assert match.group(2) == "=~", f"{uid} / {title}: {match.group(0)} (multi-value variables need =~)"
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", f"{uid} / {title}: range [{window}]; use [$__rate_interval] (or a recording rule)"


# -- thresholds ------------------------------------------------------------------------------------


def test_panel_thresholds_are_the_alert_thresholds():
    defaults = Thresholds()
    boards = dashboards()
    for (uid, title), expected in THRESHOLD_PANELS.items():
        panel = next((p for p in boards[uid]["panels"] if p["title"] == title), None)
        assert panel is not None, f"{uid}: no panel {title!r}"
        steps = {s["color"]: s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]}
        for colour, key in expected.items():
            value = getattr(defaults, key) if isinstance(key, str) else key
            assert steps.get(colour) == value, f"{uid} / {title}: {colour} step {steps.get(colour)}, want {key} = {value}"


def test_every_threshold_panel_is_checked_here():
    build_dashboards.render()
    keys = {panel: {c: k for c, k in steps.items() if isinstance(k, str)} for panel, steps in build_dashboards.THRESHOLD_PANELS.items()}
    assert keys == {panel: {c: k for c, k in steps.items() if isinstance(k, str)} for panel, steps in THRESHOLD_PANELS.items()}


def test_the_generator_reads_the_config_defaults():
    assert build_dashboards.threshold_defaults() == Thresholds().model_dump()


def test_the_generator_needs_only_the_standard_library():
    tree = ast.parse((ROOT / "grafana" / "build_dashboards.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported - sys.stdlib_module_names


def test_the_committed_dashboards_are_the_generator_output():
    files = build_dashboards.render()
    committed = {p.name: p.read_text() for p in (ROOT / "grafana" / "dashboards").glob("*.json")}
    assert set(committed) == set(files), "run python grafana/build_dashboards.py"
    for name, text in files.items():
        assert committed[name] == text, f"{name} differs from the generator; run python grafana/build_dashboards.py"


# -- dashboards, provisioning, links ---------------------------------------------------------------


def test_dashboard_conventions():
    boards = dashboards()
    assert set(boards) == {
        "agentwatch-fleet",
        "agentwatch-agent",
        "agentwatch-tasks",
        "agentwatch-cost",
        "agentwatch-quality",
        "agentwatch-self",
    }
    for uid, board in boards.items():
        assert board["refresh"] == "30s" and board["time"]["from"] == "now-6h", uid
        assert 39 <= board["schemaVersion"] <= 41, uid
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), f"{uid}: repeated panel ids"
        cells: dict[tuple[int, int], str] = {}
        for panel in board["panels"]:
            where = f"{uid} / {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": DS_UID}, where
            assert panel["targets"] and all(t["datasource"]["uid"] == DS_UID for t in panel["targets"]), where
            assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, where
            assert panel["type"] in PANEL_CFG, f"{where}: add {panel['type']} to PANEL_CFG so its options are type-checked"
            g = panel["gridPos"]
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, where
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{where} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]
        for annotation in board["annotations"]["list"]:
            assert annotation["datasource"]["uid"] in (DS_UID, "-- Grafana --"), uid
    fleet = boards["agentwatch-fleet"]
    assert any(t["expr"] == 'ALERTS{alertstate="firing"}' for p in fleet["panels"] if p["type"] == "table" for t in p["targets"])
    (change,) = boards["agentwatch-quality"]["annotations"]["list"][1:]
    # the value is the time of the change: milliseconds for Grafana's "series value as timestamp"
    assert change["useValueForTime"] and "agentwatch_agent_model_change_timestamp_seconds" in change["expr"]
    assert change["expr"].endswith("* 1000")


def test_provisioning():
    prov = ROOT / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())
    assert ds["apiVersion"] == 1
    (source,) = ds["datasources"]
    assert {k: source[k] for k in ("name", "type", "uid", "access", "url", "isDefault")} == {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": DS_UID,
        "access": "proxy",
        "url": "http://prometheus:9090",
        "isDefault": True,
    }
    providers = yaml.safe_load((prov / "dashboards" / "agentwatch.yml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["folder"] == "agentwatch" and provider["name"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_every_alert_links_to_a_dashboard():
    boards = dashboards()
    alerts = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())
    rules = [r for g in alerts["groups"] for r in g["rules"] if "alert" in r]
    assert len(rules) >= 18
    for rule in rules:
        url = rule["annotations"]["dashboard_url"].removeprefix(DEFAULT_DASHBOARD_BASE)
        assert url.startswith("/d/") and url.removeprefix("/d/") in boards, (rule["alert"], url)
