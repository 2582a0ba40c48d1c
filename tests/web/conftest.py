"""Web fixtures: the app in-process (TestClient) on each database, and a real server process on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from groundswell.settings import Settings
from groundswell.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=store_url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; fails (never skips) when it is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (as .ci/run does)", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
