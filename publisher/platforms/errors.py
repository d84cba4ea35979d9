"""Typed Graph API errors and the one place they are classified.

Classification reads only the HTTP status, the error code and the subcode: Meta
translates `message`, `error_user_title` and `error_user_msg` into the request's
locale, so their text can never drive a decision.

Operation names double as the platform marker: Facebook Page operations start with
``page_``; every other operation belongs to Instagram.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from publisher.platforms.base import ContainerStatus


class ErrorKind(enum.StrEnum):
    """What the caller should do about a failed call."""

    TRANSIENT = "transient"  # resend the same call after a backoff
    RATE_LIMITED = "rate_limited"  # pause the account until the limit lifts
    PERMANENT = "permanent"  # the brand has to change something
    AUTH = "auth"  # the token must be replaced
    CONTAINER = "container"  # make a new container, then try again
    NOT_READY = "not_ready"  # keep polling the same container, then publish it
    AMBIGUOUS = "ambiguous"  # the publish outcome is unknown: reconcile first


# Calls that create a live post. Any failure here whose outcome is unknown must be
# reconciled, because the Graph API has no idempotency key.
PUBLISH_OPERATIONS = frozenset({"media_publish", "page_photos"})

_AUTH_CODES = frozenset({10, 190, *range(200, 300)})
# 368 is a policy block rather than a quota, but the action is the same: stop
# calling for hours, since calls during a block extend it. Code 9 is Meta's
# "limit reached" family: the publishing quota (9/2207042), and the simulator's
# reading of the unverified 400-containers-a-day cap (9 without a subcode).
_RATE_LIMIT_CODES = frozenset({4, 9, 17, 32, 341, 368, 613, 80001, 80002})
_RATE_LIMIT_SUBCODES = frozenset({2207042, 2207051})

# Meta's 2207xxx subcodes are unique across codes, so a subcode alone names its row.
# That matters for container statuses, whose ERROR sentence carries no code.
_SUBCODE_KINDS: dict[int, ErrorKind] = {
    2207001: ErrorKind.TRANSIENT,  # IG server error
    2207027: ErrorKind.NOT_READY,  # publish before FINISHED
    # Recreate at once: the container itself is broken or gone.
    2207006: ErrorKind.CONTAINER,
    2207020: ErrorKind.CONTAINER,
    2207032: ErrorKind.CONTAINER,
    2207053: ErrorKind.CONTAINER,
    2207082: ErrorKind.CONTAINER,
    # Retry first, then recreate: Meta suggests 1-2 retries within two minutes for
    # 2207008, a download timeout may pass, and 2207052 (media could not be fetched)
    # has succeeded on a second try; the caller caps the retries and then fails.
    2207003: ErrorKind.CONTAINER,
    2207008: ErrorKind.CONTAINER,
    2207052: ErrorKind.CONTAINER,
    # Spec violations: the same media and caption will fail again.
    2207004: ErrorKind.PERMANENT,
    2207005: ErrorKind.PERMANENT,
    2207009: ErrorKind.PERMANENT,
    2207010: ErrorKind.PERMANENT,
    2207023: ErrorKind.PERMANENT,
    2207026: ErrorKind.PERMANENT,
    2207028: ErrorKind.PERMANENT,
    2207035: ErrorKind.PERMANENT,
    2207036: ErrorKind.PERMANENT,
    2207037: ErrorKind.PERMANENT,
    2207040: ErrorKind.PERMANENT,
    2207050: ErrorKind.PERMANENT,
    2207057: ErrorKind.PERMANENT,
    2207089: ErrorKind.PERMANENT,
}
_CODE_KINDS: dict[int, ErrorKind] = {
    1: ErrorKind.TRANSIENT,
    2: ErrorKind.TRANSIENT,
    -1: ErrorKind.TRANSIENT,
    9007: ErrorKind.NOT_READY,
}
# On a publish call these mean the server may have failed after creating the post.
_UNKNOWN_OUTCOME_CODES = frozenset({1, 2, -1})
_UNKNOWN_OUTCOME_SUBCODES = frozenset({2207001, 2207051})


def classify(
    operation: str, http_status: int | None, code: int | None, subcode: int | None
) -> ErrorKind:
    """Classify a failed call by GRAPH_API.md §3.

    `code` and `subcode` both None means there was no Graph error envelope: the
    connection failed (`http_status` None), or the reply was not one Meta sends.
    """
    if code is None and subcode is None:
        return _classify_without_envelope(operation, http_status)
    if operation in PUBLISH_OPERATIONS and _publish_outcome_unknown(
        http_status, code, subcode
    ):
        return ErrorKind.AMBIGUOUS
    # Auth and throttle bodies win over the status: resending them only extends a
    # block or burns calls on a dead token.
    if code in _AUTH_CODES:
        return ErrorKind.AUTH
    if code in _RATE_LIMIT_CODES or subcode in _RATE_LIMIT_SUBCODES:
        return ErrorKind.RATE_LIMITED
    if _is_server_error(http_status):
        return ErrorKind.TRANSIENT
    if operation == "container_status" and (code, subcode) == (100, 33):
        # Our own container cannot be read (Meta has answered so for brand-new
        # ones): a new container is the remedy, and the caller caps how many.
        return ErrorKind.CONTAINER
    if subcode is not None and subcode in _SUBCODE_KINDS:
        return _SUBCODE_KINDS[subcode]
    if code is not None and code in _CODE_KINDS:
        return _CODE_KINDS[code]
    # Unknown codes fail the post with their numbers in the message; retrying an
    # error nobody understands risks a loop.
    return ErrorKind.PERMANENT


def _classify_without_envelope(operation: str, http_status: int | None) -> ErrorKind:
    if http_status == 429:
        return ErrorKind.RATE_LIMITED
    if http_status is not None and 400 <= http_status < 500:
        return ErrorKind.PERMANENT
    # A lost connection, a 5xx page from a proxy, or a success without a usable
    # body: nothing says whether a publish went through.
    if operation in PUBLISH_OPERATIONS:
        return ErrorKind.AMBIGUOUS
    return ErrorKind.TRANSIENT


def _publish_outcome_unknown(
    http_status: int | None, code: int | None, subcode: int | None
) -> bool:
    if _is_server_error(http_status) or subcode in _UNKNOWN_OUTCOME_SUBCODES:
        return True
    return code in _UNKNOWN_OUTCOME_CODES and subcode not in _SUBCODE_KINDS


def _is_server_error(http_status: int | None) -> bool:
    return http_status is not None and http_status >= 500


def container_failure_kind(status: ContainerStatus) -> ErrorKind | None:
    """What a container's status asks for, or None when it is not a failure."""
    if status.code == "EXPIRED":
        return ErrorKind.CONTAINER
    if status.code != "ERROR":
        return None
    if status.subcode is None or status.subcode not in _SUBCODE_KINDS:
        # Processing failed for a reason Meta did not name: one fresh container
        # is the only remedy left, and the caller caps how many it makes.
        return ErrorKind.CONTAINER
    return _SUBCODE_KINDS[status.subcode]


def platform_of(operation: str) -> str:
    """The platform's display name for an operation."""
    return "Facebook" if operation.startswith("page_") else "Instagram"


class GraphError(Exception):
    """A failed Graph API call. Raise one of the subclasses, one per `ErrorKind`."""

    kind: ClassVar[ErrorKind]

    def __init__(
        self,
        operation: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        message: str = "",
        user_title: str | None = None,
        user_message: str | None = None,
        fbtrace_id: str | None = None,
        is_transient: bool | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        if type(self) is GraphError:
            raise TypeError("raise a GraphError subclass; see error_class(kind)")
        super().__init__(
            f"{operation} failed ({self.kind}): HTTP {http_status}, "
            f"code {code}, subcode {subcode}: {message}"
        )
        self.operation = operation
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.message = message
        self.user_title = user_title
        self.user_message = user_message
        self.fbtrace_id = fbtrace_id
        self.is_transient = is_transient
        self.retry_after_seconds = retry_after_seconds

    @property
    def platform(self) -> str:
        return platform_of(self.operation)

    @property
    def brand_message(self) -> str:
        """A sentence the brand can act on, in English whatever Meta's locale."""
        return brand_message_for(self.kind, self.code, self.subcode, self.platform)


class TransientError(GraphError):
    kind = ErrorKind.TRANSIENT


class RateLimitedError(GraphError):
    kind = ErrorKind.RATE_LIMITED


class PermanentError(GraphError):
    kind = ErrorKind.PERMANENT


class AuthError(GraphError):
    kind = ErrorKind.AUTH


class ContainerError(GraphError):
    kind = ErrorKind.CONTAINER


class NotReadyError(GraphError):
    kind = ErrorKind.NOT_READY


class AmbiguousError(GraphError):
    kind = ErrorKind.AMBIGUOUS


class MissingInstagramAccountError(PermanentError):
    """The page has no Instagram business account to publish to."""

    @property
    def brand_message(self) -> str:
        return (
            "The Facebook page has no Instagram business account connected; "
            "connect one and try again"
        )


_ERROR_CLASSES: dict[ErrorKind, type[GraphError]] = {
    cls.kind: cls
    for cls in (
        TransientError,
        RateLimitedError,
        PermanentError,
        AuthError,
        ContainerError,
        NotReadyError,
        AmbiguousError,
    )
}


def error_class(kind: ErrorKind) -> type[GraphError]:
    """The GraphError subclass raised for `kind`."""
    return _ERROR_CLASSES[kind]


def unexpected_reply(
    operation: str, http_status: int | None, detail: str
) -> GraphError:
    """The error for a reply that is not an error envelope and not usable either."""
    kind = classify(operation, http_status, None, None)
    return error_class(kind)(operation, http_status=http_status, message=detail)


# Brand messages. {platform} is Instagram or Facebook, from the operation.
_SUBCODE_MESSAGES: dict[int, str] = {
    2207001: "Instagram had a server error",
    2207003: "Instagram timed out downloading the media",
    2207004: "The image is larger than Instagram's 8 MiB limit",
    2207005: "Instagram only accepts JPEG images",
    2207006: "Instagram could not find the media container",
    2207008: "The media container does not exist or has expired",
    2207009: "The image's aspect ratio is outside Instagram's 4:5 to 1.91:1 range",
    2207010: "The caption is longer than Instagram's 2,200 characters",
    2207020: "The media container expired before it was published",
    2207023: "Instagram does not support this media type",
    2207026: "Instagram only accepts MOV or MP4 videos",
    2207027: "The media was not ready to be published yet",
    2207028: "A carousel needs between 2 and 10 items",
    2207032: "Instagram failed to create the media",
    2207035: "The post has invalid product tags",
    2207036: "The post has invalid product tags",
    2207037: "The post has invalid product tags",
    2207040: "The caption mentions more than Instagram's limit of 20 accounts",
    2207042: "Instagram's daily publishing limit for this account was reached",
    2207050: (
        "The Instagram account is inactive or restricted; "
        "open the Instagram app to resolve it"
    ),
    2207051: (
        "Instagram restricted this account's activity as suspected spam; "
        "check the account in the Instagram app"
    ),
    2207052: (
        "Instagram could not fetch the media; "
        "its URL must be public and serve a JPEG image"
    ),
    2207053: "Instagram failed to process the video upload",
    2207057: "The video thumbnail offset is beyond the end of the video",
    2207082: "Instagram failed to process the media upload",
    2207089: "A carousel item cannot be published on its own",
}
_PAIR_MESSAGES: dict[tuple[int, int], str] = {
    (100, 33): "The {platform} media does not exist or cannot be read with this "
    "connection's permissions",
    (190, 492): "The connected user no longer has a role on the Facebook page; "
    "reconnect the page with an admin account",
}
_CODE_MESSAGES: dict[int, str] = {
    1: "{platform} had a temporary problem",
    2: "{platform} had a temporary problem",
    10: "The {platform} connection lacks a permission needed to publish; "
    "reconnect the account and grant every requested permission",
    190: "The {platform} connection has expired; reconnect the account",
    368: "{platform} temporarily blocked this account for policy violations",
    506: "Facebook rejected the post as a duplicate of the previous one; "
    "change its content",
    # 2500 is Meta's parse failure: an unencoded "?id=" in a media URL, or a path
    # it does not serve. Either way the request was malformed, not the content.
    2500: "{platform} could not parse the request; this is a publisher bug",
    9007: "The media was not ready to be published yet",
    36000: "The image is larger than Instagram's 8 MiB limit",
    36001: "Instagram only accepts JPEG images",
    36003: "The image's aspect ratio is outside Instagram's 4:5 to 1.91:1 range",
    36004: "The caption is longer than Instagram's 2,200 characters",
    352: "Instagram only accepts MOV or MP4 videos",
}
_RATE_LIMIT_MESSAGE = (
    "{platform} is limiting requests for this account; publishing resumes later"
)
_TRANSPORT_MESSAGE = "{platform} could not be reached"
_AMBIGUOUS_MESSAGE = (
    "{platform} did not confirm whether the post was published; "
    "it is checked before anything is sent again"
)


def brand_message_for(
    kind: ErrorKind, code: int | None, subcode: int | None, platform: str
) -> str:
    """A sentence the brand can act on, for an error or a failed container."""
    text = _lookup_message(kind, code, subcode)
    if text is None:
        text = (
            f"{platform} rejected the request "
            f"(error code {_or_none(code)}, subcode {_or_none(subcode)})"
        )
    return text.format(platform=platform)


def _lookup_message(
    kind: ErrorKind, code: int | None, subcode: int | None
) -> str | None:
    # A spam restriction matters more to the brand than the unknown outcome.
    if kind is ErrorKind.AMBIGUOUS and subcode != 2207051:
        return _AMBIGUOUS_MESSAGE
    if code is not None and subcode is not None and (code, subcode) in _PAIR_MESSAGES:
        return _PAIR_MESSAGES[(code, subcode)]
    if subcode is not None and subcode in _SUBCODE_MESSAGES:
        return _SUBCODE_MESSAGES[subcode]
    if code is not None and code in _CODE_MESSAGES:
        return _CODE_MESSAGES[code]
    if code in _AUTH_CODES:
        return _CODE_MESSAGES[10]
    if kind is ErrorKind.RATE_LIMITED:
        return _RATE_LIMIT_MESSAGE
    if code is None and subcode is None and kind is ErrorKind.TRANSIENT:
        return _TRANSPORT_MESSAGE
    return None


def _or_none(value: int | None) -> str:
    return "none" if value is None else str(value)
