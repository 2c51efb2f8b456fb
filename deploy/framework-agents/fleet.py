"""The framework fleet of the compose demo: real agent frameworks on fake models, sending OTLP.

It runs the framework agent scripts (``agent_<framework>.py`` of ``tests/frameworks/``: LangGraph,
CrewAI, Pydantic AI, the OpenAI Agents SDK and plain Python, each on a fake model, no LLM and no
network but the endpoint) as a small fleet that works forever:

- one healthy agent per framework, answering a conversation every ``HEALTHY_PAUSE`` seconds;
- one fault per framework the way it happens, staggered ``STAGGER`` seconds apart from the start
  and repeated every ``FAULT_EVERY`` seconds so the dashboards keep showing them (``FLEET`` below).

Each agent is a subprocess in its own process group, started with ``--python`` from
``--agents-dir``; one that exits is started again (a continuous one after ``RESTART_DELAY``, a
fault at its next repetition). One line is logged per start (and one per failed exit). SIGTERM
or SIGINT stops every agent's process group, then the fleet. ``--time-scale=10`` divides every
wait by ten (tests).
Standard library only: it runs beside the frameworks, not inside their environment.

    python fleet.py --endpoint http://127.0.0.1:4318/v1/traces --python /path/to/frameworks/venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

HERE = Path(__file__).resolve().parent
HEALTHY_PAUSE = 20.0  # seconds between a healthy agent's conversations
STAGGER = 30.0  # seconds between the first start of one fault and the next
FAULT_EVERY = 1800.0  # a fault is played again this long after its previous start
RESTART_DELAY = 10.0  # a continuous agent that exited is started again after this
STOP_GRACE = 5.0  # seconds an agent has to end after SIGTERM before SIGKILL
HEALTHY_CONVERSATIONS = 2_000  # about eleven hours of work (planned up front), then it is restarted


@dataclass(frozen=True)
class Job:
    """One agent of the fleet: ``framework``'s script playing ``scenario`` as ``agent``, with
    ``options`` as flags. First started ``start_at`` seconds after the fleet; ``every`` None: it
    works continuously (restarted when it exits), else it is played again every ``every`` seconds."""

    agent: str
    framework: str
    scenario: str
    what: str
    options: dict[str, object] = field(default_factory=dict)
    start_at: float = 0.0
    every: float | None = None


def _healthy(framework: str) -> Job:
    agent = f"{framework.replace('_', '-')}-healthy"
    return Job(agent, framework, "healthy", "works steadily", {"conversations": HEALTHY_CONVERSATIONS, "pause": HEALTHY_PAUSE})


FRAMEWORKS = ("custom", "langgraph", "pydantic_ai", "openai_agents", "crewai")
# the faults in the order they first start, one STAGGER apart
FAULTS = (
    Job("custom-silent", "custom", "healthy", "works on a cadence, then falls silent", {"conversations": 10, "pause": 15}),
    Job("langgraph-looper", "langgraph", "loop", "calls one tool with the same arguments until its recursion limit", {"calls": 25}),
    Job("pydantic-ai-failing", "pydantic_ai", "fail", "its model endpoint refuses every call", {"conversations": 6, "pause": 10}),
    Job("custom-hung", "custom", "hang", "hangs inside a tool call, its invocation never ends"),
    Job("crewai-spender", "crewai", "spend", "spends heavily on gpt-4o", {"conversations": 20, "pause": 20, "model": "gpt-4o"}),
    Job("custom-canary", "custom", "swap", "answers its canary right, then wrong after a model swap", {"conversations": 8, "pause": 20}),
    Job(
        "openai-agents-grower",
        "openai_agents",
        "grow",
        "its conversation grows towards the window",
        {"conversations": 24, "pause": 60, "model": "gpt-4o"},
    ),
)
CONTINUOUS_FAULTS = ("hang",)  # a hung agent stays hung; it is started again only if it dies


def fleet(time_scale: float = 1.0) -> list[Job]:
    """Every agent of the fleet, with each wait (pauses, offsets, repetitions) divided by ``time_scale``."""
    jobs = [_healthy(framework) for framework in FRAMEWORKS]
    for k, fault in enumerate(FAULTS):
        every = None if fault.scenario in CONTINUOUS_FAULTS else FAULT_EVERY
        jobs.append(replace(fault, start_at=k * STAGGER, every=every))
    return [_scaled(job, time_scale) for job in jobs]


def _scaled(job: Job, time_scale: float) -> Job:
    options = dict(job.options)
    if "pause" in options:
        options["pause"] = float(options["pause"]) / time_scale  # type: ignore[arg-type]
    every = None if job.every is None else job.every / time_scale
    return replace(job, options=options, start_at=job.start_at / time_scale, every=every)


def default_agents_dir() -> Path:
    """Beside this file when the agent scripts are there (the image), else the checkout's tests/frameworks."""
    if (HERE / "agent_custom.py").exists():
        return HERE
    return HERE.parents[1] / "tests" / "frameworks"


def environment_of(agents_dir: Path) -> Callable[[], dict[str, str]]:
    """How an agent's environment is made: ``agent_env`` of ``environment.py`` beside the scripts
    (the test harness starts them with it too)."""
    sys.path.insert(0, str(agents_dir))
    from environment import agent_env  # type: ignore[import-not-found]

    return agent_env


def log(out: TextIO, msg: str, **fields: object) -> None:
    """One logfmt line."""
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parts = [f"ts={ts}", f'msg="{msg}"', *(f"{k}={_quoted(str(v))}" for k, v in fields.items())]
    print(" ".join(parts), file=out, flush=True)


def _quoted(value: str) -> str:
    return f'"{value}"' if " " in value or '"' in value or not value else value


class Fleet:
    """Starts each job when it is due, restarts what exits, and stops everything on ``stop()``."""

    def __init__(
        self, jobs: list[Job], python: str, agents_dir: Path, endpoint: str, restart_delay: float = RESTART_DELAY, out: TextIO = sys.stdout
    ) -> None:
        self.jobs = {job.agent: job for job in jobs}
        self.python, self.agents_dir, self.endpoint, self.out = python, agents_dir, endpoint, out
        self.agent_env = environment_of(agents_dir)
        self.restart_delay = restart_delay
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.due: dict[str, float] = {}
        self.started_at = 0.0
        self.stopping = False

    def command(self, job: Job) -> list[str]:
        script = self.agents_dir / f"agent_{job.framework}.py"
        command = [self.python, str(script), "--endpoint", self.endpoint, "--scenario", job.scenario, "--agent", job.agent]
        for name, value in job.options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        return command

    def start(self, job: Job, now: float) -> None:
        proc = subprocess.Popen(
            self.command(job),
            cwd=str(self.agents_dir),
            env=self.agent_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, stopped as one
        )
        self.running[job.agent] = proc
        self.due[job.agent] = now + job.every if job.every is not None else float("inf")
        log(self.out, "agent started", agent=job.agent, framework=job.framework, scenario=job.scenario, pid=proc.pid, does=job.what)

    def reap(self, now: float) -> None:
        """Forget the agents that exited; a continuous one is due again after the restart delay."""
        for agent, proc in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.running[agent]
            if code != 0:
                log(self.out, "agent exited", agent=agent, code=code)
            if self.jobs[agent].every is None:
                self.due[agent] = now + self.restart_delay

    def tick(self, now: float) -> None:
        self.reap(now)
        for agent, job in self.jobs.items():
            if agent not in self.running and now >= self.due.get(agent, self.started_at + job.start_at):
                self.start(job, now)

    def run(self, interval: float = 0.5) -> None:
        self.started_at = time.monotonic()
        log(self.out, "fleet started", agents=len(self.jobs), endpoint=self.endpoint, agents_dir=self.agents_dir)
        try:
            while not self.stopping:
                self.tick(time.monotonic())
                time.sleep(interval)
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        """SIGTERM to every agent's process group, SIGKILL to any still there after STOP_GRACE."""
        for proc in self.running.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in self.running.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            _signal_group(proc, signal.SIGKILL)  # anything it left in its group
        log(self.out, "fleet stopped", agents=len(self.running))
        self.running.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # the group is gone already


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="a demo fleet of framework agents on fake models, sending OTLP")
    p.add_argument("--endpoint", default=os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), help="the OTLP/HTTP traces URL")
    p.add_argument("--python", default=sys.executable, help="the interpreter that has the frameworks installed")
    p.add_argument("--agents-dir", type=Path, default=default_agents_dir(), help="where the agent_<framework>.py scripts are")
    p.add_argument("--time-scale", type=float, default=1.0, help="divide every wait (pauses, offsets, repetitions) by this")
    args = p.parse_args(argv)
    if not args.endpoint:
        p.error("--endpoint or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is required")
    if args.time_scale <= 0:
        p.error("--time-scale must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner = Fleet(fleet(args.time_scale), args.python, args.agents_dir, args.endpoint, RESTART_DELAY / args.time_scale)

    def stop(signum: int, frame: object) -> None:
        runner.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
