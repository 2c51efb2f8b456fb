"""Failure-mode detectors against the REAL Paperclip server.

One company holds four scenarios: (a) a chain blocked by a cancelled issue, (b) a chain
whose end is assigned to a paused agent, (c) an agent that keeps waking on an in-progress
task without changing its status, reporting a cost each run, (d) an agent whose prompt
grows with each run on the same task. A healthy control company works beside it. The
exporter must flag exactly these and stay quiet on the control. Time is compressed with the
loop thresholds in the exporter's config (the definitions under test are the shipped ones).
"""

from __future__ import annotations

import threading
import time

import pytest

from harness.exporter import ExporterProcess
from harness.paperclip import wait_for

pytestmark = [pytest.mark.paperclip, pytest.mark.slow]  # waits for loops and pressure to build on real runs

LOOP_MIN_AGE = 15  # seconds, instead of 4 h
LOOP_MIN_CALLS = 4  # instead of 20


@pytest.fixture(scope="module")
def scenario(paperclip_api, paperclip_root):
    api = paperclip_api
    c = api.create_company("Failure Modes Co")
    h = api.create_company("Healthy Control Co")
    ids = {"company": c, "control": h}

    # (a) A <- B <- C where A is cancelled: C heads a chain that can never move
    a = api.create_issue(c, "Old approach", status="cancelled")["id"]
    b = api.create_issue(c, "Build on old approach", status="blocked", blockedByIssueIds=[a])
    ids["cancelled_head"] = api.create_issue(c, "Ship it", status="blocked", blockedByIssueIds=[b["id"]])["identifier"]

    # (b) the end of a chain is assigned to a paused agent
    sleeper = api.create_process_agent(c, "Paused Pat", "engineer", root=paperclip_root)
    api.pause_agent(sleeper)
    x = api.create_issue(c, "Migrate the database", status="todo", assigneeAgentId=sleeper)["id"]
    ids["paused_head"] = api.create_issue(c, "Switch traffic", status="blocked", blockedByIssueIds=[x])["identifier"]

    # (c) a reasoning loop: keeps waking on its in-progress task, comments, spends, never moves it
    looper = api.create_process_agent(
        c, "Loopy Lou", "engineer", env={"FAKE_COST_CENTS": "2", "FAKE_ANSWER": "Still thinking about it."}, root=paperclip_root
    )
    loop_task = api.create_issue(c, "Refactor everything", status="in_progress", assigneeAgentId=looper)["id"]

    # (d) context growth: a claude_local agent (fake-claude) whose prompt grows 20k tokens a run
    grower = api.create_claude_agent(
        c,
        "Context Cleo",
        "researcher",
        env={"FAKE_INPUT_TOKENS": "8000", "FAKE_TOKENS_STEP": "20000", "FAKE_COST_USD": "0.02"},
        root=paperclip_root,
    )
    grow_task = api.create_issue(c, "Summarise the archive", status="in_progress", assigneeAgentId=grower)["id"]

    # control: an agent that finishes its work, including a dependency that resolves
    worker = api.create_process_agent(
        h, "Steady Sam", "engineer", env={"FAKE_ANSWER": "Done.", "FAKE_SET_STATUS": "done", "FAKE_COST_CENTS": "1"}, root=paperclip_root
    )
    first = api.create_issue(h, "Write the spec", status="todo", assigneeAgentId=worker)["id"]
    api.create_issue(h, "Implement the spec", status="blocked", assigneeAgentId=worker, blockedByIssueIds=[first])
    api.create_issue(h, "Write the changelog", status="todo", assigneeAgentId=worker)
    ids.update(looper=looper, loop_task=loop_task, grower=grower, grow_task=grow_task, worker=worker)
    return ids


@pytest.fixture(scope="module")
def exporter(scenario, paperclip_server, paperclip_api, tmp_path_factory):
    config = {
        "poll_interval": "1s",
        "thresholds": {"defaults": {"loop_min_age": f"{LOOP_MIN_AGE}s", "loop_min_calls": LOOP_MIN_CALLS}},
        "sources": [{"name": "fm", "url": paperclip_server.url, "companies": [scenario["company"], scenario["control"]]}],
    }
    with ExporterProcess(config, tmp_path_factory.mktemp("fm")) as exp:
        exp.wait_for(lambda s: s.get_value("agentwatch_up", source="fm") == 1.0)
        api = paperclip_api
        for _ in range(3):  # (d): a few runs on the same task, each with a bigger prompt
            api.wake_on_issue(scenario["grower"], scenario["grow_task"])
            time.sleep(2)
        wait_for(lambda: not [r for r in api.live_runs(scenario["company"]) if r["agentId"] == scenario["grower"]], timeout=60)
        api.patch_issue(scenario["grow_task"], status="in_review")  # ... then hands it over: progress, not a loop
        stop = threading.Event()

        def keep_waking():  # (c): wakes on its task every few seconds, for as long as the test looks
            while not stop.is_set():
                api.wake_on_issue(scenario["looper"], scenario["loop_task"])
                stop.wait(3)

        waker = threading.Thread(target=keep_waking, daemon=True)
        waker.start()
        try:
            yield exp
        finally:
            stop.set()
            waker.join(10)


def test_each_failure_mode_is_flagged(exporter, scenario):
    def flagged(s):
        values = (
            s.get_value("agentwatch_agent_looping_tasks", agent="Loopy Lou"),
            s.get_value("agentwatch_dependency_stalled_chains", company="Failure Modes Co", cause="cancelled_blocker"),
            s.get_value("agentwatch_dependency_stalled_chains", company="Failure Modes Co", cause="blocker_assignee_unavailable"),
            s.get_value("agentwatch_agent_context_growth_ratio", agent="Context Cleo") or 0,
        )
        return (values[:3] == (1.0, 1.0, 1.0) and values[3] > 1.5) or values

    s = exporter.wait_for(flagged, timeout=120, what="all four failure modes")
    heads = {
        lbl["issue"]: lbl["cause"] for lbl, _ in s.select("agentwatch_dependency_stalled_chain_age_seconds", company="Failure Modes Co")
    }
    assert heads == {scenario["cancelled_head"]: "cancelled_blocker", scenario["paused_head"]: "blocker_assignee_unavailable"}
    assert s.get_value("agentwatch_dependency_longest_chain_length", company="Failure Modes Co") == 3.0
    assert s.get_value("agentwatch_agent_max_runs_without_progress", agent="Loopy Lou") > LOOP_MIN_CALLS
    assert s.get_value("agentwatch_agent_oldest_progress_age_seconds", agent="Loopy Lou") > LOOP_MIN_AGE
    ratios = s.select("agentwatch_agent_context_window_ratio_count", agent="Context Cleo")
    assert ratios and ratios[0][0]["model"] == "claude-sonnet-4-5"
    latest = s.get_value("agentwatch_agent_context_latest_ratio", agent="Context Cleo")
    assert latest and latest > 0.2, (s.select("agentwatch_agent_context_growth_ratio"), s.select("agentwatch_agent_context_latest_ratio"))


def test_exactly_these_and_nothing_else(exporter, scenario):
    s = exporter.wait_for(lambda s: s.get_value("agentwatch_agent_looping_tasks", agent="Loopy Lou") == 1.0, timeout=90)
    looping = {lbl["agent"]: v for lbl, v in s.select("agentwatch_agent_looping_tasks") if v}
    assert looping == {"Loopy Lou": 1.0}
    stalled = {(lbl["company"], lbl["cause"]): v for lbl, v in s.select("agentwatch_dependency_stalled_chains") if v}
    assert stalled == {("Failure Modes Co", "cancelled_blocker"): 1.0, ("Failure Modes Co", "blocker_assignee_unavailable"): 1.0}
    growing = {lbl["agent"] for lbl, v in s.select("agentwatch_agent_context_growth_ratio") if v > 1.5}
    assert growing == {"Context Cleo"}
    assert s.total("agentwatch_dependency_cycles") == 0


def test_the_healthy_control_stays_quiet(exporter, scenario):
    s = exporter.wait_for(
        lambda s: s.get_value("agentwatch_agent_tasks_completed_total", agent="Steady Sam") == 3.0, timeout=90, what="the control to finish"
    )
    control = {"company": "Healthy Control Co"}
    assert s.total("agentwatch_dependency_stalled_chains", **control) == 0
    assert s.get_value("agentwatch_dependency_stalled_tasks", **control) == 0
    assert s.get_value("agentwatch_agent_looping_tasks", agent="Steady Sam") == 0
    assert s.get_value("agentwatch_agent_max_runs_without_progress", agent="Steady Sam") == 0
    assert s.get_value("agentwatch_agent_stale_locks", agent="Steady Sam", lock="execution") == 0
    assert s.get_value("agentwatch_agent_running_without_live_run", agent="Steady Sam") == 0
