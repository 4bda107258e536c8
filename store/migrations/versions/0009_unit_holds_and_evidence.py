"""Cases scoped to order lines hold their units; the evidence store's files and who uploaded them.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TZ = sa.DateTime(timezone=True)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_holds",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_unit_holds_order_id", "unit_holds", ["order_id"])
    op.create_table(
        "evidence_files",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_at", TZ, nullable=False),
    )
    op.create_table(
        "evidence_uploads",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("uploader", sa.String(120), primary_key=True),
        sa.Column("uploaded_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_uploads")
    op.drop_table("evidence_files")
    op.drop_index("ix_unit_holds_order_id", "unit_holds")
    op.drop_table("unit_holds")
