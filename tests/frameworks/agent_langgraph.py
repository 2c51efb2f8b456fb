"""A LangGraph agent on a fake chat model, traced by the OpenTelemetry GenAI LangChain instrumentation.

The agent is LangGraph's classic hand-built graph: a ``StateGraph`` over ``MessagesState`` with
a model node and a prebuilt ``ToolNode``, routed by ``tools_condition``, compiled with an
in-memory checkpointer so that a conversation is a LangGraph thread (``thread_id``). It is
traced the way LangChain users trace it: ``LangChainInstrumentor().instrument()`` from
``opentelemetry-instrumentation-genai-langchain``, which emits the GenAI semantic conventions.

- agent name: ``compile(name=...)`` names the graph, and the run's metadata ``agent_name`` makes
  the instrumentation report it as ``invoke_agent {name}`` (a graph whose name lacks "agent"
  would otherwise be an ``invoke_workflow``);
- conversation id: the ``thread_id`` of the run's config becomes ``gen_ai.conversation.id``;
- tool arguments are recorded only with message content capture on, which this script turns on
  (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) unless set otherwise.

The fake model stands in for ``ChatOpenAI``: it reports ``ls_provider`` "openai", its model name,
``usage_metadata`` and ``response_metadata``, and replays the scenario's turns.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from common import parse_args, setup_tracing
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from opentelemetry.instrumentation.genai.langchain import LangChainInstrumentor
from scenarios import FAILURE, TOOLS, Invocation, Turn, drive_and_flush, run_tool


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers with the next scripted turn, as ``ChatOpenAI`` would report it."""

    model_name: str
    turns: list[Turn]

    @property
    def _llm_type(self) -> str:
        return "scripted-openai"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self  # the script decides the tool calls

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        turn = self.turns.pop(0) if len(self.turns) > 1 else self.turns[0]
        if turn.fail:
            raise ConnectionError(FAILURE)
        usage = {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens}
        usage["total_tokens"] = turn.input_tokens + turn.output_tokens
        metadata = {"model_name": self.model_name, "finish_reason": "tool_calls" if turn.tool else "stop"}
        calls = (
            [{"name": turn.tool, "args": turn.arguments, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "tool_call"}] if turn.tool else []
        )
        message = AIMessage(content=turn.answer, tool_calls=calls, usage_metadata=usage, response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _tool(name: str, parameter: str) -> StructuredTool:
    def call(**arguments: str) -> str:
        return run_tool(name, arguments)

    schema = {"type": "object", "properties": {parameter: {"type": "string"}}, "required": [parameter]}
    return StructuredTool.from_function(call, name=name, description=TOOLS[name], args_schema=schema)


AGENT_TOOLS = [_tool("lookup_order", "order_id"), _tool("request_human_approval", "action"), _tool("wait_for_warehouse", "order_id")]


def build_graph(model: ScriptedChatModel, name: str, checkpointer: InMemorySaver) -> Any:
    """The agent: model node -> tools node -> model node ... until the model answers."""

    def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.bind_tools(AGENT_TOOLS).invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode(AGENT_TOOLS))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=checkpointer, name=name)


def main() -> int:
    args = parse_args("langgraph")
    provider = setup_tracing(args, "langgraph")
    os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")  # read by instrument()
    LangChainInstrumentor().instrument(tracer_provider=provider)
    checkpointer = InMemorySaver()  # the threads, i.e. the conversations

    def invoke(invocation: Invocation) -> str:
        model = ScriptedChatModel(model_name=invocation.model, turns=list(invocation.turns))
        graph = build_graph(model, args.agent, checkpointer)
        config = {
            "configurable": {"thread_id": invocation.conversation_id},
            "metadata": {"agent_name": args.agent},
            "recursion_limit": 2 * max(args.calls, len(invocation.turns)),  # a loop ends in GraphRecursionError
        }
        state = graph.invoke({"messages": [HumanMessage(invocation.prompt)]}, config=config)
        return str(state["messages"][-1].content)

    return drive_and_flush(args, invoke, provider)


if __name__ == "__main__":
    raise SystemExit(main())
