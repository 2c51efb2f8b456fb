"""The Kubernetes manifests (deploy/kubernetes/), checked offline as the API server and the operator would.

* The core resources pass ``kubernetes-validate`` in strict mode (unknown fields fail) for the newest
  Kubernetes it ships; the ServiceMonitor and the PrometheusRule pass the Prometheus Operator's own CRD
  schema (vendored in deploy/kubernetes/schemas/), unknown fields failing there too.
* The generated files (PrometheusRule, dashboards, Alertmanager example) are what ``build.py`` writes
  today, and carry the shipped rules, dashboards and routing unchanged but for links and paths.
* The rules pass ``promtool``, the Alertmanager example ``amtool``, the ConfigMap's agentwatch.yml
  ``agentwatch check-config``.
* The pieces fit: the Service selects the pods, the ServiceMonitor the Service, the config file and
  token sit where the Deployment mounts them, and the security context is the one the issue asks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from agentwatch import __version__
from harness.tools import tool

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
SCHEMAS = K8S / "schemas"
BUILD = ["deploy/kubernetes/build.py"]


def _load_build() -> ModuleType:
    """deploy/kubernetes/build.py under a name of its own (``build`` is also a PyPI package's)."""
    spec = importlib.util.spec_from_file_location("kubernetes_build", K8S / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load_build()

KUBERNETES_VERSION = "1.37"  # the newest kubernetes-validate 1.37.0 ships
GENERATED = ("prometheusrule.yaml", "dashboards.yaml", "alertmanager-config.yaml")
EXAMPLES = {"alertmanager-config.yaml"}  # YAML in the folder that kustomization.yaml leaves out on purpose
CLIENT_SIDE_APPLY_LIMIT = 262144  # bytes of annotations: `kubectl apply` keeps the whole object in one


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def one(name: str, kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents(name) if d["kind"] == kind]
    return doc


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    return c


def shipped_rules() -> list[dict[str, Any]]:
    return [g for path in build.RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]]


# -- the generated files -------------------------------------------------------------------------


def test_generated_files_are_what_build_py_writes(tmp_path):
    result = subprocess.run([sys.executable, *BUILD, f"--out.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    drifted = [name for name in GENERATED if (tmp_path / name).read_bytes() != (K8S / name).read_bytes()]
    assert not drifted, f"{', '.join(drifted)} out of date with the bundle: run `python deploy/kubernetes/build.py` and commit the result"


def test_check_flag_finds_a_stale_file(tmp_path):
    for name in GENERATED:
        (tmp_path / name).write_bytes((K8S / name).read_bytes())
    assert subprocess.run([sys.executable, *BUILD, "--check", f"--out.dir={tmp_path}"], cwd=ROOT).returncode == 0
    (tmp_path / "prometheusrule.yaml").write_text((K8S / "prometheusrule.yaml").read_text().replace("for: 10m", "for: 11m", 1))
    result = subprocess.run([sys.executable, *BUILD, "--check", f"--out.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert "prometheusrule.yaml" in result.stderr and "python deploy/kubernetes/build.py" in result.stderr


def rules_by_name(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r.get("alert") or r["record"]: r for g in groups for r in g["rules"]}


def without_links(rule: dict[str, Any]) -> dict[str, Any]:
    annotations = {k: v for k, v in rule.get("annotations", {}).items() if k not in ("runbook_url", "dashboard_url")}
    return {**rule, "annotations": annotations}


def test_prometheus_rule_holds_exactly_the_shipped_rules():
    spec_groups = one("prometheusrule.yaml", "PrometheusRule")["spec"]["groups"]
    shipped = shipped_rules()
    assert [(g["name"], g.get("interval")) for g in spec_groups] == [(g["name"], g.get("interval")) for g in shipped]
    ours, theirs = rules_by_name(spec_groups), rules_by_name(shipped)
    assert sorted(ours) == sorted(theirs)
    assert {n: r["expr"] for n, r in ours.items()} == {n: r["expr"] for n, r in theirs.items()}
    assert {n: without_links(r) for n, r in ours.items()} == {n: without_links(r) for n, r in theirs.items()}


def alert_links(groups: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {r["alert"]: r.get("annotations", {}) for g in groups for r in g["rules"] if "alert" in r}


def links_in(prometheus_rule: str) -> dict[str, dict[str, str]]:
    return alert_links(yaml.safe_load(prometheus_rule)["spec"]["groups"])


def test_alert_links_use_the_bases_given():
    """The committed file has the documented placeholders; the flags put any other base in, whatever base the rules ship with."""
    committed = links_in((K8S / "prometheusrule.yaml").read_text())
    custom = links_in(build.build("https://runbooks.example.com/agentwatch", "https://grafana.example.com/")["prometheusrule.yaml"])
    shipped = alert_links(shipped_rules())
    for alert, links in shipped.items():
        assert committed[alert]["runbook_url"].startswith(build.RUNBOOK_BASE), alert
        assert alert in committed[alert]["runbook_url"]
        assert custom[alert]["runbook_url"].startswith("https://runbooks.example.com/agentwatch/"), alert
        assert custom[alert]["runbook_url"].endswith(links["runbook_url"].rsplit("/", 1)[1])
        if "dashboard_url" in links:
            uid_path = links["dashboard_url"][links["dashboard_url"].index("/d/") :]
            assert committed[alert]["dashboard_url"] == build.DASHBOARD_BASE + uid_path
            assert custom[alert]["dashboard_url"] == "https://grafana.example.com" + uid_path


def test_the_build_refuses_links_it_could_not_rebase(monkeypatch):
    monkeypatch.setattr(build, "with_links", lambda text, runbook_base, dashboard_base: text)
    with pytest.raises(build.BuildError, match="with_links"):
        build.prometheus_rule("https://runbooks.example.com/", "https://grafana.example.com")


def test_one_labelled_config_map_per_dashboard():
    maps = {d["metadata"]["name"]: d for d in documents("dashboards.yaml")}
    files = sorted(build.DASHBOARDS.glob("*.json"))
    assert sorted(maps) == [f"agentwatch-dashboard-{p.stem}" for p in files]
    for path in files:
        cm = maps[f"agentwatch-dashboard-{path.stem}"]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["data"] == {f"agentwatch-{path.name}": path.read_text()}


def datasource_uids(node: Any) -> set[str]:
    """The uids of every Prometheus datasource a dashboard names, panels, targets, variables and annotations alike."""
    if isinstance(node, list):
        return set().union(*(datasource_uids(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    source = node.get("datasource")
    own = {source["uid"]} if isinstance(source, dict) and source.get("type") == "prometheus" else set()  # not Grafana's own
    return own.union(*(datasource_uids(v) for v in node.values()))


def test_dashboards_name_the_provisioned_datasource_or_the_one_asked_for():
    shipped_uid = yaml.safe_load(build.DATASOURCES.read_text())["datasources"][0]["uid"]
    committed = [json.loads(v) for d in documents("dashboards.yaml") for v in d["data"].values()]
    assert datasource_uids(committed) == {shipped_uid}
    rebuilt = [
        json.loads(v) for d in yaml.safe_load_all(build.build(datasource_uid="prometheus")["dashboards.yaml"]) for v in d["data"].values()
    ]
    assert datasource_uids(rebuilt) == {"prometheus"}


def test_alertmanager_example_routes_as_the_shipped_config():
    secret = one("alertmanager-config.yaml", "Secret")
    ours = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    shipped = yaml.safe_load(build.ALERTMANAGER.read_text())
    assert ours["route"] == shipped["route"]
    assert ours["inhibit_rules"] == shipped["inhibit_rules"]
    assert [r["name"] for r in ours["receivers"]] == [r["name"] for r in shipped["receivers"]]
    assert ours["templates"] == ["/etc/alertmanager/config/*.tmpl"]
    templates = {p.name: p.read_text() for p in build.TEMPLATES.glob("*.tmpl")}
    assert {k: v for k, v in secret["stringData"].items() if k != "alertmanager.yaml"} == templates


# -- schemas ---------------------------------------------------------------------------------------


def core_resources() -> list[tuple[str, dict[str, Any]]]:
    names = ["deployment.yaml", "service.yaml", "configmap.yaml", "dashboards.yaml", "alertmanager-config.yaml"]
    return [(f"{name}:{doc['kind']}/{doc['metadata']['name']}", doc) for name in names for doc in documents(name)]


@pytest.mark.parametrize("doc", [d for _, d in core_resources()], ids=[i for i, _ in core_resources()])
def test_core_resources_pass_kubernetes_validate(doc):
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_kubernetes_validate_catches_a_misspelt_field():
    deployment = one("deployment.yaml", "Deployment")
    container(deployment)["securityContext"]["readOnlyRootFileSystem"] = True  # the real field ends in Filesystem
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def crd_schema(plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((SCHEMAS / f"monitoring.coreos.com_{plural}.yaml").read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def unknown_fields(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare: the API server prunes them silently (or refuses them with
    strict field validation), and JSON Schema lets them through, so a misspelt field would pass."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(instance, list) and "items" in schema:
        return [f for i, item in enumerate(instance) for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    if not isinstance(instance, dict) or "properties" not in schema:
        return []
    found = []
    for key, value in instance.items():
        if key in schema["properties"]:
            found += unknown_fields(value, schema["properties"][key], f"{path}.{key}")
        elif not schema.get("additionalProperties"):
            found.append(f"{path}.{key}")
    return found


def crd_errors(doc: dict[str, Any], plural: str) -> list[str]:
    schema = crd_schema(plural)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    return errors + [f"{f}: not in the schema" for f in unknown_fields(doc, schema)]


@pytest.mark.parametrize(
    ("name", "kind", "plural"),
    [("servicemonitor.yaml", "ServiceMonitor", "servicemonitors"), ("prometheusrule.yaml", "PrometheusRule", "prometheusrules")],
)
def test_operator_resources_pass_the_crd_schema(name, kind, plural):
    doc = one(name, kind)
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert crd_errors(doc, plural) == []


def test_the_crd_schema_catches_a_bad_interval_and_a_misspelt_field():
    monitor = one("servicemonitor.yaml", "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    monitor["spec"]["endpoints"][0]["scrapeTimout"] = "10s"
    errors = crd_errors(monitor, "servicemonitors")
    assert any(e.startswith("spec.endpoints.0.interval") for e in errors), errors
    assert ".spec.endpoints[0].scrapeTimout: not in the schema" in errors


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_vendored_crds_are_the_files_their_readme_names():
    readme = (SCHEMAS / "README.md").read_text()
    table = dict(re.findall(r"^\| `(monitoring\.coreos\.com_\w+\.yaml)` \| `[^`]+` \| `([0-9a-f]{40})` \|$", readme, re.M))
    assert sorted(table) == sorted(p.name for p in SCHEMAS.glob("*.yaml"))
    assert {name: git_blob_sha((SCHEMAS / name).read_bytes()) for name in table} == table
    assert "prometheus-operator/prometheus-operator" in readme and "v0.93.0" in readme


def test_every_object_fits_a_client_side_apply():
    for name in kustomization()["resources"]:
        for doc in documents(name):
            assert len(json.dumps(doc)) < CLIENT_SIDE_APPLY_LIMIT, f"{name}: {doc['metadata']['name']}"


# -- how the pieces fit ----------------------------------------------------------------------------


def test_kustomization_lists_every_resource_and_only_files_that_exist():
    listed = kustomization()["resources"]
    assert all((K8S / name).is_file() for name in listed), listed
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert present - set(listed) == EXAMPLES
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    assert all(example in docs for example in EXAMPLES)


def test_deployment_runs_locked_down_with_real_probes():
    deployment = one("deployment.yaml", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    uid = int(re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert (sc["runAsNonRoot"], sc["runAsUser"], sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"]) == (True, uid, True, False)
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http-metrics"}
    assert set(c["resources"]) == {"requests", "limits"} and all(set(v) == {"cpu", "memory"} for v in c["resources"].values())
    assert c["image"] == f"agentwatch:{__version__}"
    assert c["ports"] == [{"name": "http-metrics", "containerPort": 10133, "protocol": "TCP"}]
    assert c["args"] == ["serve", "--web.listen-address=0.0.0.0:10133", "--config.file=/etc/agentwatch/agentwatch.yml"]
    assert c["command"] == ["agentwatch"]  # the image's entrypoint would append the demo's --config.file


def test_config_and_token_sit_where_the_deployment_mounts_them():
    deployment = one("deployment.yaml", "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    config_map = one("configmap.yaml", "ConfigMap")
    [config_volume] = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == config_map["metadata"]["name"]]
    assert f"{mounts[config_volume]}/agentwatch.yml" == "/etc/agentwatch/agentwatch.yml"
    assert list(config_map["data"]) == ["agentwatch.yml"]
    [secret_volume] = [n for n, v in volumes.items() if "secret" in v]
    assert volumes[secret_volume]["secret"]["secretName"] == "agentwatch-paperclip-token"
    assert volumes[secret_volume]["secret"]["optional"] is False
    [source] = yaml.safe_load(config_map["data"]["agentwatch.yml"])["sources"]
    assert source["token_file"] == f"{mounts[secret_volume]}/token"  # the key `kubectl create secret --from-file=token=...` makes
    assert ".svc" in source["url"]


def test_service_and_service_monitor_reach_the_pods():
    deployment, service = one("deployment.yaml", "Deployment"), one("service.yaml", "Service")
    monitor = one("servicemonitor.yaml", "ServiceMonitor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert port["name"] == port["targetPort"] == "http-metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["interval"]) == ("http-metrics", "30s")


def test_operator_resources_carry_the_selector_labels():
    for name, kind in (("servicemonitor.yaml", "ServiceMonitor"), ("prometheusrule.yaml", "PrometheusRule")):
        labels = one(name, kind)["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "agentwatch"
        assert labels["release"] == build.SELECTOR_LABELS["release"], name


def test_configmap_config_passes_check_config(tmp_path):
    settings = yaml.safe_load(one("configmap.yaml", "ConfigMap")["data"]["agentwatch.yml"])
    missing = tmp_path / "missing.yml"
    missing.write_text(yaml.safe_dump({**settings, "sources": [{**settings["sources"][0], "token_file": str(tmp_path / "no-token")}]}))
    token = tmp_path / "token"
    token.write_text("pcp_board_example\n")
    config = tmp_path / "agentwatch.yml"
    config.write_text(yaml.safe_dump({**settings, "sources": [{**settings["sources"][0], "token_file": str(token)}]}))

    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agentwatch", "check-config", f"--config.file={path}"], capture_output=True, text=True)

    result = check(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert check(missing).returncode != 0  # the check reads the token file: the passing run above is not vacuous


# -- real tools --------------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_prometheus_rule_spec_passes_promtool(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": one("prometheusrule.yaml", "PrometheusRule")["spec"]["groups"]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in shipped_rules())} rules found" in result.stdout


@pytest.mark.prometheus
def test_alertmanager_example_passes_amtool(tmp_path):
    """The Secret's files land in /etc/alertmanager/config/ under the operator; here in a folder of their own."""
    files = one("alertmanager-config.yaml", "Secret")["stringData"]
    for name, text in files.items():
        (tmp_path / name).write_text(text.replace("/etc/alertmanager/config/", f"{tmp_path}/"))
    result = subprocess.run([tool("amtool"), "check-config", str(tmp_path / "alertmanager.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(files) - 1} templates" in result.stdout
