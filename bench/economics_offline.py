"""Offline simulation of strategy C's redundancy rule: pick its parameters in seconds, then confirm them with
``bench/economics.py`` (the real job path).

No database: the same parametric pool answers the same TweetEval subset in a random order; every
``batch`` answers the "runner" (1) moves to the latest model round and (2) reviews the answered tweets with
:func:`groundswell.active.fit_posteriors` (Dawid–Skene's EM, the model's calibrated distribution as each
tweet's prior), reopening those below the threshold for one more answer, up to the maximum. Tweets keep the
vote of the round before they were started; validation tweets get none (as in the service). Final labels are
the posterior's (or, with ``final="humans"``, an EM over the answers alone).

The model rounds are precomputed once per subset (``--rounds-every`` labels apart) and cached: a TF-IDF +
VADER logistic regression trained on the first tweets' *noisy* labels (82 % right, errors on the
neighbouring sentiment, like consolidated crowd labels), temperature-calibrated on the validation tweets. So
the model does not depend on the policy being tried, which is what makes a sweep fast.

Usage::

    .venv/bin/python bench/economics_offline.py --items 5000 --configs '[{"thr": 0.65}, {"thr": 0.7}]' --seeds 2
    .venv/bin/python bench/economics_offline.py --items 20000 --rounds-every 2500 --configs '[{"thr": 0.65}]'

Config keys: ``thr``, ``max_w``, ``strength``, ``default_acc``, ``prior`` ("prob" | "top" | "none"), ``final``
("posterior" | "humans"), ``skills`` ("em" | "oracle": the pool's true matrices), ``shares`` (bool).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from economics import DEFAULT_DATA, LABELS, POOL
from groundswell.active import apply_temperature, fit_posteriors, fit_temperature, model_prior, stable_uniform
from groundswell.sim import parse_pool

K = len(LABELS)
DEFAULTS: dict[str, Any] = {
    "thr": 0.65,
    "max_w": 3,
    "strength": 10.0,
    "default_acc": 0.7,
    "prior": "prob",
    "final": "posterior",
    "skills": "em",
    "shares": True,
}


def model_rounds(data: Path, n_items: int | None, seed: int, every: int | None, cache: Path) -> dict[str, Any]:
    """Per round, every tweet's calibrated model distribution (cached in ``cache``)."""
    path = cache / f"rounds_{n_items}_{seed}_{every}.npz"
    if path.exists():
        return dict(np.load(path))
    from sklearn.linear_model import LogisticRegression

    from groundswell.ml import FeaturizerConfig, build_featurizer

    rows = [json.loads(line) for line in (data / "train.jsonl").open(encoding="utf-8")]
    if n_items is not None and n_items < len(rows):
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), size=n_items, replace=False))
        rows = [rows[i] for i in pick]
    y = np.array([LABELS.index(r["label"]) for r in rows])
    n = len(y)
    rng = np.random.default_rng(1000 + seed)
    order = rng.permutation(n)
    is_val = stable_uniform(np.arange(n) + 1) < (0.1 if n > 5000 else 0.2)
    noisy = y.copy()
    flip = rng.random(n) < 0.18
    neighbour = np.where(y == 1, 1 + np.where(rng.random(n) < 0.5, -1, 1), 1)
    noisy[flip] = neighbour[flip]
    features = build_featurizer(FeaturizerConfig()).fit_transform([r["source"] for r in rows])
    seed_size, batch = max(500, n // 20), max(250, n // 40)
    sizes = list(range(seed_size, n, every or batch))
    probas = []
    for m in sizes:
        seen = order[:m]
        train, val = seen[~is_val[seen]], seen[is_val[seen]]
        model = LogisticRegression(class_weight="balanced", max_iter=1000).fit(features[train], noisy[train])
        raw = model.predict_proba(features)
        probas.append(apply_temperature(raw, fit_temperature(raw[val], noisy[val])).astype(np.float32))
        rest = order[m:]
        print(f"  round at {m} labels: model accuracy on the rest {(probas[-1][rest].argmax(1) == y[rest]).mean():.3f}")
    out = {"y": y, "order": order, "is_val": is_val, "sizes": np.array(sizes), "probas": np.array(probas)}
    out |= {"batch": np.array(batch), "seed_size": np.array(seed_size)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)  # type: ignore[arg-type]
    return out


def _posterior(t: Any, w: Any, a: Any, priors: Any, truth: Any, c: dict[str, Any]) -> Any:
    if c["skills"] == "oracle":
        log_p = np.log(priors)
        np.add.at(log_p, t, np.log(truth[w, :, a]))
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)
    post, _ = fit_posteriors(
        t, w, a, priors, len(truth), default_accuracy=c["default_acc"], strength=c["strength"], class_shares=c["shares"]
    )
    return post


def simulate(rounds: dict[str, Any], config: dict[str, Any], sim_seed: int) -> tuple[float, float]:
    """Strategy C under ``config``: (human judgments per tweet, final accuracy against gold)."""
    c = DEFAULTS | config
    y, order, is_val, sizes, probas = (rounds[k] for k in ("y", "order", "is_val", "sizes", "probas"))
    batch, seed_size, n = int(rounds["batch"]), int(rounds["seed_size"]), len(rounds["y"])
    truth = np.array([worker.confusion for worker in parse_pool(POOL | {"seed": 0}).workers])
    rng = np.random.default_rng(sim_seed)
    priors = np.full((n, K), 1.0 / K)
    wanted, accepted = np.zeros(n, int), np.zeros(n, int)
    started = np.zeros(n, bool)
    who: list[set[int]] = [set() for _ in range(n)]
    tasks: list[int] = []
    workers: list[int] = []
    answers: list[int] = []
    queue: list[int] = []
    state = {"round": -1, "at": -1, "fresh": 0}

    def drain() -> int:
        labeled = int((started & (accepted == wanted)).sum())
        if state["at"] < 0 or labeled - state["at"] >= batch:
            r = int(np.searchsorted(sizes, labeled, side="right")) - 1
            if labeled >= seed_size and r >= 0:
                state["round"] = r
            state["at"] = labeled
        if not tasks:
            return 0
        post = _posterior(np.array(tasks), np.array(workers), np.array(answers), priors, truth, c)
        unsure = np.flatnonzero(started & (accepted == wanted) & (wanted < c["max_w"]) & (post.max(axis=1) < c["thr"]))
        wanted[unsure] += 1
        queue[:0] = list(unsure)
        return len(unsure)

    drain()
    while True:
        if queue:
            i = queue.pop(0)
        elif state["fresh"] < n:
            i = int(order[state["fresh"]])
            state["fresh"] += 1
            started[i], wanted[i] = True, 1
            if state["round"] >= 0 and not is_val[i] and c["prior"] != "none":
                q = probas[state["round"]][i].astype(np.float64)
                priors[i] = model_prior(int(q.argmax()), float(q.max()), K) if c["prior"] == "top" else q
        elif drain() == 0:
            break
        else:
            continue
        w = int(rng.integers(len(truth)))
        while w in who[i]:
            w = int(rng.integers(len(truth)))
        who[i].add(w)
        tasks.append(i)
        workers.append(w)
        answers.append(int(rng.choice(K, p=truth[w][y[i]])))
        accepted[i] += 1
        if len(tasks) % batch == 0:
            drain()
    final = priors if c["final"] == "posterior" else np.full((n, K), 1.0 / K)
    post = _posterior(np.array(tasks), np.array(workers), np.array(answers), final, truth, c)
    return len(tasks) / n, float((post.argmax(axis=1) == y).mean())


def strategy_a(rounds: dict[str, Any], sim_seed: int) -> float:
    """3 answers per tweet, majority vote with random tie-breaks: final accuracy."""
    truth = np.array([worker.confusion for worker in parse_pool(POOL | {"seed": 0}).workers])
    rng = np.random.default_rng(sim_seed)
    right = []
    for t in rounds["y"]:
        votes = np.bincount(
            [rng.choice(K, p=truth[w][t]) for w in rng.choice(len(truth), 3, replace=False)], minlength=K
        )
        right.append(rng.choice(np.flatnonzero(votes == votes.max())) == t)
    return float(np.mean(right))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds-every", type=int, default=None, help="Labels between model rounds (default: batch).")
    parser.add_argument("--configs", default="[{}]", help="JSON list of configs (module docstring).")
    parser.add_argument("--seeds", type=int, default=1, help="Simulation seeds to average.")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/groundswell-economics-offline"))
    args = parser.parse_args()
    rounds = model_rounds(args.data, args.items, args.seed, args.rounds_every, args.cache)
    a = np.mean([strategy_a(rounds, s) for s in range(args.seeds)])
    print(f"A: 3.00 judgments/tweet, accuracy {a:.4f}")
    for config in json.loads(args.configs):
        started = time.perf_counter()
        runs = np.array([simulate(rounds, config, s) for s in range(args.seeds)])
        print(
            f"C {json.dumps(config)}: {runs[:, 0].mean():.3f} judgments/tweet, accuracy {runs[:, 1].mean():.4f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
