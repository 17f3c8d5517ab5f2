"""listings can be searched by the words of their title and address

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 02:00:00.000000

A search's `q` ("balcony parking", "Queen St", -basement) matches the words of a shown listing's title
and address, as English word forms. They are kept as a column the database computes (`words`), so a
search tests a listing's words without parsing its title again, and ANALYZE knows how common each word
is. One GiST index holds the shown listings' places and words together: a search of an area by words
reads, of the area's part of the index, only the entries whose words may match. (A GIN index of the
words alone, measured at 1M listings, led the planner to read every listing with a word - 100k for a
feature one flat in ten has - whenever it misjudged how often two words come together, as a phrase's
always do: 0.3-1.3 s.) Adding the column rewrites the table once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORDS_SQL = (
    "to_tsvector('english'::regconfig, "
    "(COALESCE(title, ''::text) || ' '::text) || COALESCE(address, ''::text))"
)


def upgrade() -> None:
    op.add_column(
        "listings", sa.Column("words", postgresql.TSVECTOR(), sa.Computed(WORDS_SQL, persisted=True))
    )
    op.create_index(
        "ix_listings_words",
        "listings",
        ["geom", "words"],
        postgresql_using="gist",
        postgresql_where=sa.text("status = 'active' AND canonical_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_listings_words", table_name="listings")
    op.drop_column("listings", "words")
