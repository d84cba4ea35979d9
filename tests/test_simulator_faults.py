"""The simulator's injected faults, usage headers, control API and server lifecycle."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from publisher.simulator import FaultSpecError, SimulatorServer, SimulatorState
from publisher.simulator.errors import GraphError
from tests.test_simulator_support import (
    IG_USER,
    OTHER_IG_USER,
    OTHER_TOKEN,
    PAGE,
    TOKEN,
    Graph,
    error_of,
    fresh_graph,
    make_media_files,
    serve_media,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("media")
    make_media_files(directory)
    with serve_media(directory) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def graph(simulator: SimulatorServer) -> Iterator[Graph]:
    client = fresh_graph(simulator.url)
    yield client
    client.close()


@pytest.fixture
def image(graph: Graph, media: str) -> str:
    """A FINISHED image container of the main account."""
    return graph.create({"image_url": f"{media}/square.jpg", "caption": "Fault test"})


def fault(graph: Graph, **spec: Any) -> dict[str, Any]:
    created: dict[str, Any] = graph.control("POST", "/faults", spec)
    return created


@pytest.mark.parametrize(
    ("spec", "expected", "transient"),
    [
        ({"kind": "code_1"}, (500, 1, None), True),
        ({"kind": "code_2"}, (500, 2, None), True),
        ({"kind": "expired_token"}, (400, 190, 463), False),
        ({"kind": "rate_limit"}, (403, 4, None), True),
        ({"kind": "rate_limit", "code": 80002}, (400, 80002, None), True),
        (
            {"kind": "error", "code": 24, "subcode": 2207006, "status": 400},
            (400, 24, 2207006),
            False,
        ),
        ({"kind": "error", "code": -1, "subcode": 2207001}, (400, -1, 2207001), True),
    ],
)
def test_envelope_faults_answer_instead_of_the_call(
    graph: Graph,
    image: str,
    spec: dict[str, Any],
    expected: tuple[int, int, int | None],
    transient: bool,
) -> None:
    fault(graph, operation="media_publish", **spec)

    response = graph.publish(image)

    assert error_of(response) == expected
    assert response.json()["error"]["is_transient"] is transient
    assert response.json()["error"]["fbtrace_id"]
    assert graph.publishes() == []
    assert graph.publish(image).status_code == 200


def test_http_500_is_a_plain_page_not_an_envelope(graph: Graph, image: str) -> None:
    fault(graph, operation="container_status", kind="http_500")

    response = graph.get(f"/{image}", {"fields": "status_code"})

    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")


def test_rate_limit_sends_usage_headers_at_full(graph: Graph, image: str) -> None:
    fault(graph, operation="container_status", kind="rate_limit", code=17, minutes=7)

    response = graph.get(f"/{image}", {"fields": "status_code"})

    assert error_of(response) == (400, 17, None)
    app_usage = json.loads(response.headers["X-App-Usage"])
    assert app_usage == {"call_count": 100, "total_time": 100, "total_cputime": 100}
    [entry] = json.loads(response.headers["X-Business-Use-Case-Usage"])[IG_USER]
    assert entry["type"] == "instagram"
    assert entry["call_count"] == 100
    assert entry["estimated_time_to_regain_access"] == 7


def test_faults_are_consumed_in_order_times_and_per_account(
    graph: Graph, image: str
) -> None:
    fault(graph, operation="media_publish", kind="code_2", account=OTHER_IG_USER)
    fault(graph, operation="media_publish", kind="code_1", times=2)
    fault(graph, operation="any", kind="rate_limit")

    assert error_of(graph.publish(image))[1] == 1
    assert error_of(graph.publish(image))[1] == 1
    assert error_of(graph.get(f"/{IG_USER}/media"))[1] == 4
    assert graph.publish(image).status_code == 200
    remaining = graph.control("GET", "/faults")["data"]
    assert [(f["kind"], f["account"]) for f in remaining] == [("code_2", OTHER_IG_USER)]

    graph.control("DELETE", "/faults")
    assert graph.control("GET", "/faults")["data"] == []


def test_slow_answers_normally_after_the_delay(graph: Graph, image: str) -> None:
    fault(graph, operation="media_publish", kind="slow", delay=0.3)

    started = time.monotonic()
    response = graph.publish(image)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_hang_drops_the_connection_and_applies_nothing(
    graph: Graph, image: str
) -> None:
    fault(graph, operation="media_publish", kind="hang", delay=0.3)

    with pytest.raises(requests.ConnectionError):
        graph.publish(image)

    assert graph.publishes() == []
    assert graph.status(image)["status_code"] == "FINISHED"


def test_hang_outlasts_a_short_client_timeout(graph: Graph, image: str) -> None:
    fault(graph, operation="media_publish", kind="hang", delay=2.0)

    with pytest.raises(requests.ReadTimeout):
        graph.publish(image, timeout=0.2)


def test_lost_reply_publishes_but_never_answers(graph: Graph, image: str) -> None:
    fault(graph, operation="media_publish", kind="lost_reply")

    with pytest.raises(requests.ConnectionError):
        graph.publish(image)

    [record] = graph.publishes()
    assert record["container_id"] == image
    assert graph.status(image)["status_code"] == "PUBLISHED"
    [call] = [
        c
        for c in graph.control("GET", "/calls")["data"]
        if c["operation"] == "media_publish"
    ]
    assert call["status"] is None


def test_apply_then_hang_publishes_at_once_and_holds_the_reply(
    graph: Graph, image: str
) -> None:
    """The publish is in the log while its caller still waits: the moment the
    chaos harness kills a daemon at."""
    fault(graph, operation="media_publish", kind="apply_then_hang", delay=2.0)

    with pytest.raises(requests.ReadTimeout):
        graph.publish(image, timeout=0.5)

    [record] = graph.publishes()
    assert record["container_id"] == image
    assert graph.status(image)["status_code"] == "PUBLISHED"


def test_apply_then_code_2_publishes_and_reports_failure(
    graph: Graph, image: str
) -> None:
    fault(graph, operation="media_publish", kind="apply_then_code_2")

    response = graph.publish(image)

    assert error_of(response) == (500, 2, None)
    assert len(graph.publishes()) == 1


def test_container_error_fails_processing(graph: Graph, media: str) -> None:
    fault(graph, operation="create_container", kind="container_error")

    container_id = graph.create({"image_url": f"{media}/square.jpg"})

    assert graph.status(container_id) == {
        "id": container_id,
        "status_code": "ERROR",
        "status": "Error: Media upload has failed with error code 2207082",
    }
    assert error_of(graph.publish(container_id)) == (400, 9007, 2207027)


@pytest.mark.parametrize(
    "spec",
    [
        {"operation": "media_publish", "kind": "meteor"},
        {"operation": "teleport", "kind": "code_1"},
        {"operation": "media_publish", "kind": "error"},
        {"operation": "media_publish", "kind": "rate_limit", "code": 5},
        {"operation": "media_publish", "kind": "container_error"},
        {"operation": "media_publish", "kind": "code_1", "times": 0},
        {"operation": "media_publish", "kind": "slow", "delay": "soon"},
        {"operation": "media_publish", "kind": "code_1", "colour": "red"},
    ],
)
def test_bad_fault_specs_are_refused(graph: Graph, spec: dict[str, Any]) -> None:
    response = graph.session.post(f"{graph.base_url}/_sim/faults", json=spec)

    assert response.status_code == 400
    assert response.json()["error"]


def test_usage_headers_appear_past_the_threshold(graph: Graph) -> None:
    path = f"/{IG_USER}/content_publishing_limit"
    assert "X-App-Usage" not in graph.get(path).headers
    graph.control("POST", "/config", {"usage_threshold": 2, "usage_calls_per_hour": 10})

    assert "X-App-Usage" not in graph.get(path).headers
    response = graph.get(path)

    # Three calls by this account out of a budget of ten: 30%.
    [entry] = json.loads(response.headers["X-Business-Use-Case-Usage"])[IG_USER]
    assert entry["call_count"] == 30
    assert entry["estimated_time_to_regain_access"] == 0
    assert json.loads(response.headers["X-App-Usage"])["call_count"] == 30


def test_call_log_records_calls_but_never_the_token(graph: Graph, image: str) -> None:
    graph.get(f"/{image}", {"fields": "status_code"})
    graph.get(f"/{IG_USER}/media", token=OTHER_TOKEN)

    calls = graph.control("GET", "/calls")["data"]

    assert TOKEN not in json.dumps(calls)
    assert OTHER_TOKEN not in json.dumps(calls)
    assert [(c["operation"], c["account"], c["status"]) for c in calls] == [
        ("create_container", IG_USER, 200),
        ("container_status", IG_USER, 200),
        ("recent_media", OTHER_IG_USER, 400),
    ]


def test_control_api_config_clock_and_reset(graph: Graph, image: str) -> None:
    session, base = graph.session, f"{graph.base_url}/_sim"
    config = graph.control("POST", "/config", {"image_processing_seconds": 1.5})
    assert config["image_processing_seconds"] == 1.5
    assert graph.control("GET", "/config")["video_processing_seconds"] == 10.0
    assert session.post(f"{base}/config", json={"colour": 1}).status_code == 400
    assert session.post(f"{base}/config", json={"quota_total": "9"}).status_code == 400
    assert session.post(f"{base}/clock", json={"advance": -5}).status_code == 400
    assert (
        session.post(f"{base}/tokens/expire", json={"access_token": "x"}).status_code
        == 404
    )
    assert session.get(f"{base}/nowhere").status_code == 404
    assert session.post(f"{base}/accounts", json={"page_id": PAGE}).status_code == 400

    [container] = graph.control("GET", "/containers")["data"]
    assert (container["id"], container["status_code"]) == (image, "FINISHED")

    graph.control("POST", "/reset")
    assert graph.control("GET", "/containers")["data"] == []
    assert graph.control("GET", "/config")["image_processing_seconds"] == 0.0
    assert error_of(graph.get(f"/{IG_USER}/media"))[1:] == (190, 467)


def test_state_methods_work_in_process_without_http() -> None:
    state = SimulatorState()
    account = state.register_account(
        page_id=PAGE, access_token=TOKEN, ig_user_id=IG_USER
    )
    container = state.create_container(
        account,
        media_type="IMAGE",
        product_type="FEED",
        caption="direct",
        source_url="https://example.invalid/a.jpg",
    )

    media = state.publish_container(account, container.id)

    assert [p.publish_record()["media_id"] for p in state.publishes()] == [media.id]
    assert state.add_fault(operation="any", kind="code_1").times == 1
    with pytest.raises(FaultSpecError):
        state.add_fault(operation="any", kind="nonsense")
    assert state.authenticate(TOKEN) == account
    assert TOKEN not in repr(account)


def test_an_account_may_create_400_containers_a_day() -> None:
    state = SimulatorState()
    account = state.register_account(
        page_id=PAGE, access_token=TOKEN, ig_user_id=IG_USER
    )
    details: dict[str, Any] = {
        "media_type": "IMAGE",
        "product_type": "FEED",
        "caption": "",
        "source_url": "https://example.invalid/a.jpg",
    }
    for _ in range(400):
        state.create_container(account, **details)

    with pytest.raises(GraphError) as refused:
        state.create_container(account, **details)
    assert refused.value.code == 9

    state.advance_clock(24 * 3600)
    state.create_container(account, **details)


def test_server_refuses_non_loopback_hosts_and_stops_cleanly() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(host="0.0.0.0")

    server = SimulatorServer(host="localhost")
    with server:
        assert server.url.startswith("http://localhost:")
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(f"{server.url}/_sim/config").status_code == 200
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url


def test_stopping_wakes_a_hanging_call(media: str) -> None:
    with SimulatorServer() as server:
        graph = fresh_graph(server.url)
        image = graph.create({"image_url": f"{media}/square.jpg"})
        fault(graph, operation="media_publish", kind="hang", delay=60)
        with pytest.raises(requests.ReadTimeout):
            graph.publish(image, timeout=0.2)
        started = time.monotonic()
        server.stop()
        graph.close()

    assert time.monotonic() - started < 2


def test_serve_forever_blocks_until_sigterm() -> None:
    script = (
        "from publisher.simulator import serve_forever\n"
        "serve_forever(on_ready=lambda url: print(url, flush=True))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(f"{url}/_sim/config", timeout=5).status_code == 200

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=5) == 0
