"""Issue 5: stage 'missed', the backfill's lateness waiver, the webhook outbox.

`social_posts` is altered in batch mode: SQLite cannot change a CHECK constraint in
place, so there alembic copies the table into a new one (same rows, same indexes);
PostgreSQL alters it where it stands.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_OLD_STAGES = (
    "queued",
    "prepared",
    "container",
    "publish_sent",
    "published",
    "failed",
    "unconfirmed",
)
_NEW_STAGES = (*_OLD_STAGES, "missed")
_PENDING = "delivered_at IS NULL AND given_up_at IS NULL"


def _stage_check(stages: tuple[str, ...]) -> str:
    return f"stage IN ({', '.join(repr(s) for s in stages)})"


def upgrade() -> None:
    with op.batch_alter_table("social_posts") as batch:
        batch.add_column(sa.Column("lateness_waived_at", sa.DateTime(timezone=True)))
        batch.drop_constraint(op.f("ck_social_posts_stage"), type_="check")
        batch.create_check_constraint(
            op.f("ck_social_posts_stage"), _stage_check(_NEW_STAGES)
        )
    if sa.inspect(op.get_bind()).has_table("webhook_outbox"):
        # `db init` before alembic created missing tables: a released database it
        # ran on already has this table (`publisher.migrate` checked it is this one).
        return
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("post", sa.Uuid()),
        sa.Column("page", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("given_up_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at",
        "webhook_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_next_attempt_at", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    # A post in stage 'missed' makes the old CHECK fail: the downgrade then stops
    # and changes nothing, rather than rewriting what happened to the post.
    with op.batch_alter_table("social_posts") as batch:
        batch.drop_constraint(op.f("ck_social_posts_stage"), type_="check")
        batch.create_check_constraint(
            op.f("ck_social_posts_stage"), _stage_check(_OLD_STAGES)
        )
        batch.drop_column("lateness_waived_at")
