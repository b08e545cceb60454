"""Stand-in endpoints on 127.0.0.1 for the outbox's tests: WeCom and DingTalk group robots and a
generic webhook, answering with the real services' success and error bodies, and a Mosquitto
broker started as a real process."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

#: The robots' replies (WeCom's and DingTalk's documented bodies).
OK = {"errcode": 0, "errmsg": "ok"}
WECOM_RATE_LIMIT = {"errcode": 45009, "errmsg": "api freq out of limit"}
WECOM_BAD_KEY = {"errcode": 93000, "errmsg": "invalid webhook url"}
BUSY = {"errcode": -1, "errmsg": "system busy"}
DINGTALK_RATE_LIMIT = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
DINGTALK_BAD_SIGN = {"errcode": 310000, "errmsg": "sign not match"}


@dataclass
class Received:
    """One request the stand-in took."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Script:
    """What the stand-in answers: each request pops the next reply (status, JSON body, seconds to
    stall first); when the list is empty, ``default``."""

    replies: list[tuple[int, dict[str, Any] | None, float]] = field(default_factory=list)
    default: tuple[int, dict[str, Any] | None, float] = (200, OK, 0.0)
    check: Callable[[Received], dict[str, Any] | None] | None = None


class StandIn:
    """An HTTP server on 127.0.0.1 that records POSTs and answers from a :class:`Script`."""

    def __init__(self) -> None:
        self.script = Script()
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                parts = urllib.parse.urlsplit(self.path)
                got = Received(
                    parts.path,
                    dict(urllib.parse.parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.time(),
                )
                with outer.arrived:
                    status, reply, stall = outer.script.replies.pop(0) if outer.script.replies else outer.script.default
                if stall:
                    time.sleep(stall)
                if outer.script.check is not None and status == 200:
                    refusal = outer.script.check(got)
                    if refusal is not None:
                        reply = refusal
                data = json.dumps(reply if reply is not None else {}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return
                if status == 200 and (reply or {}).get("errcode", 0) == 0:
                    with outer.arrived:
                        outer.received.append(got)
                        outer.arrived.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[Received]:
        """The accepted requests once there are ``n`` (raises AssertionError on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} of {n} messages arrived")
                self.arrived.wait(left)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dingtalk_checker(token: str, secret: str) -> Callable[[Received], dict[str, Any] | None]:
    """DingTalk's own check of a signed request: the token, and the signature recomputed from
    the timestamp (``sign not match`` otherwise)."""

    def check(got: Received) -> dict[str, Any] | None:
        if got.query.get("access_token") != token:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        ts = got.query.get("timestamp", "")
        want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        if got.query.get("sign") != want:
            return DINGTALK_BAD_SIGN
        return None

    return check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A Mosquitto broker on 127.0.0.1 (Debian's ``mosquitto``), with persistence off."""

    def __init__(self, folder: Path):
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            pytest.skip("mosquitto is not installed (scripts/setup installs it)")
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("mosquitto did not start")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (a test's cut or timeout) is expected: no traceback."""

    def handle_error(self, request, client_address) -> None:
        pass


class StaticServer:
    """A static file server on 127.0.0.1 (what any web server or CDN would be for a repository),
    with HTTP Range, and faults to order: a status for a path, a stall, or a connection cut after
    some bytes. ``requests`` records (path, Range header)."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.status: dict[str, int] = {}  # path suffix -> HTTP status to answer
        self.stall: dict[str, float] = {}  # path suffix -> seconds to wait before answering
        self.cut: dict[str, int] = {}  # path suffix -> bytes sent before the connection is cut (once)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _fault(self, table: dict) -> Any:
                return next((v for k, v in table.items() if self.path.endswith(k)), None)

            def do_GET(self) -> None:  # noqa: N802
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                stall = self._fault(outer.stall)
                if stall:
                    time.sleep(stall)
                status = self._fault(outer.status)
                if status:
                    self.send_error(status)
                    return
                path = (outer.root / urllib.parse.unquote(self.path.lstrip("/"))).resolve()
                if not path.is_relative_to(outer.root.resolve()) or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = next((k for k in outer.cut if self.path.endswith(k)), None)
                if cut is not None:
                    n = outer.cut.pop(cut)
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
