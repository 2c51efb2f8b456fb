"""The harness for the framework agents (``tests/frameworks/agent_<framework>.py``), for tests.

Those scripts run real agent frameworks (LangGraph, CrewAI, Pydantic AI, the OpenAI Agents SDK,
plain Python) on fake models and export their spans over OTLP/HTTP. The frameworks pin what they
pin, so they live in their own virtual environment, never in agentwatch's:

- ``install()`` builds it (or reuses it) from ``tests/frameworks/requirements.txt`` outside the
  checkout, one per hash of that file: ``/var/tmp/agentwatch-frameworks/<hash>/``, or under
  ``$AGENTWATCH_FRAMEWORKS_VENV_DIR``;
- ``python_path()`` is its interpreter, or None while it is not installed (tests skip then);
- ``run_agent(...)`` runs a script to its end, ``start_agent(...)`` starts one (the ``hang``
  scenario never ends) and ``stop_agent(...)`` ends it: with no proxies, with
  ``OTEL_SDK_DISABLED`` unset, and with every framework's phoning home turned off.

Run ``python tests/harness/frameworks.py install`` to build it (CI does); it prints the python.
Standard library only: this module runs in agentwatch's own virtual environment.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ROOT / "tests" / "frameworks"
REQUIREMENTS = FRAMEWORKS / "requirements.txt"
sys.path.insert(0, str(FRAMEWORKS))  # the scripts' own environment module, stdlib only
from environment import agent_env  # noqa: E402  (re-exported: the tests start agents with it)

READY = "agentwatch-ready"  # written into the venv once every requirement is installed
AGENT_TIMEOUT = 180.0


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def venv_dir() -> Path:
    base = Path(os.environ.get("AGENTWATCH_FRAMEWORKS_VENV_DIR") or "/var/tmp/agentwatch-frameworks")
    return base / requirements_hash()


def _python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def python_path() -> Path | None:
    """The frameworks' interpreter, or None while their venv is not (completely) installed."""
    venv = venv_dir()
    python = _python_of(venv)
    return python if python.exists() and (venv / READY).exists() else None


def install(quiet: bool = True) -> Path:
    """Build the frameworks' venv for this ``requirements.txt`` unless it is there; its python.
    A lock keeps two concurrent installs from building the same venv."""
    venv = venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python_path() is not None:
            return _python_of(venv)
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(_python_of(venv)), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        subprocess.run([*pip, "install", *(["--quiet"] if quiet else []), "-r", str(REQUIREMENTS)], check=True)
        (venv / READY).write_text(REQUIREMENTS.read_text())
    return _python_of(venv)


def available_frameworks() -> list[str]:
    """The frameworks that have an agent script, e.g. ``["crewai", "custom", "langgraph", ...]``."""
    return sorted(p.stem.removeprefix("agent_") for p in FRAMEWORKS.glob("agent_*.py"))


def agent_script(framework: str) -> Path:
    script = FRAMEWORKS / f"agent_{framework}.py"
    if not script.exists():
        raise ValueError(f"no agent script for {framework!r}: {script} does not exist")
    return script


def agent_command(framework: str, endpoint: str, scenario: str, agent: str, **options: object) -> list[str]:
    """The command line running ``framework``'s agent; ``options`` become flags
    (``conversations=2`` is ``--conversations 2``, ``swap_model=`` is ``--swap-model``)."""
    python = python_path()
    if python is None:
        raise RuntimeError("the frameworks venv is not installed: run `python tests/harness/frameworks.py install`")
    command = [str(python), str(agent_script(framework)), "--endpoint", endpoint, "--scenario", scenario, "--agent", agent]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def run_agent(
    framework: str,
    endpoint: str,
    scenario: str,
    agent: str,
    *,
    timeout: float = AGENT_TIMEOUT,
    env: dict[str, str] | None = None,
    **options: object,
) -> subprocess.CompletedProcess[str]:
    """Run an agent script to its end (output captured as text); raises TimeoutExpired after ``timeout``."""
    command = agent_command(framework, endpoint, scenario, agent, **options)
    return subprocess.run(
        command, env=agent_env(env), cwd=str(FRAMEWORKS), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def start_agent(
    framework: str, endpoint: str, scenario: str, agent: str, *, env: dict[str, str] | None = None, **options: object
) -> subprocess.Popen[str]:
    """Start an agent script in its own process group (``stop_agent`` ends it); output piped as text."""
    command = agent_command(framework, endpoint, scenario, agent, **options)
    return subprocess.Popen(
        command,
        env=agent_env(env),
        cwd=str(FRAMEWORKS),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop_agent(proc: subprocess.Popen[str], timeout: float = 10.0) -> tuple[str, str]:
    """End a started agent (SIGTERM to its group, SIGKILL if it lingers); its stdout and stderr."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate(timeout=timeout)


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        t0 = time.monotonic()
        python = install(quiet="--verbose" not in argv)
        print(python)
        print(f"frameworks venv ready ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
        return 0
    print("usage: frameworks.py install [--verbose]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
