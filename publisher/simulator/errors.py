"""Graph API errors as the simulator raises them, and Meta's envelope around them.

Every failure a handler can produce is built here, so the codes, subcodes and HTTP
statuses the simulator speaks sit in one catalogue that docs/simulator.md mirrors.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

_TRACE_ALPHABET = string.ascii_letters + string.digits

NOT_READY_TITLE = "Cannot publish"
NOT_READY_MESSAGE = "The media is not ready to be published. Please wait a moment."


@dataclass
class GraphError(Exception):
    """One error response: what goes in the envelope and the HTTP status it rides on."""

    code: int
    message: str
    subcode: int | None = None
    status: int = 400
    user_title: str | None = None
    user_msg: str | None = None
    is_transient: bool = False

    def __str__(self) -> str:
        return self.message

    def envelope(self) -> dict[str, Any]:
        # Meta leaves out the subcode and the user-facing texts when it has none.
        body: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
        }
        if self.subcode is not None:
            body["error_subcode"] = self.subcode
        if self.user_title is not None:
            body["error_user_title"] = self.user_title
        if self.user_msg is not None:
            body["error_user_msg"] = self.user_msg
        body["is_transient"] = self.is_transient
        body["fbtrace_id"] = "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(11))
        return {"error": body}


def _numbered(code: int, text: str, **fields: Any) -> GraphError:
    return GraphError(code=code, message=f"(#{code}) {text}", **fields)


# Authentication and permissions.


def token_missing() -> GraphError:
    return GraphError(190, "An access token is required to request this resource.")


def token_invalid() -> GraphError:
    return GraphError(
        190, "Invalid OAuth access token: the token is not recognised.", subcode=467
    )


def token_expired(expired_at: str) -> GraphError:
    return GraphError(
        190,
        f"Error validating access token: Session has expired on {expired_at}.",
        subcode=463,
        user_title="Session expired",
        user_msg="Your session has expired. Please log in again.",
    )


def permission_denied() -> GraphError:
    return _numbered(10, "Application does not have permission for this action")


def object_not_found(node_id: str, method: str = "get") -> GraphError:
    return _numbered(
        100,
        f"Unsupported {method} request. Object with ID '{node_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this "
        "operation.",
        subcode=33,
    )


# Request shape.


def unknown_path(path: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: {path}")


def id_already_specified() -> GraphError:
    return _numbered(2500, "An ID has already been specified.")


def missing_parameter(name: str) -> GraphError:
    return _numbered(100, f"The parameter {name} is required")


def invalid_parameter(text: str, subcode: int | None = None) -> GraphError:
    return _numbered(100, text, subcode=subcode)


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return _numbered(
        100, f"Tried accessing nonexisting field ({field}) on node type ({node_type})"
    )


def unsupported_media_type(value: str) -> GraphError:
    return invalid_parameter(
        f"The media type {value!r} is not supported here.", subcode=2207023
    )


# Caption rules.


def caption_too_long() -> GraphError:
    return _numbered(
        36004,
        "The caption is longer than 2200 characters.",
        subcode=2207010,
        user_title="Caption too long",
        user_msg="Shorten the caption to 2200 characters or fewer.",
    )


def too_many_hashtags() -> GraphError:
    return invalid_parameter("The caption has more than 30 hashtags.", subcode=2207011)


def too_many_mentions() -> GraphError:
    return invalid_parameter("The caption has more than 20 @mentions.", subcode=2207040)


# Fetching and inspecting media.


def fetch_failed(url: str) -> GraphError:
    return _numbered(
        9004,
        "Only photo or video can be accepted as media type.",
        subcode=2207052,
        user_title="Media download has failed",
        user_msg=f"The media could not be fetched from this uri: {url}",
    )


def download_timeout() -> GraphError:
    return GraphError(
        -2, "Media download has timed out.", subcode=2207003, is_transient=True
    )


def image_too_large() -> GraphError:
    return _numbered(
        36000,
        "The image size is too large.",
        subcode=2207004,
        user_title="Image too large",
        user_msg="The image is larger than 8 MiB.",
    )


def image_format_unsupported() -> GraphError:
    return _numbered(
        36001,
        "The image format is not supported.",
        subcode=2207005,
        user_title="Unsupported image format",
        user_msg="Only JPEG images can be published.",
    )


def aspect_ratio_unsupported() -> GraphError:
    return _numbered(
        36003,
        "The aspect ratio is not supported.",
        subcode=2207009,
        user_title="Unsupported aspect ratio",
        user_msg="Feed images must be between 4:5 and 1.91:1.",
    )


def video_unsupported() -> GraphError:
    return _numbered(
        352,
        "The video file format is not supported. Use MOV or MP4.",
        subcode=2207026,
        user_title="Unsupported video",
        user_msg="The video is not an MP4 or MOV file, or it is too large.",
    )


# Containers and publishing.


def container_cap_reached() -> GraphError:
    return _numbered(9, "The account has created 400 containers in the last 24 hours.")


def creation_id_unknown() -> GraphError:
    return _numbered(
        24,
        "The media builder with the given creation_id does not exist or has expired.",
        subcode=2207008,
    )


def container_expired() -> GraphError:
    return GraphError(-2, "The media container has expired.", subcode=2207020)


def container_not_ready() -> GraphError:
    return _numbered(
        9007,
        "Media ID is not available",
        subcode=2207027,
        user_title=NOT_READY_TITLE,
        user_msg=NOT_READY_MESSAGE,
    )


def container_already_published() -> GraphError:
    return invalid_parameter("The media container has already been published.")


def video_only_in_carousel() -> GraphError:
    return invalid_parameter(
        "The VIDEO media type is only accepted for carousel items; use REELS.",
        subcode=2207089,
    )


def publishing_quota_reached() -> GraphError:
    return _numbered(
        9,
        "The account has reached its limit of published posts for 24 hours.",
        subcode=2207042,
        user_title="Publishing limit reached",
        user_msg="You have reached the maximum number of posts for today.",
    )


def duplicate_page_post() -> GraphError:
    return _numbered(506, "This post duplicates the page's previous post.")


def photo_source_missing() -> GraphError:
    return _numbered(324, "Requires upload file: pass a url.")


# Platform failures and throttling, mostly produced by injected faults.


def unknown_error() -> GraphError:
    return GraphError(
        1, "An unknown error has occurred.", status=500, is_transient=True
    )


def service_unavailable() -> GraphError:
    return GraphError(
        2,
        "An unexpected error has occurred. Please retry your request later.",
        status=500,
        is_transient=True,
    )


_THROTTLE_TEXT = {
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    613: "Calls to this API have exceeded the rate limit.",
    80001: "There have been too many calls to this Page account.",
    80002: "There have been too many calls to this Instagram account.",
}

THROTTLE_CODES = frozenset(_THROTTLE_TEXT)


def throttled(code: int) -> GraphError:
    # Code 4 has been seen on 403; the other throttle codes come back on 400.
    return _numbered(
        code,
        _THROTTLE_TEXT[code],
        status=403 if code == 4 else 400,
        is_transient=True,
    )
