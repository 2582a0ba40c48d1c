"""Labeling economics: human judgments and accuracy of three labeling strategies on real tweets.

Not a test: it measures, prints a Markdown report, writes a plot (``bench/economics.png``) and replaces its own
section of ``bench/RESULTS.md`` (between ``<!-- economics:start -->`` and ``<!-- economics:end -->``).

Each strategy labels the same tweets (TweetEval sentiment train, 3 classes, gold labels from the dataset)
through a real job on a fresh SQLite store, answered by the same simulated crowd (parametric pool: 50
workers, accuracy 0.75 ± 0.1, 10 % spammers, errors mostly on the neighbouring sentiment) through
``groundswell.sim.simulate_job``, i.e. the routing and submit code the API uses and the background runner's
rounds:

* **A**: Ground Truth without automated labeling: 3 answers per tweet, majority vote.
* **B**: Ground Truth's procedure: 3 answers per tweet + automated labeling at 95 % with the point-estimate
  threshold rule, low-confidence tweets to people first.
* **C**: Groundswell's default: 1 answer per tweet, more (up to ``--c-max``) only while the posterior is below
  ``--c-threshold`` (worker confusion matrices from Dawid–Skene's EM with the auto-label model's calibrated
  distribution as each tweet's prior and re-estimated class shares; the runner reviews answered tweets); final
  labels from the same posterior; automated labeling with the 95 % lower-bound rule and active learning.
  The defaults, up to 5 answers and threshold 0.64 (the service's default for the posterior rule), were
  chosen with an offline simulation of the same rule (``economics_offline.py``: numpy, the same pool,
  precomputed round models). On all 45,615 tweets it gave 1.46 judgments/tweet at accuracy 0.841 against A's
  0.830; with the earlier cap of 3 and 0.65, 1.42 at 0.834. A higher cap spends the extra answers where
  annotators really disagree. Smaller subsets are harder (a weaker model prior): on 5,000, 5 / 0.65 gave 1.49
  at 0.824 against 0.831.

Accuracy is measured against gold at checkpoints during the run (every ``--every`` answers) and at the end.

With ``--pools NAME[,NAME...]`` (or ``all``) the same tweets are labeled once per simulated annotator pool of
``bench/pools.py`` (parametric pools of mean accuracy 0.65/0.75/0.85, 20 % spammers, a sarcasm confusion, and
pools of real workers' confusion matrices from the crowd sets with gold) by A and then by C created with only an
accuracy target, A's measured accuracy on that pool (:func:`target_job_spec`; until ``JobSpec`` has
``accuracy_target`` it falls back on today's C settings). The report (section ``economics-pools``) gives per pool
both strategies' human answers per tweet, accuracy, C's machine labels, the saving and whether C reached A's
accuracy less half a point with at most half of A's answers; ``--targets 0.80,0.85,0.90`` also runs C at those
targets (a signed entry, ``-0.03,+0.02``, is an offset from A's accuracy on each pool, so one sweep suits pools
of any quality) and draws accuracy against human answers per tweet, one plot per pool
(``economics-pool-<name>.png``); ``--c-query-strategies random,diverse`` runs C at A's accuracy with those
active-learning query strategies instead of the default, reported in a table of their own.

Usage::

    .venv/bin/python bench/economics.py [--items 3000] [--seed 0] [--data DIR] [--strategies ABC] [--no-write]
        [--section economics-10000 --plot bench/economics-10000.png]   # a larger run in its own section
    .venv/bin/python bench/economics.py --pools all [--targets 0.80,0.85,0.90] [--items 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from groundswell.errors import InvalidInputError
from groundswell.ingest import ReadOptions, import_dataset
from groundswell.jobs import JobSpec, create_job, get_job, job_quality
from groundswell.jobs.job_defaults import DEFAULT_STRATEGY
from groundswell.sim import measure_job, parse_pool, simulate_job
from groundswell.sim.driver import ANSWERS_PER_MINUTE
from groundswell.store import make_engine, make_session_factory, upgrade
from groundswell.store.db import transaction
from results import write_section

LABELS = ["negative", "neutral", "positive"]
POOL = {"labels": LABELS, "n_workers": 50, "accuracy_mean": 0.75, "accuracy_sd": 0.1, "spammer_share": 0.1}
DEFAULT_DATA = (
    Path(os.environ.get("GROUNDSWELL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "tweeteval-sentiment"
)
PLOT = Path(__file__).resolve().parent / "economics.png"


def strategies(args: argparse.Namespace, n_items: int) -> dict[str, dict[str, Any]]:
    """Job shape per strategy: workers per item, maximum, settings."""
    batch = max(250, n_items // 40)
    auto = {"auto_label": True, "accuracy_target": 0.95, "seed_size": max(500, n_items // 20), "batch_size": batch}
    return {
        "A": {"workers": 3, "max": 3, "settings": {"consolidation_method": "mv"}},
        "B": {
            "workers": 3,
            "max": 3,
            "settings": {
                "consolidation_method": "mv",
                **auto,
                "threshold_rule": "point",
                "query_strategy": "least-confidence",
            },
        },
        "C": {
            "workers": 1,
            "max": args.c_max,
            "settings": {
                "consolidation_method": "ds",
                "dynamic_redundancy": True,
                "redundancy_rule": "posterior",
                "redundancy_threshold": args.c_threshold,
                **auto,
                "threshold_rule": "bound",
                "query_strategy": args.c_strategy,
                "model_vote": not args.no_model_vote,
            },
        },
    }


def subset(data: Path, n_items: int | None, seed: int, out: Path) -> int:
    """Write a random (class-stratified by construction of a uniform draw) subset of train to ``out``."""
    with (data / "train.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    if n_items is not None and n_items < len(rows):
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), size=n_items, replace=False))
        rows = [rows[i] for i in pick]
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return len(rows)


def shape_spec(name: str, dataset: str, labels: list[str], shape: dict[str, Any]) -> JobSpec:
    """The job of a strategy's shape (:func:`strategies`)."""
    return JobSpec(
        name=name,
        dataset=dataset,
        labels=labels,
        workers_per_item=shape["workers"],
        max_workers_per_item=shape["max"],
        settings=shape["settings"],
    )


def has_accuracy_target() -> bool:
    """Whether ``JobSpec`` takes a job-level ``accuracy_target`` (which, given alone, sets everything)."""
    return "accuracy_target" in JobSpec.__dataclass_fields__


def target_job_spec(
    name: str, dataset: str, labels: list[str], target: float, *, fallback: dict[str, Any] | None = None
) -> JobSpec:
    """Strategy C for an accuracy target: only ``accuracy_target`` set, where ``JobSpec`` has it; otherwise
    today's C settings (``fallback``, a :func:`strategies` shape), which ignore the target."""
    if has_accuracy_target():
        return JobSpec(name=name, dataset=dataset, labels=labels, accuracy_target=target)  # type: ignore[call-arg,unused-ignore]
    if fallback is None:
        raise ValueError("JobSpec has no accuracy_target: give today's C settings as fallback")
    return shape_spec(name, dataset, labels, fallback)


def run_strategy(
    name: str,
    shape: dict[str, Any] | JobSpec,
    source: Path,
    args: argparse.Namespace,
    pool_document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Label ``source`` with one job (a strategy's shape, or a ready spec) answered by the pool; the report."""
    spec = shape if isinstance(shape, JobSpec) else shape_spec(f"econ-{name.lower()}", "tweets", LABELS, shape)
    document = pool_document if pool_document is not None else POOL | {"seed": args.seed}
    with tempfile.TemporaryDirectory(prefix=f"econ-{name}-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        factory = make_session_factory(engine)
        import_dataset(factory, str(source), name=spec.dataset, options=ReadOptions(label_column="label"))
        with transaction(factory) as session:
            create_job(session, spec)
        checkpoints: list[dict[str, Any]] = []
        started = time.perf_counter()

        def checkpoint(given: int) -> None:
            if given % args.every:
                return
            report = measure_job(factory, spec.name)
            correct = (report.accuracy or 0.0) * report.labeled
            checkpoints.append(
                {
                    "judgments": report.human_judgments,
                    "labeled": report.labeled,
                    "accuracy_so_far": report.accuracy,
                    "correct_share": correct / report.items if report.items else 0.0,
                }
            )
            print(f"  {name}: {given} answers, {report.labeled} labeled, accuracy {report.accuracy}", flush=True)

        pool = parse_pool(document)
        report = simulate_job(
            factory,
            spec.name,
            pool,
            random_state=args.seed,
            on_progress=checkpoint,
            answers_per_minute=args.answers_per_minute,
        )
        seconds = time.perf_counter() - started
        final = report.as_dict()
        correct = (report.accuracy or 0.0) * report.labeled
        checkpoints.append(
            {
                "judgments": report.human_judgments,
                "labeled": report.labeled,
                "accuracy_so_far": report.accuracy,
                "correct_share": correct / report.items if report.items else 0.0,
            }
        )
        with factory() as session:
            estimate = job_quality(session, get_job(session, spec.name)).estimate
        engine.dispose()
        keep = getattr(args, "keep_db", None)
        if keep is not None and name != "A":
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(tmp) / "store.db", keep / f"{getattr(args, 'current_pool', 'pool')}-{spec.name}.db")
    return {
        "report": final,
        "checkpoints": checkpoints,
        "seconds": seconds,
        "estimate": None if estimate is None else estimate.as_dict(),
    }


def plot(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, result in results.items():
        n = result["report"]["items"]
        xs = [c["judgments"] / n for c in result["checkpoints"]]
        left.plot(xs, [c["correct_share"] for c in result["checkpoints"]], marker=".", label=name)
        right.plot(xs, [c["accuracy_so_far"] for c in result["checkpoints"]], marker=".", label=name)
    left.set(xlabel="human judgments spent per tweet", ylabel="tweets correctly labeled (share of all)")
    right.set(xlabel="human judgments spent per tweet", ylabel="accuracy of labels so far (vs gold)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report_lines(results: dict[str, dict[str, Any]], args: argparse.Namespace, n_items: int) -> list[str]:
    lines = [
        f"{n_items:,} TweetEval train tweets ({'all' if args.items is None else f'random subset, seed {args.seed}'}), "
        f"pool {json.dumps(POOL)} (seed {args.seed}). Strategy C: 1 answer per tweet, up to {args.c_max}, "
        f"redundancy threshold {args.c_threshold} on the posterior, model vote "
        f"{'off' if args.no_model_vote else 'on'}, query strategy {args.c_strategy}.",
        "",
        "| strategy | human judgments / tweet | accuracy (all) | human-labeled | machine-labeled | share machine "
        "| machine labels ≥ 95 %? | run time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, result in results.items():
        r = result["report"]
        share = r["machine_labeled"] / r["items"] if r["items"] else 0.0
        met = "–" if not r["machine_labeled"] else ("yes" if (r["accuracy_machine"] or 0) >= 0.95 else "no")
        lines.append(
            f"| {name} | {r['judgments_per_item']:.2f} | {fmt(r['accuracy'])} | {fmt(r['accuracy_human'])} | "
            f"{fmt(r['accuracy_machine'])} | {share:.1%} | {met} | {result['seconds']:.0f} s |"
        )
    if "A" in results and "C" in results:
        a, c = results["A"]["report"], results["C"]["report"]
        saving = 1 - c["human_judgments"] / a["human_judgments"] if a["human_judgments"] else 0.0
        ok = saving >= 0.5 and (c["accuracy"] or 0) >= (a["accuracy"] or 0)
        lines += [
            "",
            f"C spends {saving:.1%} fewer human judgments than A at accuracy {fmt(c['accuracy'])} vs "
            f"{fmt(a['accuracy'])}: target (≥ 50 % fewer at equal or better accuracy) "
            f"{'met' if ok else 'not met'}.",
        ]
    lines += ["", f"![accuracy against human judgments]({args.plot.name})", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=None, help="Random subset of this many tweets (default all).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="ABC")
    parser.add_argument("--every", type=int, default=500, help="Checkpoint every this many answers.")
    parser.add_argument("--c-threshold", type=float, default=0.64)
    parser.add_argument("--c-max", type=int, default=5)
    parser.add_argument("--c-strategy", default="random")
    parser.add_argument("--no-model-vote", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the raw results here.")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument(
        "--section",
        default=None,
        help="RESULTS.md section key (default economics, economics-pools with --pools; a larger run keeps its own).",
    )
    parser.add_argument(
        "--pools",
        help="NAME[,NAME...] or all: pools of bench/pools.py, each labeled by A and by C with A's accuracy as target.",
    )
    parser.add_argument(
        "--targets",
        help="With --pools: also run C at these targets (0.80,0.85,0.90; a signed entry such as -0.03 or +0.02 is "
        "an offset from A's accuracy on each pool), one plot per pool.",
    )
    parser.add_argument(
        "--c-query-strategies",
        help="With --pools: also run C (same target) with each of these query strategies (random,least-confidence,…).",
    )
    parser.add_argument(
        "--plot-dir",
        type=Path,
        help="With --pools --targets: folder for the plots (default bench/; given, even with --no-write).",
    )
    parser.add_argument(
        "--c-gold",
        type=int,
        default=0,
        help="With --pools: also run C with this many gold tweets (job create --gold-items), reported apart.",
    )
    parser.add_argument(
        "--answers-per-minute",
        type=int,
        default=ANSWERS_PER_MINUTE,
        help="The simulated crowd's pace: a full consolidation every this many answers, as the runner does "
        f"once a minute (default {ANSWERS_PER_MINUTE}).",
    )
    parser.add_argument(
        "--keep-db",
        type=Path,
        help="Copy each C job's SQLite store here (POOL-JOB.db) to study its answers and posterior afterwards.",
    )
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md and the plot alone.")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="Report the --json files of runs made separately (say, A+B and C in two processes) instead of running.",
    )
    args = parser.parse_args()
    args.section = args.section or ("economics-pools" if args.pools else "economics")
    if args.pools:
        args.every = max(1, args.every // 500) * 500
        run_pools(args)
        return
    if args.merge:
        report_merged(args)
        return
    args.every = max(1, args.every // 500) * 500  # checkpoints ride on simulate_job's progress callback
    with tempfile.TemporaryDirectory(prefix="econ-data-") as tmp:
        source = Path(tmp) / "tweets.jsonl"
        n_items = subset(args.data, args.items, args.seed, source)
        shapes = strategies(args, n_items)
        results = {}
        for name in args.strategies:
            print(f"strategy {name} on {n_items} tweets", flush=True)
            results[name] = run_strategy(name, shapes[name], source, args)
            print(json.dumps(results[name]["report"]), f"{results[name]['seconds']:.0f} s", flush=True)
    lines = report_lines(results, args, n_items)
    print("\n".join(lines))
    command = "python bench/economics.py " + shlex.join(sys.argv[1:])
    if args.json:
        saved = {"command": command.strip(), "items": n_items, "results": results}
        args.json.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    if not args.no_write:
        plot(results, args.plot, f"{n_items:,} TweetEval tweets, simulated crowd of mean accuracy 0.75")
        write_section(
            args.section,
            f"Labeling economics: A (3 votes), B (Ground Truth), C (Groundswell), {n_items:,} tweets",
            lines,
            command=command.strip(),
        )


# --- several annotator pools: A against C with A's accuracy as C's target ----------------------------------


def pool_document(name: str, seed: int) -> dict[str, Any]:
    """A named pool of ``bench/pools.py``; a parametric pool's seed follows ``--seed``."""
    from pools import POOLS

    if name not in POOLS:
        raise SystemExit(f"unknown pool {name!r}; known: {', '.join(POOLS)} (or all)")
    document = dict(POOLS[name])
    return document | {"seed": seed} if "n_workers" in document else document


def meets(a: dict[str, Any], c: dict[str, Any]) -> bool:
    """C at least A's accuracy less half a point, with at most half of A's human answers."""
    if a["accuracy"] is None or c["accuracy"] is None or not a["human_judgments"]:
        return False
    return bool(c["accuracy"] >= a["accuracy"] - 0.005 and c["human_judgments"] <= 0.5 * a["human_judgments"])


def saving(a: dict[str, Any], c: dict[str, Any]) -> float:
    return 1 - c["human_judgments"] / a["human_judgments"] if a["human_judgments"] else 0.0


def run_c(
    name: str,
    target: float,
    source: Path,
    args: argparse.Namespace,
    document: dict[str, Any],
    query_strategy: str | None = None,
    gold_items: int = 0,
) -> dict[str, Any]:
    """Strategy C with ``target`` (and, given, that query strategy or gold tweets); a target the job refuses is
    reported."""
    fallback = strategies(args, args.n_items)["C"]
    try:
        spec = target_job_spec(name, "tweets", LABELS, target, fallback=fallback)
        if query_strategy is not None:
            spec = replace(spec, settings={**spec.settings, "query_strategy": query_strategy})
        if gold_items:
            spec = replace(spec, gold_items=gold_items)
        result = run_strategy("C", spec, source, args, document)
    except InvalidInputError as exc:
        print(f"  C at target {target}: refused: {exc}", flush=True)
        return {"target": target, "error": str(exc)}
    return result | {"target": target}


def sweep_target(entry: str, a_accuracy: float) -> float:
    """A ``--targets`` entry as a target: ``0.85`` as given, ``-0.03`` / ``+0.02`` relative to A's accuracy."""
    if entry[0] in "+-":
        return round(min(0.995, max(0.34, a_accuracy + float(entry))), 4)
    return float(entry)


def run_pools(args: argparse.Namespace) -> None:
    from pools import POOLS, summary

    names = list(POOLS) if args.pools == "all" else [n.strip() for n in args.pools.split(",") if n.strip()]
    documents = {name: pool_document(name, args.seed) for name in names}
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else []
    if targets and not has_accuracy_target():
        print("JobSpec has no accuracy_target yet: C runs today's settings, which ignore targets; --targets skipped")
        targets = []
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="econ-data-") as tmp:
        source = Path(tmp) / "tweets.jsonl"
        args.n_items = n_items = subset(args.data, args.items, args.seed, source)
        for name, document in documents.items():
            args.current_pool = name
            workers, per_class = summary(document)
            print(
                f"pool {name} ({workers} workers, mean accuracy {per_class.mean():.3f}) on {n_items} tweets", flush=True
            )
            a = run_strategy("A", strategies(args, n_items)["A"], source, args, document)
            print("  A:", json.dumps(a["report"]), f"{a['seconds']:.0f} s", flush=True)
            target = round(a["report"]["accuracy"] or 0.0, 4)
            c = run_c("econ-c", target, source, args, document)
            print("  C:", json.dumps(c.get("report") or c), f"{c.get('seconds', 0):.0f} s", flush=True)
            sweep = [
                run_c(f"econ-c-{round(t * 1000)}", t, source, args, document)
                for t in (sweep_target(entry, target) for entry in targets)
            ]
            by_strategy = {}
            for strategy in [q for q in (args.c_query_strategies or "").split(",") if q]:
                by_strategy[strategy] = run_c(f"econ-c-{strategy}", target, source, args, document, strategy)
                report = by_strategy[strategy].get("report") or {}
                print(
                    f"  C with {strategy}: {report.get('judgments_per_item', 0):.3f} answers per tweet, accuracy "
                    f"{report.get('accuracy')}, machine-labeled {report.get('machine_labeled')}",
                    flush=True,
                )
            gold = None
            if args.c_gold:
                gold = run_c("econ-c-gold", target, source, args, document, gold_items=args.c_gold)
                print("  C with gold:", json.dumps(gold.get("report") or gold), f"{gold.get('seconds', 0):.0f} s")
            results[name] = {
                "gold": gold,
                "workers": workers,
                "accuracy_per_class": per_class.tolist(),
                "A": a,
                "C": c,
                "sweep": sweep,
                "query_strategies": by_strategy,
            }
    lines = pools_report_lines(results, args, n_items)
    print("\n".join(lines))
    command = ("python bench/economics.py " + shlex.join(sys.argv[1:])).strip()
    if args.json:
        saved = {"command": command, "items": n_items, "pools": results}
        args.json.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    plot_dir = args.plot_dir or (None if args.no_write else PLOT.parent)
    if plot_dir is not None and targets:
        for name, result in results.items():
            plot_pool(name, result, plot_dir / f"economics-pool-{name}.png", n_items)
    if not args.no_write:
        write_section(
            args.section,
            f"Labeling economics on {len(results)} annotator pools: A (3 votes) and C (accuracy target = A's), "
            f"{n_items:,} tweets",
            lines,
            command=command,
        )


def pools_report_lines(results: dict[str, dict[str, Any]], args: argparse.Namespace, n_items: int) -> list[str]:
    c_settings = (
        "the job created with only `accuracy_target` set to A's measured accuracy (JobSpec.accuracy_target)"
        if has_accuracy_target()
        else f"JobSpec has no `accuracy_target` yet, so C is today's settings whatever the target (1 answer per "
        f"tweet, up to {args.c_max}, posterior threshold {args.c_threshold}, Dawid–Skene, automated labeling with "
        f"the 95 % lower-bound rule)"
    )
    lines = [
        f"{n_items:,} TweetEval train tweets ({'all' if args.items is None else f'random subset, seed {args.seed}'}), "
        f"the same tweets for every pool; pools from `bench/pools.py` (parametric pools drawn with seed {args.seed}). "
        "A: 3 answers per tweet, majority vote. C: " + c_settings + ". Met: C's accuracy ≥ A's − 0.5 points with "
        "≤ 50 % of A's human answers.",
        "",
        "| pool | workers | pool accuracy | A answers / tweet | A accuracy | C target | C answers / tweet | C accuracy "
        "| C's own estimate | C machine-labeled | their accuracy | saving | met? | run time A / C |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    savings = []
    for name, result in results.items():
        a, c = result["A"]["report"], result["C"].get("report")
        pool_accuracy = float(np.mean(result["accuracy_per_class"]))
        head = (
            f"| {name} | {result['workers']} | {pool_accuracy:.3f} | {a['judgments_per_item']:.2f} | "
            f"{fmt(a['accuracy'])} | {result['C']['target']:.4f} |"
        )
        if c is None:
            lines.append(f"{head} refused: {result['C']['error']} | | | | | | | | {result['A']['seconds']:.0f} s / – |")
            continue
        savings.append(saving(a, c))
        lines.append(
            f"{head} {c['judgments_per_item']:.2f} | {fmt(c['accuracy'])} | {fmt(c.get('estimated_accuracy'))} | "
            f"{c['machine_labeled']:,} | "
            f"{fmt(c['accuracy_machine'])} | {saving(a, c):.1%} | {'yes' if meets(a, c) else 'no'} | "
            f"{result['A']['seconds']:.0f} s / {result['C']['seconds']:.0f} s |"
        )
    if savings:
        met = sum(meets(r["A"]["report"], r["C"]["report"]) for r in results.values() if "report" in r["C"])
        lines += [
            "",
            f"Mean saving over {len(savings)} pools: {np.mean(savings):.1%} (C against A's human answers); "
            f"met on {met} of {len(results)} pools.",
        ]
    sweeps = [(name, run) for name, result in results.items() for run in result["sweep"]]
    if sweeps:
        lines += [
            "",
            "C at other targets:",
            "",
            "| pool | target | answers / tweet | accuracy | machine-labeled | their accuracy | run time |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, run in sweeps:
            r = run.get("report")
            if r is None:
                lines.append(f"| {name} | {run['target']:.2f} | refused: {run['error']} | | | | |")
                continue
            lines.append(
                f"| {name} | {run['target']:.2f} | {r['judgments_per_item']:.2f} | {fmt(r['accuracy'])} | "
                f"{r['machine_labeled']:,} | {fmt(r['accuracy_machine'])} | {run['seconds']:.0f} s |"
            )
        lines.append("")
        lines += [f"![{name}](economics-pool-{name}.png)" for name in results]
    by_strategy = [
        (name, strategy, run)
        for name, result in results.items()
        for strategy, run in (result.get("query_strategies") or {}).items()
    ]
    if by_strategy:
        lines += [
            "",
            f"C at A's accuracy with other active-learning query strategies (C above uses the default, "
            f"{DEFAULT_STRATEGY}):",
            "",
            "| pool | query strategy | answers / tweet | accuracy | C's own estimate | machine-labeled | their "
            "accuracy | saving | met? | run time |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        for name, strategy, run in [(n, f"{DEFAULT_STRATEGY} (C)", results[n]["C"]) for n in results] + by_strategy:
            r, a = run.get("report"), results[name]["A"]["report"]
            if r is None:
                lines.append(f"| {name} | {strategy} | refused: {run['error']} | | | | | | | |")
                continue
            lines.append(
                f"| {name} | {strategy} | {r['judgments_per_item']:.2f} | {fmt(r['accuracy'])} | "
                f"{fmt(r.get('estimated_accuracy'))} | {r['machine_labeled']:,} | {fmt(r['accuracy_machine'])} | "
                f"{saving(a, r):.1%} | {'yes' if meets(a, r) else 'no'} | {run['seconds']:.0f} s |"
            )
    golds = [(name, result["gold"]) for name, result in results.items() if result.get("gold")]
    if golds:
        lines += [
            "",
            f"C with {args.c_gold} gold tweets (`JobSpec.gold_items`, `job create --gold-items`: hidden test questions "
            "drawn at random; their answers count in the answers per tweet, they get no label):",
            "",
            "| pool | target | answers / tweet | accuracy | C's own estimate (95 % interval) | saving | met? "
            "| run time |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        for name, run in golds:
            r, a = run.get("report"), results[name]["A"]["report"]
            if r is None:
                lines.append(f"| {name} | {run['target']:.4f} | refused: {run['error']} | | | | | |")
                continue
            interval = run.get("estimate") or {}
            low, high = interval.get("low"), interval.get("high")
            bounds = f" ({low:.3f}–{high:.3f})" if low is not None and high is not None else ""
            lines.append(
                f"| {name} | {run['target']:.4f} | {r['judgments_per_item']:.2f} | {fmt(r['accuracy'])} | "
                f"{fmt(r.get('estimated_accuracy'))}{bounds} | {saving(a, r):.1%} | {'yes' if meets(a, r) else 'no'} | "
                f"{run['seconds']:.0f} s |"
            )
    lines.append("")
    return lines


def plot_pool(name: str, result: dict[str, Any], path: Path, n_items: int) -> None:
    """Accuracy against human answers per tweet: A, C at A's accuracy, and C over the targets swept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = result["A"]["report"]
    fig, axis = plt.subplots(figsize=(6, 4.2))
    axis.plot([a["judgments_per_item"]], [a["accuracy"]], "s", color="C0", label="A: 3 answers, majority vote")
    runs = sorted((run for run in [result["C"], *result["sweep"]] if "report" in run), key=lambda run: run["target"])
    xs = [run["report"]["judgments_per_item"] for run in runs]
    ys = [run["report"]["accuracy"] for run in runs]
    axis.plot(xs, ys, "o-", color="C1", label="C: accuracy target only")
    for run, x, y in zip(runs, xs, ys, strict=True):
        text = f"{run['target']:.3g}" + (" (A's)" if run is result["C"] else "")
        axis.annotate(text, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    if a["accuracy"] is not None:
        axis.axhline(a["accuracy"] - 0.005, color="grey", linestyle=":", linewidth=1)
    axis.axvline(0.5 * a["judgments_per_item"], color="grey", linestyle=":", linewidth=1)
    axis.set(xlabel="human answers per tweet", ylabel="accuracy vs gold", title=f"pool {name}, {n_items:,} tweets")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_merged(args: argparse.Namespace) -> None:
    """The report of separately run strategies (``--json`` files of the same tweets), written like one run's."""
    saved = [json.loads(path.read_text(encoding="utf-8")) for path in args.merge]
    n_items = saved[0]["items"]
    if any(run["items"] != n_items for run in saved):
        raise SystemExit("the runs to merge labeled different numbers of tweets")
    if all("pools" in run for run in saved):  # --pools runs side by side: one table over all their pools
        pools = {name: result for run in saved for name, result in run["pools"].items()}
        args.n_items = n_items
        lines = pools_report_lines(pools, args, n_items)
        print("\n".join(lines))
        plot_dir = args.plot_dir or (None if args.no_write else PLOT.parent)
        if plot_dir is not None:
            for name, result in pools.items():
                if result["sweep"]:
                    plot_pool(name, result, plot_dir / f"economics-pool-{name}.png", n_items)
        if not args.no_write:
            commands = "; ".join(run["command"] for run in saved)
            write_section(
                args.section,
                f"Labeling economics on {len(pools)} annotator pools: A (3 votes) and C (accuracy target = A's), "
                f"{n_items:,} tweets",
                lines,
                command=f"{commands} (run side by side), then python bench/economics.py " + shlex.join(sys.argv[1:]),
            )
        return
    results = {name: result for run in saved for name, result in sorted(run["results"].items())}
    results = dict(sorted(results.items()))
    lines = report_lines(results, args, n_items)
    print("\n".join(lines))
    if not args.no_write:
        plot(results, args.plot, f"{n_items:,} TweetEval tweets, simulated crowd of mean accuracy 0.75")
        commands = "; ".join(run["command"] for run in saved)
        write_section(
            args.section,
            f"Labeling economics: A (3 votes), B (Ground Truth), C (Groundswell), {n_items:,} tweets",
            lines,
            command=f"{commands} (run side by side), then python bench/economics.py " + shlex.join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
