"""The publishing clients: one small protocol, the targets behind it, their errors.

This package imports nothing from the rest of `publisher`, so the pipeline can be
tested against fakes of `PublishingTarget` and the targets against the simulator.
"""

from __future__ import annotations

from publisher.platforms.base import (
    Account,
    ContainerStatus,
    MediaKind,
    MediaSummary,
    PublishingTarget,
    Quota,
)
from publisher.platforms.errors import (
    AmbiguousError,
    AuthError,
    ContainerError,
    ErrorKind,
    GraphError,
    MissingInstagramAccountError,
    NotReadyError,
    PermanentError,
    RateLimitedError,
    TransientError,
    brand_message_for,
    classify,
    container_failure_kind,
)
from publisher.platforms.facebook import FacebookPageTarget
from publisher.platforms.graph import GraphTransport, RetrySettings, Usage
from publisher.platforms.instagram import InstagramTarget

__all__ = [
    "Account",
    "AmbiguousError",
    "AuthError",
    "ContainerError",
    "ContainerStatus",
    "ErrorKind",
    "FacebookPageTarget",
    "GraphError",
    "GraphTransport",
    "InstagramTarget",
    "MediaKind",
    "MediaSummary",
    "MissingInstagramAccountError",
    "NotReadyError",
    "PermanentError",
    "PublishingTarget",
    "Quota",
    "RateLimitedError",
    "RetrySettings",
    "TransientError",
    "Usage",
    "brand_message_for",
    "classify",
    "container_failure_kind",
    "make_target",
]


def make_target(name: str, transport: GraphTransport) -> PublishingTarget:
    """The target a page's `platform` names: "instagram" or "facebook"."""
    if name == "instagram":
        return InstagramTarget(transport)
    if name == "facebook":
        return FacebookPageTarget(transport)
    raise ValueError(f"unknown publishing target {name!r}; use instagram or facebook")
