"""OTLP spans read into flat, frozen ``SpanRecord`` rows: what agentwatch needs of each span.

The attribute names are the OpenTelemetry GenAI semantic conventions as pinned in
``SEMCONV_VERSION`` (``invoke_agent``, ``chat`` and ``execute_tool`` spans; ``gen_ai.agent.*``,
``gen_ai.conversation.id``, ``gen_ai.usage.*``, ``gen_ai.request.model`` and
``gen_ai.response.model``, ``gen_ai.provider.name``, ``error.type``). The names that older
instrumentations still emit are read too, each after the current one: ``gen_ai.system``,
``gen_ai.usage.prompt_tokens`` and ``completion_tokens``, OpenLLMetry's ``traceloop.*`` and
``llm.*``, OpenInference's ``openinference.span.kind`` and ``llm.token_count.*``, and Pydantic
AI's ``agent_name``. docs/otel.md holds the whole mapping table.

Nothing here raises on what a client sends: a value of the wrong type reads as absent.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator, Mapping, NamedTuple

import msgspec

SEMCONV_VERSION = "1.44.0"  # the GenAI conventions implemented here (opentelemetry-semantic-conventions 0.66b2)
MAX_TEXT = 200  # characters kept of a name or an id; a longer one is cut
MAX_ANSWER = 2000  # characters kept of a canary answer

AGENT, LLM, TOOL, OTHER = "agent", "llm", "tool", "other"
_OPERATIONS = {
    "invoke_agent": AGENT,
    "chat": LLM,
    "text_completion": LLM,
    "generate_content": LLM,
    "execute_tool": TOOL,
}
_OPENINFERENCE_KINDS = {"AGENT": AGENT, "LLM": LLM, "TOOL": TOOL}
_TRACELOOP_KINDS = {"agent": AGENT, "tool": TOOL}
_NAME_PREFIXES = (("invoke_agent", AGENT), ("chat ", LLM), ("execute_tool", TOOL), ("running tool", TOOL))
# an attribute, then the older names of the same fact, newest first
AGENT_NAME = ("gen_ai.agent.name", "agent_name", "traceloop.entity.name", "agent.name")
AGENT_ID = ("gen_ai.agent.id",)
CONVERSATION = (
    "gen_ai.conversation.id",
    "session.id",
    "traceloop.association.properties.thread_id",
    "traceloop.association.properties.session_id",
    "thread_id",
)
RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model", "llm.model_name")
REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHE_READ = ("gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read")
CACHE_WRITE = ("gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_creation.input_tokens")
COST = ("gen_ai.usage.cost", "llm.usage.cost", "operation.cost")
TOOL_NAME = ("gen_ai.tool.name", "tool.name", "tool_name", "traceloop.entity.name")
TOOL_ARGS = ("gen_ai.tool.call.arguments", "tool_arguments", "input.value", "traceloop.entity.input")
ROLE = ("agentwatch.agent.role", "gen_ai.agent.role")
CANARY_NAME = "agentwatch.canary.name"
CANARY_ANSWER = "agentwatch.canary.answer"
STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR
# every span attribute read here
WANTED = frozenset(
    {
        *AGENT_NAME,
        *AGENT_ID,
        *CONVERSATION,
        *RESPONSE_MODEL,
        *REQUEST_MODEL,
        *PROVIDER,
        *INPUT_TOKENS,
        *OUTPUT_TOKENS,
        *CACHE_READ,
        *CACHE_WRITE,
        *COST,
        *TOOL_NAME,
        *TOOL_ARGS,
        *ROLE,
        CANARY_NAME,
        CANARY_ANSWER,
        "gen_ai.operation.name",
        "openinference.span.kind",
        "traceloop.span.kind",
        "llm.request.type",
        "error.type",
        "exception.type",
        "graph.node.id",
    }
)


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, str):
        return value[:limit] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if 0 <= number < 1e12 and number == int(number) else None


def _money(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9 else None


def _long_text(value: Any) -> str | None:
    return _text(value, 1 << 20)


# the fields of a span read from its attributes: each field's names, newest first, and how a value is read
FIELDS: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("agent_name", AGENT_NAME, _text),
    ("gen_ai_agent_name", AGENT_NAME[:2], _text),  # a tool span's agent: the GenAI names alone
    ("agent_id", AGENT_ID, _text),
    ("conversation_id", CONVERSATION, _text),
    ("response_model", RESPONSE_MODEL, _text),
    ("request_model", REQUEST_MODEL, _text),
    ("provider", PROVIDER, _text),
    ("input_tokens", INPUT_TOKENS, _count),
    ("output_tokens", OUTPUT_TOKENS, _count),
    ("cache_read_tokens", CACHE_READ, _count),
    ("cache_write_tokens", CACHE_WRITE, _count),
    ("cost_usd", COST, _money),
    ("tool_name", TOOL_NAME, _text),
    ("tool_args", TOOL_ARGS, _long_text),
    ("role", ROLE, _text),
    ("canary", (CANARY_NAME,), _text),
    ("error_type", ("error.type", "exception.type"), _text),
    ("node", ("graph.node.id",), _text),
)
# attribute key -> every (field, rank, reader) it can fill
SLOTS: dict[str, tuple[tuple[str, int, Any], ...]] = {}
for _field, _names, _reader in FIELDS:
    for _rank, _name in enumerate(_names):
        SLOTS[_name] = (*SLOTS.get(_name, ()), (_field, _rank, _reader))


def read_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Each field of ``FIELDS`` from the attributes: the value of its newest name that reads as
    that field's type (a value of the wrong type is passed over, as if absent)."""
    found: dict[str, tuple[int, Any]] = {}
    for key, value in attrs.items():
        for field, rank, reader in SLOTS.get(key, ()):
            held = found.get(field)
            if held is not None and held[0] < rank:
                continue
            read = reader(value)
            if read is not None:
                found[field] = (rank, read)
    return {field: value for field, (_, value) in found.items()}


class SpanRecord(msgspec.Struct, frozen=True, gc=False):
    """One span, as agentwatch reads it. Times are Unix seconds; ids are lowercase hex."""

    kind: str  # AGENT, LLM, TOOL or OTHER
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    start: float
    end: float
    error: bool = False
    error_type: str = ""
    agent_name: str = ""
    agent_id: str = ""
    role: str = ""
    conversation_id: str = ""
    model: str = ""
    provider: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    tool_name: str = ""
    tool_call: str = ""  # the tool and a digest of its arguments: equal for the same call repeated
    framework: str = ""
    service: str = ""  # the resource's service.name
    canary: str = ""
    canary_answer: str | None = None

    @property
    def agent_key(self) -> str:
        """The agent's identity: its id where the span carries one, else its name."""
        return self.agent_id or self.agent_name


def value_of(any_value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python scalar; arrays and maps (never needed here) as None."""
    which = any_value.WhichOneof("value")
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(any_value, which)
    return None


def attributes(key_values: Any, wanted: frozenset[str] | None = None) -> dict[str, Any]:
    """The attributes as scalars: all of them, or only the ``wanted`` keys (a span's messages,
    often most of its bytes, are then never copied out of the protobuf)."""
    if wanted is None:
        return {kv.key: value_of(kv.value) for kv in key_values}
    # value_of inlined (this runs for every span): an array or a map reads as its message, which
    # no reader takes, so it counts as absent as value_of's None does
    return {kv.key: getattr(v, v.WhichOneof("value") or "string_value") for kv in key_values if kv.key in wanted for v in (kv.value,)}


def first_text(attrs: Mapping[str, Any], names: tuple[str, ...], limit: int = MAX_TEXT) -> str:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value[:limit]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return ""


def kind_of(name: str, attrs: Mapping[str, Any]) -> str:
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _OPERATIONS:
        return _OPERATIONS[operation]
    for key, table in (("openinference.span.kind", _OPENINFERENCE_KINDS), ("traceloop.span.kind", _TRACELOOP_KINDS)):
        value = attrs.get(key)
        if isinstance(value, str) and value in table:
            return table[value]
    if isinstance(attrs.get("llm.request.type"), str):
        return LLM
    for prefix, kind in _NAME_PREFIXES:
        if name.startswith(prefix):
            return kind
    if name == "agent run" or name.startswith("invoke_agent"):
        return AGENT
    return OTHER


def agent_name_of(kind: str, attrs: Mapping[str, Any], got: Mapping[str, Any]) -> str:
    """The agent a span names. On a tool span, only the GenAI names (OpenLLMetry's entity name is
    the tool's there); on an OpenInference agent span with no name, its ``graph.node.id`` (CrewAI
    puts the agent's role there and nowhere else)."""
    if kind == TOOL:
        return str(got.get("gen_ai_agent_name", ""))
    name = str(got.get("agent_name", ""))
    if not name and kind == AGENT and attrs.get("openinference.span.kind") == "AGENT":
        name = str(got.get("node", ""))
    return name


def exception_type(span: Any) -> str:
    """The type of the exception an ``exception`` event of the span records (Pydantic AI sets no
    ``error.type``), else ``error``."""
    for event in span.events:
        if event.name == "exception":
            found = first_text(attributes(event.attributes), ("exception.type",))
            if found:
                return found
    return "error"


def tool_call(tool: str, arguments: str) -> str:
    """The tool and a digest of its arguments: equal for the same call repeated."""
    return f"{tool}#{hashlib.blake2b(arguments.encode(), digest_size=8).hexdigest()}"


class Origin(NamedTuple):
    """What a span's resource and instrumentation scope tell: read once per scope, not per span."""

    role: str = ""
    framework: str = ""
    service: str = ""

    @classmethod
    def of(cls, resource: Mapping[str, Any], scope: str = "") -> Origin:
        framework = first_text(resource, ("agentwatch.framework",)) or scope[:MAX_TEXT]
        return cls(first_text(resource, ROLE), framework, first_text(resource, ("service.name",)))


NO_ORIGIN = Origin()


def record(span: Any, origin: Origin = NO_ORIGIN) -> SpanRecord | None:
    """One protobuf ``Span`` from ``origin``; None for a span without ids."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        return None
    attrs = attributes(span.attributes, WANTED)
    got = read_fields(attrs)
    name = span.name[:MAX_TEXT]
    kind = kind_of(name, attrs)
    failed = span.status.code == STATUS_ERROR
    error_type = got.get("error_type") or (exception_type(span) if failed else "")
    tool = got.get("tool_name", "") if kind == TOOL else ""
    answer = attrs.get(CANARY_ANSWER)
    return SpanRecord(
        kind=kind,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex() if len(span.parent_span_id) == 8 else "",
        name=name,
        start=span.start_time_unix_nano / 1e9,
        end=max(span.end_time_unix_nano, span.start_time_unix_nano) / 1e9,
        error=failed or bool(error_type),
        error_type=error_type,
        agent_name=agent_name_of(kind, attrs, got),
        agent_id=got.get("agent_id", ""),
        role=got.get("role") or origin.role,
        conversation_id=got.get("conversation_id", ""),
        model=got.get("response_model") or got.get("request_model", ""),
        provider=got.get("provider", ""),
        input_tokens=got.get("input_tokens"),
        output_tokens=got.get("output_tokens"),
        cache_read_tokens=got.get("cache_read_tokens"),
        cache_write_tokens=got.get("cache_write_tokens"),
        cost_usd=got.get("cost_usd"),
        tool_name=tool,
        tool_call=tool_call(tool, got.get("tool_args", "")) if kind == TOOL else "",
        framework=origin.framework,
        service=origin.service,
        canary=got.get("canary", ""),
        canary_answer=answer[:MAX_ANSWER] if isinstance(answer, str) else None,
    )


def records(request: Any) -> Iterator[SpanRecord]:
    """Every readable span of an ``ExportTraceServiceRequest``; spans without ids are skipped."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            origin = Origin.of(resource, scope_spans.scope.name)
            for span in scope_spans.spans:
                row = record(span, origin)
                if row is not None:
                    yield row
