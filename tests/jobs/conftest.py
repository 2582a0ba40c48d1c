"""A dataset of ten tweets, a running three-label job and four annotators, on each database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from factories import make_dataset, make_job, make_workers


@pytest.fixture
def dataset(factory: sessionmaker[Session]) -> str:
    return make_dataset(factory)


@pytest.fixture
def job(factory: sessionmaker[Session], dataset: str) -> str:
    return make_job(factory, dataset)


@pytest.fixture
def workers(factory: sessionmaker[Session]) -> list[Any]:
    return make_workers(factory, 4)
