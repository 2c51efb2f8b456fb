"""The scale-out examples in deploy/scale pass promtool, amtool and agentwatch's own check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.tools import tool

ROOT = Path(__file__).resolve().parents[1]
SCALE = ROOT / "deploy" / "scale"


@pytest.mark.prometheus
def test_the_sharded_prometheus_config_is_valid(tmp_path):
    shutil.copy(SCALE / "prometheus-sharded.yml", tmp_path / "prometheus.yml")
    shutil.copytree(ROOT / "prometheus" / "rules", tmp_path / "rules")
    result = subprocess.run([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_the_alertmanager_config_for_the_ha_cluster_is_valid():
    result = subprocess.run(
        [tool("amtool"), "check-config", str(ROOT / "alertmanager" / "alertmanager.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("shard", sorted(p.name for p in SCALE.glob("agentwatch-*.yml")))
def test_the_shard_configs_are_valid(shard, tmp_path):
    token = tmp_path / "token"
    token.write_text("example-token")
    text = (SCALE / shard).read_text().replace("/run/secrets/paperclip_board_token", str(token))
    config = tmp_path / shard
    config.write_text(text)
    result = subprocess.run([sys.executable, "-m", "agentwatch", f"--config.file={config}", "check-config"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 source(s): prod" in result.stdout


def test_the_shards_split_the_companies_without_overlap():
    import yaml

    seen: set[str] = set()
    for path in SCALE.glob("agentwatch-shard-*.yml"):
        companies = set(yaml.safe_load(path.read_text())["sources"][0]["companies"])
        assert not companies & seen, f"{path.name} repeats {companies & seen}"
        seen |= companies
