"""The price-rank pipeline: wrangle -> train (+ score) -> update, each hand-off through S3."""
