"""The scenario matrix as data: each variant names the recipe that injects it (``driver.RECIPES``),
the recipe's knobs, the contract alerts that must page, and the company it runs in.

The recipes inject the fault as a platform user would meet it, never arranged around what a
detector assumes: an agent hangs on its very first run if that is the variant, a burst of
escalations comes from an agent with no history at all, a loop is left to Paperclip's own
recovery, which parks the task. A variant no detector sees is a finding, not a scenario to bend.

Agent names are unique across the matrix (the ``agent`` label of an alert says whose it is);
the deadlock variants have a company each (``TaskDependencyDeadlock`` is per company). The
``restart`` exporter watches only its own company, with a small runs window (``runs_limit``),
and is stopped and started again in the middle of its variants' faults. Their ``restart`` knob is
a stage: a variant injects its fault only once every variant of an earlier stage has injected its
own (the hang, after its good runs, first; then the context growth; then the escalations), and the
exporter restarts when every one is mid-fault (``Ctx.ready_for_restart``): the hang begun and the
agent's last finished run out of the window, two grown prompts, half the approvals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HUNG, CONTEXT, COLD, LOOP, DEADLOCK = "hung run", "context growth", "cold start", "loop", "deadlock"


@dataclass(frozen=True)
class Variant:
    id: str
    failure: str  # the failure class
    title: str  # what is injected, for the table
    recipe: str  # the function in driver.RECIPES that sets it up and injects the fault
    alerts: tuple[str, ...]  # the contract alerts that must page for it
    company: str  # key of the company it runs in (COMPANIES)
    params: dict = field(default_factory=dict)
    ci: bool = False  # in the CI subset (tests/test_detection_matrix.py)
    wait: float = 210.0  # seconds after the fault to wait for the page
    fault: str = ""  # what the fault time marks


# company key -> (name, exporter). Names get the run's suffix, so that runs on a shared server
# never mix; the exporter named "restart" is restarted mid-fault.
COMPANIES = {
    "hung": ("Detection Hung Runs", "main"),
    "context": ("Detection Context", "main"),
    "cold": ("Detection Cold Start", "main"),
    "loops": ("Detection Loops", "main"),
    "dl-cancelled": ("Detection Deadlock Cancelled", "main"),
    "dl-reassigned": ("Detection Deadlock Reassigned", "main"),
    "dl-deleted": ("Detection Deadlock Deleted", "main"),
    "dl-paused-end": ("Detection Deadlock Paused End", "main"),
    "dl-cycle": ("Detection Deadlock Cycle", "main"),
    "restart": ("Detection Exporter Restart", "restart"),
    "control": ("Detection Healthy Control", "main"),
}
CONTROL = "control"

HEARTBEAT, CONTEXT_ALERT, ESCALATION, BURN = "AgentHeartbeatMissed", "AgentContextPressure", "AgentEscalationSpike", "AgentBudgetBurnSpike"
PARKED, LOOP_ALERT, DEADLOCK_ALERT = "AgentTaskParked", "AgentReasoningLoop", "TaskDependencyDeadlock"

VARIANTS: tuple[Variant, ...] = (
    # 1. hung runs -> AgentHeartbeatMissed
    Variant(
        "hung-first-run",
        HUNG,
        "process agent, 10 s timer, hangs on its very first run (timeoutSec 3600)",
        "hang",
        (HEARTBEAT,),
        "hung",
        {"agent": "Hugo First", "adapter": "process", "interval": 10},
        ci=True,
        fault="agent created with the hanging command",
    ),
    Variant(
        "hung-after-history",
        HUNG,
        "process agent, 10 s timer, 3 good runs, then its next run hangs",
        "hang",
        (HEARTBEAT,),
        "hung",
        {"agent": "Hana History", "adapter": "process", "interval": 10, "history": 3},
        fault="adapter config switched to the hanging command after 3 good runs",
    ),
    Variant(
        "hung-claude-first-run",
        HUNG,
        "claude_local agent (fake-claude), 10 s timer, hangs on its first run",
        "hang",
        (HEARTBEAT,),
        "hung",
        {"agent": "Clara Hang", "adapter": "claude", "interval": 10},
        fault="agent created with fake-claude sleeping 3000 s",
    ),
    Variant(
        "hung-assignment-no-timer",
        HUNG,
        "process agent with no timer and no run timeout, hangs on its assigned task",
        "hang",
        (HEARTBEAT,),
        "hung",
        {"agent": "Arno Assigned", "adapter": "process", "interval": 0, "timeout": 0},
        wait=240,
        fault="task assigned to the agent (assignment wake)",
    ),
    Variant(
        "hung-exporter-restart",
        HUNG,
        "process agent, 30 s timer, good runs then a hang; exporter restarted during the hang, "
        "its last finished run pushed out of the runs window (runs_limit 5)",
        "hang",
        (HEARTBEAT,),
        "restart",
        {"agent": "Rhea Restart", "adapter": "process", "interval": 30, "history": 2, "restart": 1, "fillers": 2},
        wait=300,
        fault="adapter config switched to the hanging command",
    ),
    # 2. context growth -> AgentContextPressure
    Variant(
        "context-timer-no-task",
        CONTEXT,
        "claude_local agent, 10 s timer, no task, prompt 8k +40k tokens a run",
        "context",
        (CONTEXT_ALERT,),
        "context",
        {"agent": "Tim Timer"},
        ci=True,
        wait=240,
        fault="agent created",
    ),
    Variant(
        "context-assigned-task",
        CONTEXT,
        "claude_local agent, no timer, an assigned task, woken on it every 10 s; prompt 8k +40k a run",
        "context",
        (CONTEXT_ALERT,),
        "context",
        {"agent": "Tess Task", "interval": 0, "task": True, "wake_every": 10},
        wait=240,
        fault="task assigned to the agent",
    ),
    Variant(
        "context-timer-and-task",
        CONTEXT,
        "claude_local agent, 10 s timer and an assigned task; prompt 8k +40k a run",
        "context",
        (CONTEXT_ALERT,),
        "context",
        {"agent": "Mia Mixed", "task": True},
        wait=240,
        fault="agent created and assigned a task",
    ),
    Variant(
        "context-exporter-restart",
        CONTEXT,
        "claude_local agent, 10 s timer, no task, growing prompt; exporter restarted mid-growth",
        "context",
        (CONTEXT_ALERT,),
        "restart",
        {"agent": "Rex Regrow", "restart": 2},
        wait=300,
        fault="agent created",
    ),
    # 3. cold start -> AgentEscalationSpike / AgentBudgetBurnSpike
    Variant(
        "escalation-cold-burst",
        COLD,
        "new agent (no runs, no history) requests 6 board approvals, one every 10 s",
        "escalation",
        (ESCALATION,),
        "cold",
        {"agent": "Nell New", "count": 6, "spacing": 10},
        ci=True,
        fault="first request_board_approval",
    ),
    Variant(
        "escalation-cold-instant",
        COLD,
        "new agent requests 6 board approvals back to back (one poll sees them all)",
        "escalation",
        (ESCALATION,),
        "cold",
        {"agent": "Ivo Instant", "count": 6, "spacing": 0},
        fault="first request_board_approval",
    ),
    Variant(
        "escalation-exporter-restart",
        COLD,
        "new agent requests 6 board approvals 10 s apart; exporter restarted after the third",
        "escalation",
        (ESCALATION,),
        "restart",
        {"agent": "Eli Restart", "count": 6, "spacing": 10, "restart": 3},
        wait=300,
        fault="first request_board_approval",
    ),
    Variant(
        "burn-cold-process",
        COLD,
        "new process agent, no budget (0), 10 s timer, 5 USD per run",
        "burn",
        (BURN,),
        "cold",
        {"agent": "Bo Burner", "adapter": "process", "interval": 10},
        ci=True,
        fault="agent created",
    ),
    Variant(
        "burn-cold-claude",
        COLD,
        "new claude_local agent, no budget, 10 s timer, 5 USD per run (costUsd)",
        "burn",
        (BURN,),
        "cold",
        {"agent": "Cy Claude Burn", "adapter": "claude", "interval": 10},
        fault="agent created",
    ),
    Variant(
        "burn-cold-on-demand",
        COLD,
        "new process agent, no budget, no timer, invoked every 10 s, 5 USD per run",
        "burn",
        (BURN,),
        "cold",
        {"agent": "Dee Demand", "adapter": "process", "interval": 0, "invoke_every": 10},
        fault="first invoke",
    ),
    # 4. loops as Paperclip shows them -> AgentTaskParked + AgentReasoningLoop
    Variant(
        "loop-parked-process-timer",
        LOOP,
        "process agent, 10 s timer, a todo task it never disposes of (comments, sets in_progress, spends)",
        "loop",
        (PARKED, LOOP_ALERT),
        "loops",
        {"agent": "Lou Timer", "adapter": "process", "interval": 10},
        ci=True,
        wait=270,
        fault="task assigned",
    ),
    Variant(
        "loop-parked-claude-timer",
        LOOP,
        "claude_local agent, 10 s timer, a todo task it answers but never disposes of",
        "loop",
        (PARKED, LOOP_ALERT),
        "loops",
        {"agent": "Lia Claude Loop", "adapter": "claude", "interval": 10},
        wait=270,
        fault="task assigned",
    ),
    # Paperclip parks this one's task for a few seconds at most, or not at all: the agent's next wake
    # sets it in_progress again (or answers the "needs a disposition" follow-up), so no standing
    # escalation is left for AgentTaskParked; the loop itself pages
    Variant(
        "loop-parked-assignment-only",
        LOOP,
        "process agent, no timer, woken on its task every 8 s, never disposes of it",
        "loop",
        (LOOP_ALERT,),
        "loops",
        {"agent": "Al Assigned Loop", "adapter": "process", "interval": 0, "wake_every": 8},
        wait=270,
        fault="task assigned",
    ),
    Variant(
        "loop-per-task",
        LOOP,
        "process agent, no timer, an in_progress task, woken on it every 3 s (the per-task definition)",
        "loop",
        (LOOP_ALERT,),
        "loops",
        {"agent": "Loopy Lou", "adapter": "process", "interval": 0, "wake_every": 3, "status": "in_progress", "set_status": ""},
        fault="in_progress task created and assigned",
    ),
    # 5. dependency deadlocks -> TaskDependencyDeadlock (per company)
    Variant(
        "deadlock-cancelled-blocker",
        DEADLOCK,
        "blocker (assigned, open) of a blocked task is cancelled",
        "deadlock",
        (DEADLOCK_ALERT,),
        "dl-cancelled",
        {"how": "cancel"},
        ci=True,
        fault="blocker cancelled",
    ),
    Variant(
        "deadlock-reassigned-paused",
        DEADLOCK,
        "blocker reassigned to a paused agent",
        "deadlock",
        (DEADLOCK_ALERT,),
        "dl-reassigned",
        {"how": "reassign_paused"},
        fault="blocker reassigned",
    ),
    Variant(
        "deadlock-blocker-deleted",
        DEADLOCK,
        "blocker deleted (DELETE /api/issues/{id})",
        "deadlock",
        (DEADLOCK_ALERT,),
        "dl-deleted",
        {"how": "delete"},
        fault="blocker deleted",
    ),
    Variant(
        "deadlock-paused-end-of-chain",
        DEADLOCK,
        "chain A <- B <- C; the agent of A, its end, is paused",
        "deadlock",
        (DEADLOCK_ALERT,),
        "dl-paused-end",
        {"how": "pause_end", "chain": 3},
        fault="end agent paused",
    ),
    Variant(
        "deadlock-cycle",
        DEADLOCK,
        "A blocked by B blocked by A (a cycle)",
        "deadlock",
        (DEADLOCK_ALERT,),
        "dl-cycle",
        {"how": "cycle"},
        fault="second edge of the cycle",
    ),
)

BY_ID = {v.id: v for v in VARIANTS}


def ci_subset() -> tuple[Variant, ...]:
    """One variant per class (both cold-start alerts), for the CI test."""
    return tuple(v for v in VARIANTS if v.ci)


def select(ids: list[str] | None) -> tuple[Variant, ...]:
    if not ids:
        return VARIANTS
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise KeyError(f"unknown variants: {', '.join(unknown)}")
    return tuple(BY_ID[i] for i in ids)
