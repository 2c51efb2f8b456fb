"""The OpenTelemetry mapping: spans in, the model out (source/otel/fleet.py and friends)."""

from __future__ import annotations

from agentwatch.config import OtelSourceConfig
from agentwatch.source.otel.fleet import SpanFleet
from agentwatch.source.otel.spans import records
from otlp_builder import Conversation, new_span_id, new_trace_id, request, span

T0 = 1_800_000_000.0


def fleet(**config) -> SpanFleet:
    return SpanFleet(OtelSourceConfig(**config), max_agents=10)


def feed(f: SpanFleet, spans, now: float = T0, resource=None) -> None:
    for row in records(request(spans, resource)):
        f.take(row, now)


def test_an_invocation_is_a_task_its_calls_are_runs():
    f = fleet()
    conv = Conversation("researcher", "conv-1")
    feed(f, conv.invocation(T0, [{"input": 1000, "output": 50, "tool": "search", "args": '{"q": 1}'}, {"input": 1500, "output": 80}]))
    cs = f.snapshot(T0 + 10)
    assert cs.issues["researcher/conv-1"].status == "in_review"  # answered, open to the next turn
    cs = f.snapshot(T0 + 3 + 900)  # no turn for conversation_idle_timeout: done, at its answer
    assert list(cs.agents) == ["researcher"]
    agent = cs.agents["researcher"]
    assert agent.name == "researcher" and agent.status == "idle" and agent.model == "gpt-4o-mini"
    (task,) = cs.issues.values()
    assert task.id == "researcher/conv-1" and task.status == "done" and task.assignee_agent_id == "researcher"
    assert task.started_at == T0 and task.completed_at == T0 + 3
    assert [r.input_tokens for r in cs.runs] == [1500, 1000]  # newest first
    assert all(r.status == "succeeded" and r.issue_id == task.id for r in cs.runs)
    (cost,) = cs.costs
    assert cost.input_tokens == 2500 and cost.output_tokens == 130 and cost.cost_usd > 0
    assert agent.spent_monthly_usd == round(cost.cost_usd, 6)


def test_unchanged_rows_are_the_same_objects_and_the_delta_is_what_changed():
    f = fleet()
    conv = Conversation("a", "c1")
    feed(f, conv.invocation(T0, [{}]))
    first = f.snapshot(T0 + 5)
    second = f.snapshot(T0 + 6)
    assert second.agents["a"] is first.agents["a"]
    assert all(second.issues[k] is first.issues[k] for k in first.issues)
    assert second.issue_delta is not None and second.issue_delta.before is first.issues and not second.issue_delta.changed
    feed(f, Conversation("a", "c2").invocation(T0 + 10, [{}]))
    third = f.snapshot(T0 + 20)
    assert set(third.issue_delta.changed) == {"a/c2"}


def test_a_failed_invocation_is_a_failed_run_once():
    f = fleet()
    conv = Conversation("a", "c1")
    feed(f, conv.invocation(T0, [{"error": True}], error="RateLimitError"))  # the call failed: one failed run
    feed(f, conv.invocation(T0 + 10, [{"tool": "x"}], error="ToolError"))  # the call succeeded: the invocation is the failed run
    cs = f.snapshot(T0 + 20)
    assert [r.status for r in cs.runs] == ["failed", "succeeded", "failed"]
    assert cs.issues["a/c1"].status == "in_progress"  # no terminal outcome: a retry carries on with it
    assert cs.agents["a"].status == "error"
    feed(f, Conversation("b").invocation(T0, [{}], error="Boom"))  # a workflow run of its own: over
    (task,) = [i for i in f.snapshot(T0 + 30).issues.values() if i.assignee_agent_id == "b"]
    assert task.status == "cancelled" and task.id.startswith("b/trace-")


def test_a_conversation_reopens_on_its_next_turn_and_is_done_when_idle():
    f = fleet(conversation_idle_timeout="10m")
    conv = Conversation("a", "c1")
    feed(f, conv.invocation(T0, [{}]))
    assert f.snapshot(T0 + 5).issues["a/c1"].status == "in_review"
    feed(f, conv.invocation(T0 + 100, [{}], close=False)[:1])  # a call of the next turn, its invocation not ended
    assert f.snapshot(T0 + 105).issues["a/c1"].status == "in_review"  # the call names no agent: held until its invocation ends
    feed(f, Conversation("a", "c1").invocation(T0 + 200, [{}], close=False)[:1] + Conversation("a", "c1").invocation(T0 + 200, [{}]))
    issue = f.snapshot(T0 + 205).issues["a/c1"]
    assert issue.status == "in_review" and issue.started_at == T0 + 200  # the turn's own start: a progression
    assert f.snapshot(T0 + 201 + 599).issues["a/c1"].status == "in_review"
    done = f.snapshot(T0 + 201 + 600).issues["a/c1"]
    assert done.status == "done" and done.completed_at == T0 + 201
    feed(f, Conversation("b").invocation(T0, [{}]))  # no conversation: a workflow run, done at once
    assert [i.status for i in f.snapshot(T0 + 900).issues.values() if i.assignee_agent_id == "b"] == ["done"]


def test_an_open_invocation_whose_calls_name_the_agent_is_a_live_run():
    f = fleet()
    trace, parent = new_trace_id(), new_span_id()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.agent.name": "hung",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.request.model": "gpt-4o",
    }
    feed(f, [span("chat gpt-4o", trace, T0 + 1, T0 + 2, attrs, parent=parent)])
    cs = f.snapshot(T0 + 600)
    (live,) = cs.live_runs
    assert live.agent_id == "hung" and live.status == "running" and live.started_at == T0 + 1 and live.id == parent.hex()
    assert cs.agents["hung"].status == "running"
    feed(
        f,
        [
            span(
                "invoke_agent hung",
                trace,
                T0,
                T0 + 700,
                {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "hung"},
                span_id=parent,
            )
        ],
    )
    cs = f.snapshot(T0 + 701)
    assert cs.live_runs == [] and cs.agents["hung"].status == "idle"


def test_unknown_and_over_limit_agents_are_counted_and_dropped():
    f = SpanFleet(OtelSourceConfig(accept_unknown_agents=False, agents={"known": {}}), max_agents=10)
    feed(f, Conversation("stranger", "c").invocation(T0, [{}]))
    feed(f, Conversation("known", "c").invocation(T0, [{}]))
    cs = f.snapshot(T0 + 10)
    assert list(cs.agents) == ["known"]
    assert f.dropped["unknown_agent"] == 2  # its call and its invocation
    g = SpanFleet(OtelSourceConfig(), max_agents=2)
    for name in ("a", "b", "c"):
        feed(g, Conversation(name, "c").invocation(T0, [{}]))
    assert sorted(g.snapshot(T0).agents) == ["a", "b"] and g.dropped["agent_limit"] == 2


def test_role_budget_and_cadence_come_from_the_config():
    f = fleet(agents={"a": {"budget_monthly_usd": 50, "heartbeat_interval": "10m"}}, roles={"writer": {"run_timeout": "5m"}})
    feed(f, Conversation("a", "c").invocation(T0, [{}]), resource={"agentwatch.agent.role": "writer"})
    agent = f.snapshot(T0 + 5).agents["a"]
    assert agent.role == "writer" and agent.budget_monthly_usd == 50
    assert agent.heartbeat.enabled and agent.heartbeat.interval_seconds == 600 and agent.run_timeout_seconds == 300


def test_a_regular_cadence_is_learnt_an_irregular_one_is_not():
    f = fleet(learn_heartbeat_after=6)
    for i in range(6):
        feed(f, Conversation("timer", f"c{i}").invocation(T0 + 300 * i, [{}]))
        feed(f, Conversation("bursty", f"c{i}").invocation(T0 + [0, 5, 900, 910, 3000, 3001][i], [{}]))
        feed(f, Conversation("new", f"c{i}").invocation(T0 + 300 * i, [{}]) if i < 5 else [])
    cs = f.snapshot(T0 + 2000)
    assert cs.agents["timer"].heartbeat.interval_seconds == 300
    assert not cs.agents["bursty"].heartbeat.enabled
    assert not cs.agents["new"].heartbeat.enabled  # five invocations are not yet a cadence


def test_escalation_tools_and_interrupts_are_approvals():
    f = fleet()
    conv = Conversation("a", "c")
    feed(f, conv.invocation(T0, [{"tool": "request_human_approval"}, {"tool": "search"}]))
    feed(f, conv.invocation(T0 + 10, [{}], error="GraphInterrupt"))
    cs = f.snapshot(T0 + 20)
    assert sorted(a.type for a in cs.approvals) == ["human_interrupt", "request_human_approval"]
    assert cs.issues["a/c"].status == "in_progress"  # an interrupt waits for a human


def test_a_cost_on_the_span_wins_and_unknown_models_are_not_priced():
    f = fleet(prices={"house-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}})
    trace, parent = new_trace_id(), new_span_id()
    spans = [
        span(
            "chat x",
            trace,
            T0,
            T0 + 1,
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "mystery-1", "gen_ai.usage.input_tokens": 10},
            parent=parent,
        ),
        span(
            "chat y",
            trace,
            T0,
            T0 + 1,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "mystery-2",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.cost": 0.25,
            },
            parent=parent,
        ),
        span(
            "chat z",
            trace,
            T0,
            T0 + 1,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "house-model",
                "gen_ai.usage.input_tokens": 1_000_000,
                "gen_ai.usage.output_tokens": 1_000_000,
            },
            parent=parent,
        ),
        span("invoke_agent a", trace, T0, T0 + 2, {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}, span_id=parent),
    ]
    feed(f, spans)
    costs = {r.model: r.cost_usd for r in f.snapshot(T0 + 5).costs}
    assert costs == {"mystery-1": 0.0, "mystery-2": 0.25, "house-model": 3.0}
    assert f.pricing.unpriced == 1


def test_older_attribute_names_are_read():
    f = fleet()
    trace, parent = new_trace_id(), new_span_id()
    old_chat = {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 700,
        "gen_ai.usage.completion_tokens": 7,
    }
    agent = {"traceloop.span.kind": "agent", "traceloop.entity.name": "legacy"}
    feed(
        f, [span("openai.chat", trace, T0, T0 + 1, old_chat, parent=parent), span("legacy.agent", trace, T0, T0 + 2, agent, span_id=parent)]
    )
    cs = f.snapshot(T0 + 5)
    (run,) = cs.runs
    assert run.agent_id == "legacy" and run.input_tokens == 700 and run.output_tokens == 7 and run.model == "gpt-4o"


def test_a_canary_span_is_an_answer_and_its_task_a_canary():
    f = fleet()
    inv = Conversation("a").invocation(T0, [{}])
    trace = inv[0].trace_id
    for s in inv:
        s.parent_span_id = s.parent_span_id or b"\x00" * 7 + b"\x09"
    root = span(
        "canary six-times-seven",
        trace,
        T0,
        T0 + 5,
        {"agentwatch.canary.name": "six-times-seven", "agentwatch.canary.answer": "42"},
        span_id=b"\x00" * 7 + b"\x09",
    )
    feed(f, [*inv, root])
    cs = f.snapshot(T0 + 10)
    (answer,) = cs.canary_answers
    assert answer.canary == "six-times-seven" and answer.answer == "42" and answer.agent_id == "a" and answer.model == "gpt-4o-mini"
    assert all(issue.is_canary for issue in cs.issues.values())


def test_memory_is_bounded():
    f = fleet(max_traces=5, max_tasks=10)
    for i in range(50):
        feed(f, Conversation("a", f"c{i}").invocation(T0 + i, [{}]))
        trace = new_trace_id()
        feed(f, [span("chat", trace, T0, T0 + 1, {"gen_ai.operation.name": "chat"}, parent=new_span_id())])  # never placed
    cs = f.snapshot(T0 + 100)
    assert len(f.traces) <= 5 and len(cs.issues) == 10 and f.tasks.evicted == 40
    assert f.traces.dropped.get("trace_limit", 0) > 0


def test_calls_after_a_repeated_tool_call_are_unproductive():
    f = fleet()
    same = {"tool": "search", "args": '{"q": "same"}'}
    feed(f, Conversation("looper", "c").invocation(T0, [same, same, same, {}], error="GraphRecursionError"))
    cs = f.snapshot(T0 + 10)
    calls = sorted((r for r in cs.runs if r.invocation_source == "llm_call"), key=lambda r: r.started_at)
    assert [r.liveness_state for r in calls] == ["", "", "repeated_tool_call", "repeated_tool_call"]
    feed(f, Conversation("looper", "c").invocation(T0 + 20, [{"tool": "search", "args": '{"q": "other"}'}, {}]))
    cs = f.snapshot(T0 + 40)
    newest = sorted((r for r in cs.runs if r.invocation_source == "llm_call"), key=lambda r: r.started_at)[-2:]
    assert [r.liveness_state for r in newest] == ["repeated_tool_call", ""]  # the conversation's first call repeated


def test_the_service_name_is_the_agent_of_spans_that_name_none_when_asked():
    def spans():
        trace, root = new_trace_id(), new_span_id()
        call = span("chat m", trace, T0, T0 + 1, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}, parent=root)
        return [call, span("handle_request", trace, T0, T0 + 2, {}, span_id=root)]

    anonymous = fleet()
    feed(anonymous, spans(), resource={"service.name": "billing-agent"})
    assert anonymous.snapshot(T0 + 5).agents == {}
    named = fleet(agent_from_service_name=True)
    feed(named, spans(), resource={"service.name": "billing-agent"})
    cs = named.snapshot(T0 + 5)
    assert list(cs.agents) == ["billing-agent"] and len(cs.runs) == 1
    assert [i.status for i in cs.issues.values()] == ["done"]


def test_what_a_client_sends_becomes_a_label_only_within_the_caps():
    f = fleet()
    conv = Conversation("a", "c")
    for i in range(40):
        spans = conv.invocation(T0 + i, [{"model": f"model-{i}", "error": True}], error=f"Error{i}")
        feed(f, spans)
    cs = f.snapshot(T0 + 100)
    models = {row.model for row in cs.costs}
    assert len(models) == 17 and "other" in models  # 16 apart, the rest folded
    assert {r.model for r in cs.runs} <= models
    hostile = SpanFleet(OtelSourceConfig(), max_agents=200)
    for i in range(100):
        feed(hostile, Conversation(f"agent-{i}", "c").invocation(T0, [{}], error=f"Boom{i}"))
    errors = {r.error_code for r in hostile.snapshot(T0 + 1).runs} - {""}
    assert len(errors) <= 65 and "other" in errors


KEYS = [
    "gen_ai.operation.name",
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.conversation.id",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.response.model",
    "gen_ai.provider.name",
    "gen_ai.usage.cost",
    "gen_ai.tool.name",
    "gen_ai.tool.call.arguments",
    "error.type",
    "agentwatch.canary.name",
    "agentwatch.canary.answer",
    "openinference.span.kind",
    "llm.token_count.prompt",
]


def test_any_attributes_on_any_spans_are_taken_in_without_an_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.one_of(
        st.text(max_size=300),
        st.sampled_from(["invoke_agent", "chat", "execute_tool", "AGENT", "LLM", "TOOL", "a", ""]),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
    )
    span_strategy = st.tuples(
        st.dictionaries(st.sampled_from(KEYS), values, max_size=10),
        st.integers(min_value=0, max_value=3),  # which parent, of the spans before it
        st.booleans(),  # error status
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),  # start offset
        st.floats(min_value=-10, max_value=1e5, allow_nan=False),  # duration
    )

    @settings(max_examples=150, deadline=None)
    @given(st.lists(span_strategy, min_size=1, max_size=12))
    def check(drawn):
        f = fleet()
        trace, ids, spans = new_trace_id(), [new_span_id() for _ in drawn], []
        for i, (attrs, parent, error, start, took) in enumerate(drawn):
            parent_id = ids[parent] if parent < len(ids) and parent != i else b""
            spans.append(span("s", trace, T0 + start, T0 + start + took, attrs, parent=parent_id, span_id=ids[i], error=error))
        feed(f, spans)
        cs = f.snapshot(T0 + 2e6)
        assert len(cs.agents) <= 10
        for run in cs.runs:
            assert run.agent_id in cs.agents and run.issue_id in cs.issues

    check()
