"""The console's job form: every setting ``groundswell job create`` takes, with the help a user reads there.

One list drives the form's inputs and the browser script that turns them into the ``POST /api/v1/jobs`` body,
so the form cannot offer a setting the API would refuse, and the API's own validation (the same as the CLI's)
answers every mistake. ``target`` says where a value goes: a top-level field of the request, or a key of its
``settings`` object (the keys ``jobs.job_settings`` and automated labeling read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from groundswell.consolidate import METHODS
from groundswell.jobs.job_settings import REDUNDANCY_RULES

__all__ = ["FORM_GROUPS", "FormField", "FormGroup"]

#: ``tristate``: unset (the default applies), on or off.
Kind = Literal["int", "float", "bool", "tristate", "choice", "text", "list"]


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    kind: Kind
    help: str
    target: Literal["top", "settings"] = "top"
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"


@dataclass(frozen=True)
class FormGroup:
    title: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)
    open: bool = False


FORM_GROUPS: tuple[FormGroup, ...] = (
    FormGroup(
        "Quality and cost",
        (
            FormField(
                "accuracy_target",
                "Accuracy target",
                "float",
                "The accuracy every final label must meet, e.g. 0.9. Given alone it turns on everything that meets "
                "it cheaply: one answer to start, more only where they pay, Dawid–Skene with the model's prior, "
                "certified machine labels and active learning. Leave empty for a fixed number of answers.",
                placeholder="0.9",
                minimum=0.34,
                maximum=0.999,
            ),
            FormField(
                "workers_per_item",
                "Answers per tweet",
                "int",
                "How many people answer each tweet to start with (default 3; with an accuracy target alone, 1).",
                placeholder="3",
                minimum=1,
                maximum=9,
                step="1",
            ),
            FormField(
                "max_workers_per_item",
                "Most answers per tweet",
                "int",
                "The cap when more answers are asked for a contested tweet (dynamic redundancy, accuracy target).",
                minimum=1,
                maximum=9,
                step="1",
            ),
            FormField(
                "preset",
                "Preset",
                "choice",
                "'ground-truth': Ground Truth's own behaviour (3 answers, machine labels at 95 % by point "
                "estimate), for comparison.",
                choices=("", "ground-truth"),
            ),
            FormField(
                "gold_items",
                "Gold tweets",
                "int",
                "Tweets with a gold label in the dataset to mix in as hidden test questions: they measure the "
                "annotators and correct the accuracy estimate.",
                placeholder="0",
                minimum=0,
                step="1",
            ),
        ),
        open=True,
    ),
    FormGroup(
        "Consolidation",
        (
            FormField(
                "consolidation_method",
                "Method",
                "choice",
                "How several answers become one label: 'auto' picks by agreement with withheld answers; 'mv' "
                "majority vote; 'ds' Dawid–Skene; 'ods' one-coin Dawid–Skene; 'wmv', 'glad', 'mace'.",
                target="settings",
                choices=("", *METHODS),
            ),
            FormField(
                "dynamic_redundancy",
                "Dynamic redundancy",
                "bool",
                "Ask for one more answer on a tweet whose label confidence is below the threshold, up to the most "
                "answers per tweet.",
                target="settings",
            ),
            FormField(
                "redundancy_rule",
                "Redundancy rule",
                "choice",
                "'vote': the majority's share; 'posterior': the probability of the leading label given each "
                "worker's confusion matrix; 'target': the job-level accuracy target decides.",
                target="settings",
                choices=("", *REDUNDANCY_RULES),
            ),
            FormField(
                "redundancy_threshold",
                "Redundancy threshold",
                "float",
                "The confidence at which a tweet stops asking for more answers (0.7 under 'vote', 0.64 under "
                "'posterior').",
                target="settings",
                minimum=0,
                maximum=1,
            ),
        ),
    ),
    FormGroup(
        "Automated labeling",
        (
            FormField(
                "auto_label",
                "Automated labeling",
                "bool",
                "Train a model on the human labels in rounds and let it label the tweets it is sure of, at a "
                "threshold certified on held-out labels; active learning sends the unsure tweets to people.",
                target="settings",
            ),
            FormField(
                "seed_size",
                "Seed size",
                "int",
                "Human labels the first round waits for.",
                target="settings",
                minimum=1,
                step="1",
            ),
            FormField(
                "batch_size",
                "Batch size",
                "int",
                "Tweets sent to people between two rounds.",
                target="settings",
                minimum=1,
                step="1",
            ),
            FormField(
                "model_vote",
                "Model vote as prior",
                "tristate",
                "Store the model's vote on open tweets, the prior of the 'posterior' redundancy rule (default: on "
                "under that rule, else off).",
                target="settings",
            ),
            FormField(
                "budget",
                "Budget",
                "int",
                "The most human answers the job may spend.",
                target="settings",
                minimum=1,
                step="1",
            ),
        ),
    ),
    FormGroup(
        "Tasks and people",
        (
            FormField(
                "task_time_limit_s",
                "Time limit per task (s)",
                "int",
                "How long an annotator may hold a tweet before it goes back to the queue.",
                placeholder="300",
                minimum=30,
                maximum=28_800,
                step="1",
            ),
            FormField(
                "task_availability_s",
                "Availability (s)",
                "int",
                "How long tasks stay available after the job starts (default 30 days).",
                placeholder="2592000",
                minimum=60,
                step="1",
            ),
            FormField(
                "max_concurrent_tasks",
                "Most tasks held at once",
                "int",
                "Caps the tweets leased at the same time across all annotators.",
                minimum=1,
                maximum=5000,
                step="1",
            ),
            FormField(
                "teams",
                "Teams",
                "list",
                "Comma-separated team names whose members may work on the job (empty: every annotator); a team "
                "exists once someone is invited to it (Workers).",
                placeholder="core, night-shift",
            ),
            FormField(
                "label_attribute_name",
                "Label attribute name",
                "text",
                "The output manifest's label key (Ground Truth's LabelAttributeName; default: the job name).",
            ),
            FormField(
                "streaming",
                "Streaming job",
                "bool",
                "Tweets are appended while it runs (POST /api/v1/jobs/{name}/items); it never completes by itself.",
            ),
            FormField(
                "webhooks",
                "Webhooks",
                "list",
                "Comma-separated URLs that receive each final label, signed with the job's secret.",
                placeholder="https://hooks.example.org/labels",
            ),
        ),
    ),
)
