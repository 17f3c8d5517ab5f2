"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 16:41:15.531411
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Kept on downgrade: other schemas in the database may rely on it.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "check_results",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("suite", sa.String(length=63), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("statistics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("failures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("report_uri", sa.Text(), nullable=True),
        sa.Column(
            "run_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_results")),
    )
    op.create_index(
        "ix_check_results_suite_run_at",
        "check_results",
        ["suite", "run_at"],
        unique=False,
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job", sa.String(length=63), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("invocation_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')",
            name=op.f("ck_job_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"], unique=False)
    op.create_table(
        "price_models",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_price_models")),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("cursor", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('demo', 'arcgis', 'json_feed', 'csv')",
            name=op.f("ck_sources_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_prefix", sa.String(length=12), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_users_api_key_hash")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_geospatial_table(
        "listings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("source_ref", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("price", sa.Integer(), nullable=True),
        sa.Column("bedrooms", sa.SmallInteger(), nullable=True),
        sa.Column("bathrooms", sa.Float(), nullable=True),
        sa.Column("sqft", sa.Integer(), nullable=True),
        sa.Column("furnished", sa.Boolean(), nullable=True),
        sa.Column("unit_type", sa.String(length=16), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("canonical_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'rejected', 'delisted', 'expired')",
            name=op.f("ck_listings_status"),
        ),
        sa.CheckConstraint(
            "unit_type IS NULL OR "
            "unit_type IN ('apartment', 'condo', 'house', 'basement', 'townhouse', 'room')",
            name=op.f("ck_listings_unit_type"),
        ),
        sa.ForeignKeyConstraint(
            ["canonical_id"],
            ["listings.id"],
            name=op.f("fk_listings_canonical_id_listings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_listings_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
        sa.UniqueConstraint("source_id", "source_ref", name=op.f("uq_listings_source_id_source_ref")),
    )
    op.create_geospatial_index(
        "idx_listings_geom",
        "listings",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_listings_canonical_id"), "listings", ["canonical_id"], unique=False)
    op.create_index("ix_listings_last_checked_at", "listings", ["last_checked_at"], unique=False)
    op.create_index(
        "ix_listings_status_posted_at",
        "listings",
        ["status", "posted_at"],
        unique=False,
    )
    op.create_table(
        "quarantined_records",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("source_ref", sa.String(length=255), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_quarantined_records_source_id_sources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_records")),
    )
    op.create_index(
        op.f("ix_quarantined_records_source_id"),
        "quarantined_records",
        ["source_id"],
        unique=False,
    )
    op.create_geospatial_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("min_bedrooms", sa.SmallInteger(), nullable=True),
        sa.Column("max_bedrooms", sa.SmallInteger(), nullable=True),
        sa.Column("min_bathrooms", sa.Float(), nullable=True),
        sa.Column("max_price", sa.Integer(), nullable=True),
        sa.Column("unit_types", postgresql.ARRAY(sa.String(length=16)), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_regions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
    )
    op.create_geospatial_index(
        "idx_regions_geom",
        "regions",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_regions_user_id"), "regions", ["user_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('queued', 'sent')", name=op.f("ck_notifications_status")),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_notifications_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_notifications_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "region_id",
            "listing_id",
            name=op.f("uq_notifications_region_id_listing_id"),
        ),
    )
    op.create_index(
        op.f("ix_notifications_listing_id"),
        "notifications",
        ["listing_id"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_queued",
        "notifications",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_user_id_created_at",
        "notifications",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "price_ranks",
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("p25", sa.Float(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=False),
        sa.Column("p75", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("label IN ('low', 'typical', 'high')", name=op.f("ck_price_ranks_label")),
        sa.CheckConstraint("p25 <= p50 AND p50 <= p75", name=op.f("ck_price_ranks_ordered")),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_price_ranks_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["price_models.version"],
            name=op.f("fk_price_ranks_model_version_price_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listing_id", name=op.f("pk_price_ranks")),
    )
    op.create_index(
        op.f("ix_price_ranks_model_version"),
        "price_ranks",
        ["model_version"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_price_ranks_model_version"), table_name="price_ranks")
    op.drop_table("price_ranks")
    op.drop_index("ix_notifications_user_id_created_at", table_name="notifications")
    op.drop_index("ix_notifications_queued", table_name="notifications")
    op.drop_index(op.f("ix_notifications_listing_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_regions_user_id"), table_name="regions")
    op.drop_geospatial_index(
        "idx_regions_geom",
        table_name="regions",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("regions")
    op.drop_index(op.f("ix_quarantined_records_source_id"), table_name="quarantined_records")
    op.drop_table("quarantined_records")
    op.drop_index("ix_listings_status_posted_at", table_name="listings")
    op.drop_index("ix_listings_last_checked_at", table_name="listings")
    op.drop_index(op.f("ix_listings_canonical_id"), table_name="listings")
    op.drop_geospatial_index(
        "idx_listings_geom",
        table_name="listings",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("listings")
    op.drop_table("users")
    op.drop_table("sources")
    op.drop_table("price_models")
    op.drop_index("ix_job_runs_job_started_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_check_results_suite_run_at", table_name="check_results")
    op.drop_table("check_results")
