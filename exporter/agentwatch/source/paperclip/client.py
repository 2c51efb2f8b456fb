"""The Paperclip source: one poll of the REST API turned into a ``Snapshot``.

Endpoints per company: agents, issues (incremental), heartbeat runs (newest N), live runs,
costs by agent and model (all time, so a restart-safe counter), window spend, the spend of
agents with live runs (in-flight spend), the budgets overview and approvals. Instance-wide: health,
companies and the scheduler's heartbeat table. ``costs/quota-windows`` is never called:
it reaches out to LLM providers.

``PaperclipSource`` implements the ``source.Source`` interface (source/base.py): every row it
hands out is kept between polls (``KeptRows``, ``IssueSync``), so an unchanged row is the same
object poll after poll, and the features an older build lacks are detected as the poll meets
them (``Capabilities``) and declared in each snapshot.
"""

from __future__ import annotations

import copy
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Collection, Iterable, Mapping, TypeVar

import msgspec

from agentwatch.config import CanaryMarkerConfig, SourceConfig
from agentwatch.model import (
    Agent,
    Approval,
    BudgetIncident,
    BudgetPolicy,
    Company,
    CompanySnapshot,
    CostRow,
    Heartbeat,
    Issue,
    Run,
    Snapshot,
    SourceCapabilities,
    WindowSpend,
)
from agentwatch.model.delta import IssueDelta, touched_delta, unchanged_delta
from agentwatch.source.base import PollStats, SourceError
from agentwatch.source.http import HttpClient, RequestStats, Response
from agentwatch.source.paperclip import parse
from agentwatch.source.paperclip.events import EVERYTHING, Target
from agentwatch.source.paperclip.issues import Capabilities, IssueSync
from agentwatch.source.paperclip.kept_rows import KeptOverview, KeptRows, rows_of
from agentwatch.source.paperclip.live_events import LiveEvents

log = logging.getLogger("agentwatch.source")

T = TypeVar("T")
ScheduleRow = tuple[str, Heartbeat, "float | None"]  # a row of the scheduler's table (``parse.scheduler_heartbeat``)

MAX_IN_FLIGHT_QUERIES = 20
COMPANY_READS = 7  # one company's endpoints read side by side (the client allows 8 requests in flight)
# the parts of a company's data not read by a ``CompanyReads`` step: the issues (synced on the
# company's thread), the in-flight spend (read once the live runs are known), and the scheduler's
# table and the companies' rows (instance-wide, read by ``refresh``)
NOT_STEPS = (Target.ISSUES, Target.IN_FLIGHT_SPEND, Target.SCHEDULES, Target.COMPANIES)


@dataclass
class CompanyState:
    """What is kept between polls for one company: the issues, and the other endpoints' rows
    by their JSON text (``KeptRows``)."""

    issues: IssueSync
    blocked: IssueSync
    agents: KeptRows[Agent]
    runs: KeptRows[Run]
    live_runs: KeptRows[Run]
    costs: KeptRows[CostRow]
    window_spend: KeptRows[WindowSpend]
    approvals: KeptRows[Approval]
    budgets: KeptOverview = field(default_factory=KeptOverview)
    last_issues: dict[str, Issue] | None = None  # the issues of the company's last snapshot

    def snapshot_issues(self) -> tuple[dict[str, Issue], IssueDelta | None]:
        """The issues for this poll's snapshot, with their owners from the blocked view, and
        what changed since the last snapshot (None: not known, the first sync)."""
        # only the issues that either sync touched since the last snapshot can need their owner set
        # again; without a list of them (a first sync), every blocked one is looked at
        touched, blocked = self.issues.touched, self.blocked.take_touched()
        only = None if touched is None or blocked is None else [*touched, *blocked]
        issues = with_unblock_owners(self.issues.issues, self.blocked.issues, touched, only)
        before, self.last_issues = self.last_issues, issues
        touched = self.issues.take_touched()
        return issues, None if before is None or touched is None else touched_delta(before, issues, touched)


class PaperclipSource:
    """One Paperclip server, read as a ``source.Source``."""

    def __init__(self, config: SourceConfig, marker: CanaryMarkerConfig | None = None, client: HttpClient | None = None):
        self.config = config
        self.name = config.name
        token = config.token.get_secret_value() if config.token else None
        self.client = client or HttpClient(
            config.url,
            token=token,
            timeout=config.timeout,
            retries=config.retries,
            max_concurrency=config.max_concurrency,
            max_retry_after=max(1.0, float(config.poll_interval or 30.0)),
        )
        self.caps = Capabilities()
        marker = marker or CanaryMarkerConfig()
        self._parse_issue = partial(parse.issue, canary_prefix=marker.title_prefix, canary_label=marker.label)
        self._companies: dict[str, CompanyState] = {}
        self._company_rows = KeptRows(parse.company_row, parse.company)
        self._schedules = KeptRows(parse.scheduler_heartbeat_row, parse.scheduler_heartbeat)
        # agent id -> (its row as read, its scheduler row, the agent with both): an agent whose
        # two rows are those of the last poll is the same object
        self._scheduled: dict[str, tuple[Agent, ScheduleRow, Agent]] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix=f"poll-{self.name}")
        self.last_poll = PollStats()
        self._last: Snapshot | None = None  # the last snapshot handed out: what a refresh starts from
        self._schedule: list[ScheduleRow] = []  # the scheduler's table as the last full poll read it
        # the live-events sockets, one per company, opened after the first poll (README "How it polls")
        live = config.live_events
        live_token = live.token.get_secret_value() if live.token else token
        self.live = LiveEvents(self.name, config.url, live_token, live) if live.enabled else None

    @property
    def capabilities(self) -> SourceCapabilities:
        return self.caps.declared()

    @property
    def request_stats(self) -> RequestStats:
        return self.client.stats

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def resync_next_poll(self) -> None:
        """Make the next poll read every issue again, as it does each ``full_resync_interval``
        (the benchmark measures that poll with the previous data held)."""
        for state in self._companies.values():
            state.issues.last_full_sync = None
            state.blocked.last_full_sync = None

    # -- helpers -----------------------------------------------------------------------

    def _counted(self, resp: Response) -> Response:
        self.last_poll.requests += 1
        self.last_poll.bytes += resp.nbytes
        return resp

    def _get(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """A JSON answer, as ``json.loads`` decodes it."""
        return self._counted(self.client.get(path, endpoint, params=params)).data

    def _read(self, path: str, endpoint: str, kept: KeptRows[Any] | KeptOverview, params: dict[str, Any] | None = None) -> Any:
        """An endpoint whose rows ``kept`` keeps: revalidated with the last answer's ``ETag``, and
        its rows parsed (or, on a 304, those of the last answer)."""
        resp = self._counted(self.client.get(path, endpoint, params=params, etag=kept.etag, decode=kept.decode))
        return kept.answer(resp.status, resp.data, resp.etag)

    def _optional(self, feature: str, fetch: Callable[[], T], default: T) -> T:
        """Fetch an endpoint that older builds or restricted tokens may not have."""
        if not getattr(self.caps, feature):
            return default
        try:
            return fetch()
        except SourceError as exc:
            if exc.status in (400, 403, 404, 422):
                self.caps.disable(feature, self.name, str(exc))
                return default
            raise

    def _rows(self, data: Any, endpoint: str, parser: Callable[[Any], T | None]) -> list[T]:
        rows, dropped = rows_of(data, endpoint, parser)
        if dropped:
            self.last_poll.drop(endpoint, dropped)
        return rows

    def _allowed(self, company: Company) -> bool:
        allow = self.config.companies
        return not allow or company.id in allow or company.name in allow

    # -- the poll ------------------------------------------------------------------------

    def poll(self, now: float | None = None) -> Snapshot:
        """Read everything once. Raises ``SourceError`` (``SchemaError`` among them) on failure."""
        now = time.time() if now is None else now
        self.last_poll = PollStats()
        health = parse.as_dict(self._get("/api/health", "/api/health"), "/api/health")
        status = health.get("status")
        if status not in ("ok", "starting"):
            raise SourceError("unhealthy", "/api/health", f"platform reports status {parse.text(status)!r}")
        companies = self._read_companies()
        snapshot = Snapshot(source=self.name, taken_at=now, version=parse.text(health.get("version")))
        schedule: list[ScheduleRow] = self._optional("scheduler_heartbeats", self._read_schedule, [])
        futures = {c.id: self._pool.submit(self._read_company, c, EVERYTHING, None, now) for c in companies}
        for cid, future in futures.items():
            snapshot.companies[cid] = future.result()
        for cid in list(self._companies):
            if cid not in futures:
                del self._companies[cid]
        self._schedule = schedule
        self._with_schedules(snapshot.companies.values(), schedule)
        snapshot.capabilities = self.capabilities  # what held for this poll, once it has met every endpoint
        self._last = snapshot
        if self.live is not None:
            self.live.follow({c.id: c.name for c in companies})
        return snapshot

    def refresh(
        self, changes: Mapping[str, set[Target]], now: float | None = None, spend_agents: Mapping[str, set[str] | None] | None = None
    ) -> Snapshot:
        """A snapshot with only the parts ``changes`` names read again, per company (what live
        events said changed); every other part is the last snapshot's, as it was. Without a last
        snapshot, a full ``poll``. ``spend_agents``: per company, the agents whose in-flight
        spend to read (None: every agent with a live run). Raises ``SourceError`` as ``poll``
        does, and then the next refresh starts again from the last snapshot handed out."""
        last = self._last
        if last is None:
            return self.poll(now)
        now = time.time() if now is None else now
        self.last_poll = PollStats()
        snapshot = Snapshot(source=self.name, taken_at=now, version=last.version, platform=last.platform)
        # the companies' own rows (their month spend, budget, status) are one instance-wide read
        rows = {c.id: c for c in self._read_companies()} if _names(changes, Target.COMPANIES) else {}
        futures: dict[str, Future[CompanySnapshot]] = {}
        for cid, before in last.companies.items():
            wanted, company = changes.get(cid), rows.get(cid, before.company)
            if wanted:
                only = (spend_agents or {}).get(cid)
                futures[cid] = self._pool.submit(self._read_company, company, frozenset(wanted), before, now, only)
                snapshot.companies[cid] = before  # in the same order as the last snapshot; replaced below
            else:
                snapshot.companies[cid] = _unchanged(before, company)
        for cid, future in futures.items():
            snapshot.companies[cid] = future.result()
        if _names(changes, Target.SCHEDULES):  # an agent's schedule may have changed
            self._schedule = self._optional("scheduler_heartbeats", self._read_schedule, [])
        rescheduled = [snapshot.companies[cid] for cid in futures if Target.AGENTS in changes[cid]]
        self._with_schedules(rescheduled, self._schedule, keep_others=True)
        snapshot.capabilities = self.capabilities
        self._last = snapshot
        return snapshot

    def _read_companies(self) -> list[Company]:
        """The companies this source watches (``companies`` in the config, or all)."""
        endpoint = "/api/companies"
        return [c for c in self._rows(self._read(endpoint, endpoint, self._company_rows), endpoint, parse.company) if self._allowed(c)]

    def _read_schedule(self) -> list[ScheduleRow]:
        endpoint = "/api/instance/scheduler-heartbeats"
        return self._rows(self._read(endpoint, endpoint, self._schedules), endpoint, parse.scheduler_heartbeat)

    def _with_schedules(self, companies: Iterable[CompanySnapshot], schedule: list[ScheduleRow], keep_others: bool = False) -> None:
        """Each agent of ``companies`` (their agents as read) with its row of the scheduler's
        table: its schedule, and the later of the two last heartbeats. A new object only when
        either row changed (the rows as read are never changed: ``KeptRows`` hands them out
        again). ``keep_others``: the agents of other companies keep what they were merged with."""
        by_agent = {row[0]: row for row in schedule}
        held = self._scheduled
        scheduled = dict(held) if keep_others else {}
        for cs in companies:
            agents = cs.agents
            for aid, agent in agents.items():
                row = by_agent.get(aid)
                if row is None:
                    continue
                before = held.get(aid)
                if before is not None and before[0] is agent and before[1] == row:
                    merged = before[2]
                else:
                    _, hb, last = row
                    merged = replace(agent, heartbeat=hb, last_heartbeat_at=_later(last, agent.last_heartbeat_at))
                agents[aid] = merged  # an existing key: the dict does not change size
                scheduled[aid] = (agent, row, merged)
        self._scheduled = scheduled

    def _in_flight_spend(
        self, base: str, live_runs: list[Run], held: Mapping[str, float] | None = None, only: Collection[str] | None = None
    ) -> dict[str, float]:
        """Spend recorded since each agent's oldest live run started: costs land while runs are
        still going (agents report them), which a hard stop cannot yet act on (Paperclip #11276).
        One request per agent with a live run, at most ``MAX_IN_FLIGHT_QUERIES``, side by side.
        ``only``: read just these agents (those a cost event named) and keep ``held`` for the
        others that are still live."""
        oldest: dict[str, float] = {}
        for run in live_runs:
            if run.live and run.started_at is not None and run.agent_id:
                oldest[run.agent_id] = min(oldest.get(run.agent_id, run.started_at), run.started_at)
        spend = {aid: usd for aid, usd in (held or {}).items() if aid in oldest and only is not None and aid not in only}
        wanted = [(aid, t) for aid, t in sorted(oldest.items(), key=lambda kv: kv[1]) if only is None or aid in only]
        wanted = wanted[:MAX_IN_FLIGHT_QUERIES]
        if not wanted:
            return spend
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"spend-{self.name}") as pool:
            read = partial(self._agent_spend_since, base)
            for (agent_id, _), usd in zip(wanted, pool.map(read, wanted), strict=True):
                if usd is not None:
                    spend[agent_id] = usd
        return spend

    def _agent_spend_since(self, base: str, agent_started: tuple[str, float]) -> float | None:
        agent_id, started = agent_started
        since = datetime.fromtimestamp(started, tz=timezone.utc).isoformat(timespec="milliseconds")
        rows = parse.as_list(
            self._get(f"{base}/costs/by-agent", "/api/companies/{id}/costs/by-agent", {"from": since.replace("+00:00", "Z")}),
            "costs/by-agent",
        )
        for row in rows:
            if isinstance(row, dict) and row.get("agentId") == agent_id:
                return parse.cents_to_usd(row.get("costCents"))
        return None

    def _company_state(self, company_id: str) -> CompanyState:
        state = self._companies.get(company_id)
        if state is None:
            state = self._companies[company_id] = CompanyState(
                issues=self._issue_sync(company_id),
                blocked=self._issue_sync(company_id, status_filter="blocked", compact=False),
                agents=KeptRows(parse.agent_row, parse.agent),
                runs=KeptRows(parse.run_row, parse.run),
                live_runs=KeptRows(parse.run_row, parse.run),
                costs=KeptRows(parse.cost_by_model_row, partial(parse.cost_row, company_id=company_id)),
                window_spend=KeptRows(parse.window_spend_row, partial(parse.window_spend, company_id=company_id)),
                approvals=KeptRows(parse.approval_row, parse.approval),
            )
        return state

    def _issue_sync(self, company_id: str, status_filter: str | None = None, compact: bool = True) -> IssueSync:
        return IssueSync(
            client=self.client,
            source=self.name,
            company_id=company_id,
            caps=self.caps,
            parse_row=self._parse_issue,
            page_size=self.config.issue_page_size,
            status_filter=status_filter,
            compact=compact,
        )

    def _read_company(
        self, company: Company, wanted: frozenset[Target], before: CompanySnapshot | None, now: float, spend_only: set[str] | None = None
    ) -> CompanySnapshot:
        """One company's endpoints that ``wanted`` names, read side by side (the client bounds the
        concurrency), and its issues synced meanwhile on this thread; every other part is as
        ``before`` holds it (a poll reads everything: ``before`` is None)."""
        state = self._company_state(company.id)
        reads = CompanyReads(self, company.id, state)
        cs = CompanySnapshot(company=company, live_runs_known=self.caps.live_runs) if before is None else _unchanged(before, company)
        with ThreadPoolExecutor(max_workers=COMPANY_READS, thread_name_prefix=f"company-{self.name}") as pool:
            steps = {t: pool.submit(reads.step(t)) for t in wanted if t not in NOT_STEPS}
            if Target.ISSUES in wanted:
                self._sync_issues(state, now)
            for target, future in steps.items():
                reads.apply(target, future.result(), cs)
        cs.live_runs_known = self.caps.live_runs
        if Target.IN_FLIGHT_SPEND in wanted:
            cs.in_flight_spend = self._in_flight_spend(reads.base, cs.live_runs, cs.in_flight_spend, spend_only)
        elif Target.LIVE_RUNS in wanted:  # no cost reported since: only the agents whose runs ended drop out
            live = {run.agent_id for run in cs.live_runs if run.live}
            cs.in_flight_spend = {aid: usd for aid, usd in cs.in_flight_spend.items() if aid in live}
        if Target.ISSUES in wanted:
            cs.issues, cs.issue_delta = state.snapshot_issues()
        return cs

    def _sync_issues(self, state: CompanyState, now: float) -> None:
        for sync in (state.issues, state.blocked):
            sync.sync(now, self.config.full_resync_interval)
            self.last_poll.requests += sync.last_poll_requests
            self.last_poll.bytes += sync.last_poll_bytes


class CompanyReads:
    """The reads of one company's endpoints in one poll or refresh, each a step that
    ``_read_company`` runs on its own thread; the rows are kept in the company's ``CompanyState``."""

    def __init__(self, source: PaperclipSource, company_id: str, state: CompanyState) -> None:
        self.source, self.company_id, self.state = source, company_id, state
        self.base = f"/api/companies/{company_id}"

    def _kept(self, path: str, kept: KeptRows[T], what: str, params: dict[str, Any] | None = None) -> list[T]:
        """The rows of ``{base}/{path}``, kept by ``kept`` (``what``: the endpoint in the
        dropped-rows counter)."""
        data = self.source._read(f"{self.base}/{path}", "/api/companies/{id}/" + path, kept, params)
        return self.source._rows(data, what, kept.parser)

    def step(self, target: Target) -> Callable[[], Any]:
        """The read of one part of the company's data, for a worker thread."""
        return {
            Target.AGENTS: self.agents,
            Target.RUNS: self.runs,
            Target.LIVE_RUNS: self.live_runs,
            Target.COSTS: self.spend,
            Target.BUDGETS: self.budgets,
            Target.APPROVALS: self.approvals,
        }[target]

    @staticmethod
    def apply(target: Target, result: Any, cs: CompanySnapshot) -> None:
        """Put what ``step(target)`` read into ``cs``."""
        if target is Target.AGENTS:
            cs.agents = {a.id: a for a in result}
        elif target is Target.RUNS:
            cs.runs = result
        elif target is Target.LIVE_RUNS:
            cs.live_runs = result
        elif target is Target.COSTS:
            cs.costs, cs.window_spend = result
        elif target is Target.BUDGETS:
            cs.policies, cs.incidents = result
        elif target is Target.APPROVALS:
            cs.approvals = result

    def spend(self) -> tuple[list[CostRow], list[WindowSpend]]:
        return self.costs(), self.window_spend()

    def agents(self) -> list[Agent]:
        return self._kept("agents", self.state.agents, "agents")

    def runs(self) -> list[Run]:
        return self._kept("heartbeat-runs", self.state.runs, "heartbeat-runs", {"limit": self.source.config.runs_limit})

    def live_runs(self) -> list[Run]:
        return self.source._optional("live_runs", lambda: self._kept("live-runs", self.state.live_runs, "live-runs", {"limit": 50}), [])

    def costs(self) -> list[CostRow]:
        return self._kept("costs/by-agent-model", self.state.costs, "costs/by-agent-model")

    def window_spend(self) -> list[WindowSpend]:
        return self.source._optional(
            "window_spend", lambda: self._kept("costs/window-spend", self.state.window_spend, "costs/window-spend"), []
        )

    def approvals(self) -> list[Approval]:
        return self._kept("approvals", self.state.approvals, "approvals")

    def budgets(self) -> tuple[list[BudgetPolicy], list[BudgetIncident]]:
        none: tuple[list[BudgetPolicy], list[BudgetIncident]] = ([], [])
        return self.source._optional("budgets", self._budgets, none)

    def _budgets(self) -> tuple[list[BudgetPolicy], list[BudgetIncident]]:
        path = "budgets/overview"
        data = parse.as_dict(self.source._read(f"{self.base}/{path}", "/api/companies/{id}/" + path, self.state.budgets), path)
        policies = self.source._rows(data.get("policies") or [], path, parse.budget_policy)
        incidents = self.source._rows(data.get("activeIncidents") or [], path, parse.budget_incident)
        return policies, incidents


def _unchanged(cs: CompanySnapshot, company: Company) -> CompanySnapshot:
    """A new snapshot of a company that holds what ``cs`` holds, with no issue changed since,
    and ``company`` as its row (the same, or as read again)."""
    same = copy.copy(cs)
    same.company = company
    same.issue_delta = unchanged_delta(cs.issues)
    return same


def _names(changes: Mapping[str, set[Target]], target: Target) -> bool:
    """Whether any company's changes name ``target``."""
    return any(target in wanted for wanted in changes.values())


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def with_unblock_owners(
    held: dict[str, Issue],
    blocked: Mapping[str, Issue],
    touched: dict[str, None] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, Issue]:
    """The snapshot's own copy of the issues (the sync goes on changing ``held``, its dict), each
    blocked issue with its owner from the full view of the blocked ones (the compact view has
    none). An issue whose owner that sets or changes is a new object, in the copy and in ``held``,
    so that the next poll keeps it: an ``Issue`` a snapshot holds is never changed, and the
    analyses that find a poll's changes by object identity (``IssueDelta``) see this one; its id
    goes into ``touched``. ``only``: the ids to look at, those whose issue or blocked row changed
    since the last call (None: every blocked one); any other keeps the owner set then."""
    issues = dict(held)
    get = blocked.get
    for iid in blocked if only is None else only:
        row = get(iid)
        if row is None:
            continue
        issue = issues.get(iid)
        owner = row.unblock_owner
        if owner and issue is not None and issue.status == "blocked" and issue.unblock_owner != owner:
            issues[iid] = held[iid] = msgspec.structs.replace(issue, unblock_owner=owner)
            if touched is not None:
                touched[iid] = None
    return issues
