"""Training from manifests and from a job in the store: input checks by file and line, artifacts, model versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import train as train_cli
from groundswell.errors import InvalidInputError
from groundswell.ml import load_model
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Dataset, Item, Job, LabelSchema, ModelVersion
from groundswell.train import TrainingInputError, read_training_manifest, train_model

LABELS = ["negative", "neutral", "positive"]
TEMPLATES = [
    ["hate this {}", "awful {} today :(", "so angry about the {}", "worst {} ever", "terrible {} 😡"],
    ["the {} is on tv at 9", "new {} announced", "reading about the {}", "the {} starts monday", "{} update"],
    ["love this {}", "great {} today :)", "so happy with the {}", "best {} ever!!", "awesome {} 😍"],
]
THINGS = ["phone", "movie", "game", "match", "album", "show"]


def examples() -> list[tuple[str, int]]:
    return [(t.format(x), i) for i, group in enumerate(TEMPLATES) for t in group for x in THINGS]


def output_line(text: str, index: int, **extra: Any) -> dict[str, Any]:
    meta = {
        "class-name": LABELS[index] if index < len(LABELS) else "other",
        "confidence": 0.9,
        "type": "groundtruth/text-classification",
        "job-name": "labeling-job/mood",
        "human-annotated": "yes",
        "creation-date": "2024-01-01T00:00:00.000000",
    }
    return {"source": text, "mood": index, "mood-metadata": meta, **extra}


def cli() -> typer.Typer:
    app = typer.Typer()
    train_cli.register(app)

    @app.callback()
    def _root() -> None:
        """Root."""

    return app


class TestReadManifest:
    def test_ground_truth_output_manifest(self, tmp_path: Path) -> None:
        rows = [output_line(t, i, id=n) for n, (t, i) in enumerate(examples())] + [{"source": "unlabeled"}]
        data = read_training_manifest(str(write_jsonl(tmp_path / "out.manifest", rows)), weight_by_confidence=True)
        assert data.labels == LABELS
        assert data.label_attribute_name == "mood"
        assert data.job_name == "labeling-job/mood"
        assert data.skipped_unlabeled == 1
        assert len(data.texts) == 90 and data.weights == [0.9] * 90

    def test_plain_jsonl_with_label_names(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "in.jsonl", [{"source": t, "label": LABELS[i]} for t, i in examples()])
        data = read_training_manifest(str(path))
        assert data.labels == LABELS and data.targets[:1] == [0]

    def test_bad_lines_are_reported_by_file_and_line(self, tmp_path: Path) -> None:
        rows: list[Any] = [output_line("fine", 0), {"mood": 1}, "{not json", output_line("x", 7)]
        path = write_jsonl(tmp_path / "bad.manifest", rows)
        with pytest.raises(TrainingInputError) as caught:
            read_training_manifest(str(path), labels=LABELS)
        problems = [str(p) for p in caught.value.problems]
        assert problems[0].startswith(f"{path}:2 [source]: no text")
        assert problems[1].startswith(f"{path}:3: not valid JSON")
        assert problems[2] == f"{path}:4 [mood]: unknown class index 7: the label list has 3 label(s)"

    def test_conflicting_class_names_are_rejected(self, tmp_path: Path) -> None:
        line = output_line("b", 0)
        line["mood-metadata"]["class-name"] = "angry"
        path = write_jsonl(tmp_path / "conflict.manifest", [output_line("a", 0), line])
        with pytest.raises(TrainingInputError, match=r"conflict.manifest:2: class index 0 is named 'angry'"):
            read_training_manifest(str(path))

    def test_one_class_is_not_enough(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "one.jsonl", [{"source": "a", "label": "positive"}] * 5)
        with pytest.raises(InvalidInputError, match="at least 2 classes; found 1 \\(positive\\)"):
            read_training_manifest(str(path))


class TestTrainModel:
    def test_writes_artifact_card_and_confusion_matrix(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "in.jsonl", [{"source": t, "label": LABELS[i]} for t, i in examples()])
        stages: list[str] = []
        result = train_model(
            read_training_manifest(str(path)),
            tmp_path / "model",
            validation_fraction=0.2,
            progress=lambda stage, _done: stages.append(stage),
        )
        card = json.loads((tmp_path / "model" / "model-card.json").read_text())
        assert card["labels"] == LABELS and card["model_type"] == "tfidf-linear"
        # Scored on 18 held out, saved refit on all 90 (the default).
        assert card["training_size"] == 90 and card["validation_size"] == 18 and card["params"]["refit"] is True
        assert set(card["metrics"]["validation"]) >= {"macro_recall", "macro_f1", "accuracy", "per_class", "confusion"}
        assert card["metrics"]["validation"]["macro_recall"] > 0.8
        assert len(card["training_data_hash"]) == 64 and card["training_seconds"] > 0
        assert "scikit-learn" in card["package_versions"]
        assert stages[-1] == "Done"
        if result.confusion_png is not None:
            assert result.confusion_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert load_model(tmp_path / "model").estimator.predict(["love this phone"]).tolist() == [2]

    def test_cli_manifest(self, tmp_path: Path) -> None:
        rows = [output_line(t, i) for t, i in examples()]
        path = write_jsonl(tmp_path / "out.manifest", rows)
        result = CliRunner().invoke(cli(), ["train", "--manifest", str(path), "--out", str(tmp_path / "m")])
        assert result.exit_code == 0, result.output
        assert "Validation: macro-recall" in result.output and (tmp_path / "m" / "model.skops").exists()

    def test_cli_bad_input_exits_1_naming_the_line(self, tmp_path: Path) -> None:
        path = write_jsonl(
            tmp_path / "bad.jsonl", [{"source": "ok", "label": "positive"}, {"source": " ", "label": "x"}]
        )
        result = CliRunner(env={"COLUMNS": "300"}).invoke(
            cli(), ["train", "--manifest", str(path), "--out", str(tmp_path / "m")]
        )
        assert result.exit_code == 1
        assert f"{path}:2: no text" in result.output

    def test_cli_needs_exactly_one_source(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(cli(), ["train", "--out", str(tmp_path / "m")])
        assert result.exit_code == 2 and "exactly one of --job" in result.output


def _seed_job(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        dataset = Dataset(name="tweets")
        schema = LabelSchema(name="sentiment", labels=LABELS)
        session.add_all([dataset, schema])
        session.flush()
        job = Job(
            name="Mood", name_key="mood", dataset_id=dataset.id, label_schema_id=schema.id, label_attribute_name="mood"
        )
        session.add(job)
        session.flush()
        for n, (text, index) in enumerate(examples()):
            item = Item(dataset_id=dataset.id, external_id=str(n), text=text, content_hash=f"{n:032d}")
            session.add(item)
            session.flush()
            session.add(
                ConsolidatedLabel(
                    job_id=job.id,
                    item_id=item.id,
                    label=LABELS[index],
                    class_index=index,
                    confidence=0.7 + 0.01 * (n % 3),
                    method="majority-vote" if n % 2 else "auto-label",
                    human_annotated=bool(n % 2),
                )
            )
        return int(job.id)


def test_train_job_records_a_model_version(factory: sessionmaker[Session], store_url: str, tmp_path: Path) -> None:
    job_id = _seed_job(factory)
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    out = tmp_path / "model"
    result = CliRunner().invoke(cli(), ["train", "--job", "MOOD", "--out", str(out), "--weight-by-confidence"], env=env)
    assert result.exit_code == 0, result.output
    assert "Recorded model version" in result.output
    with factory() as session:
        version = session.scalars(select(ModelVersion)).one()
    assert version.job_id == job_id and version.purpose == "trained" and version.model_type == "tfidf-linear"
    assert version.labels == LABELS and version.training_size == 90  # refit on every label by default
    assert version.artifact_uri == str(out.resolve())
    assert version.metrics["validation"]["support"] == 9
    card = load_model(out).card
    assert card.label_attribute_name == "mood" and card.job_name == "labeling-job/mood"
    assert card.training_data_hash == version.training_data_hash

    human = CliRunner().invoke(
        cli(), ["train", "--job", str(job_id), "--out", str(tmp_path / "h"), "--human-only"], env=env
    )
    assert human.exit_code == 0, human.output
    assert load_model(tmp_path / "h").card.training_size == 45


def test_train_unknown_job_is_exit_2(factory: sessionmaker[Session], store_url: str, tmp_path: Path) -> None:
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli(), ["train", "--job", "nope", "--out", str(tmp_path / "m")], env=env)
    assert result.exit_code == 2 and "no labeling job 'nope'" in result.output
