"""A real HTTP server on 127.0.0.1 (stdlib, in a thread) that records every request and can be
told to fail or stall: the base of the fake Gmail, Twilio and Google certs servers."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self):
        return json.loads(self.body)

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
        )


@dataclass
class _Scripted:
    method: str
    pattern: re.Pattern
    times: int
    reply: Reply | None  # None: stall
    stall_s: float = 0.0
    after: int = 0  # matching requests to let through first


class FakeServer:
    """Subclasses implement `handle(request) -> Reply`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripted: list[_Scripted] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- scripting

    def fail(self, method: str, path_regex: str, reply: Reply, times: int = 1, after: int = 0) -> None:
        """After `after` matching requests, the next `times` get `reply` instead of the normal answer."""
        with self._lock:
            self._scripted.append(_Scripted(method, re.compile(path_regex), times, reply, after=after))

    def stall(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """The next `times` matching requests wait `seconds` before the normal answer."""
        with self._lock:
            self._scripted.append(_Scripted(method, re.compile(path_regex), times, None, seconds))

    def recover(self) -> None:
        """Forgets every scripted failure and stall not used up yet: normal answers again."""
        with self._lock:
            self._scripted.clear()

    def received(self, method: str | None = None, path_regex: str = "") -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and re.search(path_regex, r.path)
            ]

    def handle(self, request: Received) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Received(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake._lock:
                    fake.requests.append(request)
                reply = fake._scripted_reply(request)
                if reply is None:
                    try:
                        reply = fake.handle(request)
                    except Exception as exc:  # a bug in a fake should be loud in the test
                        reply = Reply.json(599, {"fake_error": repr(exc)})
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up first (its timeout, a stalled reply): as a real API's
                    # server, nothing to deliver and nothing to report. The request is recorded.
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _scripted_reply(self, request: Received) -> Reply | None:
        stall = 0.0
        reply = None
        with self._lock:
            for item in self._scripted:
                if item.times > 0 and item.method == request.method and item.pattern.search(request.path):
                    if item.after > 0:
                        item.after -= 1
                        continue
                    item.times -= 1
                    if item.reply is None:
                        stall = item.stall_s
                    else:
                        reply = item.reply
                    break
        if stall:
            time.sleep(stall)
        return reply

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
