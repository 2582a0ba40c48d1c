"""The consolidation keys of ``Job.settings``, parsed and validated in one place.

``Job.settings`` is a JSON object that several features share; this module owns three of its keys:

* ``"consolidation_method"``: ``"auto"`` (default), ``"mv"``, ``"wmv"``, ``"ds"`` or ``"ods"``; the model the
  background runner and ``groundswell job consolidate`` fit (see ``groundswell.consolidate``).
* ``"dynamic_redundancy"``: ``false`` (default) or ``true``. When on, an item that has the job's minimum
  number of judgments (``workers_per_item``) but whose label confidence is below the threshold asks for one
  more judgment, up to ``max_workers_per_item``.
* ``"redundancy_threshold"``: the confidence at which an item stops asking for more (default 0.7 under the
  ``"vote"`` rule, 0.64 under ``"posterior"``).
* ``"redundancy_rule"``: how the job decides. ``"vote"`` (default): the per-submit majority vote's share
  against the threshold. ``"posterior"``: the probability of the leading label given the answers, each
  weighed by its worker's confusion matrix from the job's posterior fit, with the auto-label model's vote as
  the prior when the job stores one (``model_vote``), against the threshold. ``"target"``: no per-tweet
  threshold; the job asks for more answers, where they gain most, until its estimated accuracy meets
  ``accuracy_target`` (what ``--accuracy-target`` sets); see ``groundswell.jobs.redundancy``.

It is a module of its own, with no database code, so that job creation (``lifecycle``) can validate the
keys without importing the consolidation use cases, which import ``lifecycle`` themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from groundswell.consolidate import METHODS
from groundswell.errors import InvalidInputError

__all__ = [
    "DEFAULT_POSTERIOR_THRESHOLD",
    "DEFAULT_REDUNDANCY_THRESHOLD",
    "REDUNDANCY_RULES",
    "ConsolidationSettings",
    "consolidation_settings",
    "validate_consolidation_settings",
]

#: With majority-vote confidence (vote share) this stops on 2/2, 3/4 and 4/5 agreeing votes and asks for
#: more on 2/3, 2/4 and 3/5: an item is closed once a clear majority of at least two exists.
DEFAULT_REDUNDANCY_THRESHOLD = 0.7
#: The posterior rule's default, chosen with ``bench/economics_offline.py`` and measured with
#: ``bench/economics.py`` on all 45,615 TweetEval train tweets (1 answer, up to 5): 1.45 judgments per tweet
#: at accuracy 0.851, against 3 and 0.831 for three votes each.
DEFAULT_POSTERIOR_THRESHOLD = 0.64
REDUNDANCY_RULES: tuple[str, ...] = ("vote", "posterior", "target")
DEFAULT_REDUNDANCY_RULE = "vote"
#: The rules decided on each submit, from the item's own answers; the others leave reopening to the runner's
#: review. (PostgreSQL's submit function passes answers under these to the general path.)
PER_SUBMIT_RULES: tuple[str, ...] = ("vote",)


@dataclass(frozen=True)
class ConsolidationSettings:
    """A job's consolidation switches, with defaults filled in."""

    method: str = "auto"
    dynamic_redundancy: bool = False
    threshold: float = DEFAULT_REDUNDANCY_THRESHOLD
    rule: str = DEFAULT_REDUNDANCY_RULE


def consolidation_settings(settings: Mapping[str, Any] | None) -> ConsolidationSettings:
    """Read the keys from a job's ``settings``; raises ``InvalidInputError`` naming a bad key."""
    settings = settings or {}
    method = settings.get("consolidation_method", "auto")
    if method not in METHODS:
        raise InvalidInputError(f"consolidation_method must be one of {', '.join(METHODS)}, got {method!r}")
    dynamic = settings.get("dynamic_redundancy", False)
    if not isinstance(dynamic, bool):
        raise InvalidInputError(f"dynamic_redundancy must be true or false, got {dynamic!r}")
    rule = settings.get("redundancy_rule", DEFAULT_REDUNDANCY_RULE)
    if rule not in REDUNDANCY_RULES:
        raise InvalidInputError(f"redundancy_rule must be one of {', '.join(REDUNDANCY_RULES)}, got {rule!r}")
    default = DEFAULT_POSTERIOR_THRESHOLD if rule == "posterior" else DEFAULT_REDUNDANCY_THRESHOLD
    threshold = settings.get("redundancy_threshold", default)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 < threshold <= 1.0:
        raise InvalidInputError(f"redundancy_threshold must be a number in (0, 1], got {threshold!r}")
    return ConsolidationSettings(
        method=str(method), dynamic_redundancy=dynamic, threshold=float(threshold), rule=str(rule)
    )


def validate_consolidation_settings(
    settings: Mapping[str, Any] | None, workers_per_item: int, max_workers_per_item: int
) -> None:
    """Refuse settings that cannot work, e.g. dynamic redundancy with no room above the minimum."""
    parsed = consolidation_settings(settings)
    if parsed.dynamic_redundancy and max_workers_per_item <= workers_per_item:
        raise InvalidInputError(
            f"--dynamic-redundancy needs --max-workers-per-item above --workers-per-item ({workers_per_item}); "
            f"got {max_workers_per_item}"
        )
