"""The confusion-matrix picture of a training report.

Why a picture as well as numbers: a person deciding whether to deploy a model reads "negative is mistaken
for neutral 30 % of the time" faster from a heat map than from a nested list. matplotlib draws it (Agg
backend, no display needed); when matplotlib is missing the report simply has no PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["write_confusion_png"]


def write_confusion_png(path: Path, confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> Path | None:
    """Draw ``confusion`` (rows true, columns predicted), shaded by row share; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    import numpy as np

    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 1.2 + 1.1 * len(labels)
    figure = Figure(figsize=(size + 1.2, size), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of true class")
    axes.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels=list(labels))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Validation confusion matrix")
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if shares[i, j] > 0.5 else "black"
            axes.text(j, i, f"{int(counts[i, j])}\n{shares[i, j]:.0%}", ha="center", va="center", color=colour)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
