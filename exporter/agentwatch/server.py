"""The HTTP endpoint and its router: /metrics, the landing page at / (``agentwatch.landing``), the
runbooks under /runbooks/ (``agentwatch.runbooks``), /-/healthy (liveness: the process serves)
and /-/ready (every source has had a good poll). TLS and basic auth from a web-config file
(``agentwatch.webconfig``) protect every path."""

from __future__ import annotations

import gzip
import threading
from typing import Callable, Sequence
from wsgiref.simple_server import make_server

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agentwatch import landing, runbooks
from agentwatch.config import UiConfig
from agentwatch.landing import SourceStatus
from agentwatch.webconfig import WebConfig
from agentwatch.webserver import Credentials, QuietHandler, ThreadingServer

HTML = ("Content-Type", "text/html; charset=utf-8")
TEXT = ("Content-Type", "text/plain; charset=utf-8")
RUNBOOKS_PREFIX = "/runbooks/"

Statuses = Callable[[], Sequence[SourceStatus]]


def no_sources() -> Sequence[SourceStatus]:
    return ()


def make_app(
    exposition: Callable[[], bytes],
    auth: Credentials | None = None,
    status: Statuses = no_sources,
    ui: UiConfig | None = None,
):
    """``exposition()`` gives the text format body (``AgentwatchCollector.exposition``);
    ``status()`` each source's state, for / and /-/ready; ``ui`` what else / shows."""
    ui = ui or UiConfig()

    def metrics(environ, start_response):
        body = exposition()
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def landing_page() -> bytes:
        alerts = landing.firing_alerts(ui.prometheus_url) if ui.prometheus_url else None
        return landing.render(status(), ui, alerts)

    def ready() -> tuple[str, bytes]:
        waiting = landing.not_ready(status())
        if waiting:
            return "503 Service Unavailable", f"not ready: no good poll yet of {', '.join(waiting)}\n".encode()
        return "200 OK", b"OK\n"

    def app(environ, start_response):
        if auth is not None and not auth.check(environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [TEXT, *auth.challenges])
            return [b"Unauthorized\n"]
        path = environ.get("PATH_INFO", "/")  # percent-decoded by the server: "%2e%2e" is ".." here
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/":
            return _answer(start_response, "200 OK", HTML, landing_page())
        if path == "/-/healthy":
            return _answer(start_response, "200 OK", TEXT, b"OK\n")
        if path == "/-/ready":
            code, body = ready()
            return _answer(start_response, code, TEXT, body)
        if path == RUNBOOKS_PREFIX.rstrip("/"):  # relative links on the index need the slash
            start_response("301 Moved Permanently", [("Location", "runbooks/"), TEXT])
            return [b"see runbooks/\n"]
        if path == RUNBOOKS_PREFIX:
            return _answer(start_response, "200 OK", HTML, runbooks.index())
        if path.startswith(RUNBOOKS_PREFIX) and (page := runbooks.page(path[len(RUNBOOKS_PREFIX) :])) is not None:
            return _answer(start_response, "200 OK", HTML, page)
        return _answer(start_response, "404 Not Found", TEXT, b"not found\n")

    return app


def _answer(start_response, code: str, content_type: tuple[str, str], body: bytes) -> list[bytes]:
    start_response(code, [content_type])
    return [body]


class MetricsServer:
    def __init__(
        self,
        host: str,
        port: int,
        exposition: Callable[[], bytes],
        web: WebConfig | None = None,
        status: Statuses = no_sources,
        ui: UiConfig | None = None,
    ) -> None:
        app = make_app(exposition, Credentials.from_web(web), status, ui)
        self.httpd = make_server(host, port, app, ThreadingServer, handler_class=QuietHandler)
        self.httpd.ssl_context = web.ssl_context if web is not None else None
        self.port = self.httpd.server_port
        self.scheme = "https" if self.httpd.ssl_context is not None else "http"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
