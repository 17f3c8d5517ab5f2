"""a view of the map by price reads the cheapest (or dearest) listings of each of its cells

By price, a view first looked for its page in a walk of all the shown listings by price (0047, 0048). The
cheapest flats gather in a few areas, so a view elsewhere walked far into that order: at 1M listings a
median view's 20 cheapest lay ~50k into it (27 ms at the median, 71 at the 99th percentile). A listing now
knows its cell of a grid of 1/400 of a degree (`cell`: ~200 x 280 m in Toronto, computed by the database
from its place), and the shown listings are indexed by cell, then price, with where each is: a view reads
the first page's worth of each cell it covers, in price order, from the index alone, and the page is the
cheapest of those (app.search.cells_first). Adding the column rewrites the listings table once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CELL_SQL = "CAST(floor(ST_Y(geom) * 400) AS bigint) * 1000000 + CAST(floor(ST_X(geom) * 400) AS bigint)"
SHOWN = "status = 'active' AND canonical_id IS NULL"


def upgrade() -> None:
    op.add_column("listings", sa.Column("cell", sa.BigInteger(), sa.Computed(CELL_SQL, persisted=True)))
    op.create_index(
        "ix_listings_shown_cell_price",
        "listings",
        ["cell", "price", "id"],
        postgresql_where=sa.text(SHOWN),
        postgresql_include=["geom"],
    )


def downgrade() -> None:
    op.drop_index("ix_listings_shown_cell_price", table_name="listings")
    op.drop_column("listings", "cell")
