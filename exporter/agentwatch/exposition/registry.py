"""The fleet families, each declared once: name, type, HELP, the source capabilities that feed
it, and whether it shows without a series.

``FLEET`` is their order on /metrics: a build writes its families in this order whatever it
wrote first, so a store that lived through many builds renders what a fresh one renders.
docs/metrics.md documents each family (tests/test_metrics_reference.py keeps the two in sync).
"""

from __future__ import annotations

from agentwatch.exposition.families import Family

BUDGETS, SCHEDULES, APPROVALS, COSTS = ("budgets",), ("schedules",), ("approvals",), ("costs",)
LIVE_RUNS, WINDOW_SPEND, TASK_LOCKS = ("live_runs",), ("window_spend",), ("task_locks",)


def gauge(name: str, help: str, needs: tuple[str, ...] = (), declared: bool = False) -> Family:
    return Family(name, "gauge", help, needs, declared)


def counter(name: str, help: str, needs: tuple[str, ...] = (), declared: bool = False) -> Family:
    """``name`` without ``_total``: the header and the samples get the suffix."""
    return Family(name, "counter", help, needs, declared)


def histogram(name: str, help: str, declared: bool = False) -> Family:
    return Family(name, "histogram", help, (), declared)


# -- the company ---------------------------------------------------------------------------------
COMPANY_INFO = gauge("agentwatch_company_info", "Company metadata.")
COMPANY_BUDGET = gauge("agentwatch_company_budget_monthly_usd", "Company monthly budget (0 = none).", BUDGETS)
COMPANY_SPEND = gauge("agentwatch_company_spend_month_usd", "Company spend in the current UTC month.", BUDGETS)
COMPANY_WINDOW_SPEND = gauge(
    "agentwatch_company_window_spend_usd", "Company spend over a rolling window (5h, 24h, 7d) per provider.", WINDOW_SPEND
)

# -- tasks ---------------------------------------------------------------------------------------
AGENT_TASKS = gauge("agentwatch_agent_tasks", "Tasks per assignee and status (queue depth; canaries excluded).", declared=True)
COMPANY_TASKS = gauge("agentwatch_company_tasks", "Tasks by status (canaries excluded).", declared=True)
CANARY_TASKS = gauge("agentwatch_canary_tasks", "Canary tasks by status (kept out of every other task metric).", declared=True)
TASKS_COMPLETED = counter(
    "agentwatch_agent_tasks_completed",
    "Tasks completed (status done) by the agent, from platform state: restart-safe; a reopened task lowers it.",
    declared=True,
)
TASK_DURATION = histogram("agentwatch_agent_task_duration_seconds", "Duration of completed tasks, startedAt to completedAt.", declared=True)
OLDEST_IN_PROGRESS_AGE = gauge(
    "agentwatch_agent_oldest_in_progress_task_age_seconds",
    "Age of the agent's oldest in-progress task since startedAt (0 = none).",
    declared=True,
)
STALE_LOCKS = gauge(
    "agentwatch_agent_stale_locks",
    "Tasks whose execution or checkout lock points at a run that has ended (Paperclip #2912, #3819).",
    TASK_LOCKS,
    declared=True,
)
BLOCKED_ON_HUMAN = gauge(
    "agentwatch_agent_tasks_blocked_on_human",
    "The agent's blocked tasks that wait on the board or a person (an unexpected escalation), parked tasks apart.",
    declared=True,
)
PARKED = gauge(
    "agentwatch_agent_tasks_parked",
    "The agent's tasks the platform's own recovery parked (blocked, a board decision asked, e.g. a missing disposition).",
    declared=True,
)

# -- what an agent is ----------------------------------------------------------------------------
AGENT_INFO = gauge("agentwatch_agent_info", "Agent metadata: id, title, adapter type and configured model.")
AGENT_STATUS = gauge("agentwatch_agent_status", "Agent status as a state set: 1 for the current status.")
AGENT_PAUSED = gauge("agentwatch_agent_paused", "1 while the agent is paused, by pause reason (budget = paused by a budget hard stop).")
HEARTBEAT_ENABLED = gauge("agentwatch_agent_heartbeat_enabled", "1 when the heartbeat timer is enabled.", SCHEDULES)
HEARTBEAT_INTERVAL = gauge("agentwatch_agent_heartbeat_interval_seconds", "Configured heartbeat interval (0 = no timer).", SCHEDULES)
SCHEDULER_ACTIVE = gauge(
    "agentwatch_agent_heartbeat_scheduler_active", "1 when the platform scheduler will wake the agent on its timer.", SCHEDULES
)
RUN_TIMEOUT = gauge(
    "agentwatch_agent_run_timeout_seconds",
    "The adapter's limit on one run (timeoutSec; 0 = none): a live run older than this has outlived it.",
)
AGENT_CREATED = gauge(
    "agentwatch_agent_created_timestamp_seconds",
    "When the agent was created: the heartbeat reference of an agent that has never finished a run.",
)

# -- what an agent does --------------------------------------------------------------------------
RUNNING_WITHOUT_LIVE_RUN = gauge(
    "agentwatch_agent_running_without_live_run",
    "1 when the agent's status is running but it has no live run (Paperclip #2912, #9348).",
    LIVE_RUNS,
)
LAST_HEARTBEAT = gauge(
    "agentwatch_agent_last_heartbeat_timestamp_seconds", "End of the agent's last run of any kind (Paperclip lastHeartbeatAt)."
)
LAST_RUN_FINISHED = gauge(
    "agentwatch_agent_last_run_finished_timestamp_seconds",
    "End of the agent's newest finished run seen by the exporter. Unlike lastHeartbeatAt, which "
    "the scheduler bumps even while a run hangs, this stops when runs stop finishing.",
)
HEARTBEAT_GAPS = gauge("agentwatch_agent_heartbeat_gaps", "Gaps between timer wakes in the recent run window.", SCHEDULES)
HEARTBEAT_GAP_MEAN = gauge("agentwatch_agent_heartbeat_gap_mean_seconds", "Mean gap between timer wakes.", SCHEDULES)
HEARTBEAT_GAP_STDDEV = gauge("agentwatch_agent_heartbeat_gap_stddev_seconds", "Standard deviation of gaps between timer wakes.", SCHEDULES)
HEARTBEAT_GAP_MAX = gauge("agentwatch_agent_heartbeat_gap_max_seconds", "Longest gap between timer wakes.", SCHEDULES)
CONSECUTIVE_FAILED_RUNS = gauge(
    "agentwatch_agent_consecutive_failed_runs", "Failed or timed-out runs in a row, newest first (Paperclip #6390)."
)
AGENT_SPEND = gauge("agentwatch_agent_spend_month_usd", "Agent spend in the current UTC month.", BUDGETS)
AGENT_BUDGET = gauge("agentwatch_agent_budget_monthly_usd", "Agent monthly budget (0 = none).", BUDGETS)
AGENT_EXPECTED_DAILY = gauge(
    "agentwatch_agent_budget_expected_daily_usd",
    "Expected daily spend: the monthly budget spread over the days of the month.",
    BUDGETS,
)
IN_FLIGHT_SPEND = gauge(
    "agentwatch_agent_in_flight_spend_usd",
    "Spend recorded since the agent's oldest live run started; 0 with no live run (Paperclip #11276).",
    ("live_runs", "costs"),
)
LIVE_RUN_COUNT = gauge("agentwatch_agent_live_runs", "Queued or running runs.", LIVE_RUNS)
OLDEST_LIVE_RUN_AGE = gauge("agentwatch_agent_oldest_live_run_age_seconds", "Age of the agent's oldest running run (0 = none).", LIVE_RUNS)
AGENT_COST = counter(
    "agentwatch_agent_cost_usd",
    "All-time spend per agent and model (platform cost events): restart-safe, no monthly reset.",
    COSTS,
)
AGENT_TOKENS = counter("agentwatch_agent_tokens", "All-time tokens per agent and model.", COSTS)
APPROVALS_REQUESTED = counter(
    "agentwatch_agent_approvals_requested", "Approvals requested by the agent, by type and class.", APPROVALS, declared=True
)
APPROVAL_REQUESTS = counter(
    "agentwatch_agent_approval_requests",
    "Approvals requested by the agent, by class (expected gate or unexpected escalation): both classes from the "
    "agent's first poll on, at 0 before its first request, so that rate() sees a first burst.",
    APPROVALS,
    declared=True,
)
AGENT_THRESHOLD = gauge(
    "agentwatch_agent_threshold",
    "Alert thresholds resolved for the agent from the config (agent, then role, then defaults).",
)
AGENT_MODEL = gauge(
    "agentwatch_agent_model_info",
    "The model an agent uses: from its adapter configuration, else the newest model recorded in its cost events or runs.",
)
MODEL_CHANGE = gauge(
    "agentwatch_agent_model_change_timestamp_seconds",
    "When the agent's model last changed (adapter model, or a new model in its cost events); its creation before any change.",
)

# -- reasoning loops, per task and per agent -----------------------------------------------------
LOOPING_TASKS = gauge(
    "agentwatch_agent_looping_tasks",
    "In-progress tasks without progression for longer than the loop_min_age threshold and with more than "
    "loop_min_calls runs or LLM calls since (a reasoning loop).",
    declared=True,
)
MAX_RUNS_WITHOUT_PROGRESS = gauge(
    "agentwatch_agent_max_runs_without_progress", "Most runs on one in-progress task since its last progression.", declared=True
)
MAX_CALLS_WITHOUT_PROGRESS = gauge(
    "agentwatch_agent_max_llm_calls_without_progress",
    "Most LLM calls (runs that reported LLM usage) on one in-progress task since its last progression.",
    declared=True,
)
OLDEST_PROGRESS_AGE = gauge(
    "agentwatch_agent_oldest_progress_age_seconds",
    "Longest time an in-progress task of the agent has gone without progression (0 = none in progress).",
    declared=True,
)
LOOPING_SPEND = gauge(
    "agentwatch_agent_looping_spend_usd",
    "Spend since their last progression on the agent's tasks that look like a loop.",
    declared=True,
)
UNPRODUCTIVE_RUNS = gauge(
    "agentwatch_agent_unproductive_runs_without_progress",
    "Runs with liveness empty_response or plan_only, or retries, on in-progress tasks since their last progression.",
    declared=True,
)
WORK_LOOPING = gauge(
    "agentwatch_agent_work_looping",
    "1 when the agent's work (its tasks in progress and its parked tasks) has gone longer than loop_min_age without "
    "progression with more than loop_min_calls runs or LLM calls since, timer runs included (a loop at the agent level).",
    declared=True,
)
WORK_RUNS = gauge(
    "agentwatch_agent_work_runs_without_progress",
    "Runs of the agent, timer runs included, since its work last progressed (0 = no work in progress or parked).",
    declared=True,
)
WORK_SPEND = gauge(
    "agentwatch_agent_work_spend_without_progress_usd",
    "Spend reported by the agent's runs since its work last progressed.",
    declared=True,
)

# -- runs and context ----------------------------------------------------------------------------
AGENT_RUNS = counter("agentwatch_agent_runs", "Finished heartbeat runs seen since the exporter started.", declared=True)
RUN_DURATION = histogram("agentwatch_agent_run_duration_seconds", "Duration of finished heartbeat runs seen since the exporter started.")
CONTEXT_WINDOW_RATIO = histogram(
    "agentwatch_agent_context_window_ratio",
    "Prompt (input) tokens of finished runs over the model's context window, per agent and model.",
    declared=True,
)
CONTEXT_RUNS = counter(
    "agentwatch_agent_context_runs",
    "Finished runs by prompt band (high = at or above analysis.context_high_ratio of the window, low, or "
    "unknown when the model's window is not known) and outcome (ok, failed, empty).",
    declared=True,
)
RUN_LIVENESS = counter(
    "agentwatch_agent_run_liveness",
    "Finished runs by the platform's liveness verdict (completed, advanced, plan_only, empty_response, ...).",
    declared=True,
)
CONTEXT_LATEST = gauge(
    "agentwatch_agent_context_latest_ratio",
    "Highest prompt-to-window ratio of the latest run on any open task, or of the agent's latest run that "
    "names no task (timer wakes), per agent and model.",
    declared=True,
)
CONTEXT_GROWTH = gauge(
    "agentwatch_agent_context_growth_ratio",
    "Highest growth of prompt tokens from the first to the latest run on one open task, or over the agent's "
    "current streak of runs that name no task, such as timer wakes; 1 = flat.",
    declared=True,
)

# -- budgets -------------------------------------------------------------------------------------
POLICY_AMOUNT = gauge("agentwatch_budget_policy_amount_usd", "Budget policy limit.", BUDGETS)
POLICY_OBSERVED = gauge("agentwatch_budget_policy_observed_usd", "Spend counted against the policy in its window.", BUDGETS)
POLICY_UTILIZATION = gauge("agentwatch_budget_policy_utilization_ratio", "Observed spend over the limit (1 = limit reached).", BUDGETS)
POLICY_WARN = gauge("agentwatch_budget_policy_warn_ratio", "Utilization at which the platform warns.", BUDGETS)
POLICY_HARD_STOP = gauge("agentwatch_budget_policy_hard_stop_enabled", "1 when reaching the limit pauses the scope.", BUDGETS)
POLICY_STATUS = gauge("agentwatch_budget_policy_status", "Budget policy status as a state set (ok, warning, hard_stop).", BUDGETS)
INCIDENTS_OPEN = gauge("agentwatch_budget_incidents_open", "Open budget incidents by scope type and threshold (soft, hard).", BUDGETS, True)

# -- escalations ---------------------------------------------------------------------------------
APPROVALS_BY_STATUS = gauge(
    "agentwatch_approvals", "Approvals by type, status and class (expected gate or unexpected escalation).", APPROVALS, True
)
OLDEST_PENDING_APPROVAL = gauge(
    "agentwatch_approval_oldest_pending_age_seconds", "Age of the oldest pending approval by type.", APPROVALS, True
)

# -- dependency deadlocks ------------------------------------------------------------------------
DEPENDENCY_EDGES = gauge(
    "agentwatch_dependency_graph_edges", "Unresolved dependency edges (blockedBy, and children holding a blocked parent)."
)
MISSING_BLOCKERS = gauge("agentwatch_dependency_missing_blockers", "Dependency edges that point at an issue not in the list.")
DEPENDENCY_CYCLES = gauge("agentwatch_dependency_cycles", "Dependency cycles (strongly connected components).")
LONGEST_CHAIN = gauge("agentwatch_dependency_longest_chain_length", "Issues on the longest chain of unresolved dependencies.")
STALLED_TASKS = gauge("agentwatch_dependency_stalled_tasks", "Tasks that wait on a chain whose end cannot move.")
STALLED_CHAINS = gauge(
    "agentwatch_dependency_stalled_chains",
    "Stalled dependency chains (counted by their most downstream task) by the cause at the chain's end.",
)
OLDEST_STALLED_CHAIN_AGE = gauge(
    "agentwatch_dependency_oldest_stalled_chain_age_seconds",
    "Age of the oldest stalled chain, since its stuck end last changed (0 = none).",
)
STALLED_CHAIN_AGE = gauge(
    "agentwatch_dependency_stalled_chain_age_seconds",
    "Top-N stalled chains (limits.top_n), oldest first, by the identifier of their head task.",
    declared=True,
)
STALLED_CHAIN_LENGTH = gauge(
    "agentwatch_dependency_stalled_chain_length",
    "Top-N stalled chains: issues on the chain, by the identifier of their head task.",
    declared=True,
)

FLEET: tuple[Family, ...] = (
    COMPANY_INFO,
    COMPANY_BUDGET,
    COMPANY_SPEND,
    COMPANY_WINDOW_SPEND,
    AGENT_TASKS,
    COMPANY_TASKS,
    CANARY_TASKS,
    TASKS_COMPLETED,
    TASK_DURATION,
    OLDEST_IN_PROGRESS_AGE,
    STALE_LOCKS,
    BLOCKED_ON_HUMAN,
    PARKED,
    AGENT_INFO,
    AGENT_STATUS,
    AGENT_PAUSED,
    HEARTBEAT_ENABLED,
    HEARTBEAT_INTERVAL,
    SCHEDULER_ACTIVE,
    RUN_TIMEOUT,
    AGENT_CREATED,
    RUNNING_WITHOUT_LIVE_RUN,
    LAST_HEARTBEAT,
    LAST_RUN_FINISHED,
    HEARTBEAT_GAPS,
    HEARTBEAT_GAP_MEAN,
    HEARTBEAT_GAP_STDDEV,
    HEARTBEAT_GAP_MAX,
    CONSECUTIVE_FAILED_RUNS,
    AGENT_SPEND,
    AGENT_BUDGET,
    AGENT_EXPECTED_DAILY,
    IN_FLIGHT_SPEND,
    LIVE_RUN_COUNT,
    OLDEST_LIVE_RUN_AGE,
    AGENT_COST,
    AGENT_TOKENS,
    APPROVALS_REQUESTED,
    APPROVAL_REQUESTS,
    AGENT_THRESHOLD,
    AGENT_MODEL,
    MODEL_CHANGE,
    LOOPING_TASKS,
    MAX_RUNS_WITHOUT_PROGRESS,
    MAX_CALLS_WITHOUT_PROGRESS,
    OLDEST_PROGRESS_AGE,
    LOOPING_SPEND,
    UNPRODUCTIVE_RUNS,
    WORK_LOOPING,
    WORK_RUNS,
    WORK_SPEND,
    AGENT_RUNS,
    RUN_DURATION,
    CONTEXT_WINDOW_RATIO,
    CONTEXT_RUNS,
    RUN_LIVENESS,
    CONTEXT_LATEST,
    CONTEXT_GROWTH,
    POLICY_AMOUNT,
    POLICY_OBSERVED,
    POLICY_UTILIZATION,
    POLICY_WARN,
    POLICY_HARD_STOP,
    POLICY_STATUS,
    INCIDENTS_OPEN,
    APPROVALS_BY_STATUS,
    OLDEST_PENDING_APPROVAL,
    DEPENDENCY_EDGES,
    MISSING_BLOCKERS,
    DEPENDENCY_CYCLES,
    LONGEST_CHAIN,
    STALLED_TASKS,
    STALLED_CHAINS,
    OLDEST_STALLED_CHAIN_AGE,
    STALLED_CHAIN_AGE,
    STALLED_CHAIN_LENGTH,
)
