"""A Pydantic AI agent on a scripted model, traced by Pydantic AI's own OpenTelemetry instrumentation.

Pydantic AI instruments itself: ``Agent.instrument_all(InstrumentationSettings(...))`` (what
``logfire.instrument_pydantic_ai()`` does, without Logfire) makes every agent emit
``invoke_agent``, ``chat`` and ``execute_tool`` spans in the GenAI semantic conventions (data
format version 5, the default; prompts and tool arguments included by default).

- agent name: ``Agent(name=...)``;
- conversation id: ``run_sync(conversation_id=...)``; a later turn of the conversation passes
  the id again with the previous run's messages (``message_history``);
- the model is a ``FunctionModel`` named like the real one, reporting provider "openai" and each
  turn's ``RequestUsage``; the loop scenario ends when ``UsageLimits(request_limit=...)`` trips.
"""

from __future__ import annotations

from common import parse_args, setup_tracing
from pydantic_ai import Agent, InstrumentationSettings
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage, UsageLimits
from scenarios import FAILURE, TOOLS, Invocation, Turn, drive_and_flush, run_tool


class ScriptedOpenAIModel(FunctionModel):
    """A ``FunctionModel`` that replays turns and reports itself as an OpenAI model."""

    def __init__(self, invocation: Invocation) -> None:
        self._turns = list(invocation.turns)
        super().__init__(self._reply, model_name=invocation.model)

    @property
    def system(self) -> str:
        return "openai"

    def _reply(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn: Turn = self._turns.pop(0)
        if turn.fail:
            raise ConnectionError(FAILURE)
        part = ToolCallPart(turn.tool, turn.arguments) if turn.tool else TextPart(turn.answer)
        return ModelResponse(parts=[part], usage=RequestUsage(input_tokens=turn.input_tokens, output_tokens=turn.output_tokens))


def build_agent(name: str) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(name=name, instructions="You help customers with their orders.")

    @agent.tool_plain(description=TOOLS["lookup_order"])
    def lookup_order(order_id: str) -> str:
        return run_tool("lookup_order", {"order_id": order_id})

    @agent.tool_plain(description=TOOLS["request_human_approval"])
    def request_human_approval(action: str) -> str:
        return run_tool("request_human_approval", {"action": action})

    @agent.tool_plain(description=TOOLS["wait_for_warehouse"])
    def wait_for_warehouse(order_id: str) -> str:
        return run_tool("wait_for_warehouse", {"order_id": order_id})

    return agent


def main() -> int:
    args = parse_args("pydantic_ai")
    provider = setup_tracing(args, "pydantic_ai")
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    agent = build_agent(args.agent)
    histories: dict[str, list[ModelMessage]] = {}  # conversation id -> its messages so far

    def invoke(invocation: Invocation) -> str:
        result = agent.run_sync(
            invocation.prompt,
            model=ScriptedOpenAIModel(invocation),
            conversation_id=invocation.conversation_id,
            message_history=histories.get(invocation.conversation_id),
            usage_limits=UsageLimits(request_limit=max(args.calls, len(invocation.turns))),
        )
        histories[invocation.conversation_id] = result.all_messages()
        return result.output

    return drive_and_flush(args, invoke, provider)


if __name__ == "__main__":
    raise SystemExit(main())
