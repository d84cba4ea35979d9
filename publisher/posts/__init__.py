"""The read/write module: the one door to `social_posts` for all but the worker.

Functions return JSON-ready data in the shapes of the platform's Social Post API
and raise `PostsError` subclasses carrying the HTTP status it would answer.
Every function takes the brand and never reads, changes or counts another
brand's rows, whatever ids it is given.
"""

from publisher.posts.caption import recommend_caption
from publisher.posts.errors import (
    Conflict,
    Forbidden,
    ModelUnavailable,
    NotFound,
    PostsError,
    Problem,
    ValidationFailed,
)
from publisher.posts.read import get_post, list_posts, post_stats
from publisher.posts.write import create_post, delete_post, disconnect_page, update_post

__all__ = [
    "Conflict",
    "Forbidden",
    "ModelUnavailable",
    "NotFound",
    "PostsError",
    "Problem",
    "ValidationFailed",
    "create_post",
    "delete_post",
    "disconnect_page",
    "get_post",
    "list_posts",
    "post_stats",
    "recommend_caption",
    "update_post",
]
