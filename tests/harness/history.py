"""A real Prometheus holding history that never happened live: OpenMetrics written here, turned
into TSDB blocks by ``promtool tsdb create-blocks-from openmetrics``, then served read-only.

Used by the operator-workflow tests (``agentwatch tune``, ``agentwatch audit``): they need weeks
of agentwatch series, which no test can wait for.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from agentwatch.stack.local import Process, binary, free_port, wait_ready

# name -> (type, [(labels, [(unix seconds, value), ...]), ...])
Families = dict[str, tuple[str, list[tuple[dict[str, str], list[tuple[float, float]]]]]]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"'.replace("\n", "\\n") for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def write_openmetrics(path: Path, families: Families) -> Path:
    """One OpenMetrics file; each family's series are contiguous, each series' samples in time order."""
    lines: list[str] = []
    for name, (kind, series) in families.items():
        lines.append(f"# TYPE {name} {kind}")
        sample_name = f"{name}_total" if kind == "counter" else name
        for labels, samples in series:
            text = _labels(labels)
            lines.extend(f"{sample_name}{text} {float(v)!r} {t:.3f}" for t, v in sorted(samples))
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


class SeededPrometheus:
    """A Prometheus on 127.0.0.1 whose TSDB was built from ``openmetrics``; stopped by its PID."""

    def __init__(self, workdir: Path, openmetrics: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        tsdb = workdir / "tsdb"
        done = subprocess.run(
            [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h", str(openmetrics), str(tsdb)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"promtool create-blocks-from failed: {done.stderr[-2000:]}")
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1m", "evaluation_interval": "1m"}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            workdir / "prometheus.log",
        )
        wait_ready(self.url + "/-/ready", self.process, timeout=60)

    def stop(self) -> None:
        self.process.stop()
