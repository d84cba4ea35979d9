"""The Graph API routes the simulator serves, each as a handler over the state.

A handler gets the authenticated account and the merged parameters, raises a
GraphError for anything Meta would refuse, and returns the JSON body of a 200.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import Map, Rule

from publisher.simulator import errors, media
from publisher.simulator.faults import Operation
from publisher.simulator.records import QUOTA_WINDOW_SECONDS, Account
from publisher.simulator.state import SimulatorState

CAPTION_MAX_CHARS = 2200
HASHTAGS_MAX = 30
MENTIONS_MAX = 20
# Page size and cap of the /media and /posts listings.
RECENT_MEDIA_DEFAULT = 25
RECENT_MEDIA_MAX = 100

_HASHTAG = re.compile(r"(?<!\w)#\w+")
_MENTION = re.compile(r"(?<!\w)@[\w.]+")

MEDIA_FIELDS = frozenset(
    {
        "id",
        "caption",
        "media_type",
        "media_product_type",
        "media_url",
        "permalink",
        "shortcode",
        "timestamp",
        "username",
    }
)
CONTAINER_FIELDS = frozenset({"id", "status_code", "status"})
PAGE_POST_FIELDS = frozenset({"id", "permalink_url", "message", "created_time"})
LIMIT_FIELDS = frozenset({"quota_usage", "config"})

NODE = "node"
ROUTES = Map(
    [
        Rule("/<node>", methods=["GET"], endpoint=NODE),
        Rule("/<node>/media", methods=["POST"], endpoint=Operation.CREATE_CONTAINER),
        Rule("/<node>/media", methods=["GET"], endpoint=Operation.RECENT_MEDIA),
        Rule("/<node>/stories", methods=["GET"], endpoint=Operation.RECENT_STORIES),
        Rule(
            "/<node>/media_publish", methods=["POST"], endpoint=Operation.MEDIA_PUBLISH
        ),
        Rule(
            "/<node>/content_publishing_limit",
            methods=["GET"],
            endpoint=Operation.PUBLISHING_LIMIT,
        ),
        Rule("/<node>/photos", methods=["POST"], endpoint=Operation.PAGE_PHOTOS),
        Rule("/<node>/posts", methods=["GET"], endpoint=Operation.PAGE_POSTS),
    ],
    strict_slashes=False,
)


@dataclass(frozen=True)
class CallContext:
    state: SimulatorState
    account: Account
    node_id: str
    method: str
    params: Mapping[str, str]
    # Set by a container_error fault: processing ends in ERROR with this subcode.
    processing_error: int | None = None


def resolve_node_operation(state: SimulatorState, node_id: str) -> Operation:
    """A bare GET /{id} reads a container's status or a published object."""
    if state.container(node_id) is not None:
        return Operation.CONTAINER_STATUS
    return Operation.PERMALINK


def is_page_object(operation: Operation, node_id: str) -> bool:
    """Whether a call is made on a Facebook Page rather than an Instagram user."""
    # Page post ids are "<page>_<number>"; no Instagram id has an underscore.
    if operation in (Operation.PAGE_PHOTOS, Operation.PAGE_POSTS):
        return True
    return operation is Operation.PERMALINK and "_" in node_id


def create_container(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=False)
    params = ctx.params
    if params.get("is_carousel_item", "").lower() == "true":
        raise errors.unsupported_media_type("carousel item")
    caption = params.get("caption", "")
    _check_caption(caption)

    requested = params.get("media_type") or None
    timeout = ctx.state.config.fetch_timeout
    standalone_video = False
    if requested is None:
        url = _required(params, "image_url")
        media.check_image(url, timeout=timeout, feed=True)
        media_type, product_type = "IMAGE", "FEED"
    elif requested == "STORIES" and params.get("video_url"):
        url = params["video_url"]
        media.check_video(url, timeout=timeout, max_bytes=media.STORY_VIDEO_MAX_BYTES)
        media_type, product_type = "VIDEO", "STORY"
    elif requested == "STORIES":
        url = _required(params, "image_url")
        media.check_image(url, timeout=timeout, feed=False)
        media_type, product_type = "IMAGE", "STORY"
    elif requested in ("REELS", "VIDEO"):
        url = _required(params, "video_url")
        media.check_video(url, timeout=timeout, max_bytes=media.REELS_MAX_BYTES)
        media_type, product_type = "VIDEO", "REELS"
        standalone_video = requested == "VIDEO"
    else:
        # CAROUSEL is a real media type, but the simulator does not model carousels.
        raise errors.unsupported_media_type(requested)

    container = ctx.state.create_container(
        account,
        media_type=media_type,
        product_type=product_type,
        caption=caption,
        source_url=url,
        standalone_video=standalone_video,
        error_subcode=ctx.processing_error,
    )
    return {"id": container.id}


def container_status(ctx: CallContext) -> dict[str, Any]:
    container = ctx.state.container(ctx.node_id)
    if container is None or container.ig_user_id != ctx.account.ig_user_id:
        raise errors.object_not_found(ctx.node_id)
    wanted = _fields(ctx.params, CONTAINER_FIELDS, "ShadowIGMediaBuilder")
    now = ctx.state.now()
    values = {
        "id": container.id,
        "status_code": container.status_code(now).value,
        "status": container.status_sentence(now),
    }
    return _pick(values, wanted)


def media_publish(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=False)
    creation_id = _required(ctx.params, "creation_id")
    return {"id": ctx.state.publish_container(account, creation_id).id}


def read_object(ctx: CallContext) -> dict[str, Any]:
    """GET on published Instagram media or on a Facebook Page post."""
    found = ctx.state.media(ctx.node_id)
    if found is not None and found.ig_user_id == ctx.account.ig_user_id:
        wanted = _fields(ctx.params, MEDIA_FIELDS, "IGMedia")
        return _pick(found.fields(), wanted)
    post = ctx.state.page_post(ctx.node_id)
    if post is not None and post.page_id == ctx.account.page_id:
        wanted = _fields(ctx.params, PAGE_POST_FIELDS, "Post")
        return _pick(post.fields(), wanted)
    raise errors.object_not_found(ctx.node_id)


def recent_media(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=False)
    wanted = _fields(ctx.params, MEDIA_FIELDS, "IGMedia")
    items = ctx.state.recent_media(account, _limit(ctx.params), stories=False)
    return {"data": [_pick(m.fields(), wanted) for m in items]}


def recent_stories(ctx: CallContext) -> dict[str, Any]:
    """As Meta: live stories are listed here, never under /media."""
    account = _own_edge(ctx, page=False)
    wanted = _fields(ctx.params, MEDIA_FIELDS, "IGMedia")
    items = ctx.state.recent_media(account, _limit(ctx.params), stories=True)
    return {"data": [_pick(m.fields(), wanted) for m in items]}


def publishing_limit(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=False)
    raw = ctx.params.get("fields")
    wanted = _split_fields(raw, LIMIT_FIELDS, "IGContentPublishingLimit") if raw else []
    usage, total = ctx.state.publishing_limit(
        account, _optional_int(ctx.params, "since")
    )

    # Without `fields`, Meta answers with quota_usage alone.
    item: dict[str, Any] = {}
    if not wanted or "quota_usage" in wanted:
        item["quota_usage"] = usage
    if "config" in wanted:
        item["config"] = {"quota_total": total, "quota_duration": QUOTA_WINDOW_SECONDS}
    return {"data": [item]}


def page_photos(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=True)
    url = ctx.params.get("url")
    if not url:
        raise errors.photo_source_missing()
    # `message` is the deprecated name of `caption` that Meta still accepts.
    caption = ctx.params.get("caption") or ctx.params.get("message") or ""
    published = ctx.params.get("published", "true").lower() not in ("false", "0")

    media.check_image(url, timeout=ctx.state.config.fetch_timeout, feed=False)
    if not published:
        return {"id": ctx.state.unpublished_photo_id()}
    post = ctx.state.publish_photo(account, url=url, caption=caption)
    return {"id": post.photo_id, "post_id": post.post_id}


def page_posts(ctx: CallContext) -> dict[str, Any]:
    account = _own_edge(ctx, page=True)
    wanted = _fields(ctx.params, PAGE_POST_FIELDS, "Post")
    items = ctx.state.page_posts(account, _limit(ctx.params))
    return {"data": [_pick(p.fields(), wanted) for p in items]}


HANDLERS: dict[Operation, Callable[[CallContext], dict[str, Any]]] = {
    Operation.CREATE_CONTAINER: create_container,
    Operation.CONTAINER_STATUS: container_status,
    Operation.MEDIA_PUBLISH: media_publish,
    Operation.PERMALINK: read_object,
    Operation.RECENT_MEDIA: recent_media,
    Operation.RECENT_STORIES: recent_stories,
    Operation.PUBLISHING_LIMIT: publishing_limit,
    Operation.PAGE_PHOTOS: page_photos,
    Operation.PAGE_POSTS: page_posts,
}


def _own_edge(ctx: CallContext, *, page: bool) -> Account:
    """The account, if the path's node is its own; the error Meta gives otherwise."""
    own = ctx.account.page_id if page else ctx.account.ig_user_id
    if ctx.node_id == own:
        return ctx.account
    if ctx.state.account_owning(ctx.node_id) is not None:
        raise errors.permission_denied()
    raise errors.object_not_found(ctx.node_id, ctx.method.lower())


def _check_caption(caption: str) -> None:
    if len(caption) > CAPTION_MAX_CHARS:
        raise errors.caption_too_long()
    if len(_HASHTAG.findall(caption)) > HASHTAGS_MAX:
        raise errors.too_many_hashtags()
    if len(_MENTION.findall(caption)) > MENTIONS_MAX:
        raise errors.too_many_mentions()


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise errors.missing_parameter(name)
    return value


def _limit(params: Mapping[str, str]) -> int:
    limit = _optional_int(params, "limit")
    if limit is None:
        return RECENT_MEDIA_DEFAULT
    if not 1 <= limit <= RECENT_MEDIA_MAX:
        raise errors.invalid_parameter(f"limit must be 1 to {RECENT_MEDIA_MAX}")
    return limit


def _optional_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid_parameter(f"{name} must be an integer") from None


def _fields(
    params: Mapping[str, str], allowed: frozenset[str], node_type: str
) -> list[str]:
    """The fields a GET asked for; Meta always adds id, and gives only id by default."""
    raw = params.get("fields")
    wanted = _split_fields(raw, allowed, node_type) if raw else []
    return ["id", *(f for f in wanted if f != "id")]


def _split_fields(raw: str, allowed: frozenset[str], node_type: str) -> list[str]:
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    for name in wanted:
        if name not in allowed:
            raise errors.nonexisting_field(name, node_type)
    return wanted


def _pick(values: Mapping[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
    return {name: values[name] for name in wanted if name in values}
