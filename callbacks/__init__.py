"""Zappa build callbacks: thin adapters over plain functions."""
