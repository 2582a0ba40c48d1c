"""What a job request means once its defaults are filled in: the same for the CLI, the API and the SDK.

A request names what it wants; anything it leaves out follows from what it named:

* ``accuracy_target`` alone (``--accuracy-target 0.9``): the target for every final label of the job, human
  or machine. It turns on everything needed to meet it cheaply: one answer to start
  (``workers_per_item = 1``), more only where they pay (dynamic redundancy's job-level ``target`` rule, up
  to 5 answers), the posterior with the model's vote as prior, automated labeling whose machine labels must
  meet the same target, and active learning.
* ``preset = "ground-truth"``: Ground Truth's own behaviour, for comparison or migration: 3 answers per
  tweet, modified Dawid–Skene, automated labeling at 95 % by the point estimate on a validation split,
  least-confidence sampling. With ``accuracy_target`` too, machine labels meet that instead of 95 %.
* Otherwise: 3 answers per tweet and the settings as given.

Explicit values always win: ``--accuracy-target 0.9 --workers-per-item 2`` starts every tweet with two
answers. Under dynamic redundancy's ``posterior`` or ``target`` rule an auto-labeling job stores the model's
vote (the posterior's prior) unless told not to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from groundswell.errors import InvalidInputError

__all__ = ["DEFAULT_STRATEGY", "PRESETS", "resolve_job_request"]

PRESETS: tuple[str, ...] = ("ground-truth",)
#: The query strategy an ``--accuracy-target`` job uses; see ``bench/RESULTS.md`` (active learning).
DEFAULT_STRATEGY = "least-confidence"
#: Answers per tweet when the request says nothing else (Ground Truth's console default).
DEFAULT_WORKERS_PER_ITEM = 3

_GROUND_TRUTH: dict[str, Any] = {
    "consolidation_method": "ds",
    "auto_label": True,
    "accuracy_target": 0.95,
    "threshold_rule": "point",
    "certification": "split",
    "query_strategy": "least-confidence",
}


def resolve_job_request(
    workers_per_item: int | None,
    settings: Mapping[str, Any] | None,
    *,
    accuracy_target: float | None = None,
    preset: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """``(workers_per_item, settings)`` with the defaults the request implies (module docstring)."""
    given = dict(settings or {})
    if preset is not None and preset not in PRESETS:
        raise InvalidInputError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if accuracy_target is not None:
        if isinstance(accuracy_target, bool) or not isinstance(accuracy_target, int | float):
            raise InvalidInputError(f"accuracy_target must be a number, got {accuracy_target!r}")
        if "accuracy_target" in given and given["accuracy_target"] != accuracy_target:
            raise InvalidInputError(
                f"accuracy_target given twice with different values ({accuracy_target} and "
                f"settings.accuracy_target {given['accuracy_target']})"
            )
    defaults: dict[str, Any] = {}
    per_item = DEFAULT_WORKERS_PER_ITEM
    if preset == "ground-truth":
        defaults.update(_GROUND_TRUTH)
        if accuracy_target is not None:
            defaults["accuracy_target"] = accuracy_target
    elif accuracy_target is not None:
        per_item = 1
        defaults.update(
            {
                "consolidation_method": "ds",
                "dynamic_redundancy": True,
                "redundancy_rule": "target",
                "auto_label": True,
                "accuracy_target": accuracy_target,
                "model_vote": True,
                "query_strategy": DEFAULT_STRATEGY,
            }
        )
    resolved = {**defaults, **given}
    if (
        resolved.get("auto_label")
        and resolved.get("dynamic_redundancy")
        and resolved.get("redundancy_rule") in ("posterior", "target")
    ):
        resolved.setdefault("model_vote", True)  # the posterior's prior
    if resolved.get("redundancy_rule") == "target" and "accuracy_target" not in resolved:
        raise InvalidInputError("redundancy_rule 'target' needs an accuracy target (--accuracy-target)")
    return (per_item if workers_per_item is None else workers_per_item), resolved
