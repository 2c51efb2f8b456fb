"""Real Prometheus, Alertmanager and a webhook receiver on 127.0.0.1, for the end-to-end tests.

The shipped configs are copied and only their addresses (and, where a test compresses time,
its intervals and ``for`` durations) are rewritten; the rule expressions stay the shipped ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from harness.paperclip import free_port

ROOT = Path(__file__).resolve().parents[2]


class Webhook:
    """Records every Alertmanager notification: receiver (from the path) and payload."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    hook.posts.append((self.path.rsplit("/", 1)[-1], json.loads(body)))
                except ValueError:
                    pass
                self.send_response(200)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def alerts(self, status: str = "firing") -> list[tuple[str, dict]]:
        """(receiver, alert) for every alert notified with ``status``."""
        return [(receiver, a) for receiver, payload in list(self.posts) for a in payload.get("alerts", []) if a.get("status") == status]


class Process:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_ready(url: str, proc: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"exited: {proc.log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def alertmanager_config(webhook_url: str, fast: bool = True) -> dict:
    config = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/alerts/{receiver['name']}"
    config["templates"] = [str(ROOT / "alertmanager" / "templates" / "*.tmpl")]
    if fast:

        def squash(route: dict) -> None:
            for key in ("group_wait", "group_interval", "repeat_interval"):
                if key in route:
                    route[key] = "1s" if key != "repeat_interval" else "1m"
            for child in route.get("routes", []):
                squash(child)

        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1m")
        squash(config["route"])
    return config


class Alertmanager:
    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(alertmanager_config(webhook_url)))
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        self.process = Process(
            [binary, f"--config.file={cfg}", f"--storage.path={workdir / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            workdir / "alertmanager.log",
        )
        wait_ready(self.url + "/-/ready", self.process)

    def post(self, alerts: list[dict]) -> None:
        requests.post(self.url + "/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v2/alerts", timeout=5).json()

    def stop(self) -> None:
        self.process.stop()


def compress_rules(text: str, factor: int) -> str:
    """Divide every ``for:`` duration by ``factor`` (time compression for end-to-end tests)."""

    def shrink(match: re.Match) -> str:
        value, unit = int(match.group(1)), match.group(2)
        seconds = value * {"s": 1, "m": 60, "h": 3600}[unit]
        return f"for: {max(1, seconds // factor)}s"

    return re.sub(r"for: (\d+)([smh])", shrink, text)


class Prometheus:
    def __init__(self, workdir: Path, targets: list[str], alertmanager: str, rules_for_factor: int = 1, interval: str = "1s") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules_dir = workdir / "rules"
        rules_dir.mkdir(exist_ok=True)
        for name in ("recording.yml", "alerts.yml"):
            text = (ROOT / "prometheus" / "rules" / name).read_text()
            text = text.replace("interval: 1m", f"interval: {interval}")
            (rules_dir / name).write_text(compress_rules(text, rules_for_factor) if rules_for_factor > 1 else text)
        config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
        config["global"].update(scrape_interval=interval, evaluation_interval=interval)
        config["rule_files"] = [str(rules_dir / "recording.yml"), str(rules_dir / "alerts.yml")]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager.removeprefix("http://")]
        config["scrape_configs"] = [
            {"job_name": "agentwatch", "scrape_interval": interval, "scrape_timeout": interval, "static_configs": [{"targets": targets}]}
        ]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = Process(
            [
                shutil.which("prometheus"), f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--rules.alert.resend-delay=1s",
            ],
            workdir / "prometheus.log",
        )
        wait_ready(self.url + "/-/ready", self.process)

    def query(self, expr: str) -> list[dict]:
        return requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10).json()["data"]["result"]

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]

    def stop(self) -> None:
        self.process.stop()
