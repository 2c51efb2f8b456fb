"""``agentwatch tune``: the pure proposal and dry-run logic, the config edit, and the whole command
against a real Prometheus holding 15 days of synthetic history (tests/harness/tune_data.py)."""

from __future__ import annotations

import bisect
import os
import random
import re
import shutil
import statistics

import pytest
import yaml

from agentwatch import config
from agentwatch.cli import main
from agentwatch.stack.local import free_port
from agentwatch.tune import apply, dryrun, observe, propose
from harness import tune_data
from harness.history import SeededPrometheus, write_openmetrics
from harness.tools import tool

ABOVE = [s.threshold for s in observe.SPECS if s.direction == "above"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AGENTWATCH_"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------- propose (pure)


@pytest.mark.parametrize("threshold", ABOVE)
def test_floor_holds_for_quiet_data(threshold):
    rng = random.Random(threshold)
    quiet = propose.ScopeData([rng.uniform(0.0, 0.3) for _ in range(500)], 2)
    p = propose.propose(threshold, "above", quiet, "x")
    assert p.value == propose.brief_value(threshold)
    assert "holds" in p.reason and "over 500 samples from 2 agents" in p.reason


def test_noisy_data_raises_above_the_floor_rounded_up():
    values = [1.0] * 980 + [7.31] * 20  # p99 lands on the tail: 7.31; mean + 3 sd = 3.78
    p = propose.propose("stuck_factor", "above", propose.ScopeData(values, 3), "age/mean")
    assert p.value == 7.4
    assert "p99 7.31, mean+3σ 3.78 over 1000 samples from 3 agents; p99 rounded up; floor 3" in p.reason
    spread = [float(i % 5) for i in range(1000)]  # p99 4; mean + 3 sd = 2 + 3 * 1.414 = 6.24
    assert propose.propose("stuck_factor", "above", propose.ScopeData(spread, 1), "x").value == 6.3
    # an extra candidate (completed-task p99/mean) wins when larger
    p = propose.propose("stuck_factor", "above", propose.ScopeData(values, 3), "age/mean", {"completed p99/mean": 9.04})
    assert p.value == 9.1 and "completed p99/mean rounded up" in p.reason


def test_below_threshold_floor_is_inverted():
    brief = propose.brief_value("throughput_drop_ratio")  # 0.5: the most sensitive we ever propose
    steady = propose.ScopeData([0.8 + 0.4 * (i % 10) / 10 for i in range(400)], 2)  # p1 0.8
    assert propose.propose("throughput_drop_ratio", "below", steady, "r").value == brief
    wobbly = propose.ScopeData([0.3 + i / 1000 for i in range(1000)], 2)  # p1 ~0.31
    p = propose.propose("throughput_drop_ratio", "below", wobbly, "r")
    assert p.value == 0.3 and p.value < brief and "lower is less sensitive" in p.reason
    reaching_zero = propose.ScopeData([0.0] * 50 + [1.0] * 950, 2)
    p = propose.propose("throughput_drop_ratio", "below", reaching_zero, "r")
    assert p.value is None and p.reason.startswith("no proposal") and "bound 0.1" in p.reason


def test_insufficient_data_is_no_proposal():
    p = propose.propose("heartbeat_gap_cv", "above", propose.ScopeData([5.0] * 17, 1), "cv")
    assert p.value is None and p.reason == f"no proposal (17 samples, need {propose.MIN_SAMPLES})"
    p = propose.propose("throughput_drop_ratio", "below", propose.ScopeData([], 0), "r")
    assert p.value is None and p.reason == f"no proposal (0 samples, need {propose.MIN_SAMPLES})"


def test_rounding_toward_less_sensitive():
    assert propose.round_away(3.71, "above") == 3.8
    assert propose.round_away(12.1, "above") == 13
    assert propose.round_away(0.934, "above") == 0.94
    assert propose.round_away(3.0, "above") == 3.0
    assert propose.round_away(0.349, "below") == 0.34


def test_roles_that_differ_get_their_own_values():
    quiet = propose.ScopeData([0.05] * 400, 3)
    noisy = propose.ScopeData([0.6 + 0.3 * (i % 7) / 7 for i in range(400)], 3)
    out = propose.by_scope("heartbeat_gap_cv", "above", {"engineer": quiet, "research": noisy}, "cv")
    assert out[None].value == 0.5 and "role engineer, the most sensitive" in out[None].reason
    assert set(out) == {None, "research"} and out["research"].value > 0.5
    # alike roles: one default from every sample; an already-overridden role keeps its own value
    alike = {"a": propose.ScopeData([1.0, 5.0] * 200, 2), "b": propose.ScopeData([1.1, 5.0] * 200, 2)}
    out = propose.by_scope("stuck_factor", "above", alike, "x", overridden={"b", "gone"})
    assert set(out) == {None, "b", "gone"}
    assert out[None].samples == 800 and out["gone"].value is None


# ---------------------------------------------------------------- dry run (pure)


def test_episodes_respect_for():
    step = 60.0

    def series(flags):
        return [(i * step, 5.0 if f else 1.0) for i, f in enumerate(flags)]

    assert dryrun.episodes(series([1, 1, 1, 1]), 3.0, 300, step) == 0  # true for 3 minutes: pending only
    assert dryrun.episodes(series([1] * 6), 3.0, 300, step) == 1  # 5 minutes: fires once
    assert dryrun.episodes(series([1] * 60), 3.0, 300, step) == 1  # one long episode is one page
    assert dryrun.episodes(series([1] * 6 + [0] + [1] * 6 + [0] + [1] * 3), 3.0, 300, step) == 2
    assert dryrun.episodes(series([1] * 6), 3.0, 0, step) == 1
    assert dryrun.episodes(series([1] * 6), 5.0, 0, step) == 0  # equal is not above
    gap = [(t, 5.0) for t in (0, 60, 120, 300, 360, 420)]  # a missing sample resets the pending alert
    assert dryrun.episodes(gap, 3.0, 180, step) == 0
    low = [(i * step, 0.2) for i in range(61)]
    assert dryrun.episodes(low, 0.5, 3600, step, "below") == 1
    assert dryrun.episodes(low, 0.1, 3600, step, "below") == 0


def test_for_durations_match_the_shipped_rules():
    fors, source = observe.for_durations("prometheus/rules/alerts.yml")
    assert source == "prometheus/rules/alerts.yml" and fors == observe.FOR_SECONDS
    assert observe.for_durations("no/such/rules.yml") == (observe.FOR_SECONDS, "shipped rules (no rules file read)")
    assert observe.step_for(14 * 86400) == 300 and observe.step_for(36 * 3600) == 60


# ---------------------------------------------------------------- config edit (pure)

SMALL = """\
# agentwatch for the tune tests
poll_interval: 30s           # a comment to keep
sources:
  - name: prod
    url: http://127.0.0.1:3100

thresholds:                  # every alert threshold
  defaults:
    stuck_factor: 3                   # AgentTaskStuck
    heartbeat_gap_cv: 0.5             # AgentHeartbeatIrregular
  roles:
    qa: {runs_failing_consecutive: 5}     # QA agents run flaky suites
  agents:
    Res 3: {heartbeat_missed_factor: 6}

limits:
  top_n: 5
"""


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "agentwatch.yml"
    path.write_text(SMALL)
    return path


def test_edit_keeps_comments_and_other_keys():
    changes = {
        (None, "stuck_factor"): 5.1,
        (None, "escalation_spike_factor"): 12.0,
        ("qa", "stuck_factor"): 4.0,
        ("research", "heartbeat_gap_cv"): 0.99,
    }
    new = apply.edit(SMALL, changes)
    assert "    stuck_factor: 5.1                 # AgentTaskStuck\n" in new  # the comment keeps its column
    assert "    escalation_spike_factor: 12\n" in new
    assert "qa: {runs_failing_consecutive: 5, stuck_factor: 4}     # QA agents run flaky suites" in new
    assert "    research: {heartbeat_gap_cv: 0.99}\n" in new
    assert all(line in new.splitlines() for line in SMALL.splitlines() if "#" in line and "stuck_factor" not in line and "qa:" not in line)
    before, after = yaml.safe_load(SMALL), yaml.safe_load(new)
    assert {k: v for k, v in after.items() if k != "thresholds"} == {k: v for k, v in before.items() if k != "thresholds"}
    assert after["thresholds"]["agents"] == before["thresholds"]["agents"]
    assert apply.edit(new, changes) == new  # idempotent
    assert apply.edit(SMALL, {}) == SMALL


def test_edit_of_a_file_without_thresholds():
    new = apply.edit("poll_interval: 30s\n", {(None, "stuck_factor"): 4.5, ("research", "heartbeat_gap_cv"): 0.9})
    assert yaml.safe_load(new) == {
        "poll_interval": "30s",
        "thresholds": {"defaults": {"stuck_factor": 4.5}, "roles": {"research": {"heartbeat_gap_cv": 0.9}}},
    }
    assert yaml.safe_load(apply.edit("", {("a: b", "stuck_factor"): 4.0}))["thresholds"]["roles"] == {"a: b": {"stuck_factor": 4}}


# ---------------------------------------------------------------- flags and errors


def test_bad_window_names_the_key(capsys):
    assert main(["tune", "--window", "14x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentwatch: window='14x': ") and len(err.strip().splitlines()) == 1
    assert main(["tune", "--window", "10m"]) == 2
    assert "window='10m': must be at least 1h" in capsys.readouterr().err
    assert main(["tune", "--window.end", "yesterday"]) == 2
    assert "window.end='yesterday': expected RFC 3339" in capsys.readouterr().err
    assert main(["tune", "--prometheus.url", "localhost:9090"]) == 2
    assert "prometheus.url='localhost:9090'" in capsys.readouterr().err
    assert main(["tune", "--write"]) == 2
    assert "--write needs --config.file" in capsys.readouterr().err


def test_unreachable_prometheus_is_one_line(capsys, cfg):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["tune", "--prometheus.url", url, "--config.file", str(cfg), "--write"]) == 1
    out = capsys.readouterr()
    assert len(out.err.strip().splitlines()) == 1 and url in out.err and out.out == ""
    assert cfg.read_text() == SMALL


def test_invalid_thresholds_in_the_file(capsys, tmp_path):
    cfg = tmp_path / "agentwatch.yml"
    cfg.write_text("thresholds:\n  defaults:\n    burn_spike_factor: 0.5\n")
    assert main(["tune", "--config.file", str(cfg)]) == 2
    assert "thresholds.defaults.burn_spike_factor=0.5" in capsys.readouterr().err


def test_window_end_formats():
    from agentwatch.tune import parse_time

    assert parse_time(tune_data.END_RFC3339) == tune_data.END == parse_time(str(tune_data.END))
    assert parse_time("2025-06-15T02:00:00+02:00") == tune_data.END
    assert parse_time(None, now=5.0) == 5.0


# ---------------------------------------------------------------- against a real Prometheus


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    tool("promtool")
    tool("prometheus")
    work = tmp_path_factory.mktemp("tune-prometheus")
    families = tune_data.families()
    prom = SeededPrometheus(work, write_openmetrics(work / "history.om", families))
    try:
        yield prom.url, families
    finally:
        prom.stop()


def _run(capsys, url, *extra):
    rc = main(["tune", "--prometheus.url", url, "--window", "14d", "--window.end", tune_data.END_RFC3339, *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _rows(out: str) -> dict[tuple[str, str], dict]:
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("threshold "))
    rows = {}
    for line in lines[head + 1 :]:
        if not line.strip():
            break
        threshold, scope, current, proposed, now, later, why = re.split(r"\s{2,}", line, maxsplit=6)
        rows[(threshold, scope)] = {
            "current": float(current),
            "proposed": None if proposed == "—" else float(proposed),
            "now": int(now),
            "later": int(later),
            "why": why,
        }
    return rows


def _replayed(families, names, agents, fn):
    """Per agent, what Prometheus answers for ``fn(gauges...)`` at every 5-minute step of the
    window: the newest seeded sample at or before each step."""
    out = {}
    for agent in agents:
        per = [next(s for labels, s in families[name][1] if labels["agent"] == agent) for name in names]
        times = [t for t, _ in per[0]]
        steps = range(tune_data.END - 14 * 86400, tune_data.END + 1, 300)
        out[agent] = [(float(t), fn(*(p[bisect.bisect_right(times, t) - 1][1] for p in per))) for t in steps]
    return out


@pytest.mark.slow
@pytest.mark.prometheus
def test_dry_run_prints_table_and_diff_and_leaves_the_file(seeded, capsys, cfg):
    url, families = seeded
    rc, out, err = _run(capsys, url, "--config.file", str(cfg))
    assert rc == 0, err
    rows = _rows(out)
    # the irregular role: its gap cv pages all the time at the brief's 0.5; the proposal quiets it
    cv = rows[("heartbeat_gap_cv", "role:research")]
    stats = "agentwatch_agent_heartbeat_gap_stddev_seconds", "agentwatch_agent_heartbeat_gap_mean_seconds"
    replay = _replayed(families, stats, tune_data.ROLES["research"], lambda sd, mean: sd / mean)
    values = [v for s in replay.values() for _, v in s]
    expected = max(
        0.5, propose.round_away(max(propose.percentile(values, 99), statistics.fmean(values) + 3 * statistics.pstdev(values)), "above")
    )
    assert cv["current"] == 0.5 and cv["proposed"] == expected > 0.5
    assert f"over {len(values)} samples from 3 agents" in cv["why"]
    for_s, step = observe.FOR_SECONDS["AgentHeartbeatIrregular"], 300.0
    assert cv["now"] == sum(dryrun.episodes(s, 0.5, for_s, step) for s in replay.values()) > 0
    assert cv["later"] == sum(dryrun.episodes(s, expected, for_s, step) for s in replay.values()) < cv["now"]
    # the regular role sets the default, and the floor holds there
    assert rows[("heartbeat_gap_cv", "default")] == {
        **rows[("heartbeat_gap_cv", "default")],
        "current": 0.5,
        "proposed": 0.5,
        "now": 0,
        "later": 0,
    }
    assert "floor 0.5 holds" in rows[("heartbeat_gap_cv", "default")]["why"]
    # missed heartbeats: research gaps reach past 3 intervals; Res 3's own override is kept
    missed = rows[("heartbeat_missed_factor", "role:research")]
    gap_max = _replayed(
        families, ("agentwatch_agent_heartbeat_gap_max_seconds",), tune_data.ROLES["research"], lambda g: g / tune_data.INTERVAL
    )
    assert missed["proposed"] >= propose.round_away(propose.percentile([v for s in gap_max.values() for _, v in s], 99), "above") > 3
    assert missed["later"] < missed["now"] and "1 agent override(s) kept" in missed["why"]
    # the long tail of task durations: stuck_factor goes up for everyone, pages go down
    stuck = rows[("stuck_factor", "default")]
    assert stuck["current"] == 3 and stuck["proposed"] > 3 and stuck["later"] < stuck["now"]
    # never below a floor (never above the ceiling for the ratio paging below)
    for (threshold, _), row in rows.items():
        if row["proposed"] is None:
            assert row["why"].startswith("no proposal")
        elif threshold == "throughput_drop_ratio":
            assert 0.1 <= row["proposed"] <= 0.5
        else:
            assert row["proposed"] >= propose.brief_value(threshold)
    assert rows[("throughput_drop_ratio", "default")]["proposed"] is None  # the 1 h rate routinely reaches 0
    # the diff, and nothing written
    assert f"--- {cfg}\n+++ {cfg} (proposed)\n" in out
    assert (
        f"+    research: {{heartbeat_gap_cv: {propose.fmt(expected)}, heartbeat_missed_factor: {propose.fmt(missed['proposed'])}}}" in out
    )
    assert "nothing written" in out and cfg.read_text() == SMALL


@pytest.mark.slow
@pytest.mark.prometheus
def test_write_applies_once_and_is_idempotent(seeded, capsys, cfg, tmp_path):
    url, _ = seeded
    cfg.chmod(0o600)
    rc, out, err = _run(capsys, url, "--config.file", str(cfg), "--write")
    assert rc == 0, err
    written = cfg.read_text()
    assert written != SMALL and f"wrote {cfg}" in out and (cfg.stat().st_mode & 0o777) == 0o600
    settings = config.load(cfg)  # what check-config runs
    assert settings.thresholds.defaults.stuck_factor > 3
    assert settings.thresholds.resolve(agent_name="Res 1", role="research").heartbeat_gap_cv > 0.5
    assert settings.thresholds.resolve(agent_name="Res 3", role="research").heartbeat_missed_factor == 6  # agent override kept
    assert settings.thresholds.roles["qa"] == {"runs_failing_consecutive": 5}
    before, after = yaml.safe_load(SMALL), yaml.safe_load(written)
    assert {k: v for k, v in after.items() if k != "thresholds"} == {k: v for k, v in before.items() if k != "thresholds"}
    assert "poll_interval: 30s           # a comment to keep" in written and "# QA agents run flaky suites" in written
    assert main(["check-config", "--config.file", str(cfg)]) == 0
    capsys.readouterr()
    rc, out, err = _run(capsys, url, "--config.file", str(cfg), "--write")
    assert rc == 0 and "no change" in out and cfg.read_text() == written
    assert not [p for p in tmp_path.iterdir() if p.name != "agentwatch.yml"]  # no temporary files left


@pytest.mark.slow
@pytest.mark.prometheus
def test_write_that_fails_check_config_leaves_the_file(seeded, capsys, tmp_path):
    url, _ = seeded
    cfg = tmp_path / "agentwatch.yml"
    shutil.copy("examples/agentwatch.yml", cfg)
    missing = tmp_path / "absent" / "paperclip_board_token"  # a token file serve could not read
    original = cfg.read_text().replace("    # token_file: /run/secrets/paperclip_board_token", f"    token_file: {missing}", 1)
    assert str(missing) in original
    cfg.write_text(original)
    rc, out, err = _run(capsys, url, "--config.file", str(cfg))
    assert rc == 0 and "+    stuck_factor: " in out  # the dry run only needs the thresholds
    rc, out, err = _run(capsys, url, "--config.file", str(cfg), "--write")
    assert rc == 2 and "invalid configuration" in err and "left untouched" in err and "token_file" in err
    assert cfg.read_text() == original and [p.name for p in tmp_path.iterdir()] == ["agentwatch.yml"]


@pytest.mark.slow
@pytest.mark.prometheus
def test_without_a_config_file_prints_a_snippet(seeded, capsys):
    url, _ = seeded
    rc, out, err = _run(capsys, url)
    assert rc == 0, err
    snippet = out.split("(no --config.file given):\n\n", 1)[1]
    proposal = yaml.safe_load(snippet)["thresholds"]
    assert proposal["defaults"]["stuck_factor"] > 3 and proposal["roles"]["research"]["heartbeat_gap_cv"] > 0.5
    config.ThresholdsConfig(**proposal)  # valid thresholds
