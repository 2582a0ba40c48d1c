"""`groundswell train --validation-manifest`, the refit on all labels (default) against `--no-refit`, and the
temperature the card carries: real files in tmp_path, the CLI through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import train as train_cli
from groundswell.ml import evaluate, load_model, predict_proba_full, read_card
from groundswell.train import MIN_CALIBRATION, TrainingData, train_model

LABELS = ["negative", "neutral", "positive"]
TEMPLATES = [
    ["hate this {}", "awful {} today :(", "so angry about the {}", "worst {} ever", "terrible {} 😡"],
    ["the {} is on tv at 9", "new {} announced", "reading about the {}", "the {} starts monday", "{} update"],
    ["love this {}", "great {} today :)", "so happy with the {}", "best {} ever!!", "awesome {} 😍"],
]
TRAIN_THINGS = ["phone", "movie", "game", "match", "album", "show", "band", "trailer"]
VALIDATION_THINGS = ["car", "song", "book", "team", "pizza"]


def rows(things: list[str], noise_every: int) -> list[dict[str, Any]]:
    """Template tweets with every ``noise_every``-th label shifted by one class (so a model makes errors)."""
    out = []
    for n, (text, index) in enumerate(
        (t.format(x), i) for i, group in enumerate(TEMPLATES) for t in group for x in things
    ):
        label = (index + 1) % 3 if n % noise_every == 0 else index
        out.append({"source": text, "label": LABELS[label]})
    return out


def cli() -> typer.Typer:
    app = typer.Typer()
    train_cli.register(app)

    @app.callback()
    def _root() -> None:
        """Root."""

    return app


def run(*args: str) -> Any:
    return CliRunner(env={"COLUMNS": "300"}).invoke(cli(), ["train", *args])


def files(tmp_path: Path) -> tuple[Path, Path]:
    train = write_jsonl(tmp_path / "train.jsonl", rows(TRAIN_THINGS, 6))  # 120 lines
    validation = [*rows(VALIDATION_THINGS, 5), {"source": "no label on this one"}]  # 75 labeled + 1 unlabeled
    return train, write_jsonl(tmp_path / "val.jsonl", validation)


def test_validation_manifest_is_scored_on_and_the_saved_model_is_refit_on_everything(tmp_path: Path) -> None:
    train, validation = files(tmp_path)
    refit = run("--manifest", str(train), "--validation-manifest", str(validation), "--out", str(tmp_path / "r"))
    assert refit.exit_code == 0, refit.output
    assert "Skipped 1 validation line(s) without a label." in refit.output
    assert "Saved the model refit on all 195 labeled examples" in refit.output
    assert "Calibration: temperature" in refit.output and "validation ECE" in refit.output
    card = read_card(tmp_path / "r")
    assert card.validation_size == 75 and card.metrics["validation"]["support"] == 75
    assert card.training_size == 120 + 75  # the saved model saw every label
    assert card.params["refit"] is True and card.params["validation_manifest"] == str(validation)
    assert card.params["validation_fraction"] is None
    assert card.metrics["fits"]["scored"] == {
        "training_examples": 120,
        "validation_examples": 75,
        "description": card.metrics["fits"]["scored"]["description"],
    }
    assert card.metrics["fits"]["saved"]["training_examples"] == 195 and card.metrics["fits"]["saved"]["refit"]

    kept = run(
        "--manifest", str(train), "--validation-manifest", str(validation), "--out", str(tmp_path / "k"), "--no-refit"
    )
    assert kept.exit_code == 0, kept.output
    assert "Saved the scored model (fitted on 120 examples; no refit)." in kept.output
    scored = read_card(tmp_path / "k")
    assert scored.training_size == 120 and scored.validation_size == 75 and scored.params["refit"] is False
    # The card's validation numbers and temperature are the training-split fit's, whichever model was saved...
    assert scored.metrics["validation"] == card.metrics["validation"]
    assert scored.params["temperature"] == card.params["temperature"] == card.metrics["calibration"]["temperature"]
    # ... measured on the validation file: the saved --no-refit model is that fit, and scores the same on it.
    texts = [r["source"] for r in rows(VALIDATION_THINGS, 5)]
    targets = [LABELS.index(r["label"]) for r in rows(VALIDATION_THINGS, 5)]
    fitted = load_model(tmp_path / "k").estimator
    assert (
        evaluate(targets, predict_proba_full(fitted, texts, 3).argmax(axis=1), LABELS) == scored.metrics["validation"]
    )
    # The refit saw the validation labels (some of them shifted on purpose), so it predicts differently.
    refitted = load_model(tmp_path / "r").estimator
    assert not np.allclose(predict_proba_full(refitted, texts, 3), predict_proba_full(fitted, texts, 3), atol=1e-3)
    assert card.training_data_hash == scored.training_data_hash  # same inputs read: training file + validation file


def test_the_temperature_is_fitted_on_the_validation_split(tmp_path: Path) -> None:
    train, validation = files(tmp_path)
    result = run("--manifest", str(train), "--validation-manifest", str(validation), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    calibration = read_card(tmp_path / "m").metrics["calibration"]
    assert calibration["fitted"] and calibration["examples"] == 75 and calibration["ece_bins"] == 10
    assert calibration["temperature"] != 1.0
    assert calibration["ece_after"] < calibration["ece_before"]
    assert f"ECE {calibration['ece_before']:.3f} → {calibration['ece_after']:.3f}" in result.output


def test_random_split_refits_by_default_and_no_refit_keeps_todays_sizes(tmp_path: Path) -> None:
    data = rows(TRAIN_THINGS, 6)
    training = TrainingData(
        texts=[r["source"] for r in data], targets=[LABELS.index(r["label"]) for r in data], labels=list(LABELS)
    )
    refit = train_model(training, tmp_path / "r", validation_fraction=0.25).card
    kept = train_model(training, tmp_path / "k", validation_fraction=0.25, refit=False).card
    assert (refit.training_size, refit.validation_size) == (120, 30)
    assert (kept.training_size, kept.validation_size) == (90, 30)
    assert refit.params["validation_fraction"] == 0.25 and refit.params["validation_manifest"] is None
    assert refit.metrics["validation"] == kept.metrics["validation"]
    assert refit.metrics["fits"]["saved"]["refit"] and not kept.metrics["fits"]["saved"]["refit"]
    assert refit.training_data_hash == kept.training_data_hash

    # Too few validation examples to fit a temperature: T = 1, and the card says why.
    small = train_model(training, tmp_path / "s", validation_fraction=0.1).card
    assert small.validation_size < MIN_CALIBRATION and small.params["temperature"] == 1.0
    assert not small.metrics["calibration"]["fitted"] and "fewer than" in small.metrics["calibration"]["note"]


def test_a_validation_file_may_hold_one_class(tmp_path: Path) -> None:
    train, _ = files(tmp_path)
    only = write_jsonl(tmp_path / "pos.jsonl", [{"source": f"love the {x}", "label": "positive"} for x in "abcde"])
    result = run("--manifest", str(train), "--validation-manifest", str(only), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert read_card(tmp_path / "m").validation_size == 5


def test_a_label_the_training_data_lacks_is_rejected_by_file_and_line(tmp_path: Path) -> None:
    train, _ = files(tmp_path)
    validation = write_jsonl(
        tmp_path / "val.jsonl",
        [
            {"source": "love it", "label": "positive"},
            {"source": "meh", "label": "neutral"},
            {"source": "yeah right", "label": "sarcastic"},
        ],
    )
    result = run("--manifest", str(train), "--validation-manifest", str(validation), "--out", str(tmp_path / "m"))
    assert result.exit_code == 1, result.output
    assert f"{validation}:3: unknown label 'sarcastic'; known: negative, neutral, positive" in result.output
    assert not (tmp_path / "m").exists()


def test_a_ground_truth_validation_manifest_must_name_classes_as_training_does(tmp_path: Path) -> None:
    train, _ = files(tmp_path)

    def line(text: str, index: int, name: str) -> dict[str, Any]:
        return {"source": text, "mood": index, "mood-metadata": {"class-name": name, "job-name": "labeling-job/x"}}

    good = write_jsonl(tmp_path / "good.manifest", [line("love it", 2, "positive"), line("hate it", 0, "negative")])
    result = run("--manifest", str(train), "--validation-manifest", str(good), "--out", str(tmp_path / "ok"))
    assert result.exit_code == 0, result.output
    assert read_card(tmp_path / "ok").validation_size == 2

    bad = write_jsonl(tmp_path / "bad.manifest", [line("love it", 2, "positive"), line("hmm", 1, "angry")])
    result = run("--manifest", str(train), "--validation-manifest", str(bad), "--out", str(tmp_path / "m"))
    assert result.exit_code == 1, result.output
    assert f"{bad}:2: class index 1 is named 'angry' here but the label list names it 'neutral'" in result.output


def test_validation_fraction_and_validation_manifest_together_is_a_usage_error(tmp_path: Path) -> None:
    train, validation = files(tmp_path)
    result = run(
        "--manifest", str(train), "--validation-manifest", str(validation), "--validation-fraction", "0.2",
        "--out", str(tmp_path / "m"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "give --validation-fraction or --validation-manifest, not both" in result.output
    missing = run("--manifest", str(train), "--validation-manifest", str(tmp_path / "nope.jsonl"), "--out", "m")
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_card_json_records_the_new_fields(tmp_path: Path) -> None:
    train, validation = files(tmp_path)
    assert (
        run("--manifest", str(train), "--validation-manifest", str(validation), "--out", str(tmp_path / "m")).exit_code
        == 0
    )
    card = json.loads((tmp_path / "m" / "model-card.json").read_text())
    assert {"validation", "calibration", "fits"} <= set(card["metrics"])
    assert {"refit", "temperature", "validation_manifest", "validation_fraction"} <= set(card["params"])
