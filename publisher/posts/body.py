"""The create and update bodies: parsed and checked before anything is read or
written, so a bad body is refused whole and changes nothing.

Both verbs take the same body (update has PUT semantics: the body is the whole new
post), with the platform's snake_case field names. Old camelCase spellings are
refused with the right name, so a caller of an older client learns what to send.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StrictStr, field_validator
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from publisher.posts.errors import Problem, ValidationFailed
from publisher.rules import caption_problems


class PostBody(BaseModel):
    """A valid body: a page, exactly one creative, a caption and an optional time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    facebook_page: UUID
    template_instance: UUID | None = None
    asset: UUID | None = None
    caption: StrictStr = ""
    # Absent or null: the post is a draft, never published until given a time.
    due_at: datetime | None = None

    @field_validator("due_at", mode="before")
    @classmethod
    def _due_at(cls, value: object) -> datetime | None:
        return parse_due_at(value)

    @field_validator("caption")
    @classmethod
    def _storable(cls, value: str) -> str:
        """JSON can carry a NUL or half of a surrogate pair ("\\u0000", "\\ud83d");
        neither can be stored (PostgreSQL text refuses NUL, UTF-8 has no lone
        surrogates), nor would Instagram show it."""
        if "\x00" in value:
            raise PydanticCustomError(
                "caption_characters", "must not contain the NUL character (U+0000)"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError(
                "caption_characters",
                "has a lone surrogate at position {at}; send the whole character "
                "(both halves of its UTF-16 pair)",
                {"at": exc.start},
            ) from None
        return value


FIELDS = tuple(PostBody.model_fields)


def parse_due_at(value: object) -> datetime | None:
    """Epoch seconds (fractions kept) or ISO 8601 with an offset, as aware UTC.

    A wall-clock time without an offset is refused: it would mean a different
    instant on every server, and a post would go out hours early or late.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError(
            "due_at_type", "must be epoch seconds or an ISO 8601 time, not a boolean"
        )
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise PydanticCustomError(
                "due_at_range",
                "{value} is not a representable epoch time in seconds",
                {"value": value},
            ) from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "due_at_format",
                "'{value}' is not an ISO 8601 time (e.g. 2026-07-02T12:56:13-05:00)",
                {"value": value},
            ) from None
        if parsed.tzinfo is None:
            raise PydanticCustomError(
                "due_at_offset",
                "'{value}' has no UTC offset; add one (e.g. -05:00 or Z) or send "
                "epoch seconds",
                {"value": value},
            )
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            # Year 9999 late in the day west of UTC, or year 1 east of it.
            raise PydanticCustomError(
                "due_at_range",
                "'{value}' is outside the years 1 to 9999 once moved to UTC",
                {"value": value},
            ) from None
    raise PydanticCustomError(
        "due_at_type", "must be epoch seconds or an ISO 8601 time with an offset"
    )


def parse_body(raw: object) -> PostBody:
    """The body as a `PostBody`, or `ValidationFailed` listing every problem."""
    if not isinstance(raw, dict):
        raise ValidationFailed.one(
            "body", "body_object", "the body must be a JSON object"
        )

    problems: list[Problem] = []
    body: PostBody | None = None
    try:
        body = PostBody.model_validate(raw)
    except PydanticError as exc:
        problems.extend(_problem(error) for error in exc.errors())

    creatives = [name for name in ("template_instance", "asset") if raw.get(name)]
    if len(creatives) != 1:
        problems.append(
            Problem(
                "template_instance" if not creatives else creatives[-1],
                "one_creative",
                "give exactly one of template_instance and asset "
                f"(got {' and '.join(creatives) or 'neither'})",
            )
        )

    caption = raw.get("caption")
    if isinstance(caption, str):
        problems.extend(
            Problem(v.field, v.rule, v.message) for v in caption_problems(caption)
        )

    if problems or body is None:
        raise ValidationFailed(problems)
    return body


def _problem(error: Any) -> Problem:
    field = str(error["loc"][0]) if error["loc"] else "body"
    if error["type"] == "extra_forbidden":
        return Problem(field, "unknown_field", _unknown(field))
    if error["type"] == "missing":
        return Problem(field, "required", "is required")
    return Problem(field, str(error["type"]), str(error["msg"]))


def _unknown(field: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field).lower()
    if snake != field and snake in FIELDS:
        return f"is not a field; the field is spelled '{snake}'"
    return f"is not a field; the fields are {', '.join(FIELDS)}"
