"""`publisher demo`: the whole story on the sandbox, for a newcomer.

It creates the SQLite database and a sample brand with a connected page, renders
real PNG creatives, schedules posts due now and one a minute ahead (plus one whose
image Instagram would refuse), runs the daemon against the simulator until they have
all ended, and prints how each one did. Last, it asks for caption recommendations
for two of the posts: one grounded in its listing, one in its holiday creative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import click
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from publisher import sample
from publisher.daemon import EXIT_FAILED, EXIT_OK
from publisher.db import init_schema, make_engine
from publisher.logs import configure_logging
from publisher.posts import PostsError, recommend_caption
from publisher.runtime import build_worker
from publisher.sandbox import Sandbox
from publisher.settings import Settings
from publisher.tables import facebook_pages, social_posts


@dataclass(frozen=True)
class DemoPost:
    title: str
    creative: str
    due_in: timedelta
    caption: str
    expect_failure: bool = False
    recommend: bool = False


def _schedule(
    engine: Engine, settings: Settings
) -> tuple[list[tuple[DemoPost, UUID]], str, UUID]:
    """The demo's brand, page and posts; returns them, the page's account id and
    the brand."""
    media_dir: Path = settings.media.directory
    base = settings.media_url
    now = datetime.now(UTC)
    scheduled = []
    with engine.begin() as conn:
        brand = sample.insert_brand(conn, "Harbor Realty (demo)")
        user = sample.insert_user(conn, brand=brand, active_brand=brand)
        page = sample.insert_page(conn, brand, name="Harbor Realty")
        ig_user_id = conn.execute(
            select(facebook_pages.c.instagram_business_account_id).where(
                facebook_pages.c.id == page
            )
        ).scalar_one()

        def instance(
            name: str, png: bytes, mime: str = "image/png", **template: Any
        ) -> dict[str, UUID]:
            filename = "video.mp4" if mime == "video/mp4" else "image.png"
            file = sample.insert_file(
                conn, media_dir, base, png, name=filename, mime=mime
            )
            kind = sample.insert_template(conn, name, **template)
            return {
                "template_instance": sample.insert_instance(conn, brand, kind, file)
            }

        flyer = instance(
            "Just Listed flyer",
            sample.render_creative(1080, 1350, "Just Listed", "12 Harbor View Road"),
        )
        sample.insert_listing(conn, brand, flyer["template_instance"])
        story = instance(
            "Open House story",
            sample.render_creative(1080, 1920, "Open House", "Sunday 1-3 pm"),
            medium="InstagramStory",
            template_type="OpenHouse",
        )
        video = instance(
            "Listing tour video",
            sample.stand_in_video(),
            mime="video/mp4",
            video=True,
        )
        holiday = instance(
            "Christmas card",
            sample.render_creative(1080, 1080, "Merry Christmas", "from Harbor Realty"),
            template_type="Christmas",
        )
        banner = instance(
            "Harbor panorama (too tall)",
            sample.render_creative(1080, 2600, "Harbor panorama"),
        )
        logo_file = sample.insert_file(
            conn,
            media_dir,
            base,
            sample.render_creative(1080, 1080, "Harbor Realty", transparent=True),
            name="logo.png",
            mime="image/png",
            folder="brands/assets",
        )
        logo = {"asset": sample.insert_asset(conn, brand, logo_file, label="Logo")}

        now_ = timedelta(0)
        plan = [
            (
                DemoPost(
                    "Just Listed",
                    "template, PNG 4:5",
                    now_,
                    "Just listed: 12 Harbor View Road. 4 bd, 2.5 ba. #justlisted",
                    recommend=True,
                ),
                flyer,
            ),
            (DemoPost("Open House", "template, story", now_, ""), story),
            (
                DemoPost(
                    "Listing tour",
                    "template, video",
                    now_,
                    "Take the tour of 12 Harbor View Road #reels",
                ),
                video,
            ),
            (
                DemoPost(
                    "Christmas card",
                    "template, PNG 1:1",
                    now_,
                    "Merry Christmas from all of us at Harbor Realty!",
                    recommend=True,
                ),
                holiday,
            ),
            (
                DemoPost(
                    "Brand logo",
                    "asset, transparent PNG",
                    timedelta(minutes=1),
                    "Harbor Realty: your harbor, your home.",
                ),
                logo,
            ),
            (
                DemoPost(
                    "Harbor panorama",
                    "template, PNG 1080x2600",
                    now_,
                    "A view of the whole harbor",
                    expect_failure=True,
                ),
                banner,
            ),
        ]
        for post, creative in plan:
            post_id = sample.insert_post(
                conn,
                brand=brand,
                user=user,
                page=page,
                due_at=now + post.due_in,
                caption=post.caption,
                **creative,
            )
            scheduled.append((post, post_id))
    return scheduled, str(ig_user_id), brand


def run_demo(settings: Settings) -> int:
    if not settings.sandbox_on:
        raise click.ClickException(
            "the demo runs on the sandbox: set sandbox.mode to on (or leave it at "
            "auto with the default SQLite database)"
        )
    log_file = settings.media.directory.parent / "demo.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database)
    init_schema(engine)
    shown = make_url(settings.database.url).render_as_string(hide_password=True)
    with log_file.open("a") as log:
        # The events go to the file: the terminal keeps the story readable.
        configure_logging("json", settings.log.level, stream=log)
        worker = build_worker(settings, engine)
        try:
            # The sandbox first: if it cannot start, nothing has been scheduled.
            with Sandbox(settings, engine) as sandbox:
                scheduled, ig_user_id, brand = _schedule(engine, settings)
                sandbox.register_pages()
                click.echo(
                    f"Scheduled {len(scheduled)} posts in {shown}; one is due a "
                    "minute from now, so this takes a little over a minute. "
                    f"Logs: {log_file}"
                )
                worker.daemon.run_until([post_id for _p, post_id in scheduled], 300)
                publishes = sandbox.control("publishes", None)
                # While the sandbox still serves the creatives, for a model to see.
                captions = _recommendations(engine, settings, brand, scheduled)
        finally:
            worker.close()
            configure_logging(settings.log.format, settings.log.level)
    assert isinstance(publishes, dict)
    ours = [p for p in publishes["data"] if p.get("ig_user_id") == ig_user_id]
    code = _report(engine, scheduled, len(ours))
    _show_captions(settings, captions)
    return code


def _recommendations(
    engine: Engine,
    settings: Settings,
    brand: UUID,
    scheduled: list[tuple[DemoPost, UUID]],
) -> list[tuple[str, dict[str, Any]]]:
    """Caption recommendations for the posts that ask for one (the answer, or the
    error a model gave: the demo's outcome is the publishing, not the captions)."""
    found = []
    for post, post_id in scheduled:
        if post.recommend:
            try:
                answer = recommend_caption(engine, brand, post_id, settings=settings)
            except PostsError as exc:
                answer = exc.to_json()
            found.append((post.title, answer))
    return found


def _show_captions(settings: Settings, captions: list[tuple[str, Any]]) -> None:
    writer = (
        f"the model {settings.captions.model}"
        if settings.captions.base_url
        else "the built-in writer; set captions.base_url and .model to ask a model"
    )
    click.echo("")
    click.echo(f"Caption recommendations (`publisher posts caption`, {writer}):")
    for title, answer in captions:
        data = answer.get("data")
        if data is None:
            click.echo(f"\n{title}: no recommendation: {answer['message']}")
            continue
        click.echo(f"\n{title} (grounded in its {data['grounding']}):")
        for line in data["caption"].splitlines():
            click.echo(f"    {line}" if line else "")


def _report(
    engine: Engine, scheduled: list[tuple[DemoPost, UUID]], publish_calls: int
) -> int:
    ids = [post_id for _post, post_id in scheduled]
    with engine.connect() as conn:
        rows = {
            row.id: row
            for row in conn.execute(
                select(social_posts).where(social_posts.c.id.in_(ids))
            )
        }
    engine.dispose()
    click.echo("")
    click.echo(f"{'post':<16} {'creative':<24} {'outcome':<11} link or failure")
    surprises = 0
    for post, post_id in scheduled:
        row = rows[post_id]
        outcome = row.stage if row.executed_at else "pending"
        detail = row.post_link or row.failure or row.last_error or ""
        click.echo(f"{post.title:<16} {post.creative:<24} {outcome:<11} {detail}")
        if (outcome == "published") == post.expect_failure:
            surprises += 1
    published = sum(1 for row in rows.values() if row.stage == "published")
    click.echo("")
    for post, _post_id in scheduled:
        if post.expect_failure:
            click.echo(
                f"{post.title} fails on purpose: it shows how a post that breaks an "
                "Instagram rule ends, before any call to Instagram."
            )
    click.echo(
        f"The simulator's publish log holds {publish_calls} publish(es) for "
        f"{published} published post(s)."
    )
    return EXIT_OK if surprises == 0 else EXIT_FAILED
