"""Loops at the agent level (``analysis/work.py``): runs with no progression of the agent's
work, timer runs included, as Paperclip 2026.916.1 shows a loop: the task parked by its recovery
(``blocked``, an active ``missing_disposition`` recovery), the agent's timer wakes going on."""

from __future__ import annotations

from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.work import MAX_RUNS_HELD, WorkSignals
from agentwatch.model import Company, CompanySnapshot, Issue, Run

T0 = 1_000_000.0
LIMITS = (600.0, 5.0)  # loop_min_age, loop_min_calls


def snapshot(issues: list[Issue], runs: list[Run]) -> CompanySnapshot:
    return CompanySnapshot(Company("c", "C"), issues={i.id: i for i in issues}, runs=sorted(runs, key=lambda r: -(r.finished_at or 0)))


def timer_run(n: int, at: float, agent: str = "lou", cost: float | None = None, issue: str | None = None) -> Run:
    return Run(
        f"{agent}-{n}",
        "c",
        agent,
        "succeeded",
        invocation_source="timer" if issue is None else "assignment",
        issue_id=issue,
        started_at=at - 1,
        finished_at=at,
        created_at=at - 2,
        cost_usd=cost,
    )


def parked_task(**kw) -> Issue:
    fields = dict(status="blocked", assignee_agent_id="lou", started_at=T0, created_at=T0 - 100, recovery="missing_disposition")
    fields.update(kw)
    return Issue("t1", "T-1", **fields)


def signals(analyses: CompanyAnalyses, now: float) -> dict[str, WorkSignals]:
    return analyses.work.signals(now, lambda agent: LIMITS)


def test_a_parked_task_and_timer_wakes_that_go_on_make_a_loop():
    a = CompanyAnalyses()
    # the task was in progress, had two runs, then Paperclip parked it; timer wakes go on, every 60 s
    a.update(
        snapshot(
            [Issue("t1", "T-1", "in_progress", assignee_agent_id="lou", started_at=T0, created_at=T0 - 100)],
            [timer_run(0, T0 + 10, issue="t1"), timer_run(1, T0 + 20, issue="t1")],
        ),
        T0 + 30,
    )
    a.update(snapshot([parked_task()], []), T0 + 40)  # the next poll sees it parked
    runs = [timer_run(n, T0 + 40 + 60 * n, cost=0.02) for n in range(2, 14)]
    a.update(snapshot([parked_task()], runs[:6]), T0 + 400)
    early = signals(a, T0 + 400)["lou"]
    assert early.runs_without_progress == 6 and not early.looping  # more runs than allowed, but not for long enough
    a.update(snapshot([parked_task()], runs[3:]), T0 + 800)  # an overlapping window: counted once each
    late = signals(a, T0 + 800)["lou"]
    assert late.runs_without_progress == 12 and late.llm_calls_without_progress == 12
    assert abs(late.spend_without_progress_usd - 0.24) < 1e-9
    assert late.looping and late.progress_age > LIMITS[0]


def test_a_run_that_finishes_a_task_is_progression():
    a = CompanyAnalyses()
    busy = Issue("t1", "T-1", "in_progress", assignee_agent_id="lou", started_at=T0, created_at=T0)
    runs = [timer_run(n, T0 + 60 * n) for n in range(1, 10)]
    a.update(snapshot([busy, Issue("t2", "T-2", "todo", assignee_agent_id="lou", created_at=T0)], runs), T0 + 600)
    assert signals(a, T0 + 700)["lou"].runs_without_progress == 9
    # then a run on t2 finishes it: the work moved on at that run's end
    done = Issue("t2", "T-2", "done", assignee_agent_id="lou", created_at=T0, started_at=T0 + 610, completed_at=T0 + 650)
    a.update(snapshot([busy, done], [*runs, timer_run(10, T0 + 650, issue="t2"), timer_run(11, T0 + 700)]), T0 + 710)
    after = signals(a, T0 + 710)["lou"]
    assert after.runs_without_progress == 1 and after.progress_age == 60.0 and not after.looping


def test_a_status_change_on_an_open_task_is_progression():
    a = CompanyAnalyses()
    runs = [timer_run(n, T0 + 60 * n, issue="t1") for n in range(1, 8)]
    a.update(snapshot([Issue("t1", "T-1", "in_progress", assignee_agent_id="lou", started_at=T0, created_at=T0)], runs), T0 + 500)
    assert signals(a, T0 + 500)["lou"].runs_without_progress == 7
    # handed to review: an open task of the agent still, that progressed after those runs
    a.update(snapshot([Issue("t1", "T-1", "in_review", assignee_agent_id="lou", started_at=T0, created_at=T0)], runs), T0 + 520)
    a.update(snapshot([Issue("t1", "T-1", "in_progress", assignee_agent_id="lou", started_at=T0 + 530, created_at=T0)], runs), T0 + 540)
    assert signals(a, T0 + 540)["lou"].runs_without_progress == 0


def test_an_agent_with_no_work_in_progress_or_parked_holds_nothing():
    a = CompanyAnalyses()
    runs = [timer_run(n, T0 + 60 * n, agent="idle") for n in range(1, 30)]  # a timer agent with nothing to do
    a.update(snapshot([Issue("t1", "T-1", "todo", assignee_agent_id="idle", created_at=T0)], runs), T0 + 2000)
    assert "idle" not in signals(a, T0 + 2000)
    # ordinary blocked work (no recovery) is not parked work either
    a.update(snapshot([Issue("t1", "T-1", "blocked", assignee_agent_id="idle", created_at=T0, unblock_owner="board")], runs), T0 + 2100)
    assert "idle" not in signals(a, T0 + 2100)


def test_work_that_ends_drops_its_runs_and_a_handoff_is_progression():
    a = CompanyAnalyses()
    runs = [timer_run(n, T0 + 60 * n) for n in range(1, 8)]
    a.update(snapshot([parked_task()], runs), T0 + 500)
    assert signals(a, T0 + 500)["lou"].runs_without_progress == 7
    a.update(snapshot([parked_task(status="cancelled")], runs), T0 + 510)
    assert "lou" not in signals(a, T0 + 510)
    # parked again, and a run of Lou's on a task now someone else's: a handoff moved the work on
    a.update(
        snapshot(
            [parked_task(), Issue("t9", "T-9", "in_progress", assignee_agent_id="bob", created_at=T0)],
            [*runs, timer_run(8, T0 + 520, issue="t9")],
        ),
        T0 + 530,
    )
    assert signals(a, T0 + 530)["lou"].runs_without_progress == 0


def test_memory_per_agent_is_bounded_and_counts_stay_exact():
    a = CompanyAnalyses()
    total = MAX_RUNS_HELD + 50
    runs = [timer_run(n, T0 + 10 + n, cost=0.01) for n in range(total)]
    a.update(snapshot([parked_task(started_at=T0, created_at=T0)], runs), T0 + total + 20)
    s = signals(a, T0 + total + 20)["lou"]
    assert s.runs_without_progress == total and s.llm_calls_without_progress == total
    assert abs(s.spend_without_progress_usd - 0.01 * total) < 1e-6
    assert len(a.work._work["lou"].runs) == MAX_RUNS_HELD


def test_a_started_at_restamped_by_the_agent_is_not_progression():
    """Paperclip stamps startedAt anew on every PATCH to in_progress, also of a task already in
    progress: an agent that ends each run by re-asserting the status moves nothing."""
    a = CompanyAnalyses()
    runs: list[Run] = []
    for n in range(1, 9):
        runs.append(timer_run(n, T0 + 100 * n, issue="t1"))
        task = Issue("t1", "T-1", "in_progress", assignee_agent_id="lou", created_at=T0 - 100, started_at=T0 + 100 * n + 1)
        a.update(snapshot([task], runs), T0 + 100 * n + 5)
    now = T0 + 805
    assert a.tracker.tasks["t1"].progressed_at == T0 + 101  # the first startedAt seen, never the re-stamps
    assert len(a.tracker.tasks["t1"].runs) == 7
    work = signals(a, now)["lou"]
    assert work.runs_without_progress == 7 and work.looping
    # a new subtask is progression
    child = Issue("c1", "C-1", "todo", assignee_agent_id="lou", parent_id="t1", created_at=now)
    a.update(snapshot([task, child], runs), now + 1)
    assert a.tracker.tasks["t1"].progressed_at == now and signals(a, now + 1)["lou"].runs_without_progress == 0


def test_a_run_on_an_open_task_counts_from_that_task_s_progression():
    """Lou's work is a parked task; his runs on another open task of his (in review, not work)
    are without progression until that task moves."""
    a = CompanyAnalyses()
    a.update(snapshot([parked_task(), Issue("t2", "T-2", "in_review", assignee_agent_id="lou", created_at=T0)], []), T0 + 5)
    runs = [timer_run(n, T0 + 10 * n, issue="t2") for n in range(1, 6)]
    a.update(snapshot([parked_task(), Issue("t2", "T-2", "in_review", assignee_agent_id="lou", created_at=T0)], runs), T0 + 55)
    assert signals(a, T0 + 55)["lou"].runs_without_progress == 5
    a.update(snapshot([parked_task(), Issue("t2", "T-2", "todo", assignee_agent_id="lou", created_at=T0)], runs), T0 + 60)
    assert signals(a, T0 + 60)["lou"].runs_without_progress == 0  # t2 moved at 60, after those runs
