"""The probability average the transformer may be saved as: weights, classes, and a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from groundswell.errors import InvalidInputError
from groundswell.ml import FeaturizerConfig, ModelCard, ModelConfig, build_model, load_model, save_model
from groundswell.ml.ensemble import ProbabilityAverage

TEXTS = ["love it so much", "great day :)", "hate it", "awful day :(", "the bus is at 9", "meeting at noon"] * 4
TARGETS = [2, 2, 0, 0, 1, 1] * 4
PROBE = ["love the bus", "awful meeting", "so great", "nothing at all", ""]


def _two_models() -> tuple[object, object]:
    small = FeaturizerConfig(lexicon=False, min_df=1)
    words = build_model(ModelConfig(featurizer=small)).fit(TEXTS, TARGETS)
    chars = build_model(ModelConfig(c=0.1, featurizer=FeaturizerConfig(min_df=1, word_ngrams=(1, 1)))).fit(
        TEXTS, TARGETS
    )
    return words, chars


def test_average_is_the_weighted_sum_and_survives_saving(tmp_path: Path) -> None:
    words, chars = _two_models()
    average = ProbabilityAverage([words, chars], [3.0, 1.0])  # normalised to 0.75 / 0.25
    expected = 0.75 * words.predict_proba(PROBE) + 0.25 * chars.predict_proba(PROBE)
    assert np.allclose(average.predict_proba(PROBE), expected, atol=1e-9)
    assert average.predict(PROBE).tolist() == np.argmax(expected, axis=1).tolist()
    folder = save_model(tmp_path / "m", average, ModelCard(model_type="transformer", labels=["n", "u", "p"]))
    loaded = load_model(folder).estimator
    assert isinstance(loaded, ProbabilityAverage) and loaded.weights == [0.75, 0.25]
    assert np.allclose(loaded.predict_proba(PROBE), expected, atol=1e-9)


def test_average_refuses_bad_weights_and_mismatched_classes() -> None:
    words, chars = _two_models()
    with pytest.raises(InvalidInputError, match="one weight per member"):
        ProbabilityAverage([words, chars], [1.0])
    with pytest.raises(InvalidInputError, match="non-negative"):
        ProbabilityAverage([words, chars], [1.0, -0.5])
    binary = DummyClassifier(strategy="prior").fit(TEXTS[:4], [0, 0, 1, 1])
    with pytest.raises(InvalidInputError, match="same classes"):
        ProbabilityAverage([words, binary], [0.5, 0.5])
