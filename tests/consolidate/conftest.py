"""Shared crowds and the aggregator factory every contract test runs over."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from groundswell.consolidate import (
    GLAD,
    MACE,
    AutoAggregator,
    BaseAggregator,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    SimulatedCrowd,
    WeightedMajorityVote,
    simulate_crowd,
)

LABELS = ["positive", "negative", "neutral"]


#: Every aggregator, plus Dawid–Skene with its other prior ("crowd"); unsmoothed DS has its own tests.
FACTORIES: dict[str, Callable[..., BaseAggregator]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds": DawidSkene,
    "ds-crowd": lambda **kw: DawidSkene(smoothing="crowd", **kw),
    "ods": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
    "auto": AutoAggregator,
}


@pytest.fixture(params=sorted(FACTORIES), ids=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[..., BaseAggregator]:
    """A factory for each aggregator in turn."""
    return FACTORIES[request.param]


@pytest.fixture
def toy_answers() -> pd.DataFrame:
    """Five tasks, four workers; t1–t3 clear, t4 split 2–1, t5 judged once."""
    rows = [
        ("t1", "w1", "positive"),
        ("t1", "w2", "positive"),
        ("t1", "w3", "positive"),
        ("t2", "w1", "negative"),
        ("t2", "w2", "negative"),
        ("t2", "w4", "neutral"),
        ("t3", "w2", "neutral"),
        ("t3", "w3", "neutral"),
        ("t3", "w4", "neutral"),
        ("t4", "w1", "positive"),
        ("t4", "w3", "negative"),
        ("t4", "w4", "positive"),
        ("t5", "w4", "negative"),
    ]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


@pytest.fixture(scope="session")
def crowd() -> SimulatedCrowd:
    """A seeded synthetic crowd: 400 tasks, 25 workers, 3 judgments each, some hard tasks."""
    return simulate_crowd(400, 25, labels=LABELS, judgments_per_task=3, random_state=7)
