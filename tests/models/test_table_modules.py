"""The tables load when first named (models/__init__.py): whatever set of table modules a process loads,
the tables their foreign keys name are loaded with them, so a flush or a schema can sort them."""

from __future__ import annotations

import json

import pytest

import models
from tests.conftest import run_python

TABLE_MODULES = sorted(set(models.TABLES.values()))
RESOLVE = """
from models.base import Base
for table in Base.metadata.tables.values():
    for key in table.foreign_keys:
        key.column  # NoReferencedTableError when the table it names is not loaded
print(len(Base.metadata.sorted_tables), "tables")
"""


@pytest.mark.parametrize("module", TABLE_MODULES)
def test_a_table_module_loads_the_tables_its_foreign_keys_name(module):
    result = run_python(f"import {module}\n{RESOLVE}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(" tables"), result.stdout


def test_the_check_fails_on_a_table_naming_one_not_loaded():
    """Guard against a check that cannot fail: a key naming a table nobody loaded is caught."""
    orphan = (
        "from sqlalchemy import Column, ForeignKey, Integer, Table\nfrom models.base import Base\n"
        "Table('orphans', Base.metadata, Column('id', Integer, ForeignKey('nowhere.id')))\n"
    )
    result = run_python(orphan + RESOLVE)
    assert result.returncode != 0 and "NoReferencedTableError" in result.stderr


def test_naming_a_table_loads_them_all():
    result = run_python(
        "import json, sys, models\nassert 'models.listing' not in sys.modules\n"
        "from models import Base\nprint(json.dumps(sorted(Base.metadata.tables)))"
    )
    assert result.returncode == 0, result.stderr
    tables = json.loads(result.stdout)
    assert tables == sorted(models.Base.metadata.tables)
    assert {"listings", "users", "regions", "sources", "sign_ups", "client_asks"} <= set(tables)


def test_a_name_that_is_no_table_is_no_attribute_and_a_submodule_still_imports():
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        models.Nothing  # noqa: B018
    result = run_python("import sys\nfrom models import migrate\nprint('models.listing' in sys.modules)")
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr
