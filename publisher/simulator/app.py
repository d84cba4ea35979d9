"""The simulator's WSGI application: Graph calls with faults and usage, plus /_sim/.

One Graph call goes: route, merge parameters, authenticate, take a matching fault,
run the handler under that fault, log the call, add usage headers. The token is
taken out of the parameters first and never logged or echoed.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from publisher.simulator import control, errors, graph
from publisher.simulator.errors import GraphError
from publisher.simulator.faults import Fault, FaultKind, Operation
from publisher.simulator.graph import CallContext
from publisher.simulator.records import Account, meta_timestamp
from publisher.simulator.state import SimulatorState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

_VERSION_PREFIX = re.compile(r"^/(v\d+\.\d+)(?=/)")
_DEFAULT_VERSION = "v25.0"
_CONTROL_PREFIX = "/_sim/"
_PLAIN_500 = "<html><body><h1>500 Internal Server Error</h1></body></html>"


class ReplyDropped(ConnectionAbortedError):
    """Raised out of the app so werkzeug's server treats the call as a lost link."""


def make_app(state: SimulatorState) -> WSGIApplication:
    """The simulator as a WSGI callable over `state`."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith(_CONTROL_PREFIX):
            response = control.dispatch(state, request)
        else:
            response = _graph_call(state, request)
        return response(environ, start_response)

    return app


def _graph_call(state: SimulatorState, request: Request) -> Response:
    match = _VERSION_PREFIX.match(request.path)
    version = match.group(1) if match else _DEFAULT_VERSION
    path = request.path[match.end() :] if match else request.path
    generation = state.generation
    params = _params(request)
    token = params.pop("access_token", None) or _bearer(request)

    operation: Operation | None = None
    account: Account | None = None
    fault: Fault | None = None
    node_id = ""
    response: Response | None
    try:
        endpoint, arguments = graph.ROUTES.bind("graph").match(path, request.method)
        node_id = arguments["node"]
        if endpoint == graph.NODE:
            operation = graph.resolve_node_operation(state, node_id)
        else:
            operation = Operation(endpoint)
        # An unencoded "?id=" inside a media URL leaks into the call's own parameters.
        if "id" in params:
            raise errors.id_already_specified()
        account = state.authenticate(token)
        fault = state.take_fault(operation, account)
        context = CallContext(state, account, node_id, request.method, params)
        response = _run(context, operation, fault, generation)
    except NotFound:
        response = _error_response(errors.unknown_path(path))
    except MethodNotAllowed:
        first = path.strip("/").split("/")[0]
        response = _error_response(
            errors.object_not_found(first, request.method.lower())
        )
    except GraphError as error:
        response = _error_response(error)
    except Exception:
        logger.exception("simulator_call_failed operation=%s", operation)
        response = _error_response(errors.unknown_error())

    account_id = _account_id(account, operation, node_id)
    state.record_call(
        method=request.method,
        path=request.path,
        operation=operation.value if operation else None,
        account=account_id,
        status=response.status_code if response else None,
        generation=generation,
    )
    if response is None:
        _drop_connection(request.environ)
    response.headers["facebook-api-version"] = version
    if account_id is not None and operation is not None:
        _add_usage_headers(state, response, account_id, operation, node_id, fault)
    return response


def _run(
    context: CallContext, operation: Operation, fault: Fault | None, generation: int
) -> Response | None:
    """The handler's answer as the fault shapes it; None means drop the connection."""
    handler = graph.HANDLERS[operation]
    state = context.state
    if fault is None:
        return _json_response(handler(context))

    match fault.kind:
        case FaultKind.SLOW:
            state.sleep(fault.delay)
            # Woken by a reset: the world this call belonged to is gone.
            if state.generation != generation:
                return None
            return _json_response(handler(context))
        case FaultKind.HANG:
            state.sleep(fault.delay)
            return None
        case FaultKind.APPLY_THEN_HANG:
            # Applied at once, then the reply is held and finally never sent: a
            # caller killed meanwhile dies with its call done but unanswered.
            with suppress(GraphError):
                handler(context)
            state.sleep(fault.delay)
            return None
        case FaultKind.LOST_REPLY | FaultKind.APPLY_THEN_CODE_2:
            # The call takes effect, whatever it answers; only its reply is lost.
            with suppress(GraphError):
                handler(context)
            if fault.kind is FaultKind.LOST_REPLY:
                return None
            return _error_response(fault.error(meta_timestamp(state.now())))
        case FaultKind.CONTAINER_ERROR:
            return _json_response(
                handler(replace(context, processing_error=fault.subcode))
            )
        case FaultKind.HTTP_500:
            return Response(_PLAIN_500, status=500, mimetype="text/html")
        case _:
            return _error_response(fault.error(meta_timestamp(state.now())))


def _drop_connection(environ: WSGIEnvironment) -> NoReturn:
    # Shutting the socket down sends no status line at all: the client sees the
    # connection close mid-call, exactly like a reply lost on the network.
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise ReplyDropped("reply dropped by a simulator fault")


def _add_usage_headers(
    state: SimulatorState,
    response: Response,
    account_id: str,
    operation: Operation,
    node_id: str,
    fault: Fault | None,
) -> None:
    config = state.config
    if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
        app_percent = account_percent = 100
        regain_minutes = fault.minutes
    else:
        if config.usage_threshold is None:
            return
        app_calls, account_calls = state.calls_last_hour(account_id)
        if account_calls <= config.usage_threshold:
            return
        app_percent = app_calls * 100 // config.usage_calls_per_hour
        account_percent = account_calls * 100 // config.usage_calls_per_hour
        regain_minutes = 0

    kind = "pages" if graph.is_page_object(operation, node_id) else "instagram"
    response.headers["X-App-Usage"] = json.dumps(
        {
            "call_count": app_percent,
            "total_time": app_percent,
            "total_cputime": app_percent,
        }
    )
    response.headers["X-Business-Use-Case-Usage"] = json.dumps(
        {
            account_id: [
                {
                    "type": kind,
                    "call_count": account_percent,
                    "total_cputime": account_percent,
                    "total_time": account_percent,
                    "estimated_time_to_regain_access": regain_minutes,
                }
            ]
        }
    )


def _account_id(
    account: Account | None, operation: Operation | None, node_id: str
) -> str | None:
    if account is None or operation is None:
        return None
    if graph.is_page_object(operation, node_id) or account.ig_user_id is None:
        return account.page_id
    return account.ig_user_id


def _params(request: Request) -> dict[str, str]:
    """Query string, form body and JSON body, merged in that order."""
    merged = dict(request.args.items())
    merged.update(request.form.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            merged.update(
                (key, _text(value)) for key, value in body.items() if value is not None
            )
    return merged


def _text(value: Any) -> str:
    # A JSON body may carry booleans and numbers where a form would carry text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error_response(error: GraphError) -> Response:
    return _json_response(error.envelope(), error.status)
