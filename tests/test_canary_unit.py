"""Canary scorers, suite validation and the runner's state machine (with a scripted API)."""

from __future__ import annotations

import pytest

from agentwatch.analysis import scoring
from agentwatch.canary.runner import CanaryRunner
from agentwatch.canary.suite import Suite, load_suite
from agentwatch.config import ConfigError
from agentwatch.model import Agent, BudgetPolicy, Company, CompanySnapshot, Snapshot
from agentwatch.source import SourceError
from agentwatch.source.paperclip.canary_api import CanaryPermissionError, TaskState

HOSTILE = ["", " ", "x" * 1_000_000, "💥" * 10_000, "{not json", "\x00\x01", "42" + "9" * 5000, "{" * 10_000]


@pytest.mark.parametrize("answer", HOSTILE)
def test_every_scorer_survives_hostile_answers(answer):
    results = [
        scoring.exact(answer, "42"),
        scoring.regex(answer, r"\b42\b"),
        scoring.contains_all(answer, ["4", "2"]),
        scoring.json_keys(answer, ["a"]),
        scoring.json_keys(answer, {"a": "number"}),
        scoring.numeric(answer, 42, 0.5),
    ]
    for r in results:
        assert isinstance(r.passed, bool)
        assert 0.0 <= r.value <= 1.0


def test_exact():
    assert scoring.exact("  The Answer ", "the answer").passed
    assert not scoring.exact("The Answer", "the answer", case_sensitive=True).passed


def test_regex():
    assert scoring.regex("result: 42 units", r"\b42\b").passed
    assert not scoring.regex("result: 420", r"\b42\b").passed


def test_contains_all_scores_the_fraction_found():
    r = scoring.contains_all("alpha and gamma", ["alpha", "beta", "gamma", "delta"])
    assert not r.passed and r.value == 0.5
    assert scoring.contains_all("ALPHA BETA", ["alpha", "beta"]).passed


def test_json_keys_finds_an_object_inside_prose_and_checks_types():
    answer = 'Here you go: {"name": "x", "count": 3} -- done'
    assert scoring.json_keys(answer, ["name", "count"]).passed
    assert scoring.json_keys(answer, {"name": "string", "count": "integer"}).passed
    r = scoring.json_keys(answer, {"name": "number", "count": "integer"})
    assert not r.passed and r.value == 0.5
    assert not scoring.json_keys('{"flag": true}', {"flag": "number"}).passed  # a bool is not a number
    assert not scoring.json_keys("[1, 2]", ["a"]).passed
    assert not scoring.json_keys("no json here", ["a"]).passed


def test_numeric_within_tolerance():
    assert scoring.numeric("The answer is 42.", 42).passed
    assert scoring.numeric("about 3.14159", 3.14, 0.01).passed
    assert not scoring.numeric("The answer is 41", 42).passed
    assert scoring.numeric("1,000,000 tokens", 1e6).passed
    assert not scoring.numeric("no number", 42).passed
    assert not scoring.numeric("inf", 42).passed


def _suite_file(tmp_path, body: str):
    path = tmp_path / "suite.yml"
    path.write_text(body)
    return path


def test_suite_loads_every_scorer(tmp_path):
    suite = load_suite(
        _suite_file(
            tmp_path,
            """
canaries:
  - {name: a, title: t, agents: [x], scorer: {type: exact, expected: "42"}, interval: 30s, timeout: 5m}
  - {name: b, title: t, roles: [qa], scorer: {type: regex, pattern: "^ok$"}}
  - {name: c, title: t, roles: [qa], scorer: {type: contains_all, values: [a, b]}}
  - {name: d, title: t, roles: [qa], scorer: {type: json_keys, keys: {a: number}}}
  - {name: e, title: t, roles: [qa], scorer: {type: numeric, expected: 1.5, tolerance: 0.1}, max_spend_per_day: 0.5}
""",
        )
    )
    assert [c.name for c in suite.canaries] == list("abcde")
    assert suite.canaries[0].interval == 30 and suite.canaries[0].timeout == 300


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("canaries: [{name: a, title: t, scorer: {type: bogus}}]", "canaries.0.scorer"),
        ("canaries: [{name: a, title: t, scorer: {type: regex, pattern: '('}}]", "not a valid regular expression"),
        ("canaries: [{name: a, title: t, scorer: {type: exact, expected: x}, interval: often}]", "interval='often'"),
        (
            "canaries: [{name: a, title: t, scorer: {type: exact, expected: x}}, {name: a, title: t, scorer: {type: exact, expected: x}}]",
            "repeated",
        ),
        ("canaries: [{name: 'bad name', title: t, scorer: {type: exact, expected: x}}]", "name='bad name'"),
        ("canaries: [: :", "not valid YAML"),
    ],
)
def test_bad_suites_name_the_key(tmp_path, body, fragment):
    with pytest.raises(ConfigError) as err:
        load_suite(_suite_file(tmp_path, body))
    assert fragment in str(err.value)


class ScriptedAPI:
    """Stands in for CanaryAPI in unit tests of the state machine (the real API is tested end to end)."""

    def __init__(self, answer="42", model="m1", spend=0.01, status="in_progress"):
        self.answer, self.model, self.spend, self.status = answer, model, spend, status
        self.created, self.closed = [], []
        self.fail_create: SourceError | None = None
        self.denied = False

    def check_write_access(self, company_ids):
        if self.denied:
            raise CanaryPermissionError("no write access")

    def create_task(self, company_id, agent_id, title, description):
        if self.fail_create:
            raise self.fail_create
        self.created.append((company_id, agent_id, title))
        return f"task-{len(self.created)}", f"ACM-{len(self.created)}"

    def task_state(self, issue_id, agent_id):
        return TaskState(self.status, self.answer, self.model, self.spend)

    def close_task(self, issue_id):
        self.closed.append(issue_id)


def _snapshot(agent_status="idle", hard_stop=False):
    cs = CompanySnapshot(company=Company("c1", "Acme"))
    cs.agents["a1"] = Agent("a1", "c1", "Target", role="qa", status=agent_status, model="m1")
    if hard_stop:
        cs.policies.append(BudgetPolicy("p", "c1", "agent", "a1", "Target", "calendar_month_utc", 1, 2, 0.8, True, "hard_stop", True))
    return Snapshot(source="s", taken_at=0.0, companies={"c1": cs})


def _runner(api, snapshot, clock):
    suite = Suite.model_validate(
        {
            "canaries": [
                {
                    "name": "arith",
                    "title": "6x7?",
                    "agents": ["Target"],
                    "scorer": {"type": "numeric", "expected": 42},
                    "interval": 60,
                    "timeout": 30,
                    "max_spend_per_day": 0.02,
                }
            ]
        }
    )
    return CanaryRunner(suite, api, "s", lambda: snapshot, clock=clock)


def test_runner_passes_then_fails_and_cleans_up():
    now = [1000.0]
    api = ScriptedAPI()
    runner = _runner(api, _snapshot(), lambda: now[0])
    runner.tick()  # creates the task
    assert api.created and api.created[0][2] == "[canary] arith: 6x7?"
    now[0] += 5
    runner.tick()  # answer arrives: pass, task closed
    rec = runner.view()[("arith", "a1")]
    assert rec.runs == {("m1", "pass"): 1}
    assert rec.last_success == 1005.0 and api.closed == ["task-1"]
    api.answer, api.model = "41", "m2"
    now[0] += 60
    runner.tick()
    now[0] += 1
    runner.tick()
    rec = runner.view()[("arith", "a1")]
    assert rec.runs[("m2", "fail")] == 1 and rec.consecutive_failures == 1


def test_runner_times_out_and_records_it():
    now = [0.0]
    api = ScriptedAPI(answer=None)
    runner = _runner(api, _snapshot(), lambda: now[0])
    runner.tick()
    now[0] += 31
    runner.tick()
    assert runner.view()[("arith", "a1")].runs == {("m1", "timeout"): 1}
    assert api.closed == ["task-1"]


@pytest.mark.parametrize("snapshot", [_snapshot(agent_status="paused"), _snapshot(hard_stop=True)])
def test_runner_skips_paused_or_over_budget_agents(snapshot):
    api = ScriptedAPI()
    runner = _runner(api, snapshot, lambda: 0.0)
    runner.tick()
    assert api.created == []
    assert runner.view()[("arith", "a1")].runs == {("m1", "skipped"): 1}


def test_runner_respects_the_daily_spend_cap():
    now = [0.0]
    api = ScriptedAPI(spend=0.05)
    runner = _runner(api, _snapshot(), lambda: now[0])
    runner.tick()
    now[0] += 1
    runner.tick()  # pass, spends 0.05 > cap 0.02
    now[0] += 61
    runner.tick()
    assert len(api.created) == 1
    assert runner.view()[("arith", "a1")].runs[("m1", "skipped")] == 1


def test_a_failed_create_is_an_error_not_a_crash():
    api = ScriptedAPI()
    api.fail_create = SourceError("http_5xx", "/api/companies/{id}/issues", "HTTP 500", 500)
    runner = _runner(api, _snapshot(), lambda: 0.0)
    runner.tick()
    assert runner.view()[("arith", "a1")].runs == {("m1", "error"): 1}


def test_a_token_without_write_permission_stops_the_runner():
    api = ScriptedAPI()
    api.denied = True
    runner = _runner(api, _snapshot(), lambda: 0.0)
    with pytest.raises(CanaryPermissionError):
        runner.tick()
    assert api.created == []
