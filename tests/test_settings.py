"""Settings: defaults, the GROUNDSWELL_ prefix, and no construction at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from groundswell.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "groundswell"


def test_default_database_is_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GROUNDSWELL_DATABASE_URL", raising=False)
    monkeypatch.setenv("GROUNDSWELL_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path}/groundswell.db"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUNDSWELL_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GROUNDSWELL_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.storage_options() == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUNDSWELL_IMPORT_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="import_batch_size"):
        Settings()


def test_no_module_builds_settings_at_import_time() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            for call in ast.walk(node) if isinstance(node, ast.Assign | ast.Expr | ast.AnnAssign) else []:
                if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Settings":
                    offenders.append(f"{path}:{node.lineno}")
    assert offenders == []
