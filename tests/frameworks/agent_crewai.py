"""A CrewAI crew on a scripted LLM, traced by OpenInference's CrewAI instrumentation.

The agent is CrewAI's ordinary ``Agent`` with ``@tool`` functions, run as a one-task ``Crew``
per invocation (``crew.kickoff()``). Its LLM is a ``BaseLLM`` subclass, CrewAI's interface for
custom models, that replays the scenario's turns in CrewAI's text format (``Action:`` /
``Final Answer:``) and behaves as CrewAI's own providers do: it emits the ``LLMCall*`` events
and reports each call's usage through ``_track_token_usage_internal``.

It is traced with ``openinference-instrumentation-crewai`` in its event-listener mode
(``use_event_listener=True``): CrewAI's default wrapper mode leaves LLM spans to an LLM-client
instrumentation, and a custom ``BaseLLM`` has no client, so without the listener its calls and
tokens would not appear at all. OpenLLMetry's ``opentelemetry-instrumentation-crewai`` was
tried and rejected: it wraps only ``crewai.LLM.call`` (no LLM span, no tokens for a custom
LLM), has no tool spans, and marks the crew and task spans ``invoke_agent`` too.

- agent name: the agent's ``role``, on AGENT spans as ``graph.node.id`` and in the span name;
- conversation id: OpenInference's ``using_session(conversation_id)`` around the kickoff
  puts ``session.id`` on every span of the run.

CrewAI phones home unless told not to: its anonymous telemetry (``CREWAI_DISABLE_TELEMETRY``),
its own trace upload (``CREWAI_TRACING_ENABLED=false`` and ``Crew(tracing=False)``) and a PyPI
version check (``CREWAI_DISABLE_VERSION_CHECK``); all are turned off here, and ``OTEL_SDK_DISABLED``,
which CrewAI also reads, must stay unset since these spans go out through the OpenTelemetry SDK.

    python agent_crewai.py --endpoint http://127.0.0.1:4318/v1/traces --scenario healthy
"""

from __future__ import annotations

import json
import os
from typing import Any

QUIET = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
}
for _name, _value in QUIET.items():
    os.environ.setdefault(_name, _value)

from common import parse_args, setup_tracing  # noqa: E402
from crewai import Agent, BaseLLM, Crew, Task  # noqa: E402
from crewai.events.event_bus import crewai_event_bus  # noqa: E402
from crewai.events.types.llm_events import LLMCallType  # noqa: E402
from crewai.llms.base_llm import llm_call_context  # noqa: E402
from crewai.tools import tool  # noqa: E402
from openinference.instrumentation import using_session  # noqa: E402
from openinference.instrumentation.crewai import CrewAIInstrumentor  # noqa: E402
from pydantic import Field  # noqa: E402
from scenarios import FAILURE, Invocation, Turn, drive, run_tool  # noqa: E402

FRAMEWORK = "crewai"


def react_text(turn: Turn) -> str:
    """A turn as a model answers CrewAI's ReAct prompt."""
    if turn.tool:
        return f"Thought: I need the tool {turn.tool}.\nAction: {turn.tool}\nAction Input: {json.dumps(turn.arguments)}"
    return f"Thought: I now know the final answer\nFinal Answer: {turn.answer}"


class ScriptedLLM(BaseLLM):
    """A custom CrewAI LLM replaying turns (the last one again once they run out), reporting
    its calls and their usage the way CrewAI's built-in providers do."""

    turns: list[Turn] = Field(default_factory=list)

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str:
        with llm_call_context():
            asked = {"from_task": from_task, "from_agent": from_agent}
            self._emit_call_started_event(
                messages=messages, tools=tools, callbacks=callbacks, available_functions=available_functions, **asked
            )
            turn = self.turns.pop(0) if len(self.turns) > 1 else self.turns[0]
            if turn.fail:
                self._emit_call_failed_event(error=FAILURE, **asked)
                raise ConnectionError(FAILURE)
            text = react_text(turn)
            usage = {"prompt_tokens": turn.input_tokens, "completion_tokens": turn.output_tokens}
            usage["total_tokens"] = turn.input_tokens + turn.output_tokens
            self._track_token_usage_internal(usage)
            self._emit_call_completed_event(response=text, call_type=LLMCallType.LLM_CALL, messages=messages, usage=usage, **asked)
            return text

    def get_context_window_size(self) -> int:
        return 128_000


@tool("lookup_order")
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return run_tool("lookup_order", {"order_id": order_id})


@tool("request_human_approval")
def request_human_approval(action: str) -> str:
    """Ask a human to approve an action before taking it."""
    return run_tool("request_human_approval", {"action": action})


@tool("wait_for_warehouse")
def wait_for_warehouse(order_id: str) -> str:
    """Wait until the warehouse confirms an order."""
    return run_tool("wait_for_warehouse", {"order_id": order_id})


def invoke(role: str, invocation: Invocation) -> str:
    """One kickoff of a one-agent, one-task crew, inside its conversation's session."""
    llm = ScriptedLLM(model=invocation.model, provider="openai", turns=list(invocation.turns))
    agent = Agent(
        role=role,
        goal="Answer customers' questions about their orders",
        backstory="You work in the support team of an online shop.",
        llm=llm,
        tools=[lookup_order, request_human_approval, wait_for_warehouse],
        max_iter=max(3, len(invocation.turns)),
    )
    task = Task(description=invocation.prompt, expected_output="A short answer for the customer", agent=agent)
    crew = Crew(agents=[agent], tasks=[task], tracing=False)
    with using_session(invocation.conversation_id):
        return crew.kickoff().raw


def main() -> int:
    args = parse_args(FRAMEWORK)
    provider = setup_tracing(args, FRAMEWORK)
    CrewAIInstrumentor().instrument(tracer_provider=provider, use_event_listener=True)
    drive(args, lambda invocation: invoke(args.agent, invocation))
    crewai_event_bus.flush()  # the listener ends spans in CrewAI's event handlers, which run in a pool
    provider.force_flush()
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
