"""PostgreSQL: groundswell_submit takes answers of jobs under dynamic redundancy's target rule too

The rule that ``--accuracy-target`` sets (``redundancy_rule = "target"``) decides nothing on a submit: like
the ``posterior`` rule it leaves reopening to the runner's review. Migration 0005's function sent those
answers to the general Python path (correct, but several statements per answer); this replaces the function
with the same body, whose rule check now lets both runner-side rules through.

The body is 0005's own text with that one condition changed, read from 0005's module. Since then the bodies
are generated from the general path's statements (``groundswell.jobs.annotate.pg_functions``) and brought up
to date on every start by ``groundswell.jobs.setup.prepare_store``; this migration keeps the copy of its time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:45:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_RULE = "coalesce(j.settings ->> 'redundancy_rule', 'vote') <> 'posterior'"
_NEW_RULE = "coalesce(j.settings ->> 'redundancy_rule', 'vote') NOT IN ('posterior', 'target')"


def _hot_path_0005() -> ModuleType:
    path = Path(__file__).with_name("0005_hot_path_functions.py")
    spec = importlib.util.spec_from_file_location("groundswell_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _submit(old: str, new: str) -> str:
    body = str(_hot_path_0005()._SUBMIT)
    if body.count(old) != 1 or "CREATE FUNCTION groundswell_submit(" not in body:
        raise RuntimeError("migration 0005's groundswell_submit is not the text this migration expects")
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(old, new)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_submit(_OLD_RULE, _NEW_RULE))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_submit(_OLD_RULE, _OLD_RULE))
