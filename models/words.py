"""How nook reads words: a search's `q`, a region's `words` and a listing's title and address, all
with one text search configuration. No table here: the stream stage's matching writes its SQL with it
and never loads the listings' (models/__init__.py)."""

# English word forms (a search for balconies finds "balcony"; other languages keep their words whole). A
# query's words must be read with the listings' configuration, or their forms would not meet.
WORDS_CONFIG = "english"


def words_query_sql(text_sql: str) -> str:
    """A query of the words of the SQL expression `text_sql`, in a statement written as SQL (the mapped
    form: models.listing.words_query)."""
    return f"websearch_to_tsquery('{WORDS_CONFIG}'::regconfig, {text_sql})"
