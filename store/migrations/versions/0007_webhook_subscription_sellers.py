"""A webhook subscription may be for some sellers' cases only.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_subscriptions", sa.Column("seller_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_subscriptions", "seller_ids")
