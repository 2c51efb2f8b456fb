"""Context growth on timer-driven work, against the REAL Paperclip server (issue 21, class 2).

Paperclip's timer runs name no task (``contextSnapshot.issueId`` null) and each starts a fresh
adapter session, so the per-task context signals never see them. Three claude_local agents
(fake-claude) with no task at all:

- Timer Tess, on a 10 s timer, whose prompt grows 60k tokens a run (8k, 68k, 128k, 188k of a
  200k window): her context streak must show growth past the threshold and a latest ratio that
  rises past ``context_ratio``, the two conditions of AgentContextPressure;
- Timer Flo, on the same timer, whose prompt stays at 8k: growth exactly 1;
- Resuming Rae, woken on demand three times: Paperclip resumes her saved session (a UUID, so the
  adapter passes ``--resume``), and her prompt shrinks in it (100k, 70k, 40k): the session link
  keeps one streak (growth 0.4), where three fresh sessions would have started three.

The scheduler ticks every 10 s, so a 10 s timer wakes about every 20 s.
"""

from __future__ import annotations

import time

import pytest

from harness.exporter import ExporterProcess
from harness.paperclip import wait_for

pytestmark = [pytest.mark.paperclip, pytest.mark.slow]  # waits for timer wakes on real runs

WINDOW = 200000  # claude-sonnet-4-5
RAE_SESSION = "3f2b8c1e-5d4a-4b6f-9e21-7c0d1a2b3c4d"


@pytest.fixture(scope="module")
def agents(paperclip_api, paperclip_root):
    api = paperclip_api
    c = api.create_company("Timer Context Co")
    ids = {"company": c}
    ids["tess"] = api.create_claude_agent(
        c,
        "Timer Tess",
        "researcher",
        env={"FAKE_INPUT_TOKENS": "8000", "FAKE_TOKENS_STEP": "60000", "FAKE_COST_USD": "0.01"},
        interval_sec=10,
        root=paperclip_root,
    )
    ids["flo"] = api.create_claude_agent(
        c, "Timer Flo", "researcher", env={"FAKE_INPUT_TOKENS": "8000", "FAKE_COST_USD": "0.01"}, interval_sec=10, root=paperclip_root
    )
    ids["rae"] = api.create_claude_agent(
        c,
        "Resuming Rae",
        "researcher",
        env={"FAKE_INPUT_TOKENS": "100000", "FAKE_TOKENS_STEP": "-30000", "FAKE_SESSION": RAE_SESSION, "FAKE_COST_USD": "0.01"},
        root=paperclip_root,
    )
    try:
        yield ids
    finally:  # the server is shared by the session: no more timer wakes from here
        for key in ("tess", "flo"):
            api.pause_agent(ids[key])


@pytest.fixture(scope="module")
def exporter(agents, paperclip_server, tmp_path_factory):
    config = {"poll_interval": "1s", "sources": [{"name": "tc", "url": paperclip_server.url, "companies": [agents["company"]]}]}
    with ExporterProcess(config, tmp_path_factory.mktemp("tc")) as exp:
        exp.wait_for(lambda s: s.get_value("agentwatch_up", source="tc") == 1.0)
        yield exp


def test_timer_driven_context_growth_is_flagged_and_flat_timer_prompts_are_not(exporter, agents, paperclip_api):
    started = time.monotonic()
    seen: list[float] = []  # Tess's latest ratio, each new value as the exporter shows it

    def pressured(s):
        latest = s.get_value("agentwatch_agent_context_latest_ratio", agent="Timer Tess", model="claude-sonnet-4-5")
        if latest is not None and (not seen or latest != seen[-1]):
            seen.append(latest)
        return bool(latest and latest > 0.8) or (tuple(seen),)

    s = exporter.wait_for(pressured, timeout=180, what="Timer Tess's prompt past 0.8 of the window")
    assert seen == sorted(seen) and len(seen) >= 3, seen  # it rose run after run
    growth = s.get_value("agentwatch_agent_context_growth_ratio", agent="Timer Tess", model="claude-sonnet-4-5")
    assert growth > 1.5 and growth == pytest.approx(seen[-1] * WINDOW / 8000)

    # the two conditions of AgentContextPressure, against the thresholds the exporter resolved
    def threshold(agent, name):
        return s.get_value("agentwatch_agent_threshold", agent=agent, threshold=name)

    assert seen[-1] > threshold("Timer Tess", "context_ratio") and growth > threshold("Timer Tess", "context_growth")

    # the control: as many timer runs, the same fresh sessions, a flat prompt
    flo_runs = [r for r in paperclip_api.runs(agents["company"]) if r["agentId"] == agents["flo"] and r["usageJson"]]
    assert len(flo_runs) >= 3
    assert s.get_value("agentwatch_agent_context_growth_ratio", agent="Timer Flo") == 1.0
    assert s.get_value("agentwatch_agent_context_latest_ratio", agent="Timer Flo") == pytest.approx(8000 / WINDOW)
    assert not s.get_value("agentwatch_agent_context_latest_ratio", agent="Timer Flo") > threshold("Timer Flo", "context_ratio")

    # what the detector relies on: on this platform, timer runs name no task and start a new session each
    timer_runs = [r for r in paperclip_api.runs(agents["company"]) if r["agentId"] in (agents["tess"], agents["flo"]) and r["usageJson"]]
    assert {r["invocationSource"] for r in timer_runs} == {"timer"}
    assert all(not (r.get("contextSnapshot") or {}).get("issueId") and r["sessionIdBefore"] is None for r in timer_runs)
    assert len({r["sessionIdAfter"] for r in timer_runs}) == len(timer_runs)
    print(f"Tess's latest ratio went {seen} in {time.monotonic() - started:.0f} s; growth {growth}")


def test_a_resumed_session_keeps_one_streak_across_a_shrinking_prompt(exporter, agents, paperclip_api):
    api, rae = paperclip_api, agents["rae"]
    for _ in range(3):
        api.invoke_heartbeat(rae)
        wait_for(lambda: not [r for r in api.live_runs(agents["company"]) if r["agentId"] == rae], timeout=60, what="Rae's run to end")
    runs = sorted((r for r in api.runs(agents["company"]) if r["agentId"] == rae), key=lambda r: r["createdAt"])
    assert [r["usageJson"]["inputTokens"] for r in runs] == [100000, 70000, 40000]
    assert [r["sessionIdBefore"] for r in runs] == [None, RAE_SESSION, RAE_SESSION]  # resumed, as the real CLI is
    assert {r["sessionIdAfter"] for r in runs} == {RAE_SESSION}
    s = exporter.wait_for(
        lambda s: (
            s.get_value("agentwatch_agent_context_latest_ratio", agent="Resuming Rae") == pytest.approx(40000 / WINDOW)
            or (s.get_value("agentwatch_agent_context_latest_ratio", agent="Resuming Rae"),)
        ),
        timeout=30,
        what="Rae's last run",
    )
    assert s.get_value("agentwatch_agent_context_growth_ratio", agent="Resuming Rae") == pytest.approx(0.4)
