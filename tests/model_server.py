"""A local OpenAI-compatible model server for the caption tests, over real HTTP.

It serves `POST /v1/chat/completions` on loopback the way a hosted model or a
local vLLM/llama.cpp/Ollama server would answer, records every request exactly
as it arrived (headers and raw body bytes, so a test can search the bytes for
what must never be sent), and can be scripted per test: the caption it answers,
a delay before answering, failures with a status before it answers, an empty
answer, a body that is no chat completion at all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from publisher.serving import LoopbackServer

MODEL_NAME = "test-vision-1"


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

    @property
    def system(self) -> str:
        """The text of the system message."""
        found = [m for m in self.json["messages"] if m["role"] == "system"]
        assert len(found) == 1, found
        content = found[0]["content"]
        assert isinstance(content, str)
        return content

    @property
    def user_parts(self) -> list[dict[str, Any]]:
        """The content parts of the (one) user message."""
        found = [m for m in self.json["messages"] if m["role"] == "user"]
        assert len(found) == 1, found
        parts = found[0]["content"]
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
        end = text.index("</facts>")
        facts = json.loads(text[start:end])
        assert isinstance(facts, dict)
        return facts

    @property
    def image_urls(self) -> list[str]:
        return [
            p["image_url"]["url"] for p in self.user_parts if p["type"] == "image_url"
        ]


@dataclass
class Script:
    """How the next requests are answered."""

    answer: str = "Sunlit rooms and a harbor view. #JustListed #RealEstate"
    model: str = MODEL_NAME
    delay_seconds: float = 0.0
    failures: list[int] = field(default_factory=list)
    always_status: int | None = None
    empty: bool = False
    # A whole body sent as is with a 200, instead of a chat completion (what a
    # web page or a proxy behind a wrong base_url answers).
    raw: bytes | None = None
    content_type: str = "application/json"


class _QuietHandler(WSGIRequestHandler):
    """No werkzeug access lines on stderr: the tests read what the server records."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class ModelServer(LoopbackServer):
    """An OpenAI-compatible chat-completions server that records what it is sent."""

    def __init__(self) -> None:
        super().__init__(
            self._app, "127.0.0.1", 0, name="model server", handler=_QuietHandler
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script = Script()
        self._requests: list[Recorded] = []

    @property
    def base_url(self) -> str:
        """What `captions.base_url` is set to, as for any OpenAI-compatible server."""
        return f"{self.url}/v1"

    def script(self, **values: Any) -> None:
        """Answer the next requests as told (fields of `Script`); the rest default."""
        with self._lock:
            self._script = Script(**values)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def stop(self) -> None:
        # A handler still sleeping out its delay wakes up and answers at once.
        self._stopping.set()
        super().stop()

    def _app(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        recorded = Recorded(
            request.method,
            request.path,
            {key.lower(): value for key, value in request.headers.items()},
            request.get_data(),
        )
        with self._lock:
            self._requests.append(recorded)
            script = self._script
            failure = script.failures.pop(0) if script.failures else None
        response = self._respond(recorded, script, failure)
        return response(environ, start_response)

    def _respond(
        self, recorded: Recorded, script: Script, failure: int | None
    ) -> Response:
        if recorded.method != "POST" or recorded.path != "/v1/chat/completions":
            return _error(404, f"no route {recorded.method} {recorded.path}")
        if script.delay_seconds:
            self._stopping.wait(script.delay_seconds)
        status = failure or script.always_status
        if status is not None:
            return _error(status, f"scripted failure {status}")
        if script.raw is not None:
            return Response(script.raw, status=200, content_type=script.content_type)
        return Response(
            json.dumps(_completion(script, recorded)),
            status=200,
            content_type="application/json",
        )


def _completion(script: Script, recorded: Recorded) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API shapes it."""
    asked = recorded.json.get("model", "")
    content = "" if script.empty else script.answer
    return {
        "id": f"chatcmpl-{len(content)}-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": script.model or asked,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def _error(status: int, message: str) -> Response:
    body = {"error": {"message": message, "type": "server_error", "code": None}}
    return Response(json.dumps(body), status=status, content_type="application/json")
