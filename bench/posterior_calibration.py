"""Where a job's posterior is over- or under-confident: a diagnosis of kept simulated jobs against the truth.

``bench/economics.py --keep-db DIR`` keeps each C job's SQLite store. This script refits the job's posterior
(``PriorDawidSkene`` on the job's answers with the model's votes as priors, as the runner does) and compares,
against the tweets' true labels, per number of answers per tweet:

* the posterior (what the job's estimate averages),
* the answers alone (class shares, no model vote),
* the model's vote alone, raw and with the temperature that fits the truth best ("oracle"),
* the posterior with that oracle temperature in place of the one EM fitted.

So a gap between the posterior and the truth can be traced to its source: the worker confusions (answers
alone), the model's calibration (its vote), or the temperature EM gives the vote (oracle vs fitted).

Usage::

    python bench/economics.py --items 10000 --pools spammers20 --no-write --keep-db /tmp/kept
    python bench/posterior_calibration.py /tmp/kept/*.db
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sqlalchemy import select

from groundswell.active import apply_temperature, expected_calibration_error
from groundswell.consolidate import PriorDawidSkene
from groundswell.jobs.answers import judgments_frame
from groundswell.jobs.lifecycle import job_labels
from groundswell.jobs.posterior import job_priors
from groundswell.store import make_engine, make_session_factory
from groundswell.store.tables import Item, Job, JobItem


def load(path: Path) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.Series[Any]]:
    """The kept job's labels, answers, model-vote priors and true labels (non-gold items)."""
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as session:
        job = session.scalars(select(Job).order_by(Job.id)).first()
        if job is None:
            raise SystemExit(f"{path}: no job in this store")
        labels = job_labels(session, job)
        answers = judgments_frame(session, job)
        priors = job_priors(session, job, labels)
        truth = dict(
            session.execute(
                select(JobItem.item_id, Item.gold_label)
                .join(Item, Item.id == JobItem.item_id)
                .where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))
            ).all()
        )
    engine.dispose()
    return labels, answers, priors, pd.Series(truth)


def line(name: str, probas: pd.DataFrame, truth: pd.Series[Any], per_task: pd.Series[Any]) -> str:
    """Mean confidence, accuracy and ECE overall and by answers per tweet (1, 2, 3 or more)."""
    probas = probas.loc[probas.index.isin(truth.index)]
    right = (probas.idxmax(axis=1).to_numpy() == truth.reindex(probas.index).to_numpy()).astype(float)
    conf = probas.max(axis=1).to_numpy(dtype=np.float64)
    n = per_task.reindex(probas.index).fillna(0).to_numpy()
    ece = expected_calibration_error(conf, right)
    parts = [f"{name:34s} conf {conf.mean():.3f} acc {right.mean():.3f} ECE {ece:.3f}"]
    for low, high, tag in ((1, 1, "1"), (2, 2, "2"), (3, 10**9, "3+")):
        mask = (n >= low) & (n <= high)
        if mask.any():
            parts.append(f"{tag}: {int(mask.sum())} tweets, conf {conf[mask].mean():.3f} acc {right[mask].mean():.3f}")
    return " | ".join(parts)


def oracle_temperature(priors: pd.DataFrame, truth: pd.Series[Any], labels: list[str]) -> float:
    """The temperature of the model's votes that makes the true labels most likely."""
    index = {label: i for i, label in enumerate(labels)}
    rows = priors.loc[priors.index.isin(truth.index)]
    target = truth.reindex(rows.index).map(index).to_numpy(dtype=np.intp)
    values = rows.to_numpy(dtype=np.float64)

    def loss(log_t: float) -> float:
        p = apply_temperature(values, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(target)), target], 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(loss, bounds=(np.log(0.25), np.log(4.0)), method="bounded").x))


def diagnose(path: Path) -> list[str]:
    labels, answers, priors, truth = load(path)
    per_task = answers.groupby("task").size()
    fitted = PriorDawidSkene(labels=labels).fit(answers, priors=priors)
    oracle = oracle_temperature(priors, truth, labels)
    tempered = pd.DataFrame(apply_temperature(priors.to_numpy(), oracle), index=priors.index, columns=priors.columns)
    with_oracle = PriorDawidSkene(labels=labels, learn_temperature=False).fit(answers, priors=tempered)
    return [
        f"{path.name}: {len(answers):,} answers on {answers['task'].nunique():,} tweets; EM temperature "
        f"{fitted.temperature_:.2f}, oracle {oracle:.2f}; shrinkage strength {fitted.strength_:.1f}",
        "  " + line("posterior (the job's)", fitted.probas_, truth, per_task),
        "  " + line("answers alone", fitted.answer_probas_, truth, per_task),
        "  " + line("model vote, raw", priors, truth, per_task),
        "  " + line("model vote, oracle temperature", tempered, truth, per_task),
        "  " + line("posterior, oracle temperature", with_oracle.probas_, truth, per_task),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stores", nargs="+", type=Path, help="SQLite stores kept by economics.py --keep-db")
    for path in parser.parse_args().stores:
        print("\n".join(diagnose(path)), flush=True)


if __name__ == "__main__":
    main()
