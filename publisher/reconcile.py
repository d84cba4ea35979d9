"""Finding out whether a publish call took, when its answer cannot be trusted.

The Graph API has no idempotency key, so after a lost reply, an ambiguous error or a
crash the worker asks the platform instead: the container's status, then the
account's recent media. These functions only read; the pipeline decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from publisher.platforms import (
    Account,
    ErrorKind,
    GraphError,
    MediaKind,
    PublishingTarget,
)
from publisher.queue import Queue
from publisher.queue_rows import ClaimedPost

# A container that reads FINISHED right after an ambiguous publish may still be in
# Meta's hands; it is trusted only once this long has passed since the call.
PUBLISH_SETTLE = timedelta(seconds=30)
# How far before the publish call a recent media item may be stamped and still be
# taken for ours (clock skew between Meta and the database).
MATCH_SKEW = timedelta(minutes=5)


def find_published(
    queue: Queue,
    target: PublishingTarget,
    account: Account,
    post: ClaimedPost,
    sent_at: datetime,
) -> str | None:
    """Our media among the account's recent ones: made after the call, with our
    caption (stories carry none), and not already another post's."""
    story = MediaKind(post.prepared_media_kind or "FEED_IMAGE").is_story
    taken = queue.page_media_ids(post.page, besides=post.id, since=sent_at - MATCH_SKEW)
    caption = post.caption.strip()
    matches = [
        item
        for item in target.recent_media(account, stories=story)
        if item.media_id not in taken
        and (story or (item.caption or "").strip() == caption)
        and (item.timestamp is None or item.timestamp >= sent_at - MATCH_SKEW)
    ]
    if not matches:
        return None
    # Newest first from the platform; ours is the earliest after the call.
    return matches[-1].media_id


def live_after_all(
    target: PublishingTarget, account: Account, post: ClaimedPost, exc: GraphError
) -> bool:
    """Whether a publish Meta refused is live anyway: a container can have been
    published by an earlier call whose reply was lost (Meta then refuses the
    resend). Anything but a clear "not published" counts as live: the post is then
    reconciled, never sent again on a guess."""
    if not target.uses_containers or exc.kind is ErrorKind.AUTH:
        return False
    assert post.media_container_id
    try:
        status = target.container_status(account, post.media_container_id)
    except GraphError:
        return True
    return status.code == "PUBLISHED"


def unconfirmed_message(target: str) -> str:
    """The failure of a post whose publish call got no confirmation, for `target`
    (a page's target name)."""
    platform = "Facebook" if target == "facebook" else "Instagram"
    return (
        f"{platform} was asked to publish this post but did not confirm it, and the "
        "post could not be found on the account afterwards. Check the account "
        "before posting it again; it will not be re-sent automatically."
    )
