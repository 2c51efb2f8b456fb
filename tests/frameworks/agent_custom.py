"""A homegrown agent in plain Python, traced with the OpenTelemetry SDK alone.

No framework and no instrumentation package: the agent loop opens the three GenAI spans itself
(``invoke_agent``, ``chat``, ``execute_tool``) and sets the semantic-convention attributes on
them. ``run_agent`` below is the recipe for any homegrown agent (``custom.md`` shows it in ten
lines). The model is a fake that replays the scenario's turns and reports their usage.

    python agent_custom.py --endpoint http://127.0.0.1:4318/v1/traces --scenario healthy
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from common import parse_args, setup_tracing
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from scenarios import FAILURE, Invocation, drive_and_flush, run_tool

tracer = trace.get_tracer("agentwatch.frameworks.custom")


@contextmanager
def span(name: str, attributes: dict[str, Any], kind: SpanKind = SpanKind.INTERNAL) -> Iterator[trace.Span]:
    """A span that, when the work inside raises, carries ``error.type`` and an error status."""
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        try:
            yield current
        except Exception as exc:
            current.set_attribute("error.type", type(exc).__qualname__)
            raise


@dataclass
class Reply:
    model: str
    input_tokens: int
    output_tokens: int
    text: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


class FakeLLM:
    """Stands in for an OpenAI client: replays the invocation's turns, one per call."""

    provider = "openai"

    def __init__(self, invocation: Invocation) -> None:
        self.model = invocation.model
        self._turns = iter(invocation.turns)

    def complete(self, messages: list[str]) -> Reply:
        turn = next(self._turns)
        if turn.fail:
            raise ConnectionError(FAILURE)
        return Reply(self.model, turn.input_tokens, turn.output_tokens, turn.answer, turn.tool, turn.arguments)


def run_agent(agent: str, conversation_id: str, prompt: str, llm: FakeLLM, tools: dict[str, Callable[..., str]], max_steps: int) -> str:
    """The recipe: one ``invoke_agent`` span per run, a ``chat`` span per model call with its
    usage, an ``execute_tool`` span per tool call with its arguments."""
    who = {"gen_ai.agent.name": agent, "gen_ai.conversation.id": conversation_id}
    with span(f"invoke_agent {agent}", {"gen_ai.operation.name": "invoke_agent", **who}):
        messages = [prompt]
        for _ in range(max_steps):
            request = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": llm.provider, "gen_ai.request.model": llm.model}
            with span(f"chat {llm.model}", {**request, **who}, SpanKind.CLIENT) as chat:
                reply = llm.complete(messages)
                usage = {"gen_ai.usage.input_tokens": reply.input_tokens, "gen_ai.usage.output_tokens": reply.output_tokens}
                chat.set_attributes({"gen_ai.response.model": reply.model, **usage})
            if reply.tool is None:
                return reply.text
            call = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": reply.tool}
            call["gen_ai.tool.call.arguments"] = json.dumps(reply.arguments)
            with span(f"execute_tool {reply.tool}", {**call, **who}):
                messages.append(tools[reply.tool](**reply.arguments))
        raise RuntimeError(f"no answer after {max_steps} steps")


TOOLS: dict[str, Callable[..., str]] = {
    "lookup_order": lambda order_id: run_tool("lookup_order", {"order_id": order_id}),
    "request_human_approval": lambda action: run_tool("request_human_approval", {"action": action}),
    "wait_for_warehouse": lambda order_id: run_tool("wait_for_warehouse", {"order_id": order_id}),
}


def main() -> int:
    args = parse_args("custom")
    provider = setup_tracing(args, "custom")

    def invoke(invocation: Invocation) -> str:
        llm = FakeLLM(invocation)
        steps = max(args.calls, len(invocation.turns))
        return run_agent(args.agent, invocation.conversation_id, invocation.prompt, llm, TOOLS, max_steps=steps)

    return drive_and_flush(args, invoke, provider)


if __name__ == "__main__":
    raise SystemExit(main())
