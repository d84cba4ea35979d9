"""The OpenAI-compatible model server of the caption tests, over real HTTP.

It serves `POST /v1/chat/completions` on a free loopback port the way a hosted
model or a local vLLM/llama.cpp/Ollama server would, and records every request
exactly as it arrived (headers and raw body bytes, so a test can search the bytes
for what must never be sent). What it answers is scripted per test with `Reply`
values: a completion, any status and body, a wait before answering, a body
trickled out slowly, a redirect, or a connection closed without an answer. A real
model server misbehaves like that only by accident, never on cue.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_NAME = "test-vision-1"
CAPTION = "Sunlit rooms and a harbor view. #JustListed #RealEstate"
CHAT = "/v1/chat/completions"


def completion(content: Any, *, model: str = MODEL_NAME) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API shapes it, whose one choice
    says `content` (any JSON value, so a test can send what no model should)."""
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `body` is a JSON value, or text or bytes sent as is
    (what a web page or a proxy behind a wrong base_url answers)."""

    status: int = 200
    body: Any = field(default_factory=lambda: completion(CAPTION))
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering at all.
    delay: float = 0.0
    # Send the body this many bytes at a time, pausing `pause` seconds between.
    trickle: int = 0
    pause: float = 0.0
    # Close the connection without writing any answer.
    drop: bool = False


def answer(content: Any, **reply: Any) -> Reply:
    """A completion saying `content`, with any other `Reply` field."""
    return Reply(body=completion(content), **reply)


def failure(status: int) -> Reply:
    """An error status with the error document an OpenAI-compatible server sends."""
    message = f"scripted failure {status}"
    body = {"error": {"message": message, "type": "server_error", "code": None}}
    return Reply(status=status, body=body)


# One Reply for every request; replies in order, the last one for all after;
# or a function of the request's number (0 for the first).
Script = Reply | Sequence[Reply] | Callable[[int], Reply]


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def content(self, role: str) -> Any:
        """The content of the one message of `role` (there must be exactly one)."""
        found = [m for m in self.json["messages"] if m["role"] == role]
        assert len(found) == 1, found
        return found[0]["content"]

    @property
    def system(self) -> str:
        content = self.content("system")
        assert isinstance(content, str)
        return content

    @property
    def user_parts(self) -> list[dict[str, Any]]:
        parts = self.content("user")
        assert isinstance(parts, list)
        return parts

    @property
    def user_text(self) -> str:
        texts = [p["text"] for p in self.user_parts if p["type"] == "text"]
        assert len(texts) == 1, texts
        text = texts[0]
        assert isinstance(text, str)
        return text

    @property
    def facts(self) -> dict[str, Any]:
        """The JSON document between the `<facts>` tags of the user message."""
        text = self.user_text
        start = text.index("<facts>") + len("<facts>")
        facts = json.loads(text[start : text.index("</facts>")])
        assert isinstance(facts, dict)
        return facts

    @property
    def image_urls(self) -> list[str]:
        return [
            p["image_url"]["url"] for p in self.user_parts if p["type"] == "image_url"
        ]


class ModelServer:
    """Answers requests for `route` as scripted and 404 for any other path; with
    `route=None` every method and path gets the script (a photo host that hangs,
    say)."""

    def __init__(self, script: Script | None = None, *, route: str | None = CHAT):
        self._route = route
        self._script: Script = script or Reply()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="model server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What `captions.base_url` is set to, as for any OpenAI-compatible server."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def script(self, script: Script) -> None:
        """Answer the requests from now on (counted from the first) as told."""
        with self._lock:
            self._script = script

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # A handler still waiting out a delay or a pause answers at once.
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            number = len(self._requests)
            self._requests.append(recorded)
            script = self._script
        if self._route is not None and (recorded.method, recorded.path) != (
            "POST",
            self._route,
        ):
            return Reply(status=404, body={"error": {"message": "no such route"}})
        if isinstance(script, Reply):
            return script
        if callable(script):
            return script(number)
        return script[min(number, len(script) - 1)]

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            self._stopping.wait(reply.delay)
        if reply.drop:
            handler.close_connection = True
            handler.connection.close()
            return
        data = reply.body
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, bytes):
            data = json.dumps(data).encode("utf-8")
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        step = reply.trickle or len(data) or 1
        try:
            for start in range(0, len(data), step):
                handler.wfile.write(data[start : start + step])
                handler.wfile.flush()
                if reply.trickle:
                    self._stopping.wait(reply.pause)
        except (BrokenPipeError, ConnectionResetError):
            return


def _handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """No access lines on stderr: the tests read what the server records."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                self.command,
                self.path,
                {key.lower(): value for key, value in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            server._answer(self, server._reply(recorded))

        do_GET = do_POST

    return Handler
