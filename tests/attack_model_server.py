"""A hostile OpenAI-compatible chat-completions server for the caption attacks.

It serves real HTTP on a free loopback port and records every request it gets
(path, headers, JSON body). What it answers is scripted per test: a well-formed
completion, any status and body, a body trickled out slowly, a redirect, or a
connection closed without an answer. The attacks need a server that misbehaves
on purpose, which a real model server never does on demand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. `body` may be a JSON value or raw bytes."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering at all.
    delay: float = 0.0
    # Send the body this many bytes at a time, pausing `pause` seconds between.
    trickle: int = 0
    pause: float = 0.0
    # Close the connection without writing any answer.
    drop: bool = False


def completion(content: Any, *, model: str = "attack-model", **extra: Any) -> Any:
    """A chat completion whose first choice says `content` (any JSON value)."""
    return {
        "id": "chatcmpl-attack",
        "object": "chat.completion",
        "created": 1_780_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        **extra,
    }


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


class AttackModelServer:
    """Answers POSTs with `script` (a callable of the request number, or one
    Reply for every request) and keeps what it was sent in `requests`."""

    def __init__(self, script: Reply | Callable[[int], Reply] | None = None) -> None:
        self.script: Reply | Callable[[int], Reply] = script or Reply(
            body=completion("A bright home by the harbor. #JustListed")
        )
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with server._lock:
                    number = len(server.requests)
                    server.requests.append(
                        Recorded(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                script = server.script
                reply = script(number) if callable(script) else script
                server._answer(self, reply)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> AttackModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            handler.close_connection = True
            handler.connection.close()
            return
        if isinstance(reply.body, bytes):
            data = reply.body
        elif isinstance(reply.body, str):
            data = reply.body.encode("utf-8")
        else:
            data = json.dumps(reply.body).encode("utf-8")
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            if reply.trickle:
                for start in range(0, len(data), reply.trickle):
                    handler.wfile.write(data[start : start + reply.trickle])
                    handler.wfile.flush()
                    time.sleep(reply.pause)
            else:
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return
