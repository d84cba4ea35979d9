"""GraphTransport against a scripted Graph front end on a loopback port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from publisher.platforms import (
    AmbiguousError,
    AuthError,
    GraphError,
    GraphTransport,
    NotReadyError,
    PermanentError,
    RateLimitedError,
    RetrySettings,
    TransientError,
)
from publisher.platforms.graph import parse_usage

TOKEN = "EAAG-secret-token"
FAST_RETRY = RetrySettings(
    attempts=3, initial_wait_seconds=0.01, max_wait_seconds=0.02, jitter_seconds=0.0
)


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"id": "1"})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    raw: bytes | None = None


@dataclass
class Seen:
    method: str
    path: str
    url: str
    query: dict[str, str]
    form: dict[str, str]
    body: bytes
    authorization: str | None


class ScriptedGraph:
    """Answers each path with its queued replies; the last one repeats."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def calls(self, path: str) -> int:
        return sum(1 for seen in self.seen if seen.path == path)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data(cache=True)
        with self._lock:
            self.seen.append(
                Seen(
                    method=request.method,
                    path=request.path,
                    url=request.url,
                    query=dict(request.args),
                    form=dict(request.form),
                    body=raw,
                    authorization=request.headers.get("Authorization"),
                )
            )
            queue = self.replies.get(request.path, [Reply(status=404, body={})])
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply.delay:
            self.stopping.wait(reply.delay)
        if reply.drop:
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            # werkzeug treats a ConnectionError from the app as a dropped client.
            raise ConnectionResetError("dropped on purpose")
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        response = Response(data, status=reply.status, headers=reply.headers)
        response.content_type = "application/json"
        return response(environ, start_response)


@pytest.fixture
def graph() -> Iterator[tuple[ScriptedGraph, str]]:
    app = ScriptedGraph()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval keeps shutdown, and so each test, fast.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        app.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def scripted(graph: tuple[ScriptedGraph, str]) -> ScriptedGraph:
    return graph[0]


@pytest.fixture
def transport(graph: tuple[ScriptedGraph, str]) -> Iterator[GraphTransport]:
    with GraphTransport(graph[1], "v25.0", 1.0, 0.2, retry=FAST_RETRY) as transport:
        yield transport


def envelope(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#{code}) text", "code": code, **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def test_get_sends_params_in_the_query_and_the_token_only_as_bearer(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/17841/media", Reply(body={"data": []}))

    body = transport.get("recent_media", "17841/media", TOKEN, {"limit": "5"})

    assert body == {"data": []}
    [seen] = scripted.seen
    assert seen.method == "GET"
    assert seen.query == {"limit": "5"}
    assert seen.authorization == f"Bearer {TOKEN}"
    assert TOKEN not in seen.url


def test_post_sends_a_form_body_and_the_token_only_as_bearer(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/17841/media", Reply(body={"id": "c1"}))

    body = transport.post(
        "create_container", "17841/media", TOKEN, {"image_url": "http://x/a.jpg"}
    )

    assert body == {"id": "c1"}
    [seen] = scripted.seen
    assert seen.form == {"image_url": "http://x/a.jpg"}
    assert seen.query == {}
    assert TOKEN not in seen.url
    assert TOKEN.encode() not in seen.body
    assert seen.authorization == f"Bearer {TOKEN}"


def test_an_empty_version_adds_no_path_segment(
    graph: tuple[ScriptedGraph, str],
) -> None:
    scripted, url = graph
    scripted.script("/17841", Reply(body={"permalink": "p"}))

    with GraphTransport(url + "/", "", 1.0, 1.0) as transport:
        assert transport.get("permalink", "17841", TOKEN) == {"permalink": "p"}


def test_the_error_envelope_becomes_a_typed_error(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    error_body = envelope(
        190,
        463,
        type="OAuthException",
        error_user_title="Sesión caducada",
        error_user_msg="Vuelve a iniciar sesión",
        fbtrace_id="AbCdEf",
        is_transient=False,
    )
    scripted.script("/v25.0/m1", Reply(status=400, body=error_body))

    with pytest.raises(AuthError) as caught:
        transport.get("permalink", "m1", TOKEN)

    error = caught.value
    assert (error.operation, error.http_status, error.code, error.subcode) == (
        "permalink",
        400,
        190,
        463,
    )
    assert error.error_type == "OAuthException"
    assert error.message == "(#190) text"
    assert error.user_title == "Sesión caducada"
    assert error.user_message == "Vuelve a iniciar sesión"
    assert error.fbtrace_id == "AbCdEf"
    assert error.is_transient is False
    assert scripted.calls("/v25.0/m1") == 1


def test_codes_sent_as_strings_are_read(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    bad = {"error": {"code": "9007", "error_subcode": "2207027"}}
    scripted.script("/v25.0/u/media_publish", Reply(status=400, body=bad))

    with pytest.raises(NotReadyError) as caught:
        transport.post("media_publish", "u/media_publish", TOKEN, {"creation_id": "c"})

    assert (caught.value.code, caught.value.subcode) == (9007, 2207027)


def test_get_is_retried_on_transient_errors_until_it_succeeds(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script(
        "/v25.0/c1",
        Reply(status=500, raw=b"<html>oops</html>"),
        Reply(status=500, body=envelope(2, is_transient=True)),
        Reply(body={"status_code": "FINISHED"}),
    )

    with capture_logs() as logs:
        body = transport.get("container_status", "c1", TOKEN)

    assert body == {"status_code": "FINISHED"}
    assert scripted.calls("/v25.0/c1") == 3
    retries = [entry for entry in logs if entry["event"] == "graph_retry"]
    assert [entry["attempt"] for entry in retries] == [1, 2]
    assert all(entry["operation"] == "container_status" for entry in retries)
    assert retries[1]["code"] == 2


def test_get_reraises_the_last_error_after_its_attempts(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/c1", Reply(status=503, raw=b"unavailable"))

    with pytest.raises(TransientError) as caught:
        transport.get("container_status", "c1", TOKEN)

    assert caught.value.http_status == 503
    assert scripted.calls("/v25.0/c1") == FAST_RETRY.attempts


def test_get_is_not_retried_on_a_rate_limit(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/c1", Reply(status=403, body=envelope(4)))

    with pytest.raises(RateLimitedError):
        transport.get("container_status", "c1", TOKEN)

    assert scripted.calls("/v25.0/c1") == 1


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("create_container", TransientError),
        ("media_publish", AmbiguousError),
        ("page_photos", AmbiguousError),
    ],
)
def test_post_is_never_retried(
    scripted: ScriptedGraph,
    transport: GraphTransport,
    operation: str,
    expected: type[Exception],
) -> None:
    scripted.script("/v25.0/u/edge", Reply(status=500, body=envelope(1)))

    with pytest.raises(expected):
        transport.post(operation, "u/edge", TOKEN, {"a": "b"})

    assert scripted.calls("/v25.0/u/edge") == 1


def test_a_read_timeout_on_get_is_transient_and_retried(
    scripted: ScriptedGraph, graph: tuple[ScriptedGraph, str]
) -> None:
    scripted.script("/v25.0/c1", Reply(delay=2.0))
    retry = RetrySettings(2, 0.01, 0.01, 0.0)

    with (
        GraphTransport(graph[1], "v25.0", 1.0, 0.1, retry=retry) as transport,
        pytest.raises(TransientError) as caught,
    ):
        transport.get("container_status", "c1", TOKEN)

    assert caught.value.http_status is None
    assert "ReadTimeout" in caught.value.message
    assert scripted.calls("/v25.0/c1") == 2


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("create_container", TransientError),
        ("media_publish", AmbiguousError),
        ("page_photos", AmbiguousError),
    ],
)
def test_a_timed_out_post_is_transient_or_ambiguous(
    scripted: ScriptedGraph,
    graph: tuple[ScriptedGraph, str],
    operation: str,
    expected: type[Exception],
) -> None:
    scripted.script("/v25.0/u/edge", Reply(delay=2.0))

    with (
        GraphTransport(graph[1], "v25.0", 1.0, 0.1) as transport,
        pytest.raises(expected),
    ):
        transport.post(operation, "u/edge", TOKEN, {"a": "b"})

    assert scripted.calls("/v25.0/u/edge") == 1


@pytest.mark.parametrize(
    ("method", "operation", "expected", "calls"),
    [
        ("get", "container_status", TransientError, FAST_RETRY.attempts),
        ("post", "media_publish", AmbiguousError, 1),
    ],
)
def test_a_dropped_connection_is_transient_or_ambiguous(
    scripted: ScriptedGraph,
    transport: GraphTransport,
    method: str,
    operation: str,
    expected: type[GraphError],
    calls: int,
) -> None:
    scripted.script("/v25.0/u/edge", Reply(drop=True))
    send = getattr(transport, method)

    with pytest.raises(expected) as caught:
        send(operation, "u/edge", TOKEN, {"creation_id": "c"})

    assert "ConnectionError" in caught.value.message
    assert scripted.calls("/v25.0/u/edge") == calls


def test_a_success_without_a_usable_body_on_publish_is_ambiguous(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/u/media_publish", Reply(raw=b"not json"))

    with pytest.raises(AmbiguousError):
        transport.post("media_publish", "u/media_publish", TOKEN, {"creation_id": "c"})


def test_usage_headers_are_remembered_per_account(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    usage_headers = {
        "X-App-Usage": json.dumps({"call_count": 28, "total_time": 25}),
        "X-Business-Use-Case-Usage": json.dumps(
            {"17841": [{"type": "instagram", "call_count": 81, "total_time": 9}]}
        ),
    }
    scripted.script("/v25.0/17841/media", Reply(headers=usage_headers))
    scripted.script("/v25.0/c1", Reply(body={"status_code": "FINISHED"}))

    transport.get("recent_media", "17841/media", TOKEN)
    transport.get("container_status", "c1", TOKEN, usage_key="page-1")

    usage = transport.last_usage("17841")
    assert usage is not None
    assert usage.percent == 81
    assert usage.retry_after_seconds is None
    assert not usage.throttled
    assert transport.last_usage("page-1") is None

    # A reply without usage headers leaves no stale report behind.
    scripted.script("/v25.0/17841/media", Reply())
    transport.get("recent_media", "17841/media", TOKEN)
    assert transport.last_usage("17841") is None


def test_a_throttled_reply_carries_the_time_to_regain_access(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(
            {
                "17841": [
                    {
                        "type": "instagram",
                        "call_count": 100,
                        "total_cputime": 12,
                        "estimated_time_to_regain_access": 7,
                    }
                ]
            }
        )
    }
    scripted.script(
        "/v25.0/17841/media", Reply(status=400, body=envelope(80002), headers=headers)
    )

    with pytest.raises(RateLimitedError) as caught:
        transport.post("create_container", "17841/media", TOKEN, {}, usage_key="p1")

    assert caught.value.retry_after_seconds == 7 * 60
    usage = transport.last_usage("p1")
    assert usage is not None
    assert usage.throttled


def test_usage_is_kept_apart_for_concurrent_accounts(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    for n in range(8):
        headers = {"X-App-Usage": json.dumps({"call_count": n})}
        scripted.script(f"/v25.0/acct{n}", Reply(headers=headers))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(lambda n: transport.get("permalink", f"acct{n}", TOKEN), range(8))
        )

    for n in range(8):
        usage = transport.last_usage(f"acct{n}")
        assert usage is not None
        assert usage.percent == n


@pytest.mark.parametrize(
    ("headers", "percent", "retry_after"),
    [
        ({}, None, None),
        ({"X-App-Usage": "not json"}, None, None),
        (
            {"X-App-Usage": '{"call_count":28,"total_time":25,"total_cputime":91}'},
            91,
            None,
        ),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "1": [{"call_count": 5, "estimated_time_to_regain_access": 0}],
                        "2": [
                            {"total_time": 101, "estimated_time_to_regain_access": 2}
                        ],
                    }
                )
            },
            101,
            120,
        ),
        (
            {"X-Ad-Account-Usage": '{"acc_id_util_pct":9.67,"reset_time_duration":40}'},
            9.67,
            None,
        ),
        (
            {"X-Ad-Account-Usage": '{"acc_id_util_pct":100,"reset_time_duration":40}'},
            100,
            40,
        ),
    ],
)
def test_parse_usage(
    headers: dict[str, str], percent: float | None, retry_after: int | None
) -> None:
    observed = datetime(2026, 12, 3, 10, tzinfo=UTC)
    usage = parse_usage(headers, observed)
    if percent is None:
        assert usage is None
        return
    assert usage is not None
    assert usage.percent == percent
    assert usage.retry_after_seconds == retry_after
    assert usage.observed_at == observed


def test_logs_name_the_call_and_never_the_token(
    scripted: ScriptedGraph, transport: GraphTransport
) -> None:
    scripted.script("/v25.0/m1", Reply(body={"permalink": "p"}))
    scripted.script("/v25.0/m2", Reply(status=400, body=envelope(100, 33)))

    with capture_logs() as logs:
        transport.get("permalink", "m1", TOKEN)
        with pytest.raises(PermanentError, match="permalink failed"):
            transport.get("permalink", "m2", TOKEN)

    call, error = logs
    assert call["event"] == "graph_call"
    assert call["log_level"] == "debug"
    assert call["operation"] == "permalink"
    assert call["status"] == 200
    assert isinstance(call["duration_ms"], int)
    assert error["event"] == "graph_error"
    assert (error["code"], error["subcode"], error["kind"]) == (100, 33, "permanent")
    assert TOKEN not in repr(logs)
