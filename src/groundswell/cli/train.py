"""`groundswell train`: fit a sentiment model on a job's labels or on a manifest, and report how good it is."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.errors import UsageError
from groundswell.ml import DEFAULT_MODEL_TYPE, MODEL_TYPES, FeaturizerConfig, ModelConfig
from groundswell.ml.model import TRANSFORMER
from groundswell.ml.transformer import TransformerConfig, require_training
from groundswell.train import (
    TrainingData,
    TrainResult,
    job_training_data,
    read_training_manifest,
    record_model_version,
    train_model,
)

__all__ = ["register", "train_command"]


def train_command(
    ctx: typer.Context,
    out: Annotated[str, typer.Option("--out", help="Folder to write model.skops, model-card.json and the report to.")],
    job: Annotated[
        str | None, typer.Option("--job", help="Labeling job (name or id) whose labels to train on.")
    ] = None,
    manifest: Annotated[
        str | None, typer.Option("--manifest", help="Ground Truth output manifest, or JSONL with source + label.")
    ] = None,
    model: Annotated[str, typer.Option("--model", help=f"Model type: {', '.join(MODEL_TYPES)}.")] = DEFAULT_MODEL_TYPE,
    label_attribute: Annotated[
        str | None, typer.Option(help="Manifest attribute with the class index (found automatically if unique).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated label list in class-index order (manifest only).")
    ] = None,
    human_only: Annotated[bool, typer.Option("--human-only", help="Job only: skip machine labels.")] = False,
    weight_by_confidence: Annotated[
        bool, typer.Option("--weight-by-confidence", help="Weight each example by its label's confidence.")
    ] = False,
    lexicon: Annotated[
        bool,
        typer.Option(
            "--lexicon/--no-lexicon",
            help="VADER lexicon features beside the n-grams (default: on, as in the model's defaults).",
        ),
    ] = True,
    c: Annotated[float, typer.Option("--c", help="Inverse regularisation strength of the classifier.")] = 1.0,
    validation_fraction: Annotated[
        float | None, typer.Option(help="Share of examples held out at random for evaluation (default 0.1).")
    ] = None,
    validation_manifest: Annotated[
        str | None,
        typer.Option(
            "--validation-manifest",
            help="Score on this labeled file (any --manifest format, the training labels) instead of a random split.",
        ),
    ] = None,
    refit: Annotated[
        bool,
        typer.Option(
            "--refit/--no-refit",
            help="Save a model refit on training + validation labels (default), or the one that was scored.",
        ),
    ] = True,
    seed: Annotated[int, typer.Option(help="Random seed for the validation split and the transformer's training.")] = 0,
    epochs: Annotated[
        int | None,
        typer.Option(help="transformer: most passes over the training data (early stopping may stop sooner)."),
    ] = None,
    device: Annotated[
        str, typer.Option(help="transformer: where to fine-tune: auto (a CUDA GPU when torch sees one), cpu, cuda.")
    ] = "auto",
) -> None:
    """Train a model, score and calibrate it on a validation split, refit on all labels, write the artifact folder.

    Examples:
      groundswell train --job launch-sentiment --out models/launch-v1
      groundswell train --manifest output.manifest --out models/m1
      groundswell train --manifest ../shared/data/tweeteval-sentiment/train.jsonl \\
        --validation-manifest ../shared/data/tweeteval-sentiment/val.jsonl --out models/tweeteval
    """
    with handle_errors():
        if (job is None) == (manifest is None):
            raise UsageError("give exactly one of --job JOB or --manifest PATH")
        if validation_fraction is not None and validation_manifest is not None:
            raise UsageError("give --validation-fraction or --validation-manifest, not both")
        if model not in MODEL_TYPES:
            raise UsageError(f"unknown --model {model!r}; choose one of: {', '.join(MODEL_TYPES)}")
        transformer = TransformerConfig(device=device)
        if epochs is not None:
            if epochs < 1:
                raise UsageError(f"--epochs must be at least 1, got {epochs}")
            transformer = replace(transformer, epochs=epochs)
        if model == TRANSFORMER:
            require_training()  # the one guard: names the install command before any data is read
        config = ModelConfig(
            model_type=model, c=c, featurizer=FeaturizerConfig(lexicon=lexicon), transformer=transformer
        )
        app_state = state(ctx)
        job_id: int | None = None
        data: TrainingData
        if job is not None:
            job_id, data = job_training_data(
                app_state.store(), job, human_only=human_only, weight_by_confidence=weight_by_confidence
            )
        else:
            assert manifest is not None
            data = read_training_manifest(
                manifest,
                label_attribute=label_attribute,
                labels=[x.strip() for x in labels.split(",")] if labels else None,
                weight_by_confidence=weight_by_confidence,
                storage_options=app_state.settings.storage_options() if manifest.startswith("s3") else None,
            )
        if data.skipped_unlabeled:
            console.print(f"Skipped {data.skipped_unlabeled:,} line(s) without a label.")
        validation: TrainingData | None = None
        if validation_manifest is not None:
            # Read with the training labels: a label the training data does not have is refused by line.
            validation = read_training_manifest(
                validation_manifest,
                label_attribute=label_attribute,
                labels=data.labels,
                weight_by_confidence=weight_by_confidence,
                storage_options=app_state.settings.storage_options() if validation_manifest.startswith("s3") else None,
                check=False,
            )
            if validation.skipped_unlabeled:
                console.print(f"Skipped {validation.skipped_unlabeled:,} validation line(s) without a label.")
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task("Starting", total=1.0)

            def on_stage(stage: str, done: float) -> None:
                progress.update(task, description=stage, completed=done)

            result = train_model(
                data,
                out,
                config=config,
                validation_fraction=validation_fraction,
                validation_data=validation,
                refit=refit,
                random_state=seed,
                progress=on_stage,
            )
        version = record_model_version(app_state.store(), result, job_id=job_id) if job_id is not None else None
        _print_result(result, version)


def _print_result(result: TrainResult, version: int | None) -> None:
    card = result.card
    metrics = card.metrics["validation"]
    fits = card.metrics["fits"]
    scored = fits["scored"]["training_examples"]
    manifest = card.params.get("validation_manifest")
    held_out = f"validation set {escape(manifest)}" if manifest else "a random held-out split"
    console.print(
        f"Trained [bold]{card.model_type}[/] on {scored:,} examples in {card.training_seconds:.1f} s; "
        f"scored on {card.validation_size:,} examples of {held_out}."
    )
    if fits["saved"]["refit"]:
        console.print(
            f"Saved the model refit on all {card.training_size:,} labeled examples "
            "(the numbers below are from the fit on the training split; --no-refit saves that one)."
        )
    elif card.model_type == TRANSFORMER:
        fine = card.params.get("fine_tune", {})
        console.print(
            f"Saved the fine-tuned weights of step {fine.get('best_step')} of {fine.get('steps')} "
            f"(the best on validation; {fine.get('weights')} weights, {fine.get('runtime', 'onnxruntime')}); "
            "the transformer is not refit: early stopping used the validation split."
        )
        average = card.params.get("average") or {}
        if average.get("kept"):
            by_weight = average["validation_macro_recall_by_weight"]
            weight = average["transformer_weight"]
            console.print(
                f"Saved as an average with tfidf-linear, transformer weight {weight} (validation macro-recall "
                f"{by_weight[str(weight)]:.3f} against {by_weight['1.0']:.3f} alone; the weight was chosen there)."
            )
        elif average:
            console.print("Averaging with tfidf-linear did not help on validation: the transformer alone is saved.")
    else:
        console.print(f"Saved the scored model (fitted on {card.training_size:,} examples; no refit).")
    calibration = card.metrics["calibration"]
    how = f"fitted on {calibration['examples']:,} validation examples" if calibration["fitted"] else calibration["note"]
    console.print(
        f"Calibration: temperature {calibration['temperature']:.3f} ({escape(how)}); validation ECE "
        f"{calibration['ece_before']:.3f} → {calibration['ece_after']:.3f}"
    )
    console.print(
        f"Validation: macro-recall {metrics['macro_recall']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
        f"accuracy {metrics['accuracy']:.3f}"
    )
    table = Table("label", "precision", "recall", "f1", "support")
    for label, row in metrics["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
    console.print(
        f"Wrote {result.directory}"
        + (f" (confusion matrix: {result.confusion_png.name})" if result.confusion_png else "")
    )
    if version is not None:
        console.print(f"Recorded model version {version}.")


def register(app: typer.Typer) -> None:
    """Add `train` to the root app."""
    app.command("train")(train_command)
