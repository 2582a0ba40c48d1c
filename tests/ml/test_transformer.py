"""The transformer extra: the ONNX graph against PyTorch, a tiny fine-tune, tampered files refused.

Deselected by default and run by `make test-optional`, which installs the extra (these fail without it).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from groundswell.ml import apply_temperature, load_model, read_card
from groundswell.ml.ensemble import ProbabilityAverage
from groundswell.ml.onnx_model import (
    GRAPH_FILE,
    TOKENIZER_FILE,
    OnnxSentimentClassifier,
    TamperedArtifactError,
    file_digest,
    load_tokenizer,
    padded_batches,
    token_ids,
)
from groundswell.ml.transformer import build_network, export_graph, require_training
from groundswell.serve import Predictor

pytestmark = pytest.mark.optional

LABELS = ["negative", "neutral", "positive"]


def _sample() -> tuple[list[str], list[int]]:
    """The demo's own labeled tweets (written for this project)."""
    text = resources.files("groundswell.sample_data").joinpath("tweets.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r["source"] for r in rows], [LABELS.index(r["label"]) for r in rows]


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def test_onnx_graph_gives_pytorchs_probabilities_on_padded_batches(tmp_path: Path) -> None:
    torch, _, model_path = require_training()
    torch.manual_seed(0)
    network = build_network(3).eval()
    export_graph(network, tmp_path / GRAPH_FILE)
    (tmp_path / TOKENIZER_FILE).write_bytes((Path(model_path) / TOKENIZER_FILE).read_bytes())
    files = {name: file_digest(tmp_path / name) for name in (GRAPH_FILE, TOKENIZER_FILE)}
    classifier = OnnxSentimentClassifier(range(3), files, max_length=64)
    classifier.bind_directory(tmp_path)
    texts, _ = _sample()
    texts = [*texts[:40], "ok", "a much longer tweet " * 30]  # lengths from 3 tokens to the 64-token cut
    ids = token_ids(load_tokenizer(tmp_path / TOKENIZER_FILE, 64), texts)
    assert min(map(len, ids)) < 8 and max(map(len, ids)) == 64
    expected = np.zeros((len(texts), 3))
    with torch.inference_mode():
        for rows, input_ids, mask in padded_batches(ids, 16):
            expected[rows] = network(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
    got = classifier.predict_proba(texts)
    # Tolerance: float32 arithmetic in two runtimes, summed over six layers.
    assert np.abs(got - _softmax(expected)).max() < 1e-4
    # Padding must not change a text's answer: alone or in a batch with a 64-token text, the same scores.
    alone = classifier.predict_proba([texts[0]])
    assert np.abs(alone[0] - got[0]).max() < 1e-4


def test_tiny_fine_tune_through_the_cli_learns_and_the_saved_model_round_trips(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from groundswell.cli import app

    texts, targets = _sample()
    order = np.random.default_rng(0).permutation(len(texts))
    for name, part in (("train", order[:230]), ("val", order[230:])):
        lines = [json.dumps({"source": texts[i], "label": LABELS[targets[i]]}) for i in part]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    args = ["train", "--manifest", str(tmp_path / "train.jsonl"), "--validation-manifest", str(tmp_path / "val.jsonl")]
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, [*args, "--model", "transformer", "--epochs", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.output  # transformers' own progress bars stay off; ours is the one
    assert "not refit: early stopping used the validation split" in result.output
    card = read_card(out)
    fine = card.params["fine_tune"]
    # Chance is 1/3 macro-recall; the bundled encoder already knows sentiment, so a few epochs go well past it.
    assert card.metrics["validation"]["macro_recall"] > 0.6, fine
    assert card.params["runtime"] == "onnxruntime" and set(card.params["files"]) == {GRAPH_FILE, TOKENIZER_FILE}
    assert fine["weights"] in {"int8", "fp32"}
    assert abs(fine["validation_macro_recall_onnx_fp32"] - fine["validation_macro_recall_torch"]) < 0.02
    assert card.training_size == 230 and card.validation_size == len(texts) - 230
    # The average with tfidf-linear was tried on validation, and kept only if it beat the transformer alone there.
    average = card.params["average"]
    by_weight = average["validation_macro_recall_by_weight"]
    assert set(by_weight) == {f"{w / 10:.1f}" for w in range(11)}
    assert average["kept"] == (by_weight[str(average["transformer_weight"])] >= by_weight["1.0"] + 0.005)
    assert isinstance(load_model(out).estimator, ProbabilityAverage) == average["kept"]

    # What serves it: the Predictor (calibrated with the card's temperature), and batch predict.
    predictor = Predictor.from_dir(out)
    probe = [texts[i] for i in order[230:240]]
    raw = load_model(out).estimator.predict_proba(probe)
    assert np.allclose(predictor.predict_proba(probe), apply_temperature(raw, card.temperature), atol=1e-9)

    # Batch prediction in two forked processes (each opens its own ONNX Runtime session) agrees with in-process.
    predictions = tmp_path / "predictions.jsonl"
    batch = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["predict", str(out), str(tmp_path / "val.jsonl"), "--out", str(predictions), "--processes", "2"]
    )
    assert batch.exit_code == 0, batch.output
    lines = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    expected = predictor.predict([texts[i] for i in order[230:]])
    assert [line["sentiment"] for line in lines] == [p.class_index for p in expected]

    # A changed graph or tokenizer is refused before it is opened; so is a missing one.
    graph = out / GRAPH_FILE
    original = graph.read_bytes()
    graph.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(TamperedArtifactError, match="differ from what was saved"):
        load_model(out)
    graph.write_bytes(original)
    (out / TOKENIZER_FILE).unlink()
    with pytest.raises(TamperedArtifactError, match="missing"):
        load_model(out)
