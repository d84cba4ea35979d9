"""Classification by GRAPH_API.md §3, the publish-ambiguity rules, brand messages."""

from __future__ import annotations

import pytest

from publisher.platforms import (
    AmbiguousError,
    AuthError,
    ContainerStatus,
    ErrorKind,
    GraphError,
    MissingInstagramAccountError,
    PermanentError,
    brand_message_for,
    classify,
    container_failure_kind,
)
from publisher.platforms.errors import error_class, unexpected_reply

T = ErrorKind.TRANSIENT
R = ErrorKind.RATE_LIMITED
P = ErrorKind.PERMANENT
A = ErrorKind.AUTH
C = ErrorKind.CONTAINER
N = ErrorKind.NOT_READY
U = ErrorKind.AMBIGUOUS

# (code, subcode, kind outside a publish, kind on media_publish), every §3 row.
TABLE = [
    (1, None, T, U),
    (2, None, T, U),
    (-1, 2207001, T, U),
    (-1, None, T, U),
    (-1, 2207032, C, C),
    (-1, 2207053, C, C),
    (-2, 2207003, C, C),
    (-2, 2207020, C, C),
    (1, 2207057, P, P),
    (4, None, R, R),
    (4, 2207051, R, U),
    (9, 2207042, R, R),
    (9, None, R, R),
    (10, None, A, A),
    (200, None, A, A),
    (250, None, A, A),
    (299, None, A, A),
    (17, None, R, R),
    (24, 2207006, C, C),
    (24, 2207008, C, C),
    (25, 2207050, P, P),
    (32, None, R, R),
    (100, None, P, P),
    (100, 2207023, P, P),
    (100, 2207028, P, P),
    (100, 2207035, P, P),
    (100, 2207036, P, P),
    (100, 2207037, P, P),
    (100, 2207040, P, P),
    (100, 2207089, P, P),
    (100, 33, P, P),
    (190, None, A, A),
    (190, 458, A, A),
    (190, 459, A, A),
    (190, 460, A, A),
    (190, 463, A, A),
    (190, 464, A, A),
    (190, 467, A, A),
    (190, 492, A, A),
    (341, None, R, R),
    (352, 2207026, P, P),
    (368, None, R, R),
    (506, None, P, P),
    (613, None, R, R),
    (613, 1996, R, R),
    (9004, 2207052, C, C),
    (9007, 2207027, N, N),
    (9007, None, N, N),
    (36000, 2207004, P, P),
    (36001, 2207005, P, P),
    (36003, 2207009, P, P),
    (36004, 2207010, P, P),
    (80001, None, R, R),
    (80002, None, R, R),
    (2500, None, P, P),
    (12345, None, P, P),
]


@pytest.mark.parametrize(("code", "subcode", "elsewhere", "on_publish"), TABLE)
def test_classify_follows_the_action_table(
    code: int, subcode: int | None, elsewhere: ErrorKind, on_publish: ErrorKind
) -> None:
    # Meta's error table lists 400 for every entry.
    assert classify("create_container", 400, code, subcode) is elsewhere
    assert classify("recent_media", 400, code, subcode) is elsewhere
    assert classify("media_publish", 400, code, subcode) is on_publish


@pytest.mark.parametrize(
    ("operation", "status", "code", "subcode", "expected"),
    [
        # Any 5xx: transient on reads and container creation, unknown on publish.
        ("container_status", 500, 100, None, T),
        ("create_container", 503, None, None, T),
        ("media_publish", 500, 100, None, U),
        ("media_publish", 500, 2, None, U),
        ("media_publish", 502, None, None, U),
        ("page_photos", 500, 1, None, U),
        ("media_publish", 500, 190, None, U),
        # Auth and throttle bodies win over a 5xx outside publish.
        ("permalink", 500, 190, 463, A),
        ("recent_media", 503, 4, None, R),
        # Code 4 has come back as 403.
        ("create_container", 403, 4, None, R),
        # No response at all: the connection failed or timed out.
        ("container_status", None, None, None, T),
        ("create_container", None, None, None, T),
        ("media_publish", None, None, None, U),
        ("page_photos", None, None, None, U),
        # A reply that is not a Graph envelope.
        ("publishing_limit", 200, None, None, T),
        ("media_publish", 200, None, None, U),
        ("permalink", 429, None, None, R),
        ("permalink", 404, None, None, P),
        # A container status names a subcode without a code.
        ("container_status", None, None, 2207082, C),
        ("container_status", None, None, 2207004, P),
        # A container of ours that cannot be read is made anew, not failed.
        ("container_status", 400, 100, 33, C),
        ("permalink", 400, 100, 33, P),
        # A Page's duplicate post is a definite rejection, not an unknown outcome.
        ("page_photos", 400, 506, None, P),
    ],
)
def test_classify_by_status_and_operation(
    operation: str,
    status: int | None,
    code: int | None,
    subcode: int | None,
    expected: ErrorKind,
) -> None:
    assert classify(operation, status, code, subcode) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ContainerStatus("FINISHED", "Finished: ready"), None),
        (ContainerStatus("IN_PROGRESS", "In Progress: processing"), None),
        (ContainerStatus("PUBLISHED", ""), None),
        (ContainerStatus("EXPIRED", ""), C),
        (ContainerStatus("ERROR", "Error: ... error code 2207082", 2207082), C),
        (ContainerStatus("ERROR", "Error: ... error code 2207052", 2207052), C),
        (ContainerStatus("ERROR", "Error: ... error code 2207004", 2207004), P),
        (ContainerStatus("ERROR", "Error: Media download has failed"), C),
        (ContainerStatus("ERROR", "Error: ... error code 2299999", 2299999), C),
    ],
)
def test_container_failure_kind(
    status: ContainerStatus, expected: ErrorKind | None
) -> None:
    assert container_failure_kind(status) is expected


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [
        (36001, 2207005, "Instagram only accepts JPEG images"),
        (36000, 2207004, "The image is larger than Instagram's 8 MiB limit"),
        (
            36003,
            2207009,
            "The image's aspect ratio is outside Instagram's 4:5 to 1.91:1 range",
        ),
        (190, 463, "The Instagram connection has expired; reconnect the account"),
        (9, 2207042, "Instagram's daily publishing limit for this account was reached"),
        (36004, 2207010, "The caption is longer than Instagram's 2,200 characters"),
        (None, 2207082, "Instagram failed to process the media upload"),
    ],
)
def test_brand_message_by_code_and_subcode(
    code: int | None, subcode: int | None, expected: str
) -> None:
    kind = classify("create_container", 400, code, subcode)
    error = error_class(kind)("create_container", code=code, subcode=subcode)
    assert error.brand_message == expected


def test_brand_message_names_facebook_for_page_operations() -> None:
    error = AuthError("page_photos", code=190, subcode=460)
    assert error.platform == "Facebook"
    assert error.brand_message == (
        "The Facebook connection has expired; reconnect the account"
    )


def test_brand_message_for_permissions_and_throttles() -> None:
    denied = brand_message_for(A, 230, None, "Instagram")
    throttled = brand_message_for(R, 80002, None, "Instagram")
    assert "lacks a permission" in denied
    assert throttled.startswith("Instagram is limiting requests")


def test_brand_message_falls_back_to_the_numbers() -> None:
    error = PermanentError("create_container", code=12345, subcode=678)
    assert error.brand_message == (
        "Instagram rejected the request (error code 12345, subcode 678)"
    )


def test_ambiguous_publish_says_it_is_being_checked() -> None:
    kind = classify("media_publish", 500, 2, None)
    error = error_class(kind)("media_publish", http_status=500, code=2)
    assert isinstance(error, AmbiguousError)
    assert "did not confirm whether the post was published" in error.brand_message


def test_ambiguous_spam_restriction_keeps_its_message() -> None:
    error = AmbiguousError("media_publish", code=4, subcode=2207051)
    assert "suspected spam" in error.brand_message


def test_transport_failure_message() -> None:
    kind = classify("container_status", None, None, None)
    assert error_class(kind)("container_status").brand_message == (
        "Instagram could not be reached"
    )


def test_missing_instagram_account_is_permanent_with_its_own_message() -> None:
    error = MissingInstagramAccountError("create_container", message="no ig_user_id")
    assert error.kind is P
    assert "no Instagram business account" in error.brand_message


def test_error_classes_carry_their_kind_and_fields() -> None:
    for kind in ErrorKind:
        cls = error_class(kind)
        assert issubclass(cls, GraphError)
        assert cls.kind is kind
    error = AuthError(
        "permalink",
        http_status=400,
        code=190,
        subcode=463,
        error_type="OAuthException",
        message="Error validating access token",
        fbtrace_id="AbC",
        is_transient=False,
    )
    assert (error.operation, error.http_status, error.code, error.subcode) == (
        "permalink",
        400,
        190,
        463,
    )
    assert "permalink failed (auth)" in str(error)


def test_base_graph_error_cannot_be_raised_without_a_kind() -> None:
    with pytest.raises(TypeError, match="subclass"):
        GraphError("permalink")


def test_unexpected_reply_on_publish_is_ambiguous() -> None:
    error = unexpected_reply("media_publish", 200, "reply has no id")
    assert isinstance(error, AmbiguousError)
    assert error.message == "reply has no id"
