"""The shared Graph API transport.

One `requests` session behind every target: timeouts, the Bearer header, the error
envelope turned into typed `GraphError`s, usage headers remembered per account, and
retries of idempotent reads. A transport is shared by the worker's thread pool, so
its only mutable state, the usage map, sits behind a lock.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import requests
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from publisher.platforms.errors import (
    AuthError,
    ErrorKind,
    GraphError,
    classify,
    error_class,
    unexpected_reply,
)

_log = structlog.get_logger(__name__)

# What a dropped or stalled connection raises; ChunkedEncodingError is a body cut
# off midway, which requests does not count as a ConnectionError.
_TRANSPORT_FAILURES = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
_PERCENT_KEYS = ("call_count", "total_time", "total_cputime")


@dataclass(frozen=True)
class RetrySettings:
    """How GET calls are retried on transient errors."""

    attempts: int = 3
    initial_wait_seconds: float = 0.5
    max_wait_seconds: float = 8.0
    jitter_seconds: float = 0.5


DEFAULT_RETRY = RetrySettings()


@dataclass(frozen=True)
class Usage:
    """The rate-limit usage one reply reported, reduced to what a caller acts on."""

    percent: float  # the highest percentage across all usage headers
    retry_after_seconds: int | None  # how long Meta says access stays blocked
    observed_at: datetime

    @property
    def throttled(self) -> bool:
        """Whether Meta has stopped serving; calls now only extend the block."""
        return self.percent >= 100 or bool(self.retry_after_seconds)


def parse_usage(headers: Mapping[str, str], observed_at: datetime) -> Usage | None:
    """Read `X-App-Usage`, `X-Business-Use-Case-Usage` and `X-Ad-Account-Usage`.

    Returns None when the reply carried none of them. Unreadable headers are
    skipped rather than failing a call that otherwise succeeded.
    """
    percents: list[float] = []
    waits: list[float] = []
    seen = False

    app = _json_header(headers, "X-App-Usage")
    if isinstance(app, dict):
        seen = True
        percents += _percentages(app, _PERCENT_KEYS)

    business = _json_header(headers, "X-Business-Use-Case-Usage")
    if isinstance(business, dict):
        seen = True
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                percents += _percentages(entry, _PERCENT_KEYS)
                minutes = _percentages(entry, ("estimated_time_to_regain_access",))
                waits += [value * 60 for value in minutes]

    ads = _json_header(headers, "X-Ad-Account-Usage")
    if isinstance(ads, dict):
        seen = True
        ad_percents = _percentages(ads, ("acc_id_util_pct",))
        percents += ad_percents
        # reset_time_duration is reported at any usage; it is a wait only once full.
        if any(value >= 100 for value in ad_percents):
            waits += _percentages(ads, ("reset_time_duration",))

    if not seen:
        return None
    longest_wait = max(waits, default=0.0)
    return Usage(
        percent=max(percents, default=0.0),
        retry_after_seconds=math.ceil(longest_wait) if longest_wait > 0 else None,
        observed_at=observed_at,
    )


def _json_header(headers: Mapping[str, str], name: str) -> object:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _percentages(values: Mapping[str, object], keys: tuple[str, ...]) -> list[float]:
    found: list[float] = []
    for key in keys:
        value = values.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(float(value))
    return found


# Meta's tokens are URL-safe text; anything else cannot be sent as a header.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/=|-]+")


class GraphTransport:
    """Calls the Graph API; the token travels only in the Authorization header."""

    def __init__(
        self,
        base_url: str,
        version: str,
        connect_timeout: float,
        read_timeout: float,
        session: requests.Session | None = None,
        *,
        retry: RetrySettings = DEFAULT_RETRY,
    ) -> None:
        prefix = base_url.rstrip("/")
        self._root = f"{prefix}/{version.strip('/')}" if version else prefix
        self._timeout = (connect_timeout, read_timeout)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._retry = retry
        self._usage_lock = threading.Lock()
        self._usage: dict[str, Usage] = {}

    def close(self) -> None:
        """Close the session, unless the caller passed it in and owns it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def last_usage(self, key: str) -> Usage | None:
        """The usage the latest reply for `key` reported; None if it reported none.

        `key` is the call's `usage_key`, by default the first segment of its path.
        """
        with self._usage_lock:
            return self._usage.get(key)

    def get(
        self,
        operation: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None = None,
        *,
        usage_key: str | None = None,
    ) -> dict[str, Any]:
        """Read `path`, retrying transient failures; a read is safe to resend."""
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            # Jitter spreads the retries of threads that failed together.
            wait=wait_exponential(
                multiplier=self._retry.initial_wait_seconds,
                max=self._retry.max_wait_seconds,
            )
            + wait_random(0, self._retry.jitter_seconds),
            retry=retry_if_exception(_is_transient),
            before_sleep=partial(_log_retry, operation),
            reraise=True,
        )
        return retrying(
            self._call, "GET", operation, path, token, params or {}, usage_key
        )

    def post(
        self,
        operation: str,
        path: str,
        token: str,
        data: Mapping[str, str],
        *,
        usage_key: str | None = None,
    ) -> dict[str, Any]:
        """Send a form to `path` once: a write is never resent here."""
        return self._call("POST", operation, path, token, data, usage_key)

    def _call(
        self,
        method: str,
        operation: str,
        path: str,
        token: str,
        fields: Mapping[str, str],
        usage_key: str | None,
    ) -> dict[str, Any]:
        if not _TOKEN_SHAPE.fullmatch(token):
            # requests would put the whole header, token included, in its error.
            raise AuthError(
                operation, message="the stored access token is empty or malformed"
            )
        url = f"{self._root}/{quote(path.lstrip('/'), safe='/')}"
        key = usage_key if usage_key is not None else path.lstrip("/").split("/")[0]
        log = _log.bind(operation=operation, method=method)
        started = time.monotonic()
        try:
            with self._session.request(
                method,
                url,
                params=fields if method == "GET" else None,
                data=fields if method != "GET" else None,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            ) as response:
                status = response.status_code
                usage = parse_usage(response.headers, datetime.now(UTC))
                body = _json_body(response)
        except _TRANSPORT_FAILURES as exc:
            kind = classify(operation, None, None, None)
            error = error_class(kind)(operation, message=f"{type(exc).__name__}: {exc}")
            log.info(
                "graph_error",
                status=None,
                kind=str(kind),
                failure=type(exc).__name__,
                duration_ms=_elapsed_ms(started),
            )
            raise error from exc

        self._remember_usage(key, usage)
        duration_ms = _elapsed_ms(started)
        if body is None or "error" in body or status >= 400:
            error = _error_from(operation, status, body, usage)
            log.info(
                "graph_error",
                status=status,
                code=error.code,
                subcode=error.subcode,
                kind=str(error.kind),
                fbtrace_id=error.fbtrace_id,
                duration_ms=duration_ms,
            )
            raise error
        log.debug(
            "graph_call",
            status=status,
            duration_ms=duration_ms,
            usage_percent=usage.percent if usage else None,
        )
        return body

    def _remember_usage(self, key: str, usage: Usage | None) -> None:
        with self._usage_lock:
            if usage is None:
                self._usage.pop(key, None)
            else:
                self._usage[key] = usage


def _json_body(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_from(
    operation: str, status: int, body: dict[str, Any] | None, usage: Usage | None
) -> GraphError:
    envelope = body.get("error") if body is not None else None
    if isinstance(envelope, dict):
        return _from_envelope(operation, status, envelope, usage)
    return unexpected_reply(
        operation, status, f"HTTP {status} without a usable Graph reply"
    )


def _from_envelope(
    operation: str, status: int, envelope: dict[str, Any], usage: Usage | None
) -> GraphError:
    code = _as_int(envelope.get("code"))
    subcode = _as_int(envelope.get("error_subcode"))
    kind = classify(operation, status, code, subcode)
    is_transient = envelope.get("is_transient")
    return error_class(kind)(
        operation,
        http_status=status,
        code=code,
        subcode=subcode,
        error_type=_as_str(envelope.get("type")),
        message=_as_str(envelope.get("message")) or "",
        user_title=_as_str(envelope.get("error_user_title")),
        user_message=_as_str(envelope.get("error_user_msg")),
        fbtrace_id=_as_str(envelope.get("fbtrace_id")),
        is_transient=is_transient if isinstance(is_transient, bool) else None,
        retry_after_seconds=usage.retry_after_seconds if usage else None,
    )


def _as_int(value: object) -> int | None:
    # Codes arrive as numbers, but some front ends send them as strings.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, GraphError) and exc.kind is ErrorKind.TRANSIENT


def _log_retry(operation: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _log.warning(
        "graph_retry",
        operation=operation,
        attempt=state.attempt_number,
        wait_seconds=round(state.next_action.sleep, 3) if state.next_action else None,
        code=error.code if isinstance(error, GraphError) else None,
        subcode=error.subcode if isinstance(error, GraphError) else None,
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
