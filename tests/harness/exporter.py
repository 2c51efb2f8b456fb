"""Run the real ``agentwatch`` CLI as a process on 127.0.0.1 and read its /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.stack.local import Process
from harness.paperclip import free_port


class Samples(dict):
    """(sample name, frozenset of label items) -> value, with helpers for tests."""

    def get_value(self, name: str, **labels) -> float | None:
        want = set(labels.items())
        for (n, lbl), v in self.items():
            if n == name and want <= set(lbl):
                return v
        return None

    def select(self, name: str, **labels) -> list[tuple[dict, float]]:
        want = set(labels.items())
        return [(dict(lbl), v) for (n, lbl), v in self.items() if n == name and want <= set(lbl)]

    def total(self, name: str, **labels) -> float:
        return sum(v for _, v in self.select(name, **labels))


def parse_exposition(text: str) -> Samples:
    out = Samples()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class ExporterProcess:
    """``agentwatch`` with a YAML config written to ``workdir``; stopped by its PID."""

    def __init__(self, config: dict, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "agentwatch.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "agentwatch.log"
        self.env = {**os.environ, **(extra_env or {})}
        self.process: Process | None = None

    def __enter__(self) -> "ExporterProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.process = Process(
            [sys.executable, "-m", "agentwatch", f"--config.file={self.config_path}", f"--web.listen-address=127.0.0.1:{self.port}"],
            self.log_path,
            env=self.env,
        )
        self.wait_for(lambda s: s.get_value("agentwatch_up") is not None, timeout=30, what="the exporter to serve")

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.process.proc if self.process else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def text(self) -> str:
        return requests.get(self.url + "/metrics", timeout=10).text

    def scrape(self) -> Samples:
        return parse_exposition(self.text())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[Samples], object], timeout: float = 60.0, what: str = "metrics") -> Samples:
        """Scrape until ``predicate`` returns something truthy that is not a tuple (a tuple is the
        reason to keep waiting, shown if time runs out)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"agentwatch exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                samples = self.scrape()
                last = predicate(samples)
                if last and not isinstance(last, tuple):
                    return samples
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what} (last: {last!r})\n{self.log()[-3000:]}")
