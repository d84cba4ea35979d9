"""The /_sim/ control API: JSON in, JSON out, for tests and the sandbox to steer Meta.

Each route is a thin wrapper over a SimulatorState method, so in-process callers can
do the same things without HTTP. Mistakes answer 400 with {"error": "..."}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from publisher.simulator.records import meta_timestamp
from publisher.simulator.state import SimulatorState

Body = Mapping[str, Any]
Answer = tuple[int, dict[str, Any]]

_ROUTES = Map(
    [
        Rule("/_sim/accounts", methods=["POST"], endpoint="register_account"),
        Rule("/_sim/tokens/expire", methods=["POST"], endpoint="expire_token"),
        Rule("/_sim/faults", methods=["POST"], endpoint="add_fault"),
        Rule("/_sim/faults", methods=["GET"], endpoint="list_faults"),
        Rule("/_sim/faults", methods=["DELETE"], endpoint="clear_faults"),
        Rule("/_sim/publishes", methods=["GET"], endpoint="publishes"),
        Rule("/_sim/containers", methods=["GET"], endpoint="containers"),
        Rule("/_sim/calls", methods=["GET"], endpoint="calls"),
        Rule("/_sim/config", methods=["GET"], endpoint="show_config"),
        Rule("/_sim/config", methods=["POST"], endpoint="configure"),
        Rule("/_sim/clock", methods=["GET"], endpoint="show_clock"),
        Rule("/_sim/clock", methods=["POST"], endpoint="advance_clock"),
        Rule("/_sim/reset", methods=["POST"], endpoint="reset"),
    ],
    strict_slashes=False,
)


def dispatch(state: SimulatorState, request: Request) -> Response:
    try:
        endpoint, _ = _ROUTES.bind("control").match(request.path, request.method)
        status, payload = _ENDPOINTS[endpoint](state, _body(request))
    except NotFound:
        status, payload = 404, {"error": f"no control route {request.path}"}
    except MethodNotAllowed:
        status, payload = 405, {"error": f"{request.method} not allowed here"}
    except ValueError as error:
        status, payload = 400, {"error": str(error)}
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _body(request: Request) -> Body:
    if not request.get_data():
        return {}
    try:
        body = json.loads(request.get_data())
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _register_account(state: SimulatorState, body: Body) -> Answer:
    quota_total = body.get("quota_total")
    if quota_total is not None and (
        isinstance(quota_total, bool) or not isinstance(quota_total, int)
    ):
        raise ValueError("quota_total must be an integer")
    account = state.register_account(
        page_id=_id(body, "page_id") or "",
        access_token=_text(body, "access_token") or "",
        ig_user_id=_id(body, "ig_user_id"),
        username=_text(body, "username"),
        quota_total=quota_total,
    )
    return 201, account.to_json()


def _expire_token(state: SimulatorState, body: Body) -> Answer:
    if not state.expire_token(_text(body, "access_token") or ""):
        return 404, {"error": "no account has that access_token"}
    return 200, {"expired": True}


def _add_fault(state: SimulatorState, body: Body) -> Answer:
    return 201, state.add_fault(**body).to_json()


def _list_faults(state: SimulatorState, body: Body) -> Answer:
    return 200, {"data": [fault.to_json() for fault in state.faults()]}


def _clear_faults(state: SimulatorState, body: Body) -> Answer:
    state.clear_faults()
    return 200, {"cleared": True}


def _publishes(state: SimulatorState, body: Body) -> Answer:
    return 200, {"data": [item.publish_record() for item in state.publishes()]}


def _containers(state: SimulatorState, body: Body) -> Answer:
    now = state.now()
    return 200, {"data": [c.to_json(now) for c in state.containers()]}


def _calls(state: SimulatorState, body: Body) -> Answer:
    return 200, {"data": [call.to_json() for call in state.calls()]}


def _show_config(state: SimulatorState, body: Body) -> Answer:
    return 200, state.config.to_json()


def _configure(state: SimulatorState, body: Body) -> Answer:
    return 200, state.configure(**body).to_json()


def _show_clock(state: SimulatorState, body: Body) -> Answer:
    return 200, {"now": meta_timestamp(state.now())}


def _advance_clock(state: SimulatorState, body: Body) -> Answer:
    seconds = body.get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError("advance must be a number of seconds")
    return 200, {"now": meta_timestamp(state.advance_clock(seconds))}


def _reset(state: SimulatorState, body: Body) -> Answer:
    state.reset()
    return 200, {"reset": True}


_ENDPOINTS: dict[str, Callable[[SimulatorState, Body], Answer]] = {
    "register_account": _register_account,
    "expire_token": _expire_token,
    "add_fault": _add_fault,
    "list_faults": _list_faults,
    "clear_faults": _clear_faults,
    "publishes": _publishes,
    "containers": _containers,
    "calls": _calls,
    "show_config": _show_config,
    "configure": _configure,
    "show_clock": _show_clock,
    "advance_clock": _advance_clock,
    "reset": _reset,
}


def _text(body: Body, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _id(body: Body, key: str) -> str | None:
    # Ids are strings in Meta's JSON, but a number is what a test author often types.
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(body, key)
