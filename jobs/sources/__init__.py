"""Listing sources: one module per kind, each yielding raw records page by page."""
