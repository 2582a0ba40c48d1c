"""Consolidation at scale: fit time and peak memory at 10k … 10M judgments, beside crowd-kit's DawidSkene.

Sibling of ``consolidation_bench.py`` (accuracy and calibration). Every fit runs in a fresh child process
on the same judgments, so memory high-water marks do not leak from one fit into the next:

* ours: ``groundswell.consolidate`` in this venv (DawidSkene default = MDS smoothing + held-out
  calibration; DawidSkene plain = ``smoothing="none", calibration="none"``, crowd-kit's model;
  MajorityVote);
* crowd-kit 1.4.2 ``DawidSkene()`` with its defaults, in the separate venv ``bench/.cache/crowdkit-venv``
  (see ``bench/crowdkit_reference.py`` for how to create it; it is skipped with a note when absent).

Data: a synthetic crowd, 5 judgments per task, 3 labels, one worker per 500 judgments (at least 50), 70–95 %
accurate workers; task and worker ids are integers, labels strings, as a job's judgments are. It is drawn
once per size, saved as ``.npy`` under ``bench/.cache/scale/``, and read by every child.

Fit time: wall-clock seconds of ``.fit(frame)`` alone (the frame is built before the clock starts), best of
``--repeats``. Peak memory: the child's peak resident set size during the fit minus its size just before
(``ru_maxrss``, so it includes every allocation the fit made, in numpy, pandas, scipy or Python).

Usage::

    .venv/bin/python bench/consolidation_scale_bench.py [--sizes 10000,100000,1000000,10000000] [--no-write]

Targets (issue 4): ≥ 20× faster than crowd-kit at 1M judgments; 10M judgments in under 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "scale"
CROWDKIT_PYTHON = HERE / ".cache" / "crowdkit-venv" / "bin" / "python"
LABELS = np.array(["negative", "neutral", "positive"], dtype=object)
PER_TASK = 5
OURS = ("ds", "ds-plain", "mv")


def generate(n: int, seed: int = 0) -> Path:
    """Draw (or reuse) ``n`` judgments; returns their folder."""
    folder = CACHE / str(n)
    if (folder / "label.npy").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tasks = n // PER_TASK
    n_workers = max(50, n // 500)
    truth = rng.choice(3, size=tasks, p=[0.3, 0.45, 0.25])
    start = rng.integers(0, n_workers, size=tasks)
    # Distinct workers per task: consecutive offsets from a random start (PER_TASK < n_workers).
    worker = (np.repeat(start, PER_TASK) + np.tile(np.arange(PER_TASK), tasks)) % n_workers
    task = np.repeat(np.arange(tasks), PER_TASK)
    accuracy = rng.uniform(0.7, 0.95, size=n_workers)
    correct = rng.random(len(task)) < accuracy[worker]
    wrong = (truth[task] + rng.integers(1, 3, size=len(task))) % 3
    label = np.where(correct, truth[task], wrong)
    for name, values in {"task": task, "worker": worker, "label": label}.items():
        np.save(folder / f"{name}.npy", values.astype(np.int64 if name != "label" else np.int8))
    return folder


def _frame(folder: Path) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": np.load(folder / "task.npy"),
            "worker": np.load(folder / "worker.npy"),
            "label": LABELS[np.load(folder / "label.npy")],
        }
    )


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(method: str, folder: Path, repeats: int) -> dict[str, Any]:
    """Run inside the child process: build the frame, fit ``repeats`` times, report time and memory."""
    frame = _frame(folder)
    if method == "crowdkit":
        from crowdkit.aggregation import DawidSkene as CrowdKitDS

        make: Any = lambda: CrowdKitDS()  # noqa: E731
    else:
        from groundswell.consolidate import DawidSkene, MajorityVote

        make = {
            "ds": lambda: DawidSkene(),
            "ds-plain": lambda: DawidSkene(smoothing="none", calibration="none"),
            "mv": lambda: MajorityVote(),
        }[method]
    before = _rss_mib()
    best, best_cpu = float("inf"), float("inf")
    model: Any = None
    for _ in range(repeats):
        model = make()
        started, started_cpu = time.perf_counter(), time.process_time()
        model.fit(frame)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    iterations = len(getattr(model, "loss_history_", [])) or None
    return {"seconds": best, "cpu_seconds": best_cpu, "peak_mib": max(peak - before, 0.0), "iterations": iterations}


def measure(method: str, folder: Path, repeats: int, timeout: float) -> dict[str, Any] | str:
    python = str(CROWDKIT_PYTHON) if method == "crowdkit" else sys.executable
    command = [python, __file__, "--child", method, "--folder", str(folder), "--repeats", str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"over {timeout:.0f} s"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cell(result: dict[str, Any] | str | None) -> tuple[str, str]:
    if result is None:
        return "–", "–"
    if isinstance(result, str):
        return result, "–"
    return f"{result['seconds']:.2f}", f"{result['peak_mib']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--repeats", type=int, default=2, help="Fits per child; the best time counts.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds allowed per child.")
    parser.add_argument("--no-crowdkit", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md alone.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.repeats)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    use_crowdkit = not args.no_crowdkit and CROWDKIT_PYTHON.exists()
    rows: list[str] = []
    speedups: dict[int, float] = {}
    largest: dict[str, dict[str, Any] | str | None] = {}
    for n in sizes:
        folder = generate(n)
        results: dict[str, dict[str, Any] | str | None] = {}
        for method in OURS:
            results[method] = measure(method, folder, args.repeats, args.timeout)
            print(n, method, results[method], flush=True)
        results["crowdkit"] = measure("crowdkit", folder, 1, args.timeout) if use_crowdkit else None
        print(n, "crowdkit", results["crowdkit"], flush=True)
        ours, plain, theirs = results["ds"], results["ds-plain"], results["crowdkit"]
        ratio = "–"
        if isinstance(ours, dict) and isinstance(plain, dict) and isinstance(theirs, dict):
            speedups[n] = theirs["seconds"] / ours["seconds"]
            ratio = (
                f"{speedups[n]:.0f}× ({theirs['cpu_seconds'] / ours['cpu_seconds']:.0f}× CPU); plain "
                f"{theirs['seconds'] / plain['seconds']:.0f}× ({theirs['cpu_seconds'] / plain['cpu_seconds']:.0f}× CPU)"
            )
        iterations = [
            str(r["iterations"]) if isinstance(r, dict) and r.get("iterations") else "–"
            for r in (results["ds"], results["ds-plain"], theirs)
        ]
        cells = [c for m in (*OURS, "crowdkit") for c in _cell(results[m])]
        rows.append(f"| {n:,} | " + " | ".join(cells) + f" | {ratio} | {' / '.join(iterations)} |")
        if n == 10_000_000:
            largest = results

    header = [
        "Synthetic crowd: 5 judgments per task, 3 labels, one worker per 500 judgments (≥ 50). Seconds = wall",
        "time of `fit` alone, best of the child's repeats (crowd-kit: one fit); MiB = peak RSS growth during the",
        "fit, each method in a fresh process on the same judgments. Speed-up = crowd-kit DS ÷ our default DS",
        "and ÷ our plain DS (crowd-kit's own model: no smoothing, no calibration), by wall time and, in",
        "brackets, by CPU time (steadier when other work shares the machine).",
        "Iterations = EM iterations run (ours default / ours plain / crowd-kit, which stops as soon as its",
        "evidence lower bound stops rising).",
        "",
        "| judgments | ours DS default s | MiB | ours DS plain s | MiB | ours MV s | MiB | crowd-kit DS s | MiB"
        " | speed-up | iterations |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    load = os.getloadavg()[0]
    notes = ["", f"Load average when the run ended: {load:.1f} on {os.cpu_count()} cores (other work shares them)."]
    if not use_crowdkit:
        notes.append("crowd-kit not measured: create bench/.cache/crowdkit-venv (see bench/crowdkit_reference.py).")
    if 1_000_000 in speedups:
        notes.append(
            f"Target ≥ 20× faster than crowd-kit at 1M judgments: {speedups[1_000_000]:.1f}× (default DS, wall)."
        )
    if isinstance(largest.get("ds"), dict):
        notes.append(f"Target < 30 s at 10M judgments: default DS {largest['ds']['seconds']:.1f} s.")
    report = [*header, *rows, *notes]
    print("\n".join(report))
    if not args.no_write:
        sys.path.insert(0, str(HERE))
        from results import write_section

        command = "python bench/consolidation_scale_bench.py " + " ".join(sys.argv[1:])
        write_section(
            "consolidation_scale",
            "Consolidation at scale (`bench/consolidation_scale_bench.py`)",
            report,
            command=command.strip(),
        )


if __name__ == "__main__":
    main()
