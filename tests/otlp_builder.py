"""OTLP export requests built in tests: the spans a GenAI-instrumented agent sends.

``Tracer`` hands out ids and times; ``invoke``, ``chat`` and ``tool`` make the three GenAI span
kinds with the semantic conventions' attributes, and ``request`` wraps spans in an
``ExportTraceServiceRequest`` as an exporter would (one resource, one scope).
"""

from __future__ import annotations

import itertools
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_ids = itertools.count(1)


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def key_values(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items() if v is not None]


def new_trace_id() -> bytes:
    return next(_ids).to_bytes(16, "big")


def new_span_id() -> bytes:
    return next(_ids).to_bytes(8, "big")


def span(
    name: str,
    trace_id: bytes,
    start: float,
    end: float,
    attrs: dict[str, Any] | None = None,
    parent: bytes = b"",
    span_id: bytes | None = None,
    error: bool = False,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id or new_span_id(),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=int(start * 1e9),
        end_time_unix_nano=int(end * 1e9),
        attributes=key_values(attrs or {}),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def request(spans: list[Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(key_values({"service.name": "test-agents", **(resource or {})}))
    rs.scope_spans.add().spans.extend(spans)
    return req


class Conversation:
    """One agent's conversation: invocations of LLM calls and tool calls, spans built children first."""

    def __init__(self, agent: str, conversation: str | None = None, model: str = "gpt-4o-mini", provider: str = "openai") -> None:
        self.agent, self.conversation, self.model, self.provider = agent, conversation, model, provider

    def invocation(
        self,
        start: float,
        calls: list[dict[str, Any]],
        error: str = "",
        close: bool = True,
    ) -> list[Span]:
        """Spans of one invocation: each call dict has ``input``/``output`` tokens, optional
        ``tool`` and ``args``, ``error`` and ``model``; ``close`` False: the invocation never ends."""
        trace_id, agent_id = new_trace_id(), new_span_id()
        spans, t = [], start
        for call in calls:
            model = call.get("model", self.model)
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.provider.name": self.provider,
                "gen_ai.usage.input_tokens": call.get("input", 1000),
                "gen_ai.usage.output_tokens": call.get("output", 100),
            }
            spans.append(span(f"chat {model}", trace_id, t, t + 1, attrs, parent=agent_id, error=bool(call.get("error"))))
            t += 1
            if call.get("tool"):
                tool_attrs = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": call["tool"],
                    "gen_ai.tool.call.arguments": call.get("args", "{}"),
                }
                spans.append(span(f"execute_tool {call['tool']}", trace_id, t, t + 1, tool_attrs, parent=agent_id))
                t += 1
        if close:
            attrs = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": self.agent,
                "gen_ai.conversation.id": self.conversation,
                "error.type": error or None,
            }
            spans.append(span(f"invoke_agent {self.agent}", trace_id, start, t, attrs, span_id=agent_id, error=bool(error)))
        return spans
