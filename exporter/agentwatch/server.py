"""The HTTP endpoint: /metrics, a landing page at /, and /-/healthy; TLS and basic auth from a
web-config file (``agentwatch.webconfig``) protect every path."""

from __future__ import annotations

import gzip
import threading
from typing import Callable
from wsgiref.simple_server import make_server

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agentwatch import __version__
from agentwatch.webconfig import WebConfig
from agentwatch.webserver import Credentials, QuietHandler, ThreadingServer

LANDING = f"""<!doctype html><html><head><title>agentwatch</title></head><body>
<h1>agentwatch {__version__}</h1><p>Prometheus exporter for AI-agent fleets.</p>
<ul><li><a href="metrics">metrics</a></li><li><a href="-/healthy">health</a></li></ul></body></html>""".encode()


def make_app(exposition: Callable[[], bytes], auth: Credentials | None = None):
    """``exposition()`` gives the text format body (``AgentwatchCollector.exposition``)."""

    def metrics(environ, start_response):
        body = exposition()
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def app(environ, start_response):
        if auth is not None and not auth.check(environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), *auth.challenges])
            return [b"Unauthorized\n"]
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [LANDING]
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class MetricsServer:
    def __init__(self, host: str, port: int, exposition: Callable[[], bytes], web: WebConfig | None = None) -> None:
        self.httpd = make_server(host, port, make_app(exposition, Credentials.from_web(web)), ThreadingServer, handler_class=QuietHandler)
        self.httpd.ssl_context = web.ssl_context if web is not None else None
        self.port = self.httpd.server_port
        self.scheme = "https" if self.httpd.ssl_context is not None else "http"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
