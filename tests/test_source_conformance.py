"""The source conformance suite: what every source must pass, parametrised over the kits.

Each source registers a kit in tests/source_kits.py (how to start it against recorded answers,
how to put them into each fault, its golden exposition and its parsers), and runs:

- the contract of ``poll`` (source/base.py): the snapshot's types and frozen rows, ids unique
  and consistent with their company, runs newest first, capabilities declared, the issue delta
  consistent with the previous snapshot, and an unchanged row handed out as the same object;
- the faults: each failure of the platform is a ``SourceError`` of its kind, the poller serves
  the last good data meanwhile with its age visible, logs one line, and recovers; faults in
  the rows are survived;
- hostile input: every parser takes any row, and a poll of any JSON answer on any endpoint
  returns a snapshot or raises ``SourceError``, nothing else;
- the golden exposition of the recorded answers, which ``promtool check metrics`` passes.

The tests specific to one platform stay in its own files (test_faults.py, test_hostile_input.py
and the test_paperclip_* files for Paperclip).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentwatch.config import SourceConfig
from agentwatch.model import CompanySnapshot, Snapshot, SourceCapabilities
from agentwatch.model.delta import IssueDelta, issue_delta
from agentwatch.source import Source, SourceError
from harness.paperclip import free_port
from source_kits import KITS, PULL_KITS, RECORDED, TOLERATED_FAULTS, SourceKit
from test_faults import Clock, errors, make_exporter, scrape  # noqa: F401 (errors: a fixture)
from test_golden import promtool_check, render, stable_lines
from test_hostile_input import json_values

# ids "<name>-source": a bare "paperclip" would be read as the marker of the real-server tests
kits = pytest.mark.parametrize("kit", KITS, ids=lambda kit: f"{kit.name}-source")


def source_for(kit: SourceKit, url: str) -> Source:
    # the recorded API has no live-events socket: the kit's source polls alone
    return kit.source(SourceConfig(name="conformance", url=url, timeout=2.0, retries=0, live_events={"enabled": False}))


# -- the contract of poll ----------------------------------------------------------------------


def assert_frozen(row: object) -> None:
    """A row of the model cannot be changed in place: a frozen dataclass or msgspec struct."""
    if isinstance(row, msgspec.Struct):
        assert type(row).__struct_config__.frozen, type(row).__name__
        name = type(row).__struct_fields__[0]
    else:
        assert dataclasses.is_dataclass(row) and type(row).__dataclass_params__.frozen, type(row).__name__
        name = dataclasses.fields(row)[0].name
    with pytest.raises(AttributeError):
        setattr(row, name, getattr(row, name))


ROW_LISTS = ("runs", "live_runs", "costs", "window_spend", "policies", "incidents", "approvals", "canary_answers")


def assert_company_snapshot(cid: str, cs: CompanySnapshot) -> None:
    assert isinstance(cs, CompanySnapshot) and cs.company.id == cid
    assert_frozen(cs.company)
    for table in (cs.agents, cs.issues):
        assert all(key == row.id for key, row in table.items())
        for row in table.values():
            assert_frozen(row)
    assert all(agent.company_id == cid for agent in cs.agents.values())
    for name in ROW_LISTS:
        rows = getattr(cs, name)
        assert isinstance(rows, list), name
        for row in rows:
            assert_frozen(row)
            assert row.company_id == cid, (name, row)
        ids = [row.id for row in rows if hasattr(row, "id")]
        assert len(ids) == len(set(ids)), f"{name}: ids repeat"
    created = [run.created_at for run in cs.runs if run.created_at is not None]
    assert created == sorted(created, reverse=True), "runs are not newest first"
    assert all(run.live for run in cs.live_runs)
    delta = cs.issue_delta
    assert delta is None or (isinstance(delta, IssueDelta) and delta.after is cs.issues)


def assert_snapshot(source: Source, snapshot: Snapshot, now: float) -> None:
    assert isinstance(snapshot, Snapshot)
    assert snapshot.source == source.name and snapshot.taken_at == now
    assert isinstance(snapshot.capabilities, SourceCapabilities) and snapshot.capabilities == source.capabilities
    assert snapshot.companies, "the recorded answers hold a company"
    for cid, cs in snapshot.companies.items():
        assert_company_snapshot(cid, cs)


def assert_follows(kit: SourceKit, before: Snapshot, after: Snapshot) -> None:
    """``after`` polled the same answers as ``before``: its delta starts from ``before``'s
    issues and agrees with the delta by identity, and every row is the object of ``before``."""
    assert after.companies.keys() == before.companies.keys()
    for cid, cs in after.companies.items():
        prev = before.companies[cid]
        delta = cs.issue_delta
        assert delta is not None or not kit.knows_delta
        if delta is not None:
            assert delta.before is prev.issues
            reference = issue_delta(prev.issues, cs.issues)
            assert set(delta.changed) == set(reference.changed) and set(delta.removed) == set(reference.removed)
        assert cs.company is prev.company
        for table in ("agents", "issues"):
            now, then = getattr(cs, table), getattr(prev, table)
            assert now.keys() == then.keys() and all(now[k] is then[k] for k in now), table
        for name in ROW_LISTS:
            now, then = getattr(cs, name), getattr(prev, name)
            assert len(now) == len(then) and all(a is b for a, b in zip(now, then, strict=True)), name


@kits
def test_a_poll_keeps_the_source_contract(kit):
    with kit.recorded() as platform:
        source = source_for(kit, platform.url)
        try:
            assert isinstance(source.name, str) and isinstance(source.capabilities, SourceCapabilities)
            first = source.poll(kit.recorded_at)
            assert_snapshot(source, first, kit.recorded_at)
            assert source.last_poll.requests > 0
            second = source.poll(kit.recorded_at + 30)
            assert_snapshot(source, second, kit.recorded_at + 30)
            assert_follows(kit, first, second)
        finally:
            source.close()


# -- faults --------------------------------------------------------------------------------------


KIT_FAULTS = [(kit, fault, kind) for kit in KITS for fault, kind in sorted(kit.faults.items())]


@pytest.mark.parametrize("kit, fault, kind", KIT_FAULTS, ids=[f"{kit.name}-source-{fault}" for kit, fault, _ in KIT_FAULTS])
def test_fault_keeps_last_good_data_and_recovers(kit, errors, caplog, fault, kind):  # noqa: F811
    with kit.recorded() as platform:
        clock = Clock()
        poller, registry = make_exporter(platform.url, clock, make_source=kit.source, timeout=0.5)
        assert poller.poll_once()
        good = scrape(registry)
        kept_before = good.select(kit.kept_family)
        assert good.get_value("agentwatch_up", source="pc") == 1.0 and kept_before

        kit.inject(platform, poller.source, fault)
        for _ in range(3):
            clock.t += 30
            with pytest.raises(SourceError) as failed:  # the source itself raises its kind
                poller.source.poll(clock.t)
            assert failed.value.kind == kind
            assert poller.poll_once() is False
        s = scrape(registry)
        assert s.get_value("agentwatch_up", source="pc") == 0.0
        assert s.select(kit.kept_family) == kept_before  # last good data kept
        assert s.get_value("agentwatch_snapshot_age_seconds", source="pc") == 90.0  # and its staleness visible
        assert s.get_value("agentwatch_poll_failures_total", source="pc", kind=kind) == 3.0
        if kind != "schema" and kit.pull:  # a request that failed, rather than an answer of the wrong shape
            assert s.total("agentwatch_source_request_errors_total", kind=kind) >= 3.0
        failures = errors()
        assert len(failures) == 1, [r.getMessage() for r in failures]  # one clear line, not a flood
        assert failures[0].kind == kind and failures[0].source == "pc"

        kit.inject(platform, poller.source, None)
        clock.t += 30
        assert poller.poll_once()
        s = scrape(registry)
        assert s.get_value("agentwatch_up", source="pc") == 1.0
        assert s.get_value("agentwatch_snapshot_age_seconds", source="pc") == 0.0
        assert any(r.getMessage() == "poll recovered" for r in caplog.records)


@kits
@pytest.mark.parametrize("fault", TOLERATED_FAULTS)
def test_faults_in_the_rows_are_survived(kit, fault):
    with kit.recorded() as platform:
        poller, registry = make_exporter(platform.url, Clock(), make_source=kit.source)
        kit.inject(platform, poller.source, fault)
        assert poller.poll_once()
        assert scrape(registry).get_value("agentwatch_up", source="pc") == 1.0


pull_kits = pytest.mark.parametrize("kit", PULL_KITS, ids=lambda kit: f"{kit.name}-source")


@pull_kits
def test_platform_down_at_start_then_up(kit, errors):  # noqa: F811
    clock = Clock()
    poller, registry = make_exporter(f"http://127.0.0.1:{free_port()}", clock, make_source=kit.source)  # nothing listens there
    assert poller.poll_once() is False
    s = scrape(registry)
    assert s.get_value("agentwatch_up", source="pc") == 0.0
    assert s.get_value("agentwatch_snapshot_age_seconds", source="pc") == -1.0
    assert s.get_value("agentwatch_poll_failures_total", source="pc", kind="connection") == 1.0
    assert s.get_value("agentwatch_last_successful_poll_timestamp_seconds", source="pc") is None
    assert len(errors()) == 1


@pull_kits
def test_platform_goes_down_mid_run(kit, errors):  # noqa: F811
    with kit.recorded() as platform:
        clock = Clock()
        poller, registry = make_exporter(platform.url, clock, make_source=kit.source)
        assert poller.poll_once()
        before = scrape(registry).select("agentwatch_agent_info")
        platform.stop()
        clock.t += 10
        with pytest.raises(SourceError) as failed:
            poller.source.poll(clock.t)
        assert failed.value.kind == "connection"
        assert poller.poll_once() is False
        s = scrape(registry)
        assert s.get_value("agentwatch_up", source="pc") == 0.0
        assert s.select("agentwatch_agent_info") == before
        assert s.get_value("agentwatch_last_successful_poll_timestamp_seconds", source="pc") == clock.t - 10


# -- hostile input -------------------------------------------------------------------------------


def recorded_rows(kit: SourceKit, fixture: str) -> list:
    rows = json.loads((kit.fixtures / fixture).read_text())
    return rows if isinstance(rows, list) else [rows]


def recorded_keys(kit: SourceKit, fixture: str) -> list[str]:
    return sorted({k for r in recorded_rows(kit, fixture) if isinstance(r, dict) for k in r})


PARSERS = [(kit, fixture) for kit in KITS for fixture in sorted(kit.parsers)]


@pytest.mark.parametrize("kit, fixture", PARSERS, ids=[f"{kit.name}:{fixture}" for kit, fixture in PARSERS])
def test_parsers_never_raise(kit, fixture):
    parser = kit.parsers[fixture]
    keys = recorded_keys(kit, fixture)
    recorded = [r for r in recorded_rows(kit, fixture) if isinstance(r, dict)]

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        base=st.sampled_from(recorded) if recorded else st.just({}),
        changes=st.dictionaries(st.sampled_from(keys) if keys else st.text(), json_values, max_size=6),
        drop=st.lists(st.sampled_from(keys) if keys else st.text(), max_size=4),
    )
    def check(base, changes, drop):
        row = {k: v for k, v in copy.deepcopy(base).items() if k not in drop}
        row.update(changes)
        parsed = parser(row)  # no exception escapes: a row is parsed or dropped (None)
        assert parsed is None or isinstance(parsed, tuple) or type(parsed).__module__ == "agentwatch.model"

    check()


@kits
def test_every_parser_takes_any_json_value(kit):
    @settings(max_examples=200, deadline=None)
    @given(st.one_of(json_values, st.lists(json_values, max_size=5)))
    def check(value):
        rows = value if isinstance(value, list) else [value]
        for parser in kit.parsers.values():
            parsed = [parser(row) if isinstance(row, dict) else None for row in rows]
            assert all(p is None or isinstance(p, tuple) or type(p).__module__ == "agentwatch.model" for p in parsed)

    check()


@kits
def test_any_answer_on_any_endpoint_is_a_snapshot_or_a_source_error(kit):
    """A poll whose platform answers one endpoint with any JSON value returns a snapshot that
    keeps the contract, or raises ``SourceError``: never another exception."""
    with kit.recorded() as platform:
        source = source_for(kit, platform.url)

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(st.sampled_from(kit.endpoints), json_values | st.lists(json_values, max_size=4))
        def check(endpoint, value):
            kit.serve(platform, endpoint, value)
            try:
                snapshot = source.poll(kit.recorded_at)
            except SourceError:
                return
            finally:
                kit.serve(platform, endpoint, RECORDED)
            for cid, cs in snapshot.companies.items():
                assert_company_snapshot(cid, cs)

        try:
            check()
        finally:
            source.close()


# -- the golden exposition -----------------------------------------------------------------------


@kits
def test_exposition_matches_the_golden_file(kit):
    with kit.recorded() as platform:
        lines = stable_lines(render(platform, kit))
    if os.environ.get("AGENTWATCH_UPDATE_GOLDEN") == "1":
        kit.golden.parent.mkdir(exist_ok=True)
        kit.golden.write_text("\n".join(lines) + "\n")
    expected = kit.golden.read_text().splitlines()
    assert lines == expected


@pytest.mark.prometheus
@kits
def test_exposition_passes_promtool_cleanly(kit):
    with kit.recorded() as platform:
        assert promtool_check(render(platform, kit)) == ""
