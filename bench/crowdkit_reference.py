"""Produce crowd-kit's answers on fixed crowds, as expected files for ``tests/consolidate/test_consolidate_parity.py``.

crowd-kit 1.4.2 needs scikit-learn < 1.6, which Groundswell does not accept as a dependency, so it runs in a
venv of its own and this script imports nothing from Groundswell. Run once (and again only to refresh)::

    python3.11 -m venv bench/.cache/crowdkit-venv
    bench/.cache/crowdkit-venv/bin/pip install "crowd-kit==1.4.2" "scikit-learn<1.6" "pandas<3"
    bench/.cache/crowdkit-venv/bin/python bench/crowdkit_reference.py

It writes, under ``tests/consolidate/expected/``:

* ``<crowd>_answers.csv`` for the synthetic crowds (drawn here, with fixed seeds, so the test reads the
  very judgments crowd-kit saw; the weather crowd is read from the shared data folder);
* ``<crowd>_<method>.csv``: per task, crowd-kit's probability of each label (6 significant digits);
* ``crowdkit_reference.json``: versions, the configurations, and the EM iterations crowd-kit ran.

Methods: ``mv`` (MajorityVote), ``ds`` (DawidSkene with its defaults: ``n_iter=100, tol=1e-5``; it stops
when its evidence lower bound stops rising, which on these crowds is after a few iterations) and
``ds_iter100`` (DawidSkene run for exactly 100 iterations, ``tol=-inf``: EM run to convergence).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "crowd" / "weather_cf_nonagg"
DEFAULT_OUT = ROOT / "tests" / "consolidate" / "expected"

#: name → (seed, tasks, workers, labels, judgments per task). "dense": ~100 judgments per worker, where
#: a full confusion matrix is identifiable; "sparse": ~12 per worker, where unsmoothed EM overfits.
SYNTHETIC = {
    "synthetic_dense": (11, 600, 30, ["negative", "neutral", "positive"], 5),
    "synthetic_sparse": (12, 800, 200, ["negative", "neutral", "positive", "irrelevant"], 3),
}


def synthetic_crowd(seed: int, n_tasks: int, n_workers: int, labels: list[str], per_task: int) -> pd.DataFrame:
    """Judgments from workers with their own confusion matrices (accuracy 0.5–0.95, mistakes skewed)."""
    rng = np.random.default_rng(seed)
    k = len(labels)
    truth = rng.choice(k, size=n_tasks, p=rng.dirichlet(np.full(k, 5.0)))
    accuracy = rng.uniform(0.5, 0.95, size=n_workers)
    wrong = rng.dirichlet(np.ones(k - 1), size=(n_workers, k))
    confusion = np.zeros((n_workers, k, k))
    for t in range(k):
        others = [c for c in range(k) if c != t]
        confusion[:, t, t] = accuracy
        confusion[:, t, others] = (1.0 - accuracy)[:, None] * wrong[:, t, :]
    rows = []
    for task in range(n_tasks):
        for worker in rng.choice(n_workers, size=per_task, replace=False):
            given = rng.choice(k, p=confusion[worker, truth[task]])
            rows.append((f"t{task:04d}", f"w{worker:03d}", labels[given]))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _write_probas(probas: pd.DataFrame, path: Path) -> None:
    table = probas.sort_index(axis=1).sort_index()
    table.index.name = "task"
    table.to_csv(path, float_format="%.6g")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The weather_cf_nonagg folder.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    crowds = {"weather": pd.read_csv(args.data / "answers.csv")}
    for name, spec in SYNTHETIC.items():
        crowds[name] = synthetic_crowd(*spec)
        crowds[name].to_csv(args.out / f"{name}_answers.csv", index=False)
    summary: dict[str, object] = {
        "crowd-kit": version("crowd-kit"),
        "pandas": version("pandas"),
        "numpy": version("numpy"),
        "scikit-learn": version("scikit-learn"),
        "python": platform.python_version(),
        "configurations": {
            "mv": "MajorityVote()",
            "ds": "DawidSkene(n_iter=100, tol=1e-5)",
            "ds_iter100": "DawidSkene(n_iter=100, tol=-inf)",
        },
        "synthetic": {
            name: dict(zip(["seed", "tasks", "workers", "labels", "judgments_per_task"], spec, strict=True))
            for name, spec in SYNTHETIC.items()
        },
        "crowds": {},
    }
    for name, answers in crowds.items():
        _write_probas(MajorityVote().fit_predict_proba(answers), args.out / f"{name}_mv.csv")
        ds = DawidSkene(n_iter=100, tol=1e-5).fit(answers)
        _write_probas(ds.probas_, args.out / f"{name}_ds.csv")
        full = DawidSkene(n_iter=100, tol=-np.inf).fit(answers)
        _write_probas(full.probas_, args.out / f"{name}_ds_iter100.csv")
        summary["crowds"][name] = {  # type: ignore[index]
            "answers": len(answers),
            "tasks": int(answers["task"].nunique()),
            "workers": int(answers["worker"].nunique()),
            "ds_iterations": len(ds.loss_history_),
            "ds_iter100_iterations": len(full.loss_history_),
        }
    (args.out / "crowdkit_reference.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(os.listdir(args.out))} files to {args.out}")


if __name__ == "__main__":
    main()
