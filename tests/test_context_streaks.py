"""Context streaks (``analysis/sessions.py``): prompt growth of the runs that name no task, such as
Paperclip's timer wakes, kept across polls; and their place in the context families."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.analysis.ledger import RunLedger
from agentwatch.analysis.sessions import SHRINK_TOLERANCE, ContextStreaks
from agentwatch.config import Settings
from agentwatch.exposition.families import join_rendered
from agentwatch.exposition.fleet import FleetBuilder
from agentwatch.model import Agent, Company, CompanySnapshot, Issue, Run, Snapshot
from agentwatch.source.paperclip import parse
from agentwatch.source.paperclip.kept_rows import KeptRows
from harness.exporter import parse_exposition
from replay import load

NOW = 1_800_000_000.0
MODEL = "claude-sonnet-4-5"  # a 200k window
AGENTS = {a: Agent(a, "c", a.title()) for a in ("alice", "bob")}


def timer(n: int, tokens, agent: str = "alice", before: str | None = None, after: str | None = "fresh", **kw) -> Run:
    """The n-th run of an agent, as Paperclip records a timer wake: no issue, and (by default) a
    fresh session (``sessionIdBefore`` null, a new ``sessionIdAfter``)."""
    kw.setdefault("status", "succeeded")
    return Run(
        f"{agent}-{n:03d}",
        "c",
        agent,
        kw.pop("status"),
        "timer",
        created_at=kw.pop("created_at", NOW + 10.0 * n),
        input_tokens=tokens,
        model=kw.pop("model", MODEL),
        session_id_before=before,
        session_id_after=f"sess-{agent}-{n}" if after == "fresh" else after,
        **kw,
    )


def streaks_of(*polls: list[Run], agents=AGENTS) -> ContextStreaks:
    s = ContextStreaks()
    for runs in polls:
        s.update(runs, agents)
    return s


def values(s: ContextStreaks, agent: str = "alice") -> tuple[int, int, int] | None:
    streak = s.streaks.get(agent)
    return None if streak is None else (streak.first_input_tokens, streak.last_input_tokens, streak.runs)


def test_timer_runs_in_fresh_sessions_make_one_streak_while_the_prompt_grows():
    runs = [timer(n, 8000 + 40000 * n) for n in range(5)]  # what Paperclip records: a new session each wake
    s = streaks_of(runs[::-1])  # the API lists the newest first
    assert values(s) == (8000, 168000, 5)
    assert s.streaks["alice"].growth == 21.0 and s.streaks["alice"].model == MODEL


def test_flat_timer_prompts_show_no_growth():
    s = streaks_of([timer(n, 8000) for n in range(6)])
    assert values(s) == (8000, 8000, 6) and s.streaks["alice"].growth == 1.0


def test_a_prompt_that_shrinks_without_a_session_link_starts_a_new_streak():
    runs = [timer(0, 8000), timer(1, 48000), timer(2, 88000), timer(3, 10000), timer(4, 30000)]
    assert values(streaks_of(runs)) == (10000, 30000, 2)


def test_a_shrink_within_the_tolerance_continues_the_streak():
    small = 1.0 - SHRINK_TOLERANCE / 2
    runs = [timer(0, 10000), timer(1, 50000), timer(2, int(50000 * small)), timer(3, 60000)]
    assert values(streaks_of(runs)) == (10000, 60000, 4)


def test_a_resumed_session_continues_the_streak_even_when_its_prompt_shrinks():
    """One conversation: the CLI compacted it, the prompt shrank, the streak goes on."""
    runs = [
        timer(0, 20000, after="s1"),
        timer(1, 150000, before="s1", after="s1"),
        timer(2, 60000, before="s1", after="s1"),  # compacted
        timer(3, 70000, before="s1", after="s1"),
    ]
    assert values(streaks_of(runs)) == (20000, 70000, 4)
    # resuming another session than the previous run left is no link: the shrink rule applies
    other = runs[:2] + [timer(2, 60000, before="s0", after="s0")]
    assert values(streaks_of(other)) == (60000, 60000, 1)


def test_a_run_on_another_model_starts_a_new_streak():
    runs = [timer(0, 8000), timer(1, 48000), timer(2, 88000, model="gpt-5")]
    s = streaks_of(runs)
    assert values(s) == (88000, 88000, 1) and s.streaks["alice"].model == "gpt-5"


def test_runs_that_name_an_issue_live_runs_and_runs_without_a_prompt_size_are_left_out():
    runs = [
        timer(0, 8000),
        timer(1, 190000, issue_id="task-1"),  # task work, even once its task is done: not the streak's
        timer(2, 1, status="running"),  # not finished: no usage yet
        timer(3, None),  # an adapter that reports no usage
        timer(4, 0),
        timer(5, -5),
        timer(6, 12000),
    ]
    assert values(streaks_of(runs)) == (8000, 12000, 2)


def test_each_run_is_taken_in_once_over_overlapping_windows():
    runs = [timer(n, 8000 + 1000 * n) for n in range(8)]
    s = streaks_of(runs[0:4], runs[2:6], runs[2:6], runs[5:8], runs[0:8])
    assert values(s) == (8000, 15000, 8)


def test_the_streak_survives_the_window_moving_past_its_first_runs():
    runs = [timer(n, 8000 + 20000 * n) for n in range(10)]
    s = streaks_of(runs[0:3], runs[3:6], runs[6:10], [])  # no window ever holds the first and the last run
    assert values(s) == (8000, 188000, 10)
    s.update([], AGENTS)  # a poll with no runs listed keeps it
    assert values(s) == (8000, 188000, 10)


def test_a_run_older_than_the_newest_taken_in_is_not_taken_in_later():
    """A run that finished after a newer run of its agent was taken in (rare: Paperclip runs one
    run of an agent at a time) is left out, so that the streak stays in time order."""
    late = timer(1, 500000, status="running")
    s = streaks_of([timer(0, 8000), late, timer(2, 9000)])
    s.update([timer(0, 8000), replace(late, status="succeeded"), timer(2, 9000), timer(3, 10000)], AGENTS)
    assert values(s) == (8000, 10000, 3)


def test_agents_are_kept_apart_and_a_gone_agent_takes_its_streak_with_it():
    s = streaks_of(
        [timer(0, 8000), timer(1, 16000), timer(0, 5000, agent="bob"), timer(1, 5000, agent="bob"), timer(0, 7, agent="ghost")]
    )  # not an agent of the company
    assert values(s) == (8000, 16000, 2) and values(s, "bob") == (5000, 5000, 2) and "ghost" not in s.streaks
    s.update([], {"bob": AGENTS["bob"]})
    assert set(s.streaks) == {"bob"}


def test_junk_times_models_and_session_ids_do_not_break_it():
    runs = [
        timer(0, 8000, created_at=None, started_at=None),  # no time: the oldest
        timer(1, 9000, created_at=None, started_at=NOW),
        timer(2, 10000, model=""),  # no model: another streak, reported as unknown
        timer(3, 2**70, model="", before="", after=""),
        timer(4, 11000, model="", before=None, after=None),  # a shrink with no link
    ]
    s = streaks_of(runs, runs[::-1])
    assert values(s) == (11000, 11000, 1)


# -- session ids from the platform -----------------------------------------------------------


RUNS = "api_companies_{companyId}_heartbeat-runs__limit-50.json"


def test_session_ids_are_parsed_from_typed_and_plain_rows_alike_and_junk_is_dropped():
    base = load(RUNS)[0]
    cases = [
        ("sess-1", "sess-2", "sess-1", "sess-2"),
        (None, "4b1c0d9e-0000-4000-8000-000000000001", None, "4b1c0d9e-0000-4000-8000-000000000001"),
        ("", {"id": "x"}, None, None),
        (42, ["a"], "42", None),
        ("x" * 10000, True, "x" * parse.MAX_SESSION_ID, "True"),
    ]
    for before, after, want_before, want_after in cases:
        row = dict(base, sessionIdBefore=before, sessionIdAfter=after)
        plain = parse.run(row)
        (typed,) = KeptRows(parse.run_row, parse.run).decode(json.dumps([row]).encode()).rows
        for r in (plain, typed):
            assert (r.session_id_before, r.session_id_after) == (want_before, want_after), (before, after)
    recorded = parse.parse_rows(load(RUNS), parse.run)[0]
    assert recorded and all(r.session_id_before is None and r.session_id_after is None for r in recorded)


# -- incremental equals all at once ----------------------------------------------------------


@st.composite
def histories(draw):
    """Runs of two agents in time order, prompts that grow, stay, shrink a little or a lot, some
    sessions resumed, some runs naming a task or not finished; and the windows the API listed
    over the polls: each the newest runs at the time, each overlapping or touching the one before
    (a run no window lists is never seen), the oldest runs dropping out of them."""
    n = draw(st.integers(1, 30))
    runs, sessions, at = [], {}, NOW
    for k in range(n):
        agent = draw(st.sampled_from(["alice", "bob"]))
        resume = draw(st.booleans())
        prev = sessions.get(agent)
        after = prev if (resume and prev) else f"s{k}"
        sessions[agent] = after
        at += draw(st.sampled_from([0.0, 1.0]))  # ties are ordered by id
        runs.append(
            Run(
                f"r{k:03d}",
                "c",
                agent,
                draw(st.sampled_from(["succeeded"] * 4 + ["failed", "running"])),
                "timer",
                issue_id=draw(st.sampled_from([None] * 5 + ["task"])),
                created_at=at,
                input_tokens=draw(st.one_of(st.integers(1, 250000), st.none(), st.just(0))),
                model=draw(st.sampled_from([MODEL] * 5 + ["gpt-5"])),
                session_id_before=prev if resume else None,
                session_id_after=after,
            )
        )
    windows, start, prev_end = [], 0, 0
    for end in sorted(set(draw(st.lists(st.integers(1, n), max_size=6))) | {n}):
        start = draw(st.integers(start, max(start, min(prev_end, end - 1))))
        windows.append(runs[start:end])
        prev_end = end
    return runs, windows, draw(st.randoms(use_true_random=False))


def reference(runs: list[Run]) -> dict[str, tuple[str, int, int, int]]:
    """The definition, over the whole history at once."""
    out: dict[str, list] = {}
    last_session: dict[str, str | None] = {}
    for run in sorted(runs, key=lambda r: (r.created_at or 0.0, r.id)):
        if run.issue_id or run.live or not run.input_tokens or run.input_tokens <= 0:
            continue
        held = out.get(run.agent_id)
        linked = held is not None and run.session_id_before is not None and run.session_id_before == last_session[run.agent_id]
        if held is None or held[0] != run.model or not (linked or run.input_tokens >= held[2] * (1 - SHRINK_TOLERANCE)):
            out[run.agent_id] = [run.model, run.input_tokens, run.input_tokens, 1]
        else:
            held[2] = run.input_tokens
            held[3] += 1
        last_session[run.agent_id] = run.session_id_after
    return {a: tuple(v) for a, v in out.items()}


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(histories())
def test_streaks_over_polls_of_moving_windows_are_the_streaks_of_the_whole_history(drawn):
    runs, windows, rnd = drawn
    s = ContextStreaks()
    for window in windows:
        listed = list(reversed(window))  # newest first, as the API lists them
        rnd.shuffle(listed)  # the order of a window does not matter
        s.update(listed, AGENTS)
    got = {a: (k.model, k.first_input_tokens, k.last_input_tokens, k.runs) for a, k in s.streaks.items()}
    assert got == reference(runs)
    assert all(k.growth > 0 and k.runs >= 1 for k in s.streaks.values())  # two positive prompt sizes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 10**7), min_size=1, max_size=20), st.integers(1, 10**6))
def test_a_flat_series_shows_no_growth_and_a_growing_one_shows_all_of_it(steps, start):
    flat = streaks_of([timer(n, start) for n in range(len(steps))])
    assert flat.streaks["alice"].growth == 1.0
    tokens = [start + sum(steps[:n]) for n in range(len(steps))]
    grown = streaks_of([timer(n, t) for n, t in enumerate(tokens)])
    assert values(grown) == (start, tokens[-1], len(steps))


# -- the context families --------------------------------------------------------------------


def build(cs: CompanySnapshot):
    cfg = Settings()
    builder = FleetBuilder(cfg)
    ledger = RunLedger(builder.windows, cfg.analysis.context_high_ratio)
    families, _ = builder.build(Snapshot(source="s", taken_at=NOW + 1000, companies={"c": cs}), ledger, NOW + 1000)
    return parse_exposition(join_rendered([families.render()]).decode())


def test_the_context_gauges_are_the_highest_of_the_open_tasks_and_the_streak():
    agents = {a: Agent(a, "c", a.title()) for a in ("grower", "flat", "tasked")}
    task = Issue("t1", "T-1", "in_progress", assignee_agent_id="tasked", started_at=NOW - 100, created_at=NOW - 100)
    runs = [timer(n, 8000 + 40000 * n, agent="grower") for n in range(5)]
    runs += [timer(n, 8000, agent="flat") for n in range(5)]
    # the tasked agent: a task whose prompt doubled, and timer runs that stay small and flat
    runs += [timer(10 + n, 50000 * (n + 1), agent="tasked", issue_id="t1") for n in range(2)]
    runs += [timer(n, 4000, agent="tasked") for n in range(3)]
    s = build(CompanySnapshot(Company("c", "Co"), agents=agents, issues={"t1": task}, runs=runs[::-1]))
    latest = {lbl["agent"]: (lbl["model"], v) for lbl, v in s.select("agentwatch_agent_context_latest_ratio")}
    growth = {lbl["agent"]: (lbl["model"], v) for lbl, v in s.select("agentwatch_agent_context_growth_ratio")}
    assert latest == {"Grower": (MODEL, 168000 / 200000), "Flat": (MODEL, 0.04), "Tasked": (MODEL, 0.5)}
    assert growth == {"Grower": (MODEL, 21.0), "Flat": (MODEL, 1.0), "Tasked": (MODEL, 2.0)}


def test_a_streak_on_a_model_of_unknown_window_shows_growth_and_no_ratio():
    agents = {"a": Agent("a", "c", "A")}
    s = build(
        CompanySnapshot(Company("c", "Co"), agents=agents, runs=[timer(n, 1000 * (n + 1), agent="a", model="mystery-1") for n in range(3)])
    )
    assert s.select("agentwatch_agent_context_latest_ratio") == []
    assert s.select("agentwatch_agent_context_growth_ratio") == [
        ({"source": "s", "company": "Co", "agent": "A", "role": "general", "model": "mystery-1"}, 3.0)
    ]
