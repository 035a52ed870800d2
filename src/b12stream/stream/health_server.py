"""The HTTP endpoint of one engine process: GET /metrics, /health/live and /health/ready.

Standard library only: a ThreadingHTTPServer on a daemon thread, answering from EngineStatus
snapshots, so that a slow or stuck scraper never holds the engine loop.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from b12stream.errors import ConfigError
from b12stream.log import get_logger
from b12stream.stream.health import Verdict, liveness, readiness
from b12stream.stream.metrics import CONTENT_TYPE, exposition
from b12stream.stream.settings import ObservabilitySettings
from b12stream.stream.status import EngineStatus

__all__ = ["HealthServer"]

_log = get_logger("stream.observability")
_JSON = "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request in flight never holds up the engine's exit

    def __init__(
        self, address: tuple[str, int], status: EngineStatus, limit_s: float, clock: Callable[[], float]
    ) -> None:
        super().__init__(address, _Handler)
        self.status, self.limit_s, self.clock = status, limit_s, clock


class _Server6(_Server):
    address_family = socket.AF_INET6  # for an IPv6 host (``::``, ``::1``); ``::`` takes IPv4 too on Linux


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # the name http.server dispatches GET to
        path = self.path.split("?", 1)[0]
        server = self.server
        snapshot, now = server.status.snapshot(), server.clock()
        if path == "/metrics":
            self._answer(HTTPStatus.OK, CONTENT_TYPE, exposition(snapshot, now).encode("utf-8"))
        elif path == "/health/live":
            self._verdict(liveness(snapshot, now, server.limit_s))
        elif path == "/health/ready":
            self._verdict(readiness(snapshot, now, server.limit_s))
        else:
            body = {"error": "not found", "paths": ["/metrics", "/health/live", "/health/ready"]}
            self._answer(HTTPStatus.NOT_FOUND, _JSON, json.dumps(body).encode())

    def _verdict(self, verdict: Verdict) -> None:
        status = HTTPStatus.OK if verdict.ok else HTTPStatus.SERVICE_UNAVAILABLE
        self._answer(status, _JSON, json.dumps(verdict.body).encode())

    def _answer(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: probes and scrapes come every few seconds, and the base class writes plain text to
        stderr, where the engine's lines are JSON."""


class HealthServer:
    """The endpoint, listening from construction until ``close``.

    Raises ConfigError naming host and port when it cannot listen there: the port is taken, the
    host is no address of this machine, or its name does not resolve."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        status: EngineStatus,
        limit_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        host, port = settings.http_host, settings.http_port or 0
        try:
            server = _Server6 if ":" in host else _Server
            self._server = server((host, port), status, limit_s, clock)
        except OSError as error:
            raise ConfigError(_why_not(host, port, error)) from None
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="observability", daemon=True)
        self._thread.start()
        _log.info("observability listening", host=host, port=self.port)

    def close(self) -> None:
        """Stop answering and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _why_not(host: str, port: int, error: OSError) -> str:
    where = f"observability.http_host/http_port: cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where}: the port is already in use (another engine process, or another service)"
    return f"{where}: {error.strerror or error}"
