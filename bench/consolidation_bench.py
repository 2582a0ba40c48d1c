"""Consolidation benchmark: accuracy, confidence and calibration of every method, and fit time at 1M judgments.

Not a test: it measures, prints a Markdown report, and replaces its own section of ``bench/RESULTS.md``
(between ``<!-- consolidation:start -->`` and ``<!-- consolidation:end -->``). The numbers chose the
defaults documented in ``groundswell.consolidate``.

Data:

* The real CrowdFlower weather-sentiment crowd (1,000 tweets × 20 judgments, 5 labels; path from ``--data``
  or ``GROUNDSWELL_CROWD_DATA``). Its gold labels are held out of the repository, so the reference is the
  crowd itself: each task's judgments are shuffled, the first ``r`` are consolidated, and the reference is
  the strict majority of the last 10 (tasks whose held-out vote ties are left out). A reference built from
  other workers shares their systematic mistakes, so these ECEs measure agreement with "what more workers
  would say", not with the truth.
* Synthetic crowds from ``groundswell.consolidate.simulate_crowd`` with known truth, including hard tasks on
  which workers share a mistake (what makes Dawid–Skene overconfident).

Usage::

    .venv/bin/python bench/consolidation_bench.py [--data DIR] [--seeds 3] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from groundswell.consolidate import (
    AutoAggregator,
    BaseAggregator,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    WeightedMajorityVote,
    expected_calibration_error,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
    simulate_crowd,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "crowd" / "weather_cf_nonagg"
START, END = "<!-- consolidation:start -->", "<!-- consolidation:end -->"
HELD_OUT = 10  # judgments per task kept back to build the weather reference

#: name → factory. EM models are fitted once with held-out calibration: raw_probas_ gives the raw row.
METHODS: dict[str, Callable[..., BaseAggregator]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds (MDS, default)": DawidSkene,
    "ds crowd α=10": lambda **kw: DawidSkene(smoothing="crowd", prior_strength=10.0, **kw),
    "ds unsmoothed": lambda **kw: DawidSkene(smoothing="none", **kw),
    "ods": OneCoinDawidSkene,
    "auto": AutoAggregator,
}


@dataclass
class Score:
    accuracy: float
    confidence: float
    ece: float


def score(labels: pd.Series, confidence: pd.Series, reference: pd.Series) -> Score:
    tasks = reference.index.intersection(labels.index)
    correct = (labels.loc[tasks] == reference.loc[tasks]).to_numpy()
    conf = confidence.loc[tasks].to_numpy()
    return Score(float(correct.mean()), float(conf.mean()), expected_calibration_error(conf, correct))


def evaluate(name: str, answers: pd.DataFrame, reference: pd.Series, gold: pd.Series | None) -> dict[str, Score]:
    """Scores of one method: as reported by default, raw posteriors (EM models only), and given gold."""
    model = METHODS[name]().fit(answers)
    out = {"default": score(model.labels_, model.confidence_, reference)}
    inner = model.aggregator_ if isinstance(model, AutoAggregator) else model
    if isinstance(inner, DawidSkene | OneCoinDawidSkene):
        raw = inner.raw_probas_
        out["raw"] = score(raw.idxmax(axis=1), raw.max(axis=1), reference)
    if gold is not None:
        gold_model = METHODS[name]().fit(answers, gold=gold)
        out["gold"] = score(gold_model.labels_, gold_model.confidence_, reference.drop(gold.index))
    return out


def mean_scores(runs: list[dict[str, Score]]) -> dict[str, Score]:
    keys = runs[0].keys()
    return {
        k: Score(*(float(np.mean([getattr(r[k], f) for r in runs])) for f in ("accuracy", "confidence", "ece")))
        for k in keys
    }


def table(results: dict[str, dict[str, Score]], title: str) -> list[str]:
    lines = [
        f"**{title}**",
        "",
        "| method | accuracy | mean conf | ECE | raw: accuracy | raw: mean conf | raw: ECE "
        "| gold: accuracy | gold: mean conf | gold: ECE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in results.items():
        cells = [f"{s['default'].accuracy:.3f}", f"{s['default'].confidence:.3f}", f"{s['default'].ece:.3f}"]
        for key in ("raw", "gold"):
            got = s.get(key)
            cells += [f"{got.accuracy:.3f}", f"{got.confidence:.3f}", f"{got.ece:.3f}"] if got else ["–"] * 3
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return [*lines, ""]


def weather_split(answers: pd.DataFrame, per_task: int | None, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """First ``per_task`` shuffled judgments (3–10 at random when None) vs majority of the last 10."""
    rng = np.random.default_rng(seed)
    shuffled = answers.assign(_u=rng.random(len(answers))).sort_values(["task", "_u"])
    rank = shuffled.groupby("task").cumcount().to_numpy()
    size = shuffled.groupby("task")["task"].transform("size").to_numpy()
    if per_task is None:
        draw = pd.Series(rng.integers(3, HELD_OUT + 1, answers["task"].nunique()), index=answers["task"].unique())
        keep = rank < shuffled["task"].map(draw).to_numpy()
    else:
        keep = rank < per_task
    held = shuffled[rank >= size - HELD_OUT]
    counts = held.groupby(["task", "label"]).size().unstack(fill_value=0)
    top = counts.max(axis=1)
    strict = counts.eq(top, axis=0).sum(axis=1) == 1
    reference = counts.idxmax(axis=1)[strict]
    return shuffled.loc[keep, ["task", "worker", "label"]], reference


def run_weather(data: Path, seeds: int) -> list[str]:
    answers = pd.read_csv(data / "answers.csv", dtype=str)
    lines = [
        "### Real crowd: CrowdFlower weather sentiment",
        "",
        f"{len(answers):,} judgments, {answers['task'].nunique():,} tasks, {answers['worker'].nunique()} workers, "
        f"5 labels. All 20 judgments: Krippendorff's α = {krippendorff_alpha(answers):.3f}, "
        f"Fleiss' κ = {fleiss_kappa(answers):.3f}, pairwise agreement = {percent_agreement(answers):.3f}.",
        "",
        f"Reference = strict majority of {HELD_OUT} held-out judgments per task; means over {seeds} shuffles. "
        "'raw' = EM posteriors before calibration; 'gold' = 100 reference tasks passed as gold (scored on the "
        "others).",
        "",
    ]
    for per_task in (3, 5, None):
        runs: dict[str, list[dict[str, Score]]] = {name: [] for name in METHODS}
        for seed in range(seeds):
            fit_on, reference = weather_split(answers, per_task, seed)
            gold = reference.sample(100, random_state=seed)
            for name in METHODS:
                runs[name].append(evaluate(name, fit_on, reference, gold))
        label = f"{per_task} judgments per task" if per_task else "3–10 judgments per task (random per task)"
        lines += table({n: mean_scores(r) for n, r in runs.items()}, label)
    full = {name: METHODS[name]().fit(answers) for name in METHODS}
    base = full["mv"].labels_
    lines += [
        "All 20 judgments (no reference left): mean reported confidence and agreement with majority vote.",
        "",
        "| method | mean conf | mean raw conf | same label as mv |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, model in full.items():
        inner = model.aggregator_ if isinstance(model, AutoAggregator) else model
        raw = f"{inner.raw_probas_.max(axis=1).mean():.3f}" if hasattr(inner, "raw_probas_") else "–"
        same = (model.labels_ == base.loc[model.labels_.index]).mean()
        lines.append(f"| {name} | {model.confidence_.mean():.3f} | {raw} | {same:.3f} |")
    return [*lines, ""]


SYNTHETIC: list[tuple[str, dict[str, Any]]] = [
    ("3 per task, 100 workers (~120 each), 20% hard tasks", {"judgments_per_task": 3, "n_workers": 100}),
    ("5 per task, 100 workers (~200 each), 20% hard tasks", {"judgments_per_task": 5, "n_workers": 100}),
    ("3 per task, 100 workers, no hard tasks (Dawid–Skene's own model)", {"n_workers": 100, "hard_share": 0.0}),
    ("3 per task, 1,500 workers (~8 each), 20% hard", {"judgments_per_task": 3, "n_workers": 1500}),
    ("5 per task, 20 workers (~1,000 each), 20% hard", {"judgments_per_task": 5, "n_workers": 20}),
]


def run_synthetic(seeds: int) -> list[str]:
    lines = [
        "### Synthetic crowds (known truth)",
        "",
        f"`simulate_crowd(4000 tasks, 3 labels, accuracy 0.55–0.95, 10% spammers, log-normal activity)`; "
        f"hard tasks fool each worker with probability 0.5 toward one shared wrong label. Means over {seeds} "
        "seeds; 'raw' = EM posteriors before calibration; 'gold' = 150 true labels passed as gold.",
        "",
    ]
    for title, params in SYNTHETIC:
        runs: dict[str, list[dict[str, Score]]] = {name: [] for name in METHODS}
        for seed in range(seeds):
            crowd = simulate_crowd(4000, **{"hard_share": 0.2, "random_state": seed, **params})
            gold = crowd.truth.sample(150, random_state=seed)
            for name in METHODS:
                runs[name].append(evaluate(name, crowd.answers, crowd.truth, gold))
        lines += table({n: mean_scores(r) for n, r in runs.items()}, title)
    return lines


def run_auto_grid(seeds: int) -> list[str]:
    """Evidence for the auto rule: accuracy against judgments per worker."""
    names = ["mv", "ods", "ds (MDS, default)", "ds crowd α=10", "auto"]
    lines = [
        "### Auto rule evidence: accuracy by judgments per worker (synthetic, 4000 tasks, 10% hard)",
        "",
        "| per task | workers | median per worker | auto picks (per seed) | " + " | ".join(names) + " |",
        "| ---: | ---: | ---: | --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for per_task in (2, 3):
        for workers in (20, 100, 400, 1500, 4000):
            acc: dict[str, list[float]] = {n: [] for n in names}
            picked: list[str] = []
            for seed in range(seeds):
                crowd = simulate_crowd(4000, workers, judgments_per_task=per_task, hard_share=0.1, random_state=seed)
                for name in names:
                    model = METHODS[name]().fit(crowd.answers)
                    acc[name].append(float((model.labels_ == crowd.truth.loc[model.labels_.index]).mean()))
                    if isinstance(model, AutoAggregator):
                        picked.append(model.method_)
            median = crowd.answers["worker"].value_counts().median()  # of the last seed
            cells = " | ".join(f"{np.mean(acc[n]):.3f}" for n in names)
            picks = ", ".join(f"{m}×{picked.count(m)}" for m in sorted(set(picked)))
            lines.append(f"| {per_task} | {workers} | {median:.0f} | {picks} | {cells} |")
    return [*lines, ""]


def run_timing(repeats: int) -> list[str]:
    crowd = simulate_crowd(200_000, 2_000, judgments_per_task=5, random_state=0)
    answers = crowd.answers
    lines = [
        f"### Fit time: {len(answers):,} judgments (200,000 tasks × 5, 2,000 workers, 3 labels)",
        "",
        f"Wall time of `fit` including validation and integer coding; best of {repeats}.",
        "",
        "| method | seconds | EM iterations | accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in ("mv", "wmv", "ds (MDS, default)", "ds crowd α=10", "ods", "auto"):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model = METHODS[name]().fit(answers)
            times.append(time.perf_counter() - start)
        inner = model.aggregator_ if isinstance(model, AutoAggregator) else model
        iters = getattr(inner, "n_iter_", "–")
        accuracy = (model.labels_ == crowd.truth.loc[model.labels_.index]).mean()
        lines.append(f"| {name} | {min(times):.2f} | {iters} | {accuracy:.3f} |")
    return [*lines, ""]


def machine(argv: list[str]) -> list[str]:
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        uname = " ".join(platform.uname())
    return [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on `{uname}`, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}.",
        "",
        f"Command: `{' '.join(shlex.quote(a) for a in argv)}`",
        "",
    ]


def write_section(path: Path, body: str) -> None:
    section = f"{START}\n{body.rstrip()}\n{END}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = f"{before}{section}{after}"
    else:
        text = f"{text.rstrip()}\n\n{section}"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("GROUNDSWELL_CROWD_DATA", DEFAULT_DATA)))
    parser.add_argument("--seeds", type=int, default=3, help="Shuffles / synthetic seeds to average over.")
    parser.add_argument("--timing-repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md alone.")
    args = parser.parse_args()
    if not (args.data / "answers.csv").exists():
        parser.error(f"no answers.csv under {args.data}; pass --data or set GROUNDSWELL_CROWD_DATA")

    lines = [
        "## Consolidation",
        "",
        *machine([sys.executable, *sys.argv]),
        *run_weather(args.data, args.seeds),
        *run_synthetic(args.seeds),
        *run_auto_grid(args.seeds),
        *run_timing(args.timing_repeats),
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(args.results, body)
        print(f"\nwrote the consolidation section of {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
