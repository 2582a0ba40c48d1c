"""The automated-labeling keys of ``Job.settings``, parsed and validated in one place.

Pure (no database), so job creation can refuse a bad value before the job exists and the simulator and the
benchmark build the very same object. Unknown keys are left alone: ``Job.settings`` is shared with other
features (consolidation owns its own keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from groundswell.active.strategies import STRATEGIES
from groundswell.active.threshold import BOUND_METHODS, RULES, BoundMethod, Rule
from groundswell.errors import InvalidInputError

__all__ = [
    "CERTIFICATIONS",
    "DEFAULT_ACCURACY_TARGET",
    "MIN_ITEMS",
    "AutoLabelSettings",
    "Certification",
    "validation_share",
]

#: ``Job.settings`` key → attribute, for the keys whose names differ.
_KEYS = {"auto_label": "enabled", "auto_label_min_items": "min_items"}

#: Ground Truth's fixed target for text classification (spec §5.1); ours is a setting with this default.
DEFAULT_ACCURACY_TARGET = 0.95
#: Ground Truth's minimum dataset size for automated labeling (spec §5.1).
MIN_ITEMS = 1250

Certification = Literal["cross-fit", "split"]
#: How a round checks its model: out-of-fold predictions on every human label, or one held-out split.
CERTIFICATIONS: tuple[str, ...] = ("cross-fit", "split")


def validation_share(n_items: int) -> float:
    """Share of human-labeled items held out for choosing the threshold: 20 %, or 10 % above 5,000 items."""
    return 0.1 if n_items > 5000 else 0.2


@dataclass(frozen=True)
class AutoLabelSettings:
    """A job's automated-labeling switches, with defaults filled in.

    Attributes:
        enabled: ``auto_label``: train, machine-label confident items and rank the rest.
        accuracy_target: Required accuracy of machine labels against consolidated human labels.
        seed_size: Human-labeled items (a random sample) before the first model is trained.
        batch_size: New human-labeled items between rounds; also the size of each active-learning batch.
        budget: Most human judgments the job may spend; ``None`` for no limit.
        min_items: Smallest job (items) that auto-labels at all.
        threshold_rule: ``"bound"`` (lower confidence bound ≥ target) or ``"point"`` (Ground Truth's).
        bound_method: ``"clopper-pearson"`` or ``"wilson"``.
        min_support: Fewest validation items above a threshold for it to count.
        per_class_thresholds: One threshold per predicted class instead of one for all.
        query_strategy: Name in ``groundswell.active.STRATEGIES``.
        validation_share: Override of :func:`validation_share` (``None``: by job size); ``"split"`` only.
        certification: How the threshold is checked. ``"cross-fit"`` (default): every human-labeled item is
            predicted once by a model that did not see it (``folds`` folds, stable between rounds), and the
            threshold is chosen on all of them; the machine labels come from a model fitted on all human labels.
            ``"split"``: Ground Truth's, one held-out split of ``validation_share``; on a few thousand labels
            it is too small to certify anything (bench/RESULTS.md, autolabel_ceiling).
        folds: Folds of the cross-fit (≥ 2): a round trains ``folds + 1`` models.
        model_vote: Each round also stores the model's vote (class and calibrated probability) on the open
            items outside the validation split (every open item under ``"cross-fit"``), for dynamic
            redundancy's ``posterior`` rule to use as a prior.
    """

    enabled: bool = False
    accuracy_target: float = DEFAULT_ACCURACY_TARGET
    seed_size: int = 500
    batch_size: int = 250
    budget: int | None = None
    min_items: int = MIN_ITEMS
    threshold_rule: Rule = "bound"
    bound_method: BoundMethod = "clopper-pearson"
    min_support: int = 10
    per_class_thresholds: bool = False
    query_strategy: str = "random"
    validation_share: float | None = None
    model_vote: bool = False
    certification: Certification = "cross-fit"
    folds: int = 5

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | None) -> AutoLabelSettings:
        """Read the keys from a job's ``settings``; ``InvalidInputError`` names the first bad one."""
        settings = settings or {}
        values: dict[str, Any] = {}
        for field_name in cls.__dataclass_fields__:
            key = next((k for k, v in _KEYS.items() if v == field_name), field_name)
            if key in settings:
                values[field_name] = settings[key]
        parsed = cls(**values)
        parsed.validate()
        return parsed

    def to_mapping(self) -> dict[str, Any]:
        """The ``Job.settings`` keys for these values (inverse of :meth:`from_mapping`)."""
        names = {v: k for k, v in _KEYS.items()}
        return {names.get(k, k): v for k, v in asdict(self).items()}

    def validate(self) -> None:
        """Refuse values that cannot work, naming the ``Job.settings`` key."""
        _check(isinstance(self.enabled, bool), "auto_label must be true or false", self.enabled)
        _check(
            _number(self.accuracy_target) and 0.5 <= self.accuracy_target < 1,
            "accuracy_target must be in [0.5, 1)",
            self.accuracy_target,
        )
        for key in ("seed_size", "batch_size", "min_items", "min_support"):
            value = getattr(self, key)
            _check(_integer(value) and value >= 1, f"{key} must be a whole number ≥ 1", value)
        _check(self.budget is None or (_integer(self.budget) and self.budget >= 1), "budget must be ≥ 1", self.budget)
        _check(self.threshold_rule in RULES, f"threshold_rule must be one of {', '.join(RULES)}", self.threshold_rule)
        _check(
            self.bound_method in BOUND_METHODS,
            f"bound_method must be one of {', '.join(BOUND_METHODS)}",
            self.bound_method,
        )
        _check(isinstance(self.model_vote, bool), "model_vote must be true or false", self.model_vote)
        _check(
            isinstance(self.per_class_thresholds, bool),
            "per_class_thresholds must be true or false",
            self.per_class_thresholds,
        )
        _check(
            self.query_strategy in STRATEGIES,
            f"query_strategy must be one of {', '.join(STRATEGIES)}",
            self.query_strategy,
        )
        _check(
            self.certification in CERTIFICATIONS,
            f"certification must be one of {', '.join(CERTIFICATIONS)}",
            self.certification,
        )
        _check(_integer(self.folds) and self.folds >= 2, "folds must be a whole number ≥ 2", self.folds)
        share = self.validation_share
        _check(share is None or (_number(share) and 0 < share < 1), "validation_share must be in (0, 1)", share)

    def share_for(self, n_items: int) -> float:
        """The validation share that applies to a job of ``n_items``."""
        return self.validation_share if self.validation_share is not None else validation_share(n_items)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, message: str, value: Any) -> None:
    if not ok:
        raise InvalidInputError(f"{message}, got {value!r}")
