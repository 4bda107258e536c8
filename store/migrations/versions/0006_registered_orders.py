"""Orders as the marketplace's order system registers them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TZ = sa.DateTime(timezone=True)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("seller_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(64), nullable=False),
        sa.Column("registration", sa.JSON(), nullable=False),
        sa.Column("registered_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_registered_orders_seller_id", "registered_orders", ["seller_id"])
    op.create_index("ix_registered_orders_buyer_id", "registered_orders", ["buyer_id"])


def downgrade() -> None:
    op.drop_table("registered_orders")
