"""Consolidation on the eleven public crowd sets with gold: accuracy, calibration and time per method.

The truth-inference literature's benchmarks (``$GROUNDSWELL_SHARED_DATA/crowd/dev/<set>/answers.csv`` and
``gold.csv``; see that folder's README). Each method consolidates every task of a set; accuracy and expected
calibration error (ECE, 10 bins) are measured on the tasks with gold. crowd-kit 1.4.2 runs on the same files
in its own venv (it needs scikit-learn < 1.6), so the comparison is made in one run on one machine::

    python3.11 -m venv bench/.cache/crowdkit-venv
    bench/.cache/crowdkit-venv/bin/pip install "crowd-kit==1.4.2" "scikit-learn<1.6" "pandas<3"
    python bench/crowd_dev_bench.py            # writes the "crowd-dev" section of bench/RESULTS.md

Without that venv the crowd-kit columns are left out (and the script says so). Issue 13's targets: ``auto``'s
mean accuracy ≥ the best crowd-kit method's mean + 1 point, never more than 0.5 points below majority vote
on a set, ECE ≤ 0.05 on every set.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SETS = (
    "bluebird",
    "dog",
    "rte",
    "trec",
    "web",
    "zencrowd_all",
    "ms",
    "product",
    "relevance",
    "adult_content",
    "fact_eval",
)
CROWDKIT_METHODS = ("MajorityVote", "Wawa", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "ZeroBasedSkill")
CROWDKIT_PYTHON = HERE / ".cache" / "crowdkit-venv" / "bin" / "python"
PLOT = HERE / "crowd-dev-reliability.png"
#: A results column: its heading, the results (set → method → figures), and the method's key in them.
Column = tuple[str, dict[str, dict[str, Any]], str]


def default_data() -> Path:
    shared = Path(os.environ.get("GROUNDSWELL_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
    return shared / "crowd" / "dev"


def read_set(folder: Path) -> tuple[pd.DataFrame, pd.Series[Any]]:
    answers = pd.read_csv(folder / "answers.csv")
    gold = pd.read_csv(folder / "gold.csv").set_index("task")["label"]
    return answers, gold


def score(probas: pd.DataFrame, gold: pd.Series[Any]) -> dict[str, Any]:
    """Accuracy and ECE on the gold tasks (a tie counts as the share of tied labels that are right)."""
    from groundswell.consolidate import expected_calibration_error

    scored = probas.loc[probas.index.intersection(gold.index)]
    values = scored.to_numpy(dtype=np.float64)
    top = values.max(axis=1, keepdims=True)
    tied = values >= top - 1e-12
    truth = gold.reindex(scored.index).to_numpy()
    right = tied & (scored.columns.to_numpy()[None, :] == truth[:, None])
    hits = right.sum(axis=1) / tied.sum(axis=1)
    return {
        "accuracy": float(hits.mean()),
        "ece": expected_calibration_error(top[:, 0], hits),
        "confidence": top[:, 0].tolist(),
        "hits": hits.tolist(),
    }


def ours(methods: list[str]) -> dict[str, Any]:
    """Our aggregators by column name: the ``make_aggregator`` names, plus the classes given by name."""
    import groundswell.consolidate as consolidate

    made: dict[str, Any] = {}
    for name in methods:
        if name in consolidate.METHODS:
            made[name] = lambda name=name: consolidate.make_aggregator(name)
        elif hasattr(consolidate, name):
            made[name] = getattr(consolidate, name)
        else:
            raise SystemExit(f"unknown method {name!r}: one of {', '.join(consolidate.METHODS)} or a class name")
    return made


def run_ours(data: Path, sets: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name in sets:
        answers, gold = read_set(data / name)
        results[name] = {}
        for method, make in ours(methods).items():
            started = time.perf_counter()
            probas = make().fit_predict_proba(answers)
            seconds = time.perf_counter() - started
            results[name][method] = score(probas, gold) | {"seconds": seconds}
            print(
                f"{name:14} {method:10} accuracy {results[name][method]['accuracy']:.3f} "
                f"ECE {results[name][method]['ece']:.3f} {seconds:.2f} s",
                flush=True,
            )
    return results


def crowdkit_child(data: Path, sets: list[str]) -> None:
    """In crowd-kit's venv: each method's probabilities on each set, as JSON on stdout (no Groundswell)."""
    from crowdkit import aggregation

    out: dict[str, dict[str, Any]] = {}
    for name in sets:
        answers, _ = read_set(data / name)
        out[name] = {}
        for method in CROWDKIT_METHODS:
            started = time.perf_counter()
            try:
                probas = getattr(aggregation, method)().fit_predict_proba(answers)
            except Exception as exc:
                out[name][method] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            out[name][method] = {
                "seconds": time.perf_counter() - started,
                "tasks": probas.index.tolist(),
                "labels": probas.columns.tolist(),
                "values": probas.to_numpy().round(6).tolist(),
            }
    json.dump(out, sys.stdout)


def run_crowdkit(data: Path, sets: list[str], python: Path) -> dict[str, dict[str, Any]]:
    command = [str(python), str(Path(__file__).resolve()), "--child", "--data", str(data), "--sets", ",".join(sets)]
    raw = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    results: dict[str, dict[str, Any]] = {}
    for name, per_method in raw.items():
        _, gold = read_set(data / name)
        results[name] = {}
        for method, got in per_method.items():
            if "error" in got:
                results[name][method] = got
                continue
            probas = pd.DataFrame(got["values"], index=got["tasks"], columns=got["labels"]).fillna(0.0)
            results[name][method] = score(probas, gold) | {"seconds": got["seconds"]}
    return results


def table(title: str, sets: list[str], columns: list[Column], key: str) -> list[str]:
    lines = [f"**{title}**", "", "| set | " + " | ".join(c[0] for c in columns) + " |"]
    lines.append("| --- |" + " ---: |" * len(columns))
    fmt = "{:.2f}" if key == "seconds" else "{:.3f}"
    means: list[list[float]] = [[] for _ in columns]
    for name in sets:
        cells = []
        for position, (_, results, method) in enumerate(columns):
            got = results.get(name, {}).get(method, {})
            if key in got:
                cells.append(fmt.format(got[key]))
                means[position].append(got[key])
            else:
                cells.append("–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    mean_cells = [fmt.format(np.mean(m)) if len(m) == len(sets) else "–" for m in means]
    lines.append("| **mean** | " + " | ".join(f"**{c}**" for c in mean_cells) + " |")
    return [*lines, ""]


def plot(columns: list[Column], sets: list[str], path: Path) -> None:
    """One reliability diagram per method, every set's gold tasks pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(columns) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    edges = np.linspace(0, 1, 11)
    for axis, (label, results, method) in zip(axes.flat, columns, strict=False):
        conf = np.concatenate(
            [results[s][method]["confidence"] for s in sets if "confidence" in results[s].get(method, {})]
        )
        hits = np.concatenate([results[s][method]["hits"] for s in sets if "hits" in results[s].get(method, {})])
        which = np.clip(np.digitize(conf, edges) - 1, 0, 9)
        centres, accs = [], []
        for b in range(10):
            if (which == b).any():
                centres.append(conf[which == b].mean())
                accs.append(hits[which == b].mean())
        axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        axis.plot(centres, accs, marker="o")
        axis.set_title(label, fontsize=9)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("confidence", fontsize=8)
        axis.set_ylabel("accuracy", fontsize=8)
    for axis in list(axes.flat)[len(columns) :]:
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--methods", default="mv,wmv,ods,ds,auto", help="ours: make_aggregator names or class names")
    parser.add_argument("--crowdkit-python", type=Path, default=CROWDKIT_PYTHON)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    if args.child:
        crowdkit_child(args.data, sets)
        return
    missing = [s for s in sets if not (args.data / s / "answers.csv").exists()]
    if missing:
        raise SystemExit(f"no answers.csv for {', '.join(missing)} under {args.data}; set GROUNDSWELL_SHARED_DATA")
    sys.path.insert(0, str(HERE))
    from results import write_section

    methods = [m for m in args.methods.split(",") if m]
    mine = run_ours(args.data, sets, methods)
    columns: list[Column] = [(m, mine, m) for m in methods]
    note = ""
    if args.crowdkit_python.exists():
        theirs = run_crowdkit(args.data, sets, args.crowdkit_python)
        columns += [(f"crowd-kit {m}", theirs, m) for m in CROWDKIT_METHODS]
    else:
        note = f"crowd-kit left out: no {args.crowdkit_python} (see the script's docstring)."
    lines = [
        "Eleven public crowd sets with gold (`crowd/dev/`); every task consolidated, accuracy and ECE (10 bins) on "
        "the gold tasks (a tie counts as the share of tied labels that are right). Ours: `make_aggregator(name)` "
        "or the class of that name with its defaults; crowd-kit 1.4.2 with its defaults, in its own venv.",
        *([note] if note else []),
        "",
        *table("Accuracy", sets, columns, "accuracy"),
        *table("Expected calibration error", sets, columns, "ece"),
        *table("Seconds (fit)", sets, columns, "seconds"),
    ]
    if "auto" in methods and "mv" in methods:
        gaps = {s: mine[s]["auto"]["accuracy"] - mine[s]["mv"]["accuracy"] for s in sets}
        worst = min(gaps, key=lambda s: gaps[s])
        lines.append(
            f"`auto` − majority vote: worst set {worst} ({gaps[worst] * 100:+.1f} points); "
            f"ECE of `auto` above 0.05 on: {', '.join(s for s in sets if mine[s]['auto']['ece'] > 0.05) or 'none'}."
        )
        lines.append("")
    print("\n".join(lines))
    if not args.no_write:
        plot(columns, sets, PLOT)
        lines.append(f"![reliability diagrams]({PLOT.name})")
        command = ("python bench/crowd_dev_bench.py " + shlex.join(sys.argv[1:])).strip()
        write_section("crowd-dev", "Consolidation on eleven crowd sets with gold", lines, command=command)


if __name__ == "__main__":
    main()
