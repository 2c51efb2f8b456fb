"""The fleet as the spans tell it: spans in (``take``), one company snapshot out (``snapshot``).

docs/otel.md holds the mapping table; in short:

- an **agent** per ``gen_ai.agent.id`` (or name) on an ``invoke_agent`` span, or on any span;
  a span without one belongs to the agent of the nearest ancestor that has one (``traces``);
- a **task** per agent and conversation, or per agent and trace (``tasks``);
- a **run** per LLM call (``chat`` and the other inference spans): its tokens, model, cost and
  outcome. Paperclip's run is one wake of an agent that makes LLM calls; a framework agent's
  invocation can loop for hours inside one span, so it is its calls that the loop, context and
  spend detectors count, and an invocation that fails with no failed call is a failed run too;
- a **live run** per invocation whose work is seen and whose own span has not ended (a hang);
- **costs** per agent and model, from the span's cost or the price table (``pricing``);
- an **approval** per call of a configured escalation tool, or per human interrupt;
- a **canary answer** per span naming a canary (``agentwatch.canary.name``).

Everything here is bounded: traces (``traces``), tasks (``tasks``), the run window, approvals
and canary answers; and agents by ``limits.max_agents`` (a span of an agent past it, or of an
agent not configured when only configured ones are accepted, is counted and dropped).
"""

from __future__ import annotations

from collections import Counter, deque

from agentwatch.config import OtelSourceConfig
from agentwatch.model import REPEATED_TOOL_CALL, Approval, CanaryAnswer, Company, CompanySnapshot, CostRow, Issue, Run
from agentwatch.model.delta import touched_delta
from agentwatch.source.otel.agents import AgentState, agent_row
from agentwatch.source.otel.pricing import Pricing
from agentwatch.source.otel.spans import AGENT, LLM, TOOL, SpanRecord
from agentwatch.source.otel.tasks import CANCELLED, DONE, TaskBook, task_id
from agentwatch.source.otel.traces import TraceBook

MAX_MODELS_PER_AGENT = 16  # models (with providers) of one agent shown apart; the rest are "other"
MAX_ERROR_TYPES = 64  # error types shown apart (the error_code label); the rest are "other"
MAX_TOOL_CALLS = 1_000  # distinct tool calls remembered per open task
MAX_PENDING_FAILURES = 10_000
OTHER = "other"
RUN_WINDOW = 2_000  # runs handed out each poll besides the new ones
MAX_NEW_RUNS = 200_000  # runs waiting for the next poll; past it the oldest are dropped and counted
MAX_APPROVALS = 1_000
MAX_CANARY_ANSWERS = 500


class SpanFleet:
    def __init__(self, config: OtelSourceConfig, max_agents: int, pricing: Pricing | None = None) -> None:
        self.config = config
        self.max_agents = max_agents
        self.pricing = pricing or Pricing(config.prices)
        self.company = Company(id=config.name, name=config.name)
        self.traces = TraceBook(config.max_traces, idle_timeout=config.trace_idle_timeout, service_agents=config.agent_from_service_name)
        self.agents: dict[str, AgentState] = {}
        self.tasks = TaskBook(config.max_tasks)
        self.runs: deque[Run] = deque(maxlen=RUN_WINDOW)
        self.new_runs: deque[Run] = deque(maxlen=MAX_NEW_RUNS)
        self.costs: dict[tuple[str, str, str], CostRow] = {}  # (agent, provider, model) -> its row
        self._totals: dict[tuple[str, str, str], list[float]] = {}  # ... -> usd, input, cached input, output tokens
        self._costs_changed: set[tuple[str, str, str]] = set()
        self.approvals: deque[Approval] = deque(maxlen=MAX_APPROVALS)
        self.canary_answers: deque[CanaryAnswer] = deque(maxlen=MAX_CANARY_ANSWERS)
        self.dropped: Counter[str] = Counter()  # reason -> spans
        self.spans = 0
        self._failed_call: dict[tuple[str, str], float] = {}  # (agent, trace) -> end of a failed call
        self._error_types: set[str] = set()
        self._live: dict[tuple[str, str, str, float], Run] = {}
        self._last_issues: dict[str, Issue] | None = None
        # per open task, the tool calls (tool and arguments) since its last terminal outcome, and
        # whether the latest one repeated an earlier one
        self._tool_calls: dict[str, Counter[str]] = {}
        self._repeating: dict[str, bool] = {}

    # -- spans in ------------------------------------------------------------------------------

    def take(self, span: SpanRecord, now: float) -> None:
        self.spans += 1
        if span.canary:
            self._canary(span)
        for row, key, conversation in self.traces.add(span, now):
            agent = self._agent(key, row)
            if agent is not None:
                self._place(agent, row, conversation or row.conversation_id)

    def _agent(self, key: str, span: SpanRecord) -> AgentState | None:
        agent = self.agents.get(key)
        if agent is None:
            known = key in self.config.agents or span.agent_name in self.config.agents
            if not known and not self.config.accept_unknown_agents:
                self.dropped["unknown_agent"] += 1
                return None
            if len(self.agents) >= self.max_agents:
                self.dropped["agent_limit"] += 1
                return None
            agent = self.agents[key] = AgentState(key, span.agent_name or key, span.role, span.framework, span.start)
        if span.end > agent.last_seen:
            agent.last_seen = span.end
        if span.role and not agent.role:
            agent.role = span.role
        if span.agent_name and agent.name == agent.key and span.agent_name != key:
            agent.name = span.agent_name
        return agent

    def _place(self, agent: AgentState, span: SpanRecord, conversation: str) -> None:
        task = self.tasks.work(task_id(agent.key, conversation, span.trace_id), agent.key, span.start, agent.framework)
        if span.kind == LLM:
            self._call(agent, span, task.id)
        elif span.kind == AGENT or (not span.parent_id and not span.agent_key):  # a root: its service's invocation
            self._invocation(agent, span, task.id)
        elif span.kind == TOOL:
            self._tool(agent, span, task.id)

    def _tool(self, agent: AgentState, span: SpanRecord, tid: str) -> None:
        calls = self._tool_calls.setdefault(tid, Counter())
        if len(calls) >= MAX_TOOL_CALLS and span.tool_call not in calls:
            calls.clear()  # a conversation of a thousand different calls: start counting afresh
        calls[span.tool_call] += 1
        self._repeating[tid] = calls[span.tool_call] > 1
        if span.tool_name in self.config.escalation_tools:
            status = "rejected" if span.error else "approved"
            self.approvals.append(Approval(span.span_id, self.company.id, span.tool_name, status, agent.key, span.start))

    def _labels(self, agent: AgentState, span: SpanRecord) -> tuple[str, str, str]:
        """The (provider, model, error type) a span shows as: what a client sends becomes a label
        only within the caps, so that memory and series stay bounded whatever it sends."""
        provider, model = span.provider, span.model
        if (provider, model) not in agent.models:
            if len(agent.models) >= MAX_MODELS_PER_AGENT:
                provider, model = OTHER, OTHER
            else:
                agent.models.add((provider, model))
        error = span.error_type
        if error and error not in self._error_types:
            if len(self._error_types) >= MAX_ERROR_TYPES:
                error = OTHER
            else:
                self._error_types.add(error)
        return provider, model, error

    def _call(self, agent: AgentState, span: SpanRecord, tid: str) -> None:
        cost = span.cost_usd
        if cost is None:
            cost = self.pricing.cost(span.model, span.provider, span.input_tokens, span.output_tokens, span.cache_read_tokens)
        provider, model, error = self._labels(agent, span)
        run = Run(
            id=span.span_id,
            company_id=self.company.id,
            agent_id=agent.key,
            status="failed" if span.error else "succeeded",
            invocation_source="llm_call",
            error_code=error,
            issue_id=tid,
            # a call made after the same tool was called again with the same arguments: no progress
            liveness_state=REPEATED_TOOL_CALL if self._repeating.get(tid) else "",
            started_at=span.start,
            finished_at=span.end,
            created_at=span.start,
            input_tokens=span.input_tokens,
            output_tokens=span.output_tokens,
            cost_usd=cost,
            model=model,
        )
        self._run(run)
        if span.error:
            self._failed_call[(agent.key, span.trace_id)] = span.end
            while len(self._failed_call) > MAX_PENDING_FAILURES:  # invocations that never ended
                del self._failed_call[next(iter(self._failed_call))]
        if model:
            agent.model = model
        if cost is not None or span.input_tokens is not None:
            self._cost(agent, span, cost or 0.0, provider, model)

    def _run(self, run: Run) -> None:
        if len(self.new_runs) == self.new_runs.maxlen:
            self.dropped["run_backlog"] += 1
        self.new_runs.append(run)
        self.runs.append(run)

    def _cost(self, agent: AgentState, span: SpanRecord, cost: float, provider: str, model: str) -> None:
        """Add the call to its agent's and model's totals (their row is made at the next snapshot)."""
        key = (agent.key, provider, model)
        totals = self._totals.get(key)
        if totals is None:
            totals = self._totals[key] = [0.0, 0, 0, 0]
        totals[0] += cost
        totals[1] += span.input_tokens or 0
        totals[2] += span.cache_read_tokens or 0
        totals[3] += span.output_tokens or 0
        self._costs_changed.add(key)
        agent.spend(cost, span.end)

    def _cost_rows(self) -> list[CostRow]:
        cid = self.company.id
        for key in self._costs_changed:
            agent, provider, model = key
            usd, inputs, cached, outputs = self._totals[key]
            self.costs[key] = CostRow(cid, agent, provider, provider, "metered_api", model, usd, int(inputs), int(cached), int(outputs))
        self._costs_changed.clear()
        return list(self.costs.values())

    def _invocation(self, agent: AgentState, span: SpanRecord, tid: str) -> None:
        agent.starts.append(span.start)
        task = self.tasks.get(tid)
        assert task is not None
        failed_call = self._failed_call.pop((agent.key, span.trace_id), None)
        if span.error and span.error_type in self.config.interrupt_errors:
            self.approvals.append(Approval(span.span_id, self.company.id, "human_interrupt", "pending", agent.key, span.end))
            return
        agent.failed_last = span.error
        if not span.error:
            if self._one_trace(task.id, span):
                self.tasks.finish(task, DONE, span.end)
            else:
                self.tasks.answer(task, span.end)
            self._tool_calls.pop(tid, None)  # a terminal outcome: the calls before it were progress
            self._repeating.pop(tid, None)
            return
        if self._one_trace(task.id, span):  # a workflow run that failed is over
            self.tasks.finish(task, CANCELLED, span.end)
        # a conversation whose invocation failed has no terminal outcome yet: it stays in progress,
        # and a retry carries on with it (no status change: no progression)
        if failed_call is None:  # a failure that no failed call has counted already
            self._run(
                Run(
                    id=span.span_id,
                    company_id=self.company.id,
                    agent_id=agent.key,
                    status="failed",
                    invocation_source="invocation",
                    error_code=self._labels(agent, span)[2],
                    issue_id=tid,
                    started_at=span.start,
                    finished_at=span.end,
                    created_at=span.end,  # after the calls it made, in the runs' order
                )
            )

    @staticmethod
    def _one_trace(tid: str, span: SpanRecord) -> bool:
        """Whether the task is the span's trace alone (no conversation named)."""
        return tid.endswith(f"/trace-{span.trace_id}")

    def _canary(self, span: SpanRecord) -> None:
        agents = self.traces.agents_in(span.trace_id)
        if not agents:
            self.dropped["canary_without_agent"] += 1
            return
        key = Counter(agents.values()).most_common(1)[0][0]
        agent = self.agents.get(key)
        for tid in {task_id(key, conv, span.trace_id) for conv in self.traces.conversations_of(span.trace_id)}:
            task = self.tasks.get(tid)
            if task is not None:
                self.tasks.mark_canary(task)
        answer = None if span.error else span.canary_answer
        model = agent.model if agent else ""
        self.canary_answers.append(CanaryAnswer(span.span_id, self.company.id, span.canary, key, answer, model, span.start, span.end))

    # -- a snapshot out --------------------------------------------------------------------------

    def live_runs(self) -> list[Run]:
        live: dict[tuple[str, str, str, float], Run] = {}
        for inv in self.traces.open_invocations():
            if inv.agent_key not in self.agents:
                continue
            key = (inv.trace_id, inv.span_id, inv.agent_key, inv.started_at)
            run = self._live.get(key) or Run(
                id=inv.span_id,
                company_id=self.company.id,
                agent_id=inv.agent_key,
                status="running",
                invocation_source="invocation",
                issue_id=task_id(inv.agent_key, inv.conversation, inv.trace_id),
                started_at=inv.started_at,
                created_at=inv.started_at,
            )
            live[key] = run
        self._live = live
        return sorted(live.values(), key=lambda r: r.created_at or 0.0, reverse=True)

    def snapshot(self, now: float) -> CompanySnapshot:
        self.traces.expire(now)
        self.tasks.close_idle(now, self.config.conversation_idle_timeout)
        live = self.live_runs()
        running = {run.agent_id for run in live}
        cid = self.company.id
        agents = {key: agent_row(state, self.config, cid, key in running, now) for key, state in self.agents.items()}
        touched = self.tasks.take_touched()
        issues = dict(self.tasks.issues)
        for tid in [t for t in self._tool_calls if t not in issues]:  # evicted tasks
            del self._tool_calls[tid]
            self._repeating.pop(tid, None)
        delta = touched_delta(self._last_issues, issues, touched) if self._last_issues is not None else None
        self._last_issues = issues
        window = {run.id: run for run in (*self.runs, *self.new_runs)}
        self.new_runs.clear()
        runs = sorted(window.values(), key=lambda r: r.created_at or 0.0, reverse=True)
        return CompanySnapshot(
            company=self.company,
            agents=agents,
            issues=issues,
            issue_delta=delta,
            runs=runs,
            live_runs=live,
            costs=self._cost_rows(),
            approvals=list(self.approvals),
            canary_answers=list(self.canary_answers),
        )
