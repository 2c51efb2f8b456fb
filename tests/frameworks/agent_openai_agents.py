"""An OpenAI Agents SDK agent on a fake OpenAI endpoint, traced by the OpenTelemetry GenAI instrumentations.

The agent is the SDK's ordinary ``Agent`` + ``Runner`` with its default model class
(``OpenAIResponsesModel``). Only the ``AsyncOpenAI`` client is fake: its httpx transport answers
the Responses API in process (no socket is opened) with the scenario's turns, each with its
token usage. So every layer a user runs is real: the SDK's run loop, sessions and function
tools, the openai client, and the two instrumentations users install:

- ``opentelemetry-instrumentation-genai-openai-agents``: ``invoke_workflow``, ``invoke_agent``
  and ``execute_tool`` spans from the SDK's tracing callbacks. ``disable_openai_trace_export``
  removes the SDK's own trace exporter, so nothing is sent to OpenAI's trace backend.
- ``opentelemetry-instrumentation-genai-openai``: the ``chat {model}`` spans, with the tokens
  and the response model, from the openai client (the agents instrumentation leaves LLM spans
  to it: a custom ``Model`` class that bypasses the openai client gets no ``chat`` span at all).

The conversation id is the SDK's ``RunConfig(group_id=...)``: the workflow span carries it and
hands it down to the agent and chat spans. A conversation's history is the SDK's
``SQLiteSession`` (in memory). Tool arguments are message content, recorded only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only`` (set here unless set already).

    python agent_openai_agents.py --endpoint http://127.0.0.1:4318/v1/traces --scenario healthy
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")

import httpx  # noqa: E402
from agents import Agent, RunConfig, Runner, SQLiteSession, function_tool, set_default_openai_client  # noqa: E402
from common import parse_args, setup_tracing  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor  # noqa: E402
from opentelemetry.instrumentation.genai.openai_agents import OpenAIAgentsInstrumentor  # noqa: E402
from scenarios import FAILURE, Invocation, Turn, drive, run_tool  # noqa: E402

FRAMEWORK = "openai_agents"
FAKE_BASE_URL = "http://fake-openai.invalid/v1"  # never resolved: the transport answers in process


class FakeResponsesAPI:
    """The OpenAI Responses API, faked as an httpx transport handler: each request gets the
    next turn of the current invocation, as a ``Response`` with its usage."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.count = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.turns:
            return httpx.Response(500, json={"error": {"message": "the fake model has no turn left", "type": "server_error"}})
        turn = self.turns.pop(0)
        if turn.fail:
            raise httpx.ConnectError(FAILURE, request=request)
        self.count += 1
        return httpx.Response(200, json=self.response(turn, json.loads(request.content)["model"]))

    def response(self, turn: Turn, model: str) -> dict[str, Any]:
        n = self.count
        if turn.tool:
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": turn.tool, "status": "completed"}
            item["arguments"] = json.dumps(turn.arguments)
        else:
            content = [{"type": "output_text", "text": turn.answer, "annotations": []}]
            item = {"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed", "content": content}
        usage = {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens}
        usage |= {"total_tokens": turn.input_tokens + turn.output_tokens}
        usage |= {"input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        return {
            "id": f"resp_{uuid.uuid4().hex[:16]}",
            "object": "response",
            "created_at": 1_700_000_000 + n,
            "status": "completed",
            "model": model,
            "output": [item],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return run_tool("lookup_order", {"order_id": order_id})


@function_tool
def request_human_approval(action: str) -> str:
    """Ask a human to approve an action before taking it."""
    return run_tool("request_human_approval", {"action": action})


@function_tool
def wait_for_warehouse(order_id: str) -> str:
    """Wait until the warehouse confirms an order."""
    return run_tool("wait_for_warehouse", {"order_id": order_id})


class SupportAgent:
    """One SDK agent; ``invoke`` runs one invocation of the plan in its conversation."""

    def __init__(self, name: str, fake: FakeResponsesAPI) -> None:
        tools = [lookup_order, request_human_approval, wait_for_warehouse]
        self.agent = Agent(name=name, instructions="You help customers with their orders.", tools=tools)
        self.fake = fake
        self.sessions: dict[str, SQLiteSession] = {}

    def invoke(self, invocation: Invocation) -> str:
        self.fake.turns = list(invocation.turns)
        session = self.sessions.setdefault(invocation.conversation_id, SQLiteSession(invocation.conversation_id))
        config = RunConfig(workflow_name="order support", group_id=invocation.conversation_id)
        agent = self.agent.clone(model=invocation.model)
        # a turn is one model call: the loop scenario's calls run out the budget and raise MaxTurnsExceeded
        result = Runner.run_sync(agent, invocation.prompt, run_config=config, session=session, max_turns=len(invocation.turns))
        return str(result.final_output)


def instrument(fake: FakeResponsesAPI) -> None:
    """What a user of the SDK writes, but for the fake transport of the client."""
    OpenAIInstrumentor().instrument()
    OpenAIAgentsInstrumentor().instrument(disable_openai_trace_export=True)
    client = AsyncOpenAI(
        api_key="not-a-real-key", base_url=FAKE_BASE_URL, max_retries=0, http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake))
    )
    set_default_openai_client(client, use_for_tracing=False)


def main() -> int:
    args = parse_args(FRAMEWORK)
    provider = setup_tracing(args, FRAMEWORK)
    fake = FakeResponsesAPI()
    instrument(fake)
    drive(args, SupportAgent(args.agent, fake).invoke)
    provider.force_flush()
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
