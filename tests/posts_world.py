"""The Social Post API spec's example data, rebuilt row by row with its ids and
timestamps, and helpers the `test_posts_*` files share."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Connection, Engine, insert, select

from publisher.db import init_schema, make_engine
from publisher.settings import DatabaseSettings
from publisher.tables import (
    Stage,
    brand_assets,
    brands,
    facebook_pages,
    files,
    metadata,
    social_posts,
    template_instances,
    templates,
    users,
)
from tests.builders import run_cli

# The example bodies of the spec, as JSON, unchanged.
EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "social_post_api_examples.json").read_text()
)

BRAND = UUID("34143167-e1c1-4d15-9027-a15f97110a8d")
USER = UUID("ddf86b9b-0c5f-4ecc-a991-30031f3918c6")
PAGE = UUID("625e74af-6c54-4bf5-8db4-ddbedd9c1f59")
OTHER_PAGE = UUID("d9c1c4b7-2fc6-4e85-89df-ed3186517939")
INSTANCE = UUID("e6a4395a-104a-48f0-aa5f-abfa083e85bd")
ASSET = UUID("c7356f09-bb6c-4fd8-8e79-c55ff3814524")
INSTANCE_FILE = UUID("dffeea26-d61a-4722-8511-70708d1add74")
ASSET_FILE = UUID("4051fdec-5e53-4972-89ee-fb9b7c5c80ac")
TEMPLATE_POST = UUID("b5681bf2-f01c-4a35-8d89-1746498e1545")
ASSET_POST = UUID("b51ea092-b3d9-4fac-983c-c5d54a90a20d")
FAILED_POST = UUID("9de4b6bf-6054-4269-a271-53c1d8da24de")
UPDATED_POST = UUID("e366b99f-e38b-4207-9fe3-e0b2c9b9549b")

# The moment the example responses were made: "12:56 PM" in America/Chicago.
SPEC_NOW = datetime.fromtimestamp(1783014973.625282, UTC)
_CDN = "https://test.cloudfront.net"


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
def engine(any_url: str) -> Iterator[Engine]:
    """An engine with the schema, once on PostgreSQL and once on SQLite."""
    built = make_engine(
        DatabaseSettings(url=any_url, pool_size=5, connect_timeout_seconds=5)
    )
    init_schema(built)
    yield built
    built.dispose()


def insert_spec_world(conn: Connection, *, with_posts: bool = True) -> None:
    """The brand, user, pages, creatives and (optionally) posts of the examples."""
    conn.execute(insert(brands).values(id=BRAND, name="Spec", created_at=SPEC_NOW))
    conn.execute(
        insert(users).values(
            id=USER,
            first_name="John",
            last_name="Doe",
            email="[email protected]",
            phone_number="+18598254118",
            created_at=at(1783014973.644084),
            updated_at=at(1783014973.644106),
            timezone="America/Chicago",
            personal_room=UUID("219b5144-c21d-4d98-be0c-9737cb6dc48a"),
            active_brand=BRAND,
            email_signature="This is my signature.",
            email_quota=30000,
            bio="This is my bio.",
            has_password=True,
        )
    )
    for page in (PAGE, OTHER_PAGE):
        conn.execute(
            insert(facebook_pages).values(
                id=page,
                brand=BRAND,
                name="Spec page",
                facebook_page_id=f"10{page.int % 10**9:09d}",
                instagram_business_account_id=f"17841{page.int % 10**9:09d}",
                access_token=f"sandbox-{uuid4().hex}",
                created_at=SPEC_NOW,
            )
        )
    template = uuid4()
    conn.execute(
        insert(templates).values(
            id=template,
            name="Spec template",
            medium="Social",
            template_type="JustListed",
            created_at=SPEC_NOW,
        )
    )
    for file_id, folder, name, stamp in (
        (INSTANCE_FILE, "templates/instances", "image.png", 1783014974.485298),
        (ASSET_FILE, "brands/assets", "logo.png", 1783014974.071282),
    ):
        stored = "51566630" if name == "image.png" else "51171340"
        path = f"{folder}/{stored}-763f-11f1-94b5-7519f45a456b.png"
        conn.execute(
            insert(files).values(
                id=file_id,
                created_by=USER,
                path=path,
                name=name,
                url=f"{_CDN}/{path}",
                preview_url=f"{_CDN}/{path}",
                mime="image/png",
                created_at=at(stamp),
                updated_at=at(stamp),
            )
        )
    conn.execute(
        insert(template_instances).values(
            id=INSTANCE,
            template=template,
            brand=BRAND,
            created_by=USER,
            file=INSTANCE_FILE,
            html="<div>fakeTemplateInstance</div>",
            branch="http://mock-branch-url",
            created_at=SPEC_NOW,
            updated_at=SPEC_NOW,
        )
    )
    conn.execute(
        insert(brand_assets).values(
            id=ASSET,
            brand=BRAND,
            created_by=USER,
            file=ASSET_FILE,
            label="Asset Label",
            template_type="Christmas",
            medium="Email",
            created_at=at(1783014974.075739),
        )
    )
    if with_posts:
        _insert_spec_posts(conn)


def _insert_spec_posts(conn: Connection) -> None:
    done = {"post_link": "http://test.com", "media_container_id": "test"}
    for values in (
        {
            "id": TEMPLATE_POST,
            "caption": "test",
            "template_instance": INSTANCE,
            "created": (1783014974.546728, 1783014974.546729),
            "due_at": at(1783014374.523),
            "stage": Stage.PUBLISHED.value,
            **done,
        },
        {
            "id": ASSET_POST,
            "caption": "testAsset",
            "asset": ASSET,
            "created": (1783014974.633868, 1783014974.633868),
            "due_at": at(1783014374.607),
            "stage": Stage.PUBLISHED.value,
            **done,
        },
        {
            "id": FAILED_POST,
            "caption": "this post should be failed in job",
            "facebook_page": OTHER_PAGE,
            "template_instance": INSTANCE,
            "created": (1783014974.676971, 1783014974.676972),
            "due_at": at(1783014374.648),
            "stage": Stage.FAILED.value,
            # The spec shows this one as "2026-07-02T17:56:13.625Z".
            "failed_at": at(1783014973.625),
            "failure": "Internal Server Error",
            "media_container_id": "test",
        },
    ):
        created, updated = values.pop("created")
        conn.execute(
            insert(social_posts).values(
                brand=BRAND,
                created_by=USER,
                facebook_page=values.pop("facebook_page", PAGE),
                created_at=at(created),
                updated_at=at(updated),
                executed_at=SPEC_NOW,
                **values,
            )
        )
    conn.execute(
        insert(social_posts).values(
            id=UPDATED_POST,
            brand=BRAND,
            created_by=USER,
            facebook_page=PAGE,
            asset=ASSET,
            caption="before the update",
            created_at=at(1783014974.596492),
            updated_at=at(1783014974.596492),
            due_at=at(1783015000.0),
        )
    )


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show a refused call changed nothing."""
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(repr(v) for v in row) for row in conn.execute(select(table))),
            )
            for name, table in metadata.tables.items()
        }


def posts_cli(url: str, tmp_path: Path) -> Callable[..., Any]:
    """`publisher posts ...` as a subprocess on `url`, JSON logs; none of the
    caller's own PUBLISHER_ variables leaks into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATABASE_URL": url,
            "PUBLISHER_MEDIA_DIRECTORY": str(tmp_path / "media"),
            "PUBLISHER_LOG_FORMAT": "json",
        }
    )

    def run(*args: str, stdin: str | None = None) -> Any:
        return run_cli(tmp_path, "posts", *args, env=env, stdin=stdin)

    return run
