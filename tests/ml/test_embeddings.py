"""The embeddings extra end to end; deselected by default, run by `make test-optional` (fails without the extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from groundswell.ml import ModelCard, ModelConfig, SentenceEmbedder, build_model, load_model, save_model

pytestmark = pytest.mark.optional


def test_embeddings_linear_trains_saves_and_loads_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = SentenceEmbedder().fit_transform(["good", "bad"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    texts = ["love it", "great day", "hate it", "awful day", "the bus is late", "meeting at 9"] * 3
    targets = [2, 2, 0, 0, 1, 1] * 3
    model = build_model(ModelConfig(model_type="embeddings-linear")).fit(texts, targets)
    folder = save_model(tmp_path / "m", model, ModelCard(model_type="embeddings-linear", labels=["n", "u", "p"]))
    loaded = load_model(folder).estimator
    assert np.allclose(loaded.predict_proba(texts[:4]), model.predict_proba(texts[:4]), atol=1e-6)


def test_embedder_scales_and_encodes_a_batch_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from groundswell.ml import embed

    texts = ["one tweet", "another tweet", "a third"]
    unit = SentenceEmbedder().fit_transform(texts)
    calls: list[int] = []
    model = embed.load_embedder(None)
    original = model.encode

    def counting(sentences: list[str], **kwargs: object) -> object:
        calls.append(len(sentences))
        return original(sentences, **kwargs)

    monkeypatch.setattr(model, "encode", counting)
    embed._last.clear()
    doubled = SentenceEmbedder(scale=2.0).transform(texts)
    again = SentenceEmbedder().transform(texts)
    assert calls == [3]  # the second transform of the same texts reused the first one's vectors
    assert np.allclose(doubled, 2 * unit, atol=1e-5) and np.allclose(again, unit, atol=1e-5)
    again[0, 0] = 9.0  # callers get their own copy
    assert SentenceEmbedder().transform(texts)[0, 0] != 9.0
    SentenceEmbedder().transform(["something else"])
    assert calls == [3, 1]
