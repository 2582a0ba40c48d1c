"""Where an accuracy-target job spent its answers, and whether the expected gain per answer held.

Reads a store kept by ``python bench/economics.py ... --keep-db DIR`` (one simulated job with gold labels) and
prints (1) per number of answers a tweet got: tweets, accuracy against gold, mean confidence; and (2) per
answer depth k: the rise of the tweet's top posterior that the k-th answer actually caused against the rise
``active.target.expected_gain`` predicted before it, and the accuracy it gained against gold. Posteriors are
replayed answer by answer from the job's final fit (each later answer's likelihood divided out), so this is an
analysis of one run, not a benchmark with a bar.

Example:
    python bench/economics.py --items 10000 --pools acc75 --every 100000 --no-write --keep-db /tmp/keep
    python bench/answer_depth.py /tmp/keep/acc75-econ-c.db
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
from sqlalchemy import select

from groundswell.active.target import expected_gain
from groundswell.jobs.posterior import fit_job_posterior
from groundswell.store import make_engine, make_session_factory
from groundswell.store.tables import ConsolidatedLabel, Item, Job, JobItem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", help="SQLite file kept by economics.py --keep-db")
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{args.store}")
    with make_session_factory(engine)() as session:
        job = session.scalars(select(Job)).one()
        fit = fit_job_posterior(session, job)
        gold = dict(session.execute(select(Item.id, Item.gold_label)).all())
        rows = session.execute(
            select(JobItem.judgments_accepted, Item.gold_label, ConsolidatedLabel.label, ConsolidatedLabel.confidence)
            .join(Item, Item.id == JobItem.item_id)
            .join(
                ConsolidatedLabel, (ConsolidatedLabel.item_id == JobItem.item_id) & (ConsolidatedLabel.job_id == job.id)
            )
            .where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))
        ).all()
    assert fit is not None, "the job has no answers"
    by_count: dict[int, list[tuple[bool, float]]] = collections.defaultdict(list)
    for count, truth, label, confidence in rows:
        by_count[int(count)].append((truth == label, float(confidence)))
    print("| answers on the tweet | tweets | accuracy | mean confidence |\n| ---: | ---: | ---: | ---: |")
    for count in sorted(by_count):
        hits, conf = zip(*by_count[count], strict=True)
        print(f"| {count} | {len(hits):,} | {np.mean(hits):.3f} | {np.mean(conf):.3f} |")

    labels = fit.labels
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    confusions = fit.model.confusions_.to_numpy(dtype=np.float64).reshape(-1, k, k)
    workers = {w: i for i, w in enumerate(dict.fromkeys(fit.model.confusions_.index.get_level_values(0)))}
    crowd = fit.next_answer_confusion()
    depth: dict[int, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    probas = fit.model.probas_
    for task, answers in fit.answers.groupby("task", sort=False):
        if task not in probas.index or len(answers) < 2:
            continue
        steps = [probas.loc[task].to_numpy(dtype=np.float64)]
        for answer in reversed(list(answers.itertuples(index=False))[1:]):
            before = steps[-1] / confusions[workers[answer.worker], :, index[answer.label]]
            steps.append(before / before.sum())
        steps.reverse()  # steps[j]: the posterior given the first j + 1 answers
        for j in range(1, len(steps)):
            before, after = steps[j - 1], steps[j]
            row = depth[j + 1]
            row[0] += 1
            row[1] += after.max() - before.max()
            row[2] += float(expected_gain(before[None, :], crowd)[0])
            right = gold.get(task)
            row[3] += (labels[int(after.argmax())] == right) - (labels[int(before.argmax())] == right)
    print("\n| answer | tweets | realized rise | predicted rise | ratio | accuracy gained |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for j in sorted(depth):
        n, real, predicted, gained = depth[j]
        print(f"| {j} | {n:,} | {real / n:.4f} | {predicted / n:.4f} | {real / predicted:.2f} | {gained / n:.4f} |")
    engine.dispose()


if __name__ == "__main__":
    main()
