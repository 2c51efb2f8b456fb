"""The scripted conversations a fake model follows, the same for every framework agent.

``plan(args)`` turns a scenario of ``common.py`` into the agent's invocations: for each, its
conversation id, the user's prompt, the model, and the replies (``Turn``) the fake model gives
one after the other: a tool call or a final answer, always with the tokens it reports. A
framework's fake model only replays turns; ``run_tool`` is the tools' behaviour and ``drive``
runs the plan (canary parent spans, pauses, failures reported and survived).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from common import CANARY_QUESTION, CANARY_RIGHT, CANARY_WRONG, GROWING_PROMPT, canary, hang_forever

TOOLS = {
    "lookup_order": "Look up the shipping status of an order.",
    "request_human_approval": "Ask a human to approve an action before taking it.",
    "wait_for_warehouse": "Wait until the warehouse confirms an order.",
}
FAILURE = "the model endpoint refused the connection"  # the fail scenario's ConnectionError


@dataclass(frozen=True)
class Turn:
    """One reply of the model: a call of ``tool`` with ``arguments``, or the final ``answer``;
    with the tokens it reports. ``fail``: the model raises ``ConnectionError`` instead."""

    input_tokens: int
    output_tokens: int
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str = ""
    fail: bool = False


@dataclass(frozen=True)
class Invocation:
    """One run of the agent: a user's ``prompt`` in conversation ``conversation_id``, answered
    by ``model`` with ``turns``; ``canary`` names the canary it answers, if it is one."""

    conversation_id: str
    prompt: str
    model: str
    turns: tuple[Turn, ...]
    canary: str | None = None


def new_conversation_id() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


def _order_turns(i: int, escalate: bool, spend: bool) -> tuple[Turn, ...]:
    order = f"A-{1001 + i}"
    if escalate:
        call = {"tool": "request_human_approval", "arguments": {"action": f"refund order {order}"}}
        answer = f"I asked a human to approve the refund of order {order}."
    else:
        call = {"tool": "lookup_order", "arguments": {"order_id": order}}
        answer = f"Order {order} has shipped."
    first, second = ((95_000, 12_000), (110_000, 16_000)) if spend else ((850 + 40 * i, 24), (1_100 + 40 * i, 48))
    return (Turn(*first, **call), Turn(*second, answer=answer))


def _orders(args: argparse.Namespace, n: int) -> list[Invocation]:
    escalate, spend = args.scenario == "escalate", args.scenario == "spend"
    return [
        Invocation(new_conversation_id(), f"Where is my order A-{1001 + i}?", args.model, _order_turns(i, escalate, spend))
        for i in range(n)
    ]


def _swap(args: argparse.Namespace, n: int) -> list[Invocation]:
    right = max(1, n // 2)
    answers = [(args.model, CANARY_RIGHT)] * right + [(args.swap_model, CANARY_WRONG)] * max(1, n - right)
    return [
        Invocation(new_conversation_id(), CANARY_QUESTION, model, (Turn(60, 2, answer=answer),), canary="arithmetic")
        for model, answer in answers
    ]


def plan(args: argparse.Namespace) -> list[Invocation]:
    """The invocations of ``args.scenario`` (see ``common.py``), in order."""
    n = max(1, args.conversations)
    if args.scenario in ("healthy", "spend", "escalate"):
        return _orders(args, n)
    if args.scenario == "swap":
        return _swap(args, n)
    if args.scenario == "fail":
        return [Invocation(new_conversation_id(), "Where is my order?", args.model, (Turn(0, 0, fail=True),)) for _ in range(n)]
    if args.scenario == "loop":
        call = {"tool": "lookup_order", "arguments": {"order_id": "A-1001"}}
        turns = tuple(Turn(900 + 120 * k, 20, **call) for k in range(args.calls))
        return [Invocation(new_conversation_id(), "Where is my order A-1001?", args.model, turns)]
    if args.scenario == "grow":
        conversation = new_conversation_id()
        prompts = [GROWING_PROMPT[min(i, len(GROWING_PROMPT) - 1)] for i in range(n)]
        return [
            Invocation(
                conversation, f"Go on with the report, part {i + 1}.", args.model, (Turn(tokens, 300, answer=f"Part {i + 1} done."),)
            )
            for i, tokens in enumerate(prompts)
        ]
    if args.scenario == "hang":
        turns = (
            Turn(850, 24, tool="lookup_order", arguments={"order_id": "A-1001"}),
            Turn(1_100, 30, tool="wait_for_warehouse", arguments={"order_id": "A-1001"}),
            Turn(1_300, 40, answer="Order A-1001 is confirmed."),
        )
        return [Invocation(new_conversation_id(), "Is order A-1001 confirmed?", args.model, turns)]
    raise ValueError(f"unknown scenario {args.scenario!r}")


def run_tool(name: str, arguments: dict[str, Any]) -> str:
    """What the tools do: look an order up, ask for approval, or (``wait_for_warehouse``) never return."""
    if name == "lookup_order":
        return f"order {arguments['order_id']}: shipped"
    if name == "request_human_approval":
        return f"approval requested for: {arguments['action']}"
    if name == "wait_for_warehouse":
        hang_forever()
    raise ValueError(f"unknown tool {name!r}")


def drive(args: argparse.Namespace, invoke: Callable[[Invocation], str | None]) -> int:
    """Run every invocation of the plan through ``invoke`` (which returns the agent's answer);
    a canary inside its parent span, with the answer set on it. A failing invocation is reported
    on stderr and the run goes on: the failure is the point. Returns how many failed."""
    failed = 0
    for k, invocation in enumerate(plan(args)):
        if k and args.pause:
            time.sleep(args.pause)
        try:
            if invocation.canary:
                with canary(invocation.canary) as span:
                    span.set_attribute("agentwatch.canary.answer", invoke(invocation) or "")
            else:
                invoke(invocation)
        except Exception as exc:  # the agent's failure, already on its spans
            failed += 1
            print(f"{invocation.conversation_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return failed


def drive_and_flush(args: argparse.Namespace, invoke: Callable[[Invocation], str | None], provider: Any) -> int:
    """``drive`` the plan, then export every span still held and shut the tracer provider down
    (an agent script's last step; the exit code is 0 whatever failed: the failure is the point)."""
    drive(args, invoke)
    provider.force_flush()
    provider.shutdown()
    return 0
