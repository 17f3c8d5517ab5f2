"""Batch, pipeline and stream entry points, each `run(event, context)`.

This package's __init__ imports nothing heavy: the stream stage is lean and
imports `jobs.stream` without pandas or statsmodels.
"""
