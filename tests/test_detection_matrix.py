"""The fault matrix of issue 21, its CI subset: one variant of each failure class (both cold-start
alerts), each injected into the real Paperclip without help (a hang on the agent's very first run, a
context that grows on timer wakes with no task, escalations and spend from an agent with no
history and no budget, a loop Paperclip parks, a cancelled blocker), beside a healthy control
company. agentwatch, a real Prometheus with the shipped rules (``for`` / 60), a real Alertmanager
with the shipped routing and the incident webhook receiver must page each, for the right agent or
company, and nothing for the control. The whole matrix: ``python bench/detection.py``
(docs/detection.md).
"""

from __future__ import annotations

import shutil

import pytest

from detection import report
from detection.driver import Matrix
from detection.scenarios import ci_subset

pytestmark = [
    pytest.mark.paperclip,
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed"),
]


@pytest.fixture(scope="module")
def matrix(paperclip_server, paperclip_root, tmp_path_factory):
    return Matrix(
        paperclip_server.url,
        paperclip_root,
        ci_subset(),
        tmp_path_factory.mktemp("detection"),
        log=lambda line: print(line, flush=True),
        max_duration=420,
    ).run()


def explain(results) -> str:
    return f"\n{report.summary(results)}\n\n{report.table(results)}\n\n{report.details(results)}"


def test_every_fault_pages_for_the_right_target(matrix):
    for o in matrix.outcomes:
        assert o.rule_present, f"{o.alert} is not a rule of the shipped rules{explain(matrix)}"
        assert o.fault_at is not None, f"{o.variant}: fault never injected ({o.notes}){explain(matrix)}"
        assert o.fired, f"{o.variant}: {o.alert} never fired in Prometheus{explain(matrix)}"
        assert o.paged_at is not None, f"{o.variant}: {o.alert} never reached the webhook{explain(matrix)}"
        assert o.labels_ok, f"{o.variant}: {o.alert} paged with {o.label_problems}{explain(matrix)}"


def test_the_control_company_raises_nothing(matrix):
    assert not matrix.control_alerts, f"the healthy control paged: {matrix.control_alerts}{explain(matrix)}"
