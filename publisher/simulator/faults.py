"""Injected faults: what can go wrong on which operation, parsed from control JSON."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publisher.simulator import errors
from publisher.simulator.errors import GraphError


class Operation(enum.StrEnum):
    """The Graph calls a fault can target; also the call log's operation names."""

    CREATE_CONTAINER = "create_container"
    CONTAINER_STATUS = "container_status"
    MEDIA_PUBLISH = "media_publish"
    PERMALINK = "permalink"
    RECENT_MEDIA = "recent_media"
    RECENT_STORIES = "recent_stories"
    PUBLISHING_LIMIT = "publishing_limit"
    PAGE_PHOTOS = "page_photos"
    PAGE_POSTS = "page_posts"


ANY_OPERATION = "any"


class FaultKind(enum.StrEnum):
    HTTP_500 = "http_500"
    CODE_1 = "code_1"
    CODE_2 = "code_2"
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    EXPIRED_TOKEN = "expired_token"
    SLOW = "slow"
    HANG = "hang"
    LOST_REPLY = "lost_reply"
    APPLY_THEN_CODE_2 = "apply_then_code_2"
    APPLY_THEN_HANG = "apply_then_hang"
    CONTAINER_ERROR = "container_error"


_DEFAULT_DELAY = {
    FaultKind.SLOW: 5.0,
    FaultKind.HANG: 60.0,
    FaultKind.APPLY_THEN_HANG: 60.0,
}
_DEFAULT_PROCESSING_SUBCODE = 2207082
_KNOWN_KEYS = frozenset(
    {
        "operation",
        "kind",
        "times",
        "account",
        "code",
        "subcode",
        "status",
        "message",
        "delay",
        "minutes",
    }
)


class FaultSpecError(ValueError):
    """A fault description the simulator cannot honour."""


@dataclass(frozen=True)
class Fault:
    id: str
    operation: str
    kind: FaultKind
    times: int
    account: str | None
    code: int | None
    subcode: int | None
    status: int | None
    message: str | None
    delay: float
    minutes: int

    def matches(self, operation: str, account_ids: tuple[str | None, ...]) -> bool:
        if self.operation not in (operation, ANY_OPERATION):
            return False
        return self.account is None or self.account in account_ids

    def error(self, expired_at: str) -> GraphError:
        """The envelope error of the kinds that answer with one instead of the call."""
        match self.kind:
            case FaultKind.CODE_1:
                error = errors.unknown_error()
            case FaultKind.CODE_2 | FaultKind.APPLY_THEN_CODE_2:
                error = errors.service_unavailable()
            case FaultKind.RATE_LIMIT:
                error = errors.throttled(self.code or 4)
            case FaultKind.EXPIRED_TOKEN:
                error = errors.token_expired(expired_at)
            case FaultKind.ERROR:
                assert self.code is not None
                error = GraphError(
                    code=self.code,
                    message=self.message or f"(#{self.code}) Simulated error.",
                    subcode=self.subcode,
                    is_transient=self.code in (1, 2, -1, -2),
                )
            case _:
                raise ValueError(f"fault kind {self.kind} answers with no error")
        if self.status is not None:
            error.status = self.status
        return error

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind.value,
            "times": self.times,
            "account": self.account,
            "code": self.code,
            "subcode": self.subcode,
            "status": self.status,
            "message": self.message,
            "delay": self.delay,
            "minutes": self.minutes,
        }


def parse_fault(fault_id: str, spec: Mapping[str, Any]) -> Fault:
    """Validate a control-API fault description; raise FaultSpecError if it is wrong."""
    unknown = set(spec) - _KNOWN_KEYS
    if unknown:
        raise FaultSpecError(f"unknown fault fields: {', '.join(sorted(unknown))}")

    operation = spec.get("operation")
    if operation != ANY_OPERATION and operation not in set(Operation):
        raise FaultSpecError(f"unknown operation: {operation!r}")
    try:
        kind = FaultKind(str(spec.get("kind")))
    except ValueError:
        raise FaultSpecError(f"unknown fault kind: {spec.get('kind')!r}") from None

    code = _optional_int(spec, "code")
    subcode = _optional_int(spec, "subcode")
    if kind is FaultKind.ERROR and code is None:
        raise FaultSpecError("an error fault needs a code")
    if kind is FaultKind.RATE_LIMIT and code not in (None, *errors.THROTTLE_CODES):
        codes = ", ".join(str(c) for c in sorted(errors.THROTTLE_CODES))
        raise FaultSpecError(f"a rate_limit code must be one of {codes}")
    if kind is FaultKind.CONTAINER_ERROR:
        if operation != Operation.CREATE_CONTAINER:
            raise FaultSpecError("container_error applies to create_container only")
        subcode = subcode or _DEFAULT_PROCESSING_SUBCODE

    status = _optional_int(spec, "status")
    if status is not None and not 100 <= status <= 599:
        raise FaultSpecError("status must be an HTTP status code")
    account = spec.get("account")
    if account is not None and not isinstance(account, str):
        raise FaultSpecError("account must be an id string")
    message = spec.get("message")
    if message is not None and not isinstance(message, str):
        raise FaultSpecError("message must be a string")

    return Fault(
        id=fault_id,
        operation=str(operation),
        kind=kind,
        times=_int_at_least(spec, "times", default=1, minimum=1),
        account=account,
        code=code,
        subcode=subcode,
        status=status,
        message=message,
        delay=_delay(spec, kind),
        minutes=_int_at_least(spec, "minutes", default=1, minimum=0),
    )


def _optional_int(spec: Mapping[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{key} must be an integer")
    return value


def _int_at_least(
    spec: Mapping[str, Any], key: str, *, default: int, minimum: int
) -> int:
    value = _optional_int(spec, key)
    if value is None:
        return default
    if value < minimum:
        raise FaultSpecError(f"{key} must be at least {minimum}")
    return value


def _delay(spec: Mapping[str, Any], kind: FaultKind) -> float:
    value = spec.get("delay")
    if value is None:
        return _DEFAULT_DELAY.get(kind, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultSpecError("delay must be a number of seconds, zero or more")
    return float(value)
