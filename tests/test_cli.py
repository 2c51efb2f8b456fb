"""The command line: one parser per command, ``agentwatch help``, and the bundle shipped as package
data, so ``agentwatch rules`` works from any folder and from a wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from agentwatch import cli
from agentwatch.shipped import BUNDLE, RULES, RUNBOOKS

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentwatch", *argv], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_help_lists_every_command_with_its_line(capsys):
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    for name, line in cli.COMMANDS.items():
        assert re.search(rf"^  {re.escape(name)}\s+{re.escape(line)}$", out, re.M), name


@pytest.mark.parametrize("command", [c for c in cli.COMMANDS if c != "help"])
def test_each_command_shows_its_own_flags_with_defaults(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    own = capsys.readouterr().out
    assert own.startswith(f"usage: agentwatch {command}")
    parser = cli.command_parser(command)
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no description"
        flag = action.option_strings[0]
        assert flag in own
        if action.default not in (None, False):
            assert f"(default: {action.default})" in own.replace("\n", " ").replace("  ", " ") or str(action.default) in own, flag
    assert cli.main(["help", command]) == 0
    assert capsys.readouterr().out == own


def test_commands_do_not_take_each_others_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--window=14d"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --window=14d" in capsys.readouterr().err
    assert "--prometheus.listen-address" in "".join(a for action in cli.command_parser("stack")._actions for a in action.option_strings)
    assert "--demo.listen-address" not in "".join(a for action in cli.command_parser("serve")._actions for a in action.option_strings)


@pytest.mark.parametrize(
    ("argv", "command", "rest"),
    [
        ([], "serve", []),
        (["--config.file=x.yml"], "serve", ["--config.file=x.yml"]),
        (["--config.file=x.yml", "check-config"], "check-config", ["--config.file=x.yml"]),
        (["--config.file", "rules", "once"], "once", ["--config.file", "rules"]),  # a file named `rules`
        (["tune", "--write", "--config.file", "t.yml"], "tune", ["--write", "--config.file", "t.yml"]),
    ],
)
def test_the_command_may_stand_anywhere(argv, command, rest):
    assert cli.split_command(argv) == (command, rest)


def test_version_and_top_level_help():
    assert run("--version").stdout.strip().startswith("agentwatch ")
    top = run("--help")
    assert top.returncode == 0 and "commands:" in top.stdout and "stack" in top.stdout


def test_rules_work_outside_the_checkout(tmp_path):
    """From a folder with no prometheus/ in it, ``rules`` prints the shipped alerts with the links."""
    result = run("rules", "--runbook.base-url=http://aw.example:10133/runbooks", "--dashboard.base-url=http://g.example", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rules = [r for g in yaml.safe_load(result.stdout)["groups"] for r in g["rules"] if "alert" in r]
    assert len(rules) >= 18
    for rule in rules:
        assert rule["annotations"]["runbook_url"] == f"http://aw.example:10133/runbooks/{rule['alert']}"
        if "dashboard_url" in rule["annotations"]:
            assert rule["annotations"]["dashboard_url"].startswith("http://g.example/d/")


def test_rules_out_dir_writes_every_rule_file(tmp_path):
    out = tmp_path / "rules"
    assert cli.main(["rules", f"--out.dir={out}", "--runbook.base-url=http://aw.example/runbooks/"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in RULES.glob("*.yml"))
    assert (out / "recording.yml").read_text() == (RULES / "recording.yml").read_text()
    assert "runbook_url: http://aw.example/runbooks/AgentTaskStuck" in (out / "alerts.yml").read_text()


def test_rules_name_a_missing_file(tmp_path, capsys):
    assert cli.main(["rules", f"--rules.file={tmp_path / 'none.yml'}"]) == cli.EXIT_CONFIG
    assert "rules.file=" in capsys.readouterr().err


def test_the_shipped_bundle_is_the_checkout():
    """``agentwatch.shipped`` holds the checkout's own files: the same folders, file for file and byte
    for byte, whether the package is installed from the checkout (copies) or editable (the links)."""
    for folder, pattern in (
        ("prometheus", "*.yml"),
        ("prometheus/rules", "*.yml"),
        ("alertmanager", "*.yml"),
        ("alertmanager/templates", "*.tmpl"),
        ("deploy/demo", "*.yml"),
        ("docs/runbooks", "*.md"),
        ("grafana/dashboards", "*.json"),
    ):
        checkout = sorted((ROOT / folder).glob(pattern))
        assert checkout, folder
        assert [p.name for p in checkout] == sorted(p.name for p in (BUNDLE / folder).glob(pattern)), folder
        for path in checkout:
            assert (BUNDLE / folder / path.name).read_bytes() == path.read_bytes(), path
    assert RULES == BUNDLE / "prometheus" / "rules" and RUNBOOKS == BUNDLE / "docs" / "runbooks"


@pytest.mark.slow
def test_the_wheel_holds_the_bundle(tmp_path):
    """A wheel carries real copies of what ``shipped/`` links to: rules, routing, demo, runbooks, dashboards."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("agentwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"agentwatch/shipped/prometheus/rules/{p.name}" for p in RULES.glob("*.yml")}
    expected |= {f"agentwatch/shipped/docs/runbooks/{p.name}" for p in RUNBOOKS.glob("*.md")}
    expected |= {"agentwatch/shipped/prometheus/prometheus.yml", "agentwatch/shipped/alertmanager/alertmanager.yml"}
    expected |= {"agentwatch/shipped/alertmanager/templates/agentwatch.tmpl", "agentwatch/shipped/deploy/demo/canaries.yml"}
    expected |= {"agentwatch/shipped/grafana/dashboards/fleet.json"}
    assert expected <= names, sorted(expected - names)
    alerts = zipfile.ZipFile(wheel).read("agentwatch/shipped/prometheus/rules/alerts.yml").decode()
    assert alerts == (RULES / "alerts.yml").read_text()
