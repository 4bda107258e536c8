"""A closed case's state, kept for a reopening at any later time (its workflow has ended); who lifted a
seller's flag, now that support reinstates sellers.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TZ = sa.DateTime(timezone=True)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("closed_at", TZ, nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
    )
    op.add_column("seller_flags", sa.Column("lifted_by", sa.String(80), nullable=True))


def downgrade() -> None:
    op.drop_column("seller_flags", "lifted_by")
    op.drop_table("closed_cases")
