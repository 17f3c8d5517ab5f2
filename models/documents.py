"""Rows sent to PostgreSQL as one JSON document (read there with json_to_recordset, or jsonb_to_recordset
where a row carries a JSON object): one parameter to send and one plan a batch, where arrays or a
multi-row VALUES had psycopg2 adapt every value."""

from __future__ import annotations

import json

# the rows are plain values, built by nook or parsed from JSON: no cycle to look for
compact = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
