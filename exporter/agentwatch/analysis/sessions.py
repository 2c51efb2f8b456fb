"""Prompt growth of the work that names no task: context streaks, kept across polls.

The context detector's per-task signals (``progress.TaskTracker``) see only runs whose
``contextSnapshot.issueId`` names a task. Paperclip's timer wakes name none, and on Paperclip
2026.916.1 every such wake starts a fresh adapter session (``sessionIdBefore`` null, a new
``sessionIdAfter``: the server resets the session of an unscoped ``heartbeat_timer`` wake). The
prompt can still grow run after run: what the platform and the agent's own files put in it
grows, not the conversation. So growth is measured here per agent, across consecutive runs.

A *context streak* is a series of runs of one agent that name no issue, in time order
(``createdAt``, then id), each with a prompt size (``usageJson.inputTokens`` > 0), on one model.
A run continues the agent's current streak when

- it resumes the session the previous run left (``sessionIdBefore`` equals the previous run's
  ``sessionIdAfter``): one conversation, whatever its prompt does (a compaction inside it
  shrinks the prompt without starting anew), or
- with no such link (a fresh session, as every timer wake has, or another session), its prompt
  is not more than ``SHRINK_TOLERANCE`` smaller than the previous run's: a fresh session alone
  does not end a streak, or no timer-driven growth would ever show.

Anything else starts a new streak with this run: a prompt that shrank by more than the
tolerance with no session link (the context was reset: a session rotated, the agent's files
trimmed), or a run on another model (another window). Growth is the streak's latest prompt over
its first (1 = flat; a flat series stays at 1, a noisy one close to it); the latest prompt over
the model's window is its latest ratio.

Runs that name an issue are left out even when the issue is no longer an open task: the run
that closes a task finishes after the task is done, so counting such runs would fold every
task's last (often largest) prompt into the agent's timer streak, a false alarm until its next
timer wake. Live runs wait until they finish. Each agent's state is O(1): its streak and the
(time, id) of the newest run taken in. A run at or before that mark is not taken in again,
which deduplicates the overlapping windows the API returns (only the newest N runs, no cursor)
and lets the window move past old runs. A run that finishes after a newer run of the same agent
was taken in is left out (Paperclip runs one run of an agent at a time, so this is rare). The
streak of an agent gone from the snapshot goes with it.

Each streak is a frozen value, replaced when a run continues it. ``streaks`` is a read-only
view of the agents' current streaks, valid until the next ``update``; ``generation`` and each
agent's (``generations``) move on whenever its streak is replaced or goes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Iterable, Mapping

from agentwatch.analysis.views import HasEntityGenerations
from agentwatch.model import Run

SHRINK_TOLERANCE = 0.1  # a prompt up to 10 % smaller than the previous one still continues a streak


@dataclass(frozen=True, slots=True)
class Streak:
    """An agent's current context streak."""

    model: str
    first_input_tokens: int
    last_input_tokens: int
    runs: int  # runs in the streak
    last_at: float  # the (createdAt, id) of the newest run taken in, for the next poll
    last_run_id: str
    last_session: str | None  # the session the newest run left

    @property
    def growth(self) -> float:
        return self.last_input_tokens / self.first_input_tokens


def _when(run: Run) -> float:
    return run.created_at or run.started_at or 0.0


def _candidate(run: Run) -> bool:
    """A finished run that names no issue and reports a prompt size."""
    tokens = run.input_tokens
    return tokens is not None and tokens > 0 and not run.issue_id and not run.live


class ContextStreaks(HasEntityGenerations[str]):
    """Each agent's current context streak, for one company, kept across polls."""

    def __init__(self) -> None:
        self._streaks: dict[str, Streak] = {}
        self._view: Mapping[str, Streak] = MappingProxyType(self._streaks)
        self._start_generations()

    @property
    def streaks(self) -> Mapping[str, Streak]:
        """Each agent's current streak: a read-only view, valid until the next ``update`` (the
        streaks in it are frozen values)."""
        return self._view

    def update(self, runs: Iterable[Run], agents: Mapping[str, object]) -> None:
        """Takes in one poll's window of runs; ``agents``: the company's agents (by id) now."""
        streaks = self._streaks
        for gone in [aid for aid in streaks if aid not in agents]:
            del streaks[gone]
            self._entity_generations.mark(gone)
        fresh = []
        for run in runs:
            if not _candidate(run) or run.agent_id not in agents:
                continue
            held = streaks.get(run.agent_id)
            if held is not None and (_when(run), run.id) <= (held.last_at, held.last_run_id):
                continue  # taken in already, or older than what was
            fresh.append(run)
        fresh.sort(key=lambda r: (_when(r), r.id))
        for run in fresh:
            held = streaks.get(run.agent_id)
            tokens = run.input_tokens or 0
            if held is None or not _continues(held, run, tokens):
                streaks[run.agent_id] = Streak(run.model, tokens, tokens, 1, _when(run), run.id, run.session_id_after)
            else:
                streaks[run.agent_id] = replace(
                    held,
                    last_input_tokens=tokens,
                    runs=held.runs + 1,
                    last_at=_when(run),
                    last_run_id=run.id,
                    last_session=run.session_id_after,
                )
            self._entity_generations.mark(run.agent_id)


def _continues(streak: Streak, run: Run, tokens: int) -> bool:
    if run.model != streak.model:
        return False
    if run.session_id_before is not None and run.session_id_before == streak.last_session:
        return True  # the same conversation
    return tokens >= streak.last_input_tokens * (1.0 - SHRINK_TOLERANCE)
