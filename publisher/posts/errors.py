"""Typed errors of the read/write module, each with the HTTP status the platform
would answer, so a caller (the CLI, a service) can pass the answer on unchanged.

Every error names the field it is about and the rule that was broken; a validation
error may carry several problems at once, so a caller fixes a body in one round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Problem:
    """One broken rule: the field, a stable snake_case rule name, a readable message."""

    field: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class PostsError(Exception):
    """Base of the module's refusals; never raised itself."""

    status: ClassVar[int]
    code: ClassVar[str]

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "an error names at least one problem"
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))

    @classmethod
    def one(cls, field: str, rule: str, message: str) -> PostsError:
        return cls([Problem(field, rule, message)])

    def to_json(self) -> dict[str, Any]:
        """The platform's error envelope: a code, the status and every problem."""
        return {
            "code": self.code,
            "status": self.status,
            "message": str(self),
            "errors": [problem.to_json() for problem in self.problems],
        }


class ValidationFailed(PostsError):
    """The body or a parameter breaks a rule (400)."""

    status = 400
    code = "ValidationError"


class Forbidden(PostsError):
    """The acting user may not act for this brand (403)."""

    status = 403
    code = "Forbidden"


class NotFound(PostsError):
    """No live post of this brand has that id (404); another brand's post is
    answered the same way, so ids of other brands cannot be probed."""

    status = 404
    code = "ResourceNotFound"


class Conflict(PostsError):
    """The post exists but its state forbids the change (409): executed, being
    published, or already sent to Instagram."""

    status = 409
    code = "Conflict"


class ModelUnavailable(PostsError):
    """The caption model gave no usable answer (502): it timed out, could not be
    reached, refused the key or answered with an error. Nothing was changed."""

    status = 502
    code = "ModelUnavailable"
